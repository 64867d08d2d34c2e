package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

func TestReadSpecList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	names, err := ReadSpecList(write("good", "# Pods\n[sig-node] Pods should get a host IP [NodeConformance] [Conformance]\n\n  [sig-apps] X [Conformance]  \n"))
	if err != nil || !slices.Equal(names, []string{"[sig-node] Pods should get a host IP [NodeConformance] [Conformance]", "[sig-apps] X [Conformance]"}) {
		t.Errorf("good list: %q, %v", names, err)
	}
	for name, text := range map[string]string{
		"twice": "a\nb\na\n",
		"empty": "# nothing\n\n",
	} {
		if _, err := ReadSpecList(write(name, text)); err == nil {
			t.Errorf("list %q: no error", name)
		}
	}
}

func TestFocus(t *testing.T) {
	names := []string{`[sig-node] Probing container should be restarted with a exec "cat /tmp/health" liveness probe [NodeConformance] [Conformance]`, "[sig-network] Services should serve a basic endpoint from pods [Conformance]"}
	// ginkgo matches the suite's description and the spec's name.
	focus := regexp.MustCompile(Focus("Kubernetes e2e suite", names))
	for _, n := range names {
		if !focus.MatchString("Kubernetes e2e suite " + n) {
			t.Errorf("focus %s does not select %q", focus, n)
		}
	}
	// Names are whole: a spec whose name holds a listed one, and one that
	// a regexp reading of the brackets would match, are not selected.
	for _, n := range []string{
		"[sig-network] Services should serve a basic endpoint from pods [Conformance] and more",
		"x [sig-network] Services should serve a basic endpoint from pods [Conformance]",
		"[sig-network] Services should serve a basic endpoint from pods C",
	} {
		if focus.MatchString("Kubernetes e2e suite " + n) {
			t.Errorf("focus %s selects %q", focus, n)
		}
	}
}

func TestUnmatched(t *testing.T) {
	dry := []SpecResult{{Name: "a", Status: "passed"}, {Name: "b", Status: "skipped"}}
	if got := Unmatched([]string{"a", "b", "c"}, dry); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("Unmatched: %v, want b (not selected) and c (not there)", got)
	}
}

func TestCompare(t *testing.T) {
	names := []string{"both", "machine", "probe", "ours", "ours-known", "stock-only", "skipped", "missing"}
	stock := []SpecResult{
		{Name: "both", Status: "passed"},
		{Name: "machine", Status: "failed", Message: "no registry\nmore"},
		{Name: "probe", Status: "failed"},
		{Name: "ours", Status: "passed"},
		{Name: "ours-known", Status: "passed"},
		{Name: "stock-only", Status: "failed", Message: "boom"},
		{Name: "skipped", Status: "skipped"},
	}
	patched := []SpecResult{
		{Name: "both", Status: "passed"},
		{Name: "machine", Status: "failed", Message: "no registry"},
		{Name: "probe", Status: "passed"},
		{Name: "ours", Status: "failed", Message: "timed out"},
		{Name: "ours-known", Status: "failed", Message: "no registry"},
		{Name: "stock-only", Status: "passed"},
		{Name: "skipped", Status: "passed"},
		{Name: "missing", Status: "passed"},
	}
	known := []KnownFailure{
		{Spec: regexp.MustCompile(`^machine$`), Reason: "no registry here"},
		{Spec: regexp.MustCompile(`^ours-known$`), Reason: "said to fail everywhere"},
		{Spec: regexp.MustCompile(`^probe$`), Problem: ctxleak.ProblemProbeRegression, Reason: "kubernetes#140881"},
	}
	rows, problems := Compare(names, stock, patched, false, known, ctxleak.ProblemProbeRegression)
	if len(rows) != len(names) || rows[1].Known != "no registry here" || rows[0].Known != "" {
		t.Errorf("rows %+v", rows)
	}
	want := []string{
		"missing with stock kubelets: not run",
		"ours failed with patched kubelets, and no known failure says why: timed out",
		"ours fails only with our kubelets: timed out",
		// A known failure does not excuse a spec that passed with stock.
		"ours-known fails only with our kubelets: no registry",
		"skipped with stock kubelets: skipped",
		"stock-only failed with stock kubelets, and no known failure says why: boom",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(problems, "\n  "), strings.Join(want, "\n  "))
	}
	// On a base without the probe regression, the probe spec's stock
	// failure is not explained.
	_, problems = Compare([]string{"probe"}, stock, patched, false, known, ctxleak.ProblemLeak)
	if !slices.Equal(problems, []string{"probe failed with stock kubelets, and no known failure says why: "}) {
		t.Errorf("probe on a leaking base: %q", problems)
	}
	// A stock-only known failure is no reason for ours failing.
	probeRows, _ := Compare([]string{"probe"}, stock, stock, false, known, ctxleak.ProblemProbeRegression)
	if probeRows[0].Known != "kubernetes#140881" {
		t.Errorf("probe failing on both: known %q, want the stock reason", probeRows[0].Known)
	}
	probeRows, _ = Compare([]string{"probe"}, patched, stock, false, known, ctxleak.ProblemProbeRegression)
	if probeRows[0].Known != "" {
		t.Errorf("probe failing with ours alone: known %q, want none", probeRows[0].Known)
	}
	// A known stock failure that passed is reported.
	_, problems = Compare([]string{"probe"}, patched, patched, false, known, ctxleak.ProblemProbeRegression)
	if !slices.Equal(problems, []string{"probe passed with stock kubelets, where it is known to fail on probe-regression"}) {
		t.Errorf("probe passing on stock: %q", problems)
	}
	if table := Table(rows); !strings.Contains(table, "| machine | failed | failed | no registry here |") {
		t.Errorf("table:\n%s", table)
	}
	// Ours alone: judged by the known failures; nothing said of stock.
	rows, problems = Compare([]string{"both", "machine", "ours"}, nil, patched, true, known, ctxleak.ProblemProbeRegression)
	if want := []string{"ours failed with patched kubelets, and no known failure says why: timed out"}; !slices.Equal(problems, want) {
		t.Errorf("ours alone: %q, want %q", problems, want)
	}
	if table := Table(rows); !strings.Contains(table, "| machine | not run | failed | no registry here |") {
		t.Errorf("ours alone, table:\n%s", table)
	}
}
