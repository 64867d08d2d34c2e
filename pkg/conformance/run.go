package conformance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Run is one run of an e2e suite binary under ginkgo, as sonobuoy and node
// e2e run them: ginkgo runs Binary in Procs parallel processes (serial
// specs at the end, one at a time), and writes a JUnit report, and a JSON
// one that Do reads.
type Run struct {
	// Ginkgo is the ginkgo command of the tree Binary was built from.
	Ginkgo, Binary string
	Procs          int
	// Focus selects specs by name (any of them), LabelFilter by ginkgo
	// label, Skip leaves out those whose names match.
	Focus       []string
	LabelFilter string
	Skip        string
	// Args are the suite's own flags; --report-dir is ReportDir.
	Args    []string
	Timeout time.Duration
	// ReportDir gets report.json, junit.xml, specs.tsv and ginkgo.log.
	ReportDir string
	// DryRun lists the specs the selection holds, each reported passed,
	// without running any.
	DryRun bool
	// Command makes the command that runs argv; nil runs it here. A
	// cluster's suite runs on its control-plane node.
	Command func(ctx context.Context, argv ...string) *exec.Cmd
}

// Do runs the suite and returns the specs of its report, ordered by name:
// every spec the suite has, those the selection leaves out skipped. A run
// whose specs failed is not an error; one that leaves no report is.
func (r Run) Do(ctx context.Context) ([]SpecResult, error) {
	if r.Ginkgo == "" || r.Binary == "" || r.Procs < 1 || r.ReportDir == "" {
		return nil, fmt.Errorf("a conformance run needs ginkgo, the suite's binary, one process or more and a report folder")
	}
	if err := os.MkdirAll(r.ReportDir, 0o755); err != nil {
		return nil, err
	}
	// A report left by an earlier run must not stand for this one's.
	if err := os.Remove(filepath.Join(r.ReportDir, "report.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(r.ReportDir, "ginkgo.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	procs := r.Procs
	if r.DryRun {
		// ginkgo dry-runs in series only.
		procs = 1
	}
	argv := []string{r.Ginkgo, fmt.Sprintf("--procs=%d", procs), "--no-color", "--timeout=" + r.Timeout.String(),
		"--output-dir=" + r.ReportDir, "--junit-report=junit.xml", "--json-report=report.json"}
	if r.LabelFilter != "" {
		argv = append(argv, "--label-filter="+r.LabelFilter)
	}
	for _, focus := range r.Focus {
		argv = append(argv, "--focus="+focus)
	}
	if r.Skip != "" {
		argv = append(argv, "--skip="+r.Skip)
	}
	if r.DryRun {
		argv = append(argv, "--dry-run")
	}
	argv = append(append(argv, r.Binary, "--", "--report-dir="+r.ReportDir), r.Args...)
	command := r.Command
	if command == nil {
		command = func(ctx context.Context, argv ...string) *exec.Cmd {
			return exec.CommandContext(ctx, argv[0], argv[1:]...)
		}
	}
	cmd := command(ctx, argv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	klog.FromContext(ctx).Info("Running", "suite", filepath.Base(r.Binary), "procs", procs, "dryRun", r.DryRun, "log", logFile.Name())
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if r.DryRun && runErr != nil {
		// A dry run fails no spec: its failure is the suite's or ginkgo's.
		return nil, fmt.Errorf("the dry run of %s failed, see %s: %w", filepath.Base(r.Binary), logFile.Name(), runErr)
	}
	specs, err := ReadReport(filepath.Join(r.ReportDir, "report.json"))
	if err != nil {
		return nil, fmt.Errorf("%s (%v) left no report, see %s: %w", filepath.Base(r.Binary), runErr, logFile.Name(), err)
	}
	if len(specs) == 0 {
		// A suite reports every spec it has, those it skips too; none
		// means it never reached them (a failed BeforeSuite).
		return nil, fmt.Errorf("%s (%v) reported no spec, see %s", filepath.Base(r.Binary), runErr, logFile.Name())
	}
	var table strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&table, "%s\t%s\n", s.Status, s.Name)
	}
	if err := os.WriteFile(filepath.Join(r.ReportDir, "specs.tsv"), []byte(table.String()), 0o644); err != nil {
		return nil, err
	}
	return specs, nil
}
