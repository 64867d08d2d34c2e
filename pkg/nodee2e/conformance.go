package nodee2e

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// ConformanceOptions say how to run upstream's node conformance tests
// against the node: e2e_node.test built from the patched tree of the base,
// which talks to the API server with a bearer token, as node e2e does.
type ConformanceOptions struct {
	// Binary is e2e_node.test, and Ginkgo the ginkgo command of the same
	// tree, which runs it in Procs parallel processes: the list's liveness
	// specs each watch a pod for minutes.
	Binary, Ginkgo string
	Procs          int
	// Host is the API server's URL and Token a bearer token it accepts.
	Host, Token string
	// Focus selects specs by name, LabelFilter by ginkgo label.
	Focus       []string
	LabelFilter string
	// KnownFailures are the specs allowed to fail, each with its reason.
	KnownFailures []KnownFailure
	Timeout       time.Duration
}

// KnownFailure is a spec that fails, and where: on every kubelet, for a
// reason of this machine's and not the kubelet's (Problem empty), or only on
// the stock kubelet of a base with a known problem, which the spec shows.
type KnownFailure struct {
	Spec *regexp.Regexp
	// Problem, when set, limits the failure to stock kubelets of bases with
	// that problem; there the spec must fail.
	Problem ctxleak.Problem
	Reason  string
}

// Applies reports whether the failure is expected of kubelet on a base
// with problem.
func (k KnownFailure) Applies(kubelet string, problem ctxleak.Problem) bool {
	return k.Problem == "" || (kubelet == "stock" && k.Problem == problem)
}

// ConformanceFocus is the list of [NodeConformance] specs make e2e runs: the
// kubelet's lifecycle hooks, probes, pods, volumes and environment, the
// container runtime's behaviour, exec over websockets, and the termination of
// a pod whose sync is blocked.
var ConformanceFocus = []string{
	`Container Lifecycle Hook`,
	`Lifecycle Sleep Hook`,
	`Probing container`,
	`\[sig-node\] Pods `,
	`\[sig-storage\] ConfigMap`,
	`\[sig-storage\] Secrets`,
	`\[sig-storage\] Downward API volume`,
	`\[sig-node\] ConfigMap`,
	`\[sig-node\] Secrets`,
	`\[sig-node\] Downward API`,
	`\[sig-storage\] Projected`,
	`Container Runtime`,
	// A pod whose sync is blocked mounting a Secret that does not exist
	// must leave the API within 10 s of its deletion: the deletion cancels
	// the sync context the series changes.
	`Terminate Pods`,
}

// ConformanceLabelFilter keeps the specs that belong to node conformance and
// that run alone in reasonable time on any node.
const ConformanceLabelFilter = `NodeConformance && !Slow && !Serial && !Disruptive && !Flaky`

