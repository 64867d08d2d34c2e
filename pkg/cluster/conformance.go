package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/conformance"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// ConformanceOptions describe upstream's cluster conformance specs, run on
// a cluster Up built with the stock kubelet's package, then again once
// every node runs ours.
type ConformanceOptions struct {
	// Suite is e2e.test and ginkgo of the base's patched tree, with the
	// processes and the time one run may take; Do's other fields are set
	// here.
	Suite conformance.Run
	// Specs is the named list, each spec's full name; empty runs every
	// [Conformance] spec the suite has.
	Specs []string
	// KnownFailures explain the specs that fail, with their reasons.
	KnownFailures []conformance.KnownFailure
	// StockVersion and PatchedVersion are what each kubelet reports.
	StockVersion, PatchedVersion string
	// Recipe is the operator's commands; its Upgrade and Wait put our
	// kubelet on a node and wait for it.
	Recipe Recipe
	// OutDir gets the runs' reports (dry-run, stock, patched) and
	// table.md; the cluster's own folder goes with it.
	OutDir string
	// PatchedOnly runs the specs once, on kubelets already replaced with
	// ours where the specs' pods run (make test's short form, after Roll
	// replaced its worker's), and judges them as ours.
	PatchedOnly bool
}

// ConformanceReport is the named list's specs with both kubelets, and what
// did not hold.
type ConformanceReport struct {
	Rows     []conformance.Row
	Problems []string
	// Stock and Patched are how long each run took.
	Stock, Patched time.Duration
}

// e2eSuite is how e2e.test describes itself, which ginkgo's focus reads
// before a spec's name.
const e2eSuite = "Kubernetes e2e suite"

// allConformance selects every conformance spec; the full run takes them
// all, as sonobuoy's certified-conformance mode does.
const allConformance = `\[Conformance\]`

// Conformance runs the specs with the stock kubelets, replaces every
// node's kubelet with ours by the recipe, control plane first, and runs
// them again. Its error is the harness's; what the kubelets did is in the
// report.
func Conformance(ctx context.Context, c *Cluster, o ConformanceOptions) (*ConformanceReport, error) {
	logger := klog.FromContext(ctx)
	problem, why := ctxleak.ClassifyVersion(o.StockVersion)
	if problem == ctxleak.ProblemUnknown {
		return nil, fmt.Errorf("no version facts for the stock kubelet %s (%s): what it must do is not known", o.StockVersion, why)
	}
	if !o.PatchedOnly && (strings.TrimSpace(o.Recipe.Upgrade) == "" || strings.TrimSpace(o.Recipe.Wait) == "") {
		return nil, fmt.Errorf("the recipe's upgrade and wait commands are empty: the README must give them")
	}
	client, _, err := c.Client()
	if err != nil {
		return nil, err
	}
	dir := o.OutDir
	if dir == "" {
		return nil, fmt.Errorf("no folder for the conformance reports")
	}
	suite := o.Suite
	suite.Command = c.ControlPlaneCommand
	// As sonobuoy runs e2e.test: against the cluster's API with its admin
	// credentials, no cloud provider, kubectl of the node's packages.
	suite.Args = append(suite.Args, "--kubeconfig=/etc/kubernetes/admin.conf", "--provider=skeleton",
		"--kubectl-path=/usr/bin/kubectl", "--disable-log-dump")
	suite.Focus = []string{allConformance}
	if len(o.Specs) > 0 {
		suite.Focus = []string{conformance.Focus(e2eSuite, o.Specs)}
	}

	// Every name of the list must be a spec of the suite: a name that
	// selects nothing would pass without running.
	dry := suite
	dry.DryRun, dry.ReportDir = true, filepath.Join(dir, "dry-run")
	listed, err := dry.Do(ctx)
	if err != nil {
		return nil, err
	}
	names := o.Specs
	if len(names) == 0 {
		for _, s := range listed {
			if s.Status == "passed" {
				names = append(names, s.Name)
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the dry run selected no spec (focus %v, skip %q)", suite.Focus, suite.Skip)
	}
	if missing := conformance.Unmatched(names, listed); len(missing) > 0 {
		return nil, fmt.Errorf("e2e.test has no spec named:\n  %s", strings.Join(missing, "\n  "))
	}
	logger.Info("Conformance specs selected", "specs", len(names))

	report := &ConformanceReport{}
	var stock []conformance.SpecResult
	if !o.PatchedOnly {
		stockRun := suite
		stockRun.ReportDir = filepath.Join(dir, "stock")
		start := time.Now()
		if stock, err = stockRun.Do(ctx); err != nil {
			return nil, err
		}
		report.Stock = time.Since(start)
		logger.Info("Conformance with stock kubelets done", "took", report.Stock.Round(time.Second))

		for i, n := range c.Nodes {
			waited, err := c.replaceKubelet(ctx, client, i, o.Recipe.Upgrade, o.Recipe.Wait, o.PatchedVersion)
			if err != nil {
				return nil, err
			}
			logger.Info("Node replaced", "node", n.Name, "version", o.PatchedVersion, "readyAfter", waited.Round(100*time.Millisecond))
		}
	}

	patchedRun := suite
	patchedRun.ReportDir = filepath.Join(dir, "patched")
	start := time.Now()
	patched, err := patchedRun.Do(ctx)
	if err != nil {
		return nil, err
	}
	report.Patched = time.Since(start)
	logger.Info("Conformance with our kubelets done", "took", report.Patched.Round(time.Second))

	report.Rows, report.Problems = conformance.Compare(names, stock, patched, o.PatchedOnly, o.KnownFailures, problem)
	if err := os.WriteFile(filepath.Join(dir, "table.md"), []byte(conformance.Table(report.Rows)), 0o644); err != nil {
		return nil, err
	}
	return report, nil
}

// String is the report's summary: counts per kubelet, the failures, and
// the problems.
func (r *ConformanceReport) String() string {
	var b strings.Builder
	count := func(pick func(conformance.Row) conformance.SpecResult) (passed, failed int) {
		for _, row := range r.Rows {
			if pick(row).Status == "passed" {
				passed++
			} else {
				failed++
			}
		}
		return passed, failed
	}
	sp, sf := count(func(row conformance.Row) conformance.SpecResult { return row.Stock })
	pp, pf := count(func(row conformance.Row) conformance.SpecResult { return row.Patched })
	ran := func(row conformance.Row) bool { return row.Stock.Status != "" }
	stockRan := slices.ContainsFunc(r.Rows, ran)
	fmt.Fprintf(&b, "\nConformance: %d specs\n", len(r.Rows))
	if stockRan {
		fmt.Fprintf(&b, "  stock kubelets: %d passed, %d not (%s)\n", sp, sf, r.Stock.Round(time.Second))
	}
	fmt.Fprintf(&b, "  our kubelets:   %d passed, %d not (%s)\n", pp, pf, r.Patched.Round(time.Second))
	for _, row := range r.Rows {
		if (stockRan && row.Stock.Status != "passed") || row.Patched.Status != "passed" {
			fmt.Fprintf(&b, "  %s: stock %s, ours %s", row.Spec, row.Stock.Status, row.Patched.Status)
			if row.Known != "" {
				fmt.Fprintf(&b, " (known: %s)", row.Known)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
