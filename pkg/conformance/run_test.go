package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// fakeGinkgo is a ginkgo that copies the JSON report $FAKE_GINKGO_REPORT
// into its --output-dir, records its arguments there, and exits with
// $FAKE_GINKGO_EXIT, as ginkgo exits 1 when a spec fails.
const fakeGinkgo = `#!/bin/sh
out=
for arg in "$@"; do
  case "$arg" in --output-dir=*) out="${arg#--output-dir=}" ;; esac
done
echo "$@" > "$out/args"
cp "$FAKE_GINKGO_REPORT" "$out/report.json"
exit "$FAKE_GINKGO_EXIT"
`

func TestRunDo(t *testing.T) {
	dir := t.TempDir()
	ginkgo := filepath.Join(dir, "ginkgo")
	if err := os.WriteFile(ginkgo, []byte(fakeGinkgo), 0o755); err != nil {
		t.Fatal(err)
	}
	run := Run{Ginkgo: ginkgo, Binary: "/e2e.test", Procs: 4, Focus: []string{"^a$"}, Timeout: time.Minute, Args: []string{"--provider=skeleton"}}

	report := filepath.Join(dir, "report.json")
	writeReport(t, report, map[string]types.SpecState{"[sig-node] a [Conformance]": types.SpecStatePassed, "[sig-node] b [Conformance]": types.SpecStateFailed})
	t.Setenv("FAKE_GINKGO_REPORT", report)
	// Failed specs are the report's, not an error.
	t.Setenv("FAKE_GINKGO_EXIT", "1")
	run.ReportDir = filepath.Join(dir, "run")
	specs, err := run.Do(context.Background())
	if err != nil {
		t.Fatalf("a run with a failed spec: %v", err)
	}
	if len(specs) != 2 || specs[1].Status != "failed" || specs[1].Message != "why [sig-node] b [Conformance]" {
		t.Errorf("specs %+v", specs)
	}
	args, err := os.ReadFile(filepath.Join(run.ReportDir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--procs=4", "--focus=^a$", "--json-report=report.json", "/e2e.test -- --report-dir=" + run.ReportDir + " --provider=skeleton"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("ginkgo's arguments %q lack %q", args, want)
		}
	}

	// A dry run runs in series, and its failure is an error.
	dry := run
	dry.DryRun, dry.ReportDir = true, filepath.Join(dir, "dry")
	if _, err := dry.Do(context.Background()); err == nil || !strings.Contains(err.Error(), "the dry run of e2e.test failed") {
		t.Errorf("a failed dry run: %v, want its failure", err)
	}
	args, err = os.ReadFile(filepath.Join(dry.ReportDir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args), "--procs=1 ") || !strings.Contains(string(args), " --dry-run ") {
		t.Errorf("dry run's arguments %q: want --procs=1 and --dry-run", args)
	}
	t.Setenv("FAKE_GINKGO_EXIT", "0")
	if _, err := dry.Do(context.Background()); err != nil {
		t.Errorf("a dry run that passed: %v", err)
	}

	// A report of no spec: the suite never reached its specs.
	writeReport(t, report, nil)
	if _, err := run.Do(context.Background()); err == nil || !strings.Contains(err.Error(), "reported no spec") {
		t.Errorf("a run that reported no spec: %v, want an error", err)
	}
	// A run that leaves no report is not read from the last one's.
	t.Setenv("FAKE_GINKGO_REPORT", filepath.Join(dir, "missing.json"))
	writeReport(t, filepath.Join(run.ReportDir, "report.json"), map[string]types.SpecState{"[sig-node] a [Conformance]": types.SpecStatePassed})
	if _, err := run.Do(context.Background()); err == nil || !strings.Contains(err.Error(), "left no report") {
		t.Errorf("a run that left no report: %v, want an error", err)
	}
}
