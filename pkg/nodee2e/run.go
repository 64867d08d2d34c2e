package nodee2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// RunOptions describe a run: the kubelets of one base, one after the other
// on the same node, control plane and runtime.
type RunOptions struct {
	Base     string
	Kubelets []KubeletSpec
	// Scenarios are the names of the scenarios to run, in Scenarios' order.
	Scenarios []string
	// Env is the template of every scenario's Env; Kubelet and Restart are
	// set per kubelet. results.json goes into its OutDir.
	Env Env
}

// Result is one scenario on one kubelet.
type Result struct {
	Scenario string `json:"scenario"`
	Kubelet  string `json:"kubelet"`
	Version  string `json:"version"`
	Outcome  string `json:"outcome"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Error    string `json:"error,omitempty"`
}

// OK reports whether the kubelet did what it must.
func (r Result) OK() bool { return r.Error == "" && r.Outcome == r.Expected }

// Run runs every scenario on every kubelet, writes results.json and returns
// the results. An error means the node could not be brought up; a scenario
// that goes wrong is a result.
func Run(ctx context.Context, opts RunOptions) ([]Result, error) {
	logger := klog.FromContext(ctx)
	// The conformance list's known failures are keyed by what the base is
	// known for.
	problem, why := ctxleak.ClassifyVersion(opts.Base)
	if problem == ctxleak.ProblemUnknown {
		return nil, fmt.Errorf("cannot tell what stock %s must do: %s", opts.Base, why)
	}
	// Every expectation first: a run that would stop at its last scenario
	// for want of one is a run wasted.
	expected := map[string]string{}
	for _, scenario := range Scenarios {
		if !slices.Contains(opts.Scenarios, scenario.Name) {
			continue
		}
		for _, spec := range opts.Kubelets {
			outcome, err := scenario.Expect(spec.Name, opts.Base)
			if err != nil {
				return nil, err
			}
			expected[scenario.Name+"/"+spec.Name] = outcome
		}
	}
	var results []Result
	for _, spec := range opts.Kubelets {
		kubelet, err := StartKubelet(ctx, spec)
		if err != nil {
			return results, err
		}
		env := opts.Env
		env.Kubelet = kubelet
		env.Problem = problem
		env.Restart = func(ctx context.Context) error {
			kubelet.Stop(ctx)
			// The service manager's restart delay, and time for the old
			// node status to age.
			time.Sleep(3 * time.Second)
			restarted, err := StartKubelet(ctx, spec)
			if err != nil {
				return err
			}
			*kubelet = *restarted
			return kubelet.WaitNodeReady(ctx, env.Cluster.Client, env.Cluster.Node, 2*time.Minute)
		}
		if err := kubelet.WaitNodeReady(ctx, env.Cluster.Client, env.Cluster.Node, 3*time.Minute); err != nil {
			kubelet.Stop(ctx)
			return results, err
		}
		for _, scenario := range Scenarios {
			if !slices.Contains(opts.Scenarios, scenario.Name) {
				continue
			}
			logger.Info("Scenario", "scenario", scenario.Name, "kubelet", spec.Name, "version", kubelet.Version)
			started := time.Now()
			outcome, measured, err := scenario.Run(ctx, &env)
			r := Result{Scenario: scenario.Name, Kubelet: spec.Name, Version: kubelet.Version, Outcome: outcome, Measured: measured, Expected: expected[scenario.Name+"/"+spec.Name]}
			if err != nil {
				r.Error = err.Error()
			}
			logger.Info("Scenario done", "scenario", scenario.Name, "kubelet", spec.Name, "outcome", r.Outcome, "expected", r.Expected, "measured", r.Measured, "err", r.Error, "took", time.Since(started).Round(time.Second))
			results = append(results, r)
			if ctx.Err() != nil {
				kubelet.Stop(ctx)
				return results, ctx.Err()
			}
		}
		kubelet.Stop(ctx)
		// The next kubelet registers the node anew.
		if err := env.Cluster.Client.CoreV1().Nodes().Delete(ctx, env.Cluster.Node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return results, err
		}
	}
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return results, err
	}
	return results, os.WriteFile(filepath.Join(opts.Env.OutDir, "results.json"), append(data, '\n'), 0o644)
}

// PrintTable writes the results side by side, a row per scenario and a
// column per kubelet, each cell the outcome, whether it is the one required,
// and what was measured.
func PrintTable(w io.Writer, results []Result, kubelets []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"SCENARIO"}
	versions := map[string]string{}
	for _, r := range results {
		versions[r.Kubelet] = r.Version
	}
	for _, k := range kubelets {
		header = append(header, strings.ToUpper(k)+" "+versions[k])
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	var order []string
	cells := map[string]map[string]string{}
	for _, r := range results {
		if cells[r.Scenario] == nil {
			cells[r.Scenario] = map[string]string{}
			order = append(order, r.Scenario)
		}
		verdict := "ok"
		if !r.OK() {
			verdict = "WRONG, want " + r.Expected
		}
		cell := fmt.Sprintf("%s (%s)", r.Outcome, verdict)
		if r.Error != "" {
			cell = "ERROR: " + r.Error
		}
		cells[r.Scenario][r.Kubelet] = cell
	}
	for _, s := range order {
		row := []string{s}
		for _, k := range kubelets {
			row = append(row, cells[s][k])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%s, %s: %s\n", r.Scenario, r.Kubelet, r.Measured)
	}
}
