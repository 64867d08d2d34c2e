package nodee2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
	// Perf is what the scenario measured of the kubelet's performance.
	Perf map[string]float64 `json:"perf,omitempty"`
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
	expected, err := expectedOutcomes(opts)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, spec := range opts.Kubelets {
		if !slices.ContainsFunc(Scenarios, func(s Scenario) bool {
			return s.Run != nil && slices.Contains(opts.Scenarios, s.Name) && (spec.Repeats == "" || s.Measures)
		}) {
			continue
		}
		kubelet, err := StartKubelet(ctx, spec)
		if err != nil {
			return results, err
		}
		env := opts.Env
		env.Kubelet = kubelet
		env.Problem = problem
		// restartAfter ends the kubelet with end and starts it again as its
		// service manager would: even if end failed, for the scenarios
		// after this one.
		restartAfter := func(ctx context.Context, end func(context.Context) error) error {
			endErr := end(ctx)
			// The service manager's restart delay, and time for the old
			// node status to age.
			time.Sleep(3 * time.Second)
			restarted, err := StartKubelet(ctx, spec)
			if err != nil {
				return errors.Join(endErr, err)
			}
			*kubelet = *restarted
			return errors.Join(endErr, kubelet.WaitNodeReady(ctx, env.Cluster.Client, env.Cluster.Node, 2*time.Minute))
		}
		env.Restart = func(ctx context.Context) error {
			return restartAfter(ctx, func(ctx context.Context) error { kubelet.Stop(ctx); return nil })
		}
		env.Crash = func(ctx context.Context) error {
			return restartAfter(ctx, func(ctx context.Context) error { kubelet.Kill(ctx); return nil })
		}
		env.Reboot = func(ctx context.Context) error {
			return restartAfter(ctx, func(ctx context.Context) error {
				kubelet.Kill(ctx)
				return env.Runtime.PowerCycle(ctx, kubelet.Spec.RootDir)
			})
		}
		if err := kubelet.WaitNodeReady(ctx, env.Cluster.Client, env.Cluster.Node, 3*time.Minute); err != nil {
			kubelet.Stop(ctx)
			return results, err
		}
		for _, scenario := range Scenarios {
			if !slices.Contains(opts.Scenarios, scenario.Name) || scenario.Run == nil || (spec.Repeats != "" && !scenario.Measures) {
				continue
			}
			logger.Info("Scenario", "scenario", scenario.Name, "kubelet", spec.Name, "version", kubelet.Version)
			started := time.Now()
			env.perf = map[string]float64{}
			outcome, measured, err := scenario.Run(ctx, &env)
			r := Result{Scenario: scenario.Name, Kubelet: spec.Name, Version: kubelet.Version, Outcome: outcome, Measured: measured, Expected: expected[scenario.Name+"/"+spec.Name]}
			if len(env.perf) > 0 {
				r.Perf = env.perf
			}
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
	for _, scenario := range Scenarios {
		if !slices.Contains(opts.Scenarios, scenario.Name) || scenario.Swap == nil {
			continue
		}
		swapped, err := runSwap(ctx, opts, problem, scenario, expected)
		results = append(results, swapped...)
		if err != nil {
			return results, err
		}
	}
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return results, err
	}
	return results, os.WriteFile(filepath.Join(opts.Env.OutDir, "results.json"), append(data, '\n'), 0o644)
}

// expectedOutcomes gives the outcome each kubelet of opts must have in each
// scenario, keyed SCENARIO/KUBELET: a kubelet that repeats another must do
// what that one does.
func expectedOutcomes(opts RunOptions) (map[string]string, error) {
	expected := map[string]string{}
	for _, scenario := range Scenarios {
		if !slices.Contains(opts.Scenarios, scenario.Name) {
			continue
		}
		for _, spec := range opts.Kubelets {
			outcome, err := scenario.Expect(cmp.Or(spec.Repeats, spec.Name), opts.Base)
			if err != nil {
				return nil, err
			}
			expected[scenario.Name+"/"+spec.Name] = outcome
		}
	}
	return expected, nil
}