// ReadKnownFailures reads a file of lines SPEC-REGEXP<TAB>WHERE<TAB>REASON,
// WHERE being "all" or "stock:PROBLEM"; # starts a comment.
func ReadKnownFailures(path string) ([]KnownFailure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var known []KnownFailure
	scanner := bufio.NewScanner(f)
	line := 0
	for scanner.Scan() {
		line++
		text := scanner.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Split(text, "\t")
		if len(fields) != 3 || strings.TrimSpace(fields[2]) == "" {
			return nil, fmt.Errorf("%s:%d: want SPEC-REGEXP<TAB>WHERE<TAB>REASON", path, line)
		}
		re, err := regexp.Compile(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		k := KnownFailure{Spec: re, Reason: fields[2]}
		switch where := fields[1]; {
		case where == "all":
		case strings.HasPrefix(where, "stock:") && ctxleak.Problem(strings.TrimPrefix(where, "stock:")).Affected():
			k.Problem = ctxleak.Problem(strings.TrimPrefix(where, "stock:"))
		default:
			return nil, fmt.Errorf("%s:%d: where %q: want all, stock:%s or stock:%s", path, line, where, ctxleak.ProblemLeak, ctxleak.ProblemProbeRegression)
		}
		known = append(known, k)
	}
	return known, scanner.Err()
}

// SpecResult is one spec of a conformance run.
type SpecResult struct {
	Name   string
	Status string
}

// junitReport is the part of ginkgo's JUnit report read here.
type junitReport struct {
	Suites []struct {
		Cases []struct {
			Name   string `xml:"name,attr"`
			Status string `xml:"status,attr"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ReadJUnit returns the specs ([It]) of a ginkgo JUnit report, by name.
func ReadJUnit(path string) ([]SpecResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var report junitReport
	if err := xml.Unmarshal(data, &report); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var specs []SpecResult
	for _, suite := range report.Suites {
		for _, c := range suite.Cases {
			if name, ok := strings.CutPrefix(c.Name, "[It] "); ok {
				specs = append(specs, SpecResult{Name: name, Status: c.Status})
			}
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs, nil
}

// Verdict is a conformance run judged against the known failures.
type Verdict struct {
	Passed, Skipped int
	// Explained failed as a known failure says they do; Unexplained failed
	// otherwise; Unshown are known stock failures that passed.
	Explained, Unexplained, Unshown []string
}

// Judge sorts the specs of kubelet, on a base with problem, by the known
// failures that apply to it.
func Judge(specs []SpecResult, known []KnownFailure, kubelet string, problem ctxleak.Problem) Verdict {
	var v Verdict
	for _, s := range specs {
		var applies *KnownFailure
		for i := range known {
			if known[i].Spec.MatchString(s.Name) && known[i].Applies(kubelet, problem) {
				applies = &known[i]
				break
			}
		}
		switch s.Status {
		case "passed":
			v.Passed++
			if applies != nil && applies.Problem != "" {
				v.Unshown = append(v.Unshown, s.Name)
			}
		case "skipped", "pending":
			v.Skipped++
		default:
			if applies != nil {
				v.Explained = append(v.Explained, s.Name)
			} else {
				v.Unexplained = append(v.Unexplained, s.Name)
			}
		}
	}
	return v
}

// nodeConformance runs the conformance list against the node with this
// kubelet. It passes when every spec that failed is a known failure.
func nodeConformance(ctx context.Context, env *Env) (string, string, error) {
	opts := env.Conformance
	if opts == nil || opts.Binary == "" {
		return "", "", fmt.Errorf("no e2e_node.test to run (hack/e2e.sh builds it for make e2e)")
	}
	if opts.Ginkgo == "" || opts.Procs < 1 {
		return "", "", fmt.Errorf("no ginkgo to run e2e_node.test with")
	}
	reportDir := filepath.Join(env.OutDir, "conformance-"+env.Kubelet.Spec.Name)
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return "", "", err
	}
	logFile, err := os.Create(filepath.Join(reportDir, "e2e_node.log"))
	if err != nil {
		return "", "", err
	}
	defer logFile.Close()
	args := []string{
		fmt.Sprintf("--procs=%d", opts.Procs), "--no-color", "--timeout=" + opts.Timeout.String(),
		"--label-filter=" + opts.LabelFilter,
		"--output-dir=" + reportDir, "--junit-report=junit.xml",
	}
	for _, focus := range opts.Focus {
		args = append(args, "--focus="+focus)
	}
	args = append(args, opts.Binary, "--",
		"--start-services=false", "--prepull-images=false",
		"--node-name="+env.Cluster.Node,
		"--host="+opts.Host, "--bearer-token="+opts.Token,
		"--container-runtime-endpoint=unix://"+env.CRISocket, "--image-service-endpoint=unix://"+env.CRISocket,
		"--report-dir="+reportDir,
	)
	cmd := exec.CommandContext(ctx, opts.Ginkgo, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	klog.FromContext(ctx).Info("Running node conformance", "kubelet", env.Kubelet.Spec.Name, "procs", opts.Procs, "log", logFile.Name())
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	specs, err := ReadJUnit(filepath.Join(reportDir, "junit.xml"))
	if err != nil {
		return "", "", fmt.Errorf("e2e_node.test (%v) left no report: %w", runErr, err)
	}
	var table strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&table, "%s\t%s\n", s.Status, s.Name)
	}
	if err := os.WriteFile(filepath.Join(reportDir, "specs.tsv"), []byte(table.String()), 0o644); err != nil {
		return "", "", err
	}
	v := Judge(specs, opts.KnownFailures, env.Kubelet.Spec.Name, env.Problem)
	// The suite reports every spec it has; those the list does not select
	// are skipped.
	measured := fmt.Sprintf("%d specs run: %d passed, %d known failures, %d other failures", len(specs)-v.Skipped, v.Passed, len(v.Explained), len(v.Unexplained))
	switch {
	case len(v.Unexplained) > 0:
		return Fail, measured + ": " + strings.Join(v.Unexplained, "; "), nil
	case len(v.Unshown) > 0:
		return Fail, measured + "; known to fail on this stock kubelet, but passed: " + strings.Join(v.Unshown, "; "), nil
	case v.Passed == 0:
		return Fail, measured + ": no spec passed", nil
	}
	return Pass, measured, nil
}