// runSwap runs a Swap scenario on the stock and patched kubelets of opts.
func runSwap(ctx context.Context, opts RunOptions, problem ctxleak.Problem, scenario Scenario, expected map[string]string) ([]Result, error) {
	logger := klog.FromContext(ctx)
	specs := map[string]KubeletSpec{}
	for _, spec := range opts.Kubelets {
		specs[spec.Name] = spec
	}
	stock, okStock := specs["stock"]
	patched, okPatched := specs["patched"]
	if !okStock || !okPatched {
		return nil, errNoSwapPair
	}
	versions := map[string]string{}
	for name, spec := range map[string]KubeletSpec{"stock": stock, "patched": patched} {
		version, err := kubeletVersion(ctx, spec.Name, spec.Binary)
		if err != nil {
			return nil, err
		}
		versions[name] = version
	}
	env := opts.Env
	env.Problem = problem
	logger.Info("Scenario", "scenario", scenario.Name, "stock", stock.Binary, "patched", patched.Binary)
	started := time.Now()
	upgrade, rollback, err := scenario.Swap(ctx, &env, stock, patched)
	var results []Result
	for _, r := range []struct {
		kubelet string
		outcome SwapOutcome
	}{{"patched", upgrade}, {"stock", rollback}} {
		result := Result{Scenario: scenario.Name, Kubelet: r.kubelet, Version: versions[r.kubelet], Outcome: r.outcome.Outcome, Measured: r.outcome.Measured, Expected: expected[scenario.Name+"/"+r.kubelet]}
		if err != nil {
			result.Error = err.Error()
		} else if result.Outcome == "" {
			result.Error = "the swap ended before this direction was tried"
		}
		logger.Info("Scenario done", "scenario", scenario.Name, "kubelet", r.kubelet, "outcome", result.Outcome, "expected", result.Expected, "measured", result.Measured, "err", result.Error, "took", time.Since(started).Round(time.Second))
		results = append(results, result)
	}
	if ctx.Err() != nil {
		return results, ctx.Err()
	}
	// The next kubelet registers the node anew.
	if err := opts.Env.Cluster.Client.CoreV1().Nodes().Delete(ctx, opts.Env.Cluster.Node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return results, err
	}
	return results, nil
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

// PrintPerf writes what the scenarios measured of the kubelets' performance,
// figure by figure: the stock, patched and again (stock run a second time)
// kubelets' values, patched/stock, and again/stock, the noise band. A
// patched ratio further from 1 than the noise is marked outside it. This is
// reported, not judged: a band from one repetition is one sample wide.
func PrintPerf(w io.Writer, results []Result, stock, patched, again string) {
	byScenario := map[string]map[string]map[string]float64{}
	var order []string
	for _, r := range results {
		if len(r.Perf) == 0 {
			continue
		}
		if byScenario[r.Scenario] == nil {
			byScenario[r.Scenario] = map[string]map[string]float64{}
			order = append(order, r.Scenario)
		}
		byScenario[r.Scenario][r.Kubelet] = r.Perf
	}
	for _, scenario := range order {
		perf := byScenario[scenario]
		var figures []string
		for name := range perf[stock] {
			figures = append(figures, name)
		}
		slices.Sort(figures)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "PERFORMANCE: %s\t%s\t%s\t%s\tPATCHED/STOCK\tAGAIN/STOCK (NOISE)\t\n", scenario, strings.ToUpper(stock), strings.ToUpper(patched), strings.ToUpper(again))
		for _, figure := range figures {
			s := perf[stock][figure]
			p, okPatched := perf[patched][figure]
			a, okAgain := perf[again][figure]
			value := func(v float64, ok bool) string {
				if !ok {
					return "-"
				}
				return fmt.Sprintf("%.2f", v)
			}
			ratio := func(v float64, ok bool) (float64, string) {
				if !ok || s == 0 {
					return 0, "-"
				}
				return v / s, fmt.Sprintf("%.2f", v/s)
			}
			patchedRatio, patchedText := ratio(p, okPatched)
			againRatio, againText := ratio(a, okAgain)
			verdict := ""
			if patchedText != "-" && againText != "-" {
				verdict = "within noise"
				if math.Abs(patchedRatio-1) > math.Abs(againRatio-1) {
					verdict = "outside noise"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", figure, value(s, true), value(p, okPatched), value(a, okAgain), patchedText, againText, verdict)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
}
