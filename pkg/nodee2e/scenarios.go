package nodee2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletlog"
)

// Outcomes a scenario reports.
const (
	Pass = "pass"
	Fail = "fail"
)

// Env is what a scenario runs against: one kubelet of the node.
type Env struct {
	Cluster *Cluster
	Kubelet *Kubelet
	// Restart stops the kubelet and starts it again with the same flags and
	// root folder, and waits for the node to be Ready.
	Restart func(ctx context.Context) error
	// Crash kills the kubelet with SIGKILL and starts it again 3 s later,
	// as a service manager with Restart=always does, and waits for the node
	// to be Ready.
	Crash func(ctx context.Context) error
	// Reboot kills the kubelet, and the runtime and everything it runs, as
	// a power cut would, undoes what a reboot undoes (Runtime.PowerCycle),
	// starts containerd and the kubelet again, and waits for the node to be
	// Ready.
	Reboot func(ctx context.Context) error
	// OutDir keeps what a scenario saves (heap profiles).
	OutDir string
	// CRISocket is containerd's endpoint, to see containers the API no
	// longer shows.
	CRISocket string
	// Runtime is containerd, to kill and start again.
	Runtime Runtime
	// Ctxleak is the ctxleak binary, which node-check runs as; Operator runs
	// it as kubectl's plugin.
	Ctxleak  string
	Operator *Operator
	Sync     SyncOptions
	Swap     SwapOptions
	Churn    ChurnOptions
	Crashes  CrashOptions
	// Problem is what the base is known for (Run sets it).
	Problem ctxleak.Problem
	// Conformance runs upstream's node conformance list; nil without it.
	Conformance *ConformanceOptions

	// perf collects what a scenario measures of the kubelet's performance,
	// by name (Run gives each scenario a new one).
	perf map[string]float64
}

// measure records a performance figure of the running scenario: compared
// side by side, kubelet against kubelet, with a noise band from a kubelet
// run twice.
func (e *Env) measure(name string, value float64) {
	if e.perf != nil {
		e.perf[name] = value
	}
}

// SyncOptions shapes the sustained-sync scenario.
type SyncOptions struct {
	Pods     int
	Duration time.Duration
	Interval time.Duration
}

// SwapOptions shapes the kubelet-swap scenario.
type SwapOptions struct {
	Pods int
}

// Scenario is one thing a node must do right.
type Scenario struct {
	Name string
	// Run reports the outcome and what was measured, on one kubelet.
	Run func(ctx context.Context, env *Env) (outcome, measured string, err error)
	// Swap, instead of Run, runs once on both kubelets of the base, after
	// every Run: it reports the upgrade, from stock to patched, as the
	// patched kubelet's outcome and the rollback as the stock one's.
	Swap func(ctx context.Context, env *Env, stock, patched KubeletSpec) (upgrade, rollback SwapOutcome, err error)
	// Measures says the scenario measures the kubelet's performance: a run
	// with a kubelet that Repeats another runs it again on that one.
	Measures bool
	// Patched is the outcome every patched kubelet must have.
	Patched string
	// Stock is the outcome the stock kubelet of each base must have, written
	// out per base rather than derived from ctxleak's version facts: the
	// npd-node-check scenario judges ctxleak, which answers from those facts.
	// Nil where stock must do what patched does on every base.
	Stock map[string]string
}

// Expect gives the outcome the kubelet ("stock" or "patched") of base must
// have, or an error for a stock base the scenario has no entry for.
func (s Scenario) Expect(kubelet, base string) (string, error) {
	if kubelet != "stock" || s.Stock == nil {
		return s.Patched, nil
	}
	outcome, ok := s.Stock[base]
	if !ok {
		return "", fmt.Errorf("scenario %s says nothing about stock %s: add the base to its Stock outcomes", s.Name, base)
	}
	return outcome, nil
}

// Scenarios are every scenario, by name, in the order they run. What stock
// does per base is what its source has: v1.36.0-v1.36.2 leak one sync
// context per pod sync (kubernetes#139823); v1.36.3-v1.36.5 cancel the exec
// probes of a terminating pod (kubernetes#140881); v1.37 has neither.
var Scenarios = []Scenario{
	{Name: "readiness-during-termination", Run: readinessDuringTermination, Patched: Pass, Stock: stockReadiness},
	{Name: "kubelet-restart", Run: kubeletRestart, Patched: Pass},
	{Name: "sustained-sync", Run: sustainedSync, Patched: string(ctxleak.Clean), Stock: stockLeak},
	// node-check exits 1 for a stock kubelet of either broken range, by its
	// version alone.
	{Name: "npd-node-check", Run: npdNodeCheck, Patched: "exit 0", Stock: map[string]string{
		"v1.36.0": "exit 1", "v1.36.1": "exit 1", "v1.36.2": "exit 1",
		"v1.36.3": "exit 1", "v1.36.4": "exit 1", "v1.36.5": "exit 1",
		"v1.37.0": "exit 0", "v1.37.2": "exit 0",
	}},
	{Name: "kubectl-plugin", Run: kubectlPlugin, Patched: Pass},
	{Name: "force-delete-during-prestop", Run: forceDeleteDuringPreStop, Patched: hookCompleted},
	{Name: "kubelet-killed-during-prestop", Run: kubeletKilledDuringPreStop, Patched: Pass},
	{Name: "kubelet-killed-at-succeeded", Run: kubeletKilledAtSucceeded, Patched: Pass},
	{Name: "kubelet-killed-mid-sync", Run: kubeletKilledMidSync, Patched: string(ctxleak.Clean), Stock: stockLeak},
	// A terminating pod's readiness, once containerd or the API is back, is
	// reported as its base probes at termination.
	{Name: "containerd-killed", Run: containerdKilled, Patched: Pass, Stock: stockReadiness},
	{Name: "api-partitioned", Run: apiPartitioned, Patched: Pass, Stock: stockReadiness},
	{Name: "apiserver-restarted", Run: apiServerRestarted, Patched: Pass, Stock: stockReadiness},
	{Name: "node-rebooted", Run: nodeRebooted, Patched: Pass},
	{Name: "churn", Run: churn, Measures: true, Patched: string(ctxleak.Clean), Stock: stockLeak},
	{Name: "node-conformance", Run: nodeConformance, Patched: Pass},
	// On rollback, the pod deleted is probed as its base probes it, and the
	// node leaks again where its base leaks.
	{Name: "kubelet-swap", Swap: kubeletSwap, Patched: Pass, Stock: stockRollback},
	{Name: "kubelet-package-swap", Swap: kubeletPackageSwap, Patched: Pass, Stock: stockRollback},
}

// stockRollback is the outcome of a rollback to stock: fail where stock
// reports a terminating pod Ready (v1.36.3-v1.36.5), else leaking where it
// keeps its sync contexts (v1.36.0-v1.36.2), else pass.
var stockRollback = map[string]string{
	"v1.36.0": string(ctxleak.Leaking), "v1.36.1": string(ctxleak.Leaking), "v1.36.2": string(ctxleak.Leaking),
	"v1.36.3": Fail, "v1.36.4": Fail, "v1.36.5": Fail,
	"v1.37.0": Pass, "v1.37.2": Pass,
}

// stockLeak is ctxleak's verdict on a stock kubelet after pods came and
// went: v1.36.0-v1.36.2 keep one sync context per pod sync.
var stockLeak = map[string]string{
	"v1.36.0": string(ctxleak.Leaking), "v1.36.1": string(ctxleak.Leaking), "v1.36.2": string(ctxleak.Leaking),
	"v1.36.3": string(ctxleak.Clean), "v1.36.4": string(ctxleak.Clean), "v1.36.5": string(ctxleak.Clean),
	"v1.37.0": string(ctxleak.Clean), "v1.37.2": string(ctxleak.Clean),
}

// stockReadiness is what a stock kubelet reports of a pod whose preStop hook
// removes its ready file: pass where the pod goes not Ready in time.
var stockReadiness = map[string]string{
	"v1.36.0": Pass, "v1.36.1": Pass, "v1.36.2": Pass,
	"v1.36.3": Fail, "v1.36.4": Fail, "v1.36.5": Fail,
	"v1.37.0": Pass, "v1.37.2": Pass,
}

// probeErrorLines counts the kubelet's log lines since offset that report a
// probe failing with "context canceled".
func probeErrorLines(logPath string, offset int64) (int, error) {
	lines, err := kubeletlog.LinesAfter(logPath, offset)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range lines {
		if strings.Contains(line, "robe") && strings.Contains(line, "context canceled") {
			n++
		}
	}
	return n, nil
}

// readinessDuringTermination deletes a pod whose preStop hook removes the
// file its exec readiness probe (period 1 s) reads and then sleeps, and
// measures how long the API keeps reporting it Ready while its container
// still runs. kubernetes#140881: on v1.36.3-v1.36.5 every probe of a
// terminating pod fails with "context canceled", and the pod stays Ready for
// its whole grace period.
func readinessDuringTermination(ctx context.Context, env *Env) (outcome, measured string, err error) {
	return ReadinessDuringTermination(ctx, env.Cluster, env.Kubelet.Spec.LogPath)
}

// ReadinessDuringTermination is the readiness-during-termination scenario
// on the node c.Node, whose kubelet logs to kubeletLog: a kubeadm
// cluster's nodes run it too.
func ReadinessDuringTermination(ctx context.Context, c *Cluster, kubeletLog string) (outcome, measured string, err error) {
	ns, err := c.createNamespace(ctx, "readiness")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	pod := probedPod("terminating", 1)
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{
		Exec: &v1.ExecAction{Command: []string{"sh", "-c", "rm -f " + readyFile + "; sleep 20"}},
	}}
	if _, err := c.createPod(ctx, ns, pod); err != nil {
		return "", "", err
	}
	if err := c.waitPodsReady(ctx, ns, 1, 2*time.Minute); err != nil {
		return "", "", err
	}
	logOffset, err := kubeletlog.Offset(kubeletLog)
	if err != nil {
		return "", "", err
	}
	notReadyAfter, ok, err := c.notReadyAfterDeletion(ctx, ns, pod.Name, 30, readinessWatch)
	if err != nil {
		return "", "", err
	}
	errorsSeen, err := probeErrorLines(kubeletLog, logOffset)
	if err != nil {
		return "", "", fmt.Errorf("counting probe errors: %w", err)
	}
	switch {
	case ok && notReadyAfter <= readinessBound:
		return Pass, fmt.Sprintf("not Ready %.1fs after deletion, container running; %d probe errors \"context canceled\"", notReadyAfter.Seconds(), errorsSeen), nil
	case ok:
		return Fail, fmt.Sprintf("not Ready only %.1fs after deletion (bound %s); %d probe errors \"context canceled\"", notReadyAfter.Seconds(), readinessBound, errorsSeen), nil
	default:
		return Fail, fmt.Sprintf("still Ready %s into termination; %d probe errors \"context canceled\"", readinessWatch, errorsSeen), nil
	}
}

// readinessBound is how soon a pod whose preStop hook removes its ready file
// must be reported not Ready: five probe periods of 1 s, as the probe that
// sees the file gone runs within one period, and the status reaches the API
// within a second or two more. readiness-during-termination counts it from
// the deletion, as its hook removes the file first; the swap from the
// removal, as its hook logs it. readinessWatch is how long it is watched.
const (
	readinessBound = 5 * time.Second
	readinessWatch = 15 * time.Second
)

// notReadyAfterDeletion deletes a pod whose preStop hook removes its ready
// file, and watches the API for up to watchFor: ok says it was reported not
// Ready while its container still ran, after how long. A container that
// stops first is an error: the hook must hold it for longer than watchFor.
func (c *Cluster) notReadyAfterDeletion(ctx context.Context, ns, name string, grace int64, watchFor time.Duration) (after time.Duration, ok bool, err error) {
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(grace)}); err != nil {
		return 0, false, err
	}
	deleted := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, watchFor, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if !containerRunning(p) {
			return false, fmt.Errorf("the container of %s stopped %s after deletion, before its preStop hook ended", name, time.Since(deleted).Round(100*time.Millisecond))
		}
		if !podReady(p) {
			after = time.Since(deleted)
			return true, nil
		}
		return false, nil
	})
	switch {
	case err == nil:
		return after, true, nil
	case wait.Interrupted(err):
		return 0, false, nil
	default:
		return 0, false, err
	}
}

// kubeletRestart restarts the kubelet under running pods: they keep their
// containers, nothing restarts, and probes resume.
func kubeletRestart(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "restart")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	const pods = 3
	for i := 0; i < pods; i++ {
		if _, err := c.createPod(ctx, ns, probedPod(fmt.Sprintf("survivor-%d", i), 1)); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, pods, 2*time.Minute); err != nil {
		return "", "", err
	}
	before, err := containerIDs(ctx, c, ns)
	if err != nil {
		return "", "", err
	}
	if err := env.Restart(ctx); err != nil {
		return "", "", err
	}
	// The API shows what the old kubelet reported until the new one has
	// probed each pod (and a restarted kubelet reports them not Ready until
	// then): judge after three probe periods.
	time.Sleep(3 * time.Second)
	if err := c.waitPodsReady(ctx, ns, pods, time.Minute); err != nil {
		return Fail, "pods not Ready again after the restart: " + err.Error(), nil
	}
	// Ready before its file is removed, or going not Ready would say nothing.
	if p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "survivor-0", metav1.GetOptions{}); err != nil {
		return "", "", err
	} else if !podReady(p) {
		return Fail, "survivor-0 was not Ready before its ready file was removed: " + describePod(p), nil
	}
	// Probes resume: removing the file turns the pod not Ready. The exec goes
	// through the kubelet's server, which may still be starting.
	var execErr error
	err = wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, execErr = c.exec(ctx, ns, "survivor-0", "rm", readyFile)
		return execErr == nil, nil
	})
	if err != nil {
		return "", "", fmt.Errorf("no exec through the restarted kubelet in 30s: %w", execErr)
	}
	removed := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "survivor-0", metav1.GetOptions{})
		return err == nil && !podReady(p), nil
	})
	if err != nil {
		return Fail, "probes did not resume: still Ready 10s after its ready file was removed", nil
	}
	probed := time.Since(removed)
	after, err := containerIDs(ctx, c, ns)
	if err != nil {
		return "", "", err
	}
	for pod, id := range before {
		if after[pod] != id {
			return Fail, fmt.Sprintf("%s: container %s before the restart, %s after", pod, id, after[pod]), nil
		}
	}
	return Pass, fmt.Sprintf("%d pods kept their containers with 0 restarts; probes resumed (not Ready %.1fs after the file went)", pods, probed.Seconds()), nil
}

// containerIDs maps each pod of ns to its container's ID and restart count.
func containerIDs(ctx context.Context, c *Cluster, ns string) (map[string]string, error) {
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, p := range list.Items {
		for _, s := range p.Status.ContainerStatuses {
			ids[p.Name] = fmt.Sprintf("%s restarts=%d", s.ContainerID, s.RestartCount)
		}
	}
	return ids, nil
}

// sustainedSync runs pods with configmap, secret and projected-token volumes
// and exec probes under the kubelet's syncFrequency of 1 s, and takes the
// kubelet's heap profile through the API server's node proxy with
// `ctxleak nodes --profile` at every interval: kubernetes#139823's leak is one
// sync context per pod sync. The outcome is "leaking" if any sample is
// leaking, else ctxleak's last verdict.
func sustainedSync(ctx context.Context, env *Env) (outcome, measured string, err error) {
	logger := klog.FromContext(ctx)
	c := env.Cluster
	opts := env.Sync
	ns, err := c.createNamespace(ctx, "sync")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	if err := createVolumeSources(ctx, c, ns); err != nil {
		return "", "", err
	}
	for i := 0; i < opts.Pods; i++ {
		// A 10 s probe period: a hundred exec probes a second would be the
		// load of this 2-core machine, not the kubelet's.
		pod := podWithVolumes(fmt.Sprintf("sync-%03d", i), 10)
		if _, err := c.createPod(ctx, ns, pod); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, opts.Pods, time.Duration(opts.Pods)*3*time.Second+time.Minute); err != nil {
		return "", "", err
	}
	var samples []string
	verdict := ctxleak.Inconclusive
	leaked := false
	start := time.Now()
	for {
		report, err := ctxleakNode(ctx, env)
		if err != nil {
			return "", "", err
		}
		a := report.Analysis
		logger.Info("Sample", "kubelet", env.Kubelet.Spec.Name, "after", time.Since(start).Round(time.Second), "verdict", a.Verdict, "syncContexts", a.SyncContexts, "expected", a.Expected, "podWorkers", a.Workload.PodWorkers, "probedPods", a.Workload.ProbedPods, "profilePodWorkers", a.ProfilePodWorkers)
		samples = append(samples, fmt.Sprint(a.SyncContexts))
		verdict = a.Verdict
		leaked = leaked || a.Verdict == ctxleak.Leaking
		if time.Since(start) >= opts.Duration {
			break
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(opts.Interval):
		}
	}
	if err := saveHeapProfile(ctx, env, filepath.Join(env.OutDir, env.Kubelet.Spec.Name+"-heap.pb.gz")); err != nil {
		return "", "", err
	}
	if leaked {
		verdict = ctxleak.Leaking
	}
	return string(verdict), fmt.Sprintf("%d pods, %s: live sync contexts %s", opts.Pods, opts.Duration, strings.Join(samples, " → ")), nil
}

// ctxleakNode runs `kubectl ctxleak nodes --profile` for the node, as an
// operator would, and returns its report.
func ctxleakNode(ctx context.Context, env *Env) (ctxleak.NodeReport, error) {
	out, stderr, code, err := runOperator(ctx, env.Operator, "ctxleak", "nodes", "--context", env.Operator.Context,
		"-l", "kubernetes.io/hostname="+env.Cluster.Node, "--profile", "--timeout", "3m", "-o", "json")
	if err != nil {
		return ctxleak.NodeReport{}, err
	}
	// Exit 1 says a node is affected; the report says how.
	if code != 0 && code != 1 {
		return ctxleak.NodeReport{}, fmt.Errorf("kubectl ctxleak nodes: exit %d: %s", code, stderr)
	}
	var reports []ctxleak.NodeReport
	if err := json.Unmarshal(out, &reports); err != nil {
		return ctxleak.NodeReport{}, fmt.Errorf("kubectl ctxleak nodes -o json: %w", err)
	}
	if len(reports) != 1 || reports[0].Analysis == nil {
		return ctxleak.NodeReport{}, fmt.Errorf("kubectl ctxleak nodes gave no analysis of %s: %s %s", env.Cluster.Node, out, stderr)
	}
	return reports[0], nil
}

// runOperator runs kubectl as the operator does and returns its output and
// exit code; err is for kubectl not running at all.
func runOperator(ctx context.Context, o *Operator, args ...string) (stdout []byte, stderr string, code int, err error) {
	cmd := o.Command(ctx, args...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdout, err = cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, "", 0, fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return stdout, errBuf.String(), cmd.ProcessState.ExitCode(), nil
}

// kubectlPlugin checks ctxleak through kubectl's plugin mechanism, with a
// kubeconfig of two contexts: kubectl lists the plugin; with --context the
// plugin reaches this cluster and reports this node's kubelet by label;
// without it, it goes to the current context, where nothing listens, and
// says so with exit 2.
func kubectlPlugin(ctx context.Context, env *Env) (string, string, error) {
	o := env.Operator
	list, _, _, err := runOperator(ctx, o, "plugin", "list", "--name-only")
	if err != nil {
		return "", "", err
	}
	if !strings.Contains(string(list), "kubectl-ctxleak") {
		return Fail, fmt.Sprintf("kubectl plugin list does not show kubectl-ctxleak: %s", list), nil
	}
	selector := "kubernetes.io/hostname=" + env.Cluster.Node
	out, stderr, code, err := runOperator(ctx, o, "ctxleak", "nodes", "--context", o.Context, "-l", selector, "-o", "json")
	if err != nil {
		return "", "", err
	}
	var reports []ctxleak.NodeReport
	if code != 0 && code != 1 || json.Unmarshal(out, &reports) != nil {
		return Fail, fmt.Sprintf("kubectl ctxleak nodes --context %s -l %s: exit %d: %s %s", o.Context, selector, code, out, stderr), nil
	}
	if len(reports) != 1 || reports[0].Name != env.Cluster.Node || reports[0].KubeletVersion != env.Kubelet.Version {
		return Fail, fmt.Sprintf("kubectl ctxleak nodes --context %s -l %s reported %+v, want node %s with kubelet %s", o.Context, selector, reports, env.Cluster.Node, env.Kubelet.Version), nil
	}
	_, otherErr, otherCode, err := runOperator(ctx, o, "ctxleak", "nodes", "-l", selector, "--request-timeout", "10s")
	if err != nil {
		return "", "", err
	}
	otherHost := strings.TrimPrefix(o.OtherServer, "https://")
	measured := fmt.Sprintf("plugin listed; --context %s: %s kubelet %s (%s), exit %d; current context: exit %d", o.Context, reports[0].Name, reports[0].KubeletVersion, reports[0].Problem, code, otherCode)
	if otherCode != 2 || !strings.Contains(otherErr, otherHost) {
		return Fail, measured + fmt.Sprintf(", want exit 2 naming %s: %s", otherHost, strings.TrimSpace(otherErr)), nil
	}
	return Pass, measured, nil
}

// saveHeapProfile keeps the kubelet's heap profile, taken through the API
// server's node proxy, for `ctxleak analyze` or pprof later.
func saveHeapProfile(ctx context.Context, env *Env, path string) error {
	data, err := env.Cluster.Client.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/nodes", env.Cluster.Node, "proxy/debug/pprof/heap").Timeout(3 * time.Minute).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("heap profile of %s through the API server: %w", env.Cluster.Node, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// hookCompleted is the outcome of force-delete-during-prestop when the
// container ran until its preStop hook ended, as stock kubelets do.
const hookCompleted = "hook-completed"

// forceDeleteDuringPreStop deletes a pod with a 120 s preStop hook, and
// force-deletes it 3 s later. The running hook is not cut short: the
// container runs until the hook ends. The series must not change that.
func forceDeleteDuringPreStop(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "prestop")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	const hook = 120 * time.Second
	pod := probedPod("hooked", 1)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](300)
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{
		Exec: &v1.ExecAction{Command: []string{"sleep", fmt.Sprint(int(hook.Seconds()))}},
	}}
	created, err := c.createPod(ctx, ns, pod)
	if err != nil {
		return "", "", err
	}
	if err := c.waitPodsReady(ctx, ns, 1, 2*time.Minute); err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		return "", "", err
	}
	deleted := time.Now()
	time.Sleep(3 * time.Second)
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		return "", "", err
	}
	var ranFor time.Duration
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, hook+time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := runtime.ListContainers(ctx, &criv1.ContainerFilter{
			State:         &criv1.ContainerStateValue{State: criv1.ContainerState_CONTAINER_RUNNING},
			LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(created.UID)},
		})
		if err != nil {
			return false, nil
		}
		ranFor = time.Since(deleted)
		return len(list) == 0, nil
	})
	if err != nil {
		return "", "", fmt.Errorf("the container still runs %s after deletion: %w", hook+time.Minute, err)
	}
	outcome = "hook-cut-short"
	if ranFor >= hook-5*time.Second {
		outcome = hookCompleted
	}
	return outcome, fmt.Sprintf("container ran %.0fs after deletion (hook %s, force-deleted at 3s)", ranFor.Seconds(), hook), nil
}

// nodeCheckName names the service account, role and binding the
// node-problem-detector plugin reads the kubelet with, as the DaemonSet in
// build/ctxleak/ does.
const nodeCheckName = "ctxleak-node-check"

// npdNodeCheck runs `ctxleak node-check --profile`, the node-problem-detector
// plugin, against the real kubelet with a service account's token: exit 1
// for a kubelet whose version is affected or whose heap leaks, 0 otherwise,
// and 2 for a kubelet it cannot reach.
func npdNodeCheck(ctx context.Context, env *Env) (string, string, error) {
	c := env.Cluster
	token, err := c.nodeCheckToken(ctx)
	if err != nil {
		return "", "", err
	}
	tokenFile := filepath.Join(env.OutDir, nodeCheckName+".token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return "", "", err
	}
	defer os.Remove(tokenFile)
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == v1.NodeInternalIP {
			ip = a.Address
		}
	}
	check := func(url string) (int, string, error) {
		cmd := exec.CommandContext(ctx, env.Ctxleak, "node-check", "--kubelet-url", url, "--token-file", tokenFile,
			"--insecure-skip-tls-verify", "--profile", "--timeout", "3m")
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return 0, "", err
		}
		return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out)), nil
	}
	code, message, err := check(fmt.Sprintf("https://%s:%d", ip, node.Status.DaemonEndpoints.KubeletEndpoint.Port))
	if err != nil {
		return "", "", err
	}
	// Nothing listens on port 1: the plugin must say unknown, not OK.
	unreachable, unreachableMessage, err := check(fmt.Sprintf("https://%s:1", ip))
	if err != nil {
		return "", "", err
	}
	measured := fmt.Sprintf("exit %d %q; unreachable kubelet: exit %d %q", code, message, unreachable, unreachableMessage)
	if unreachable != ctxleak.NPDUnknown {
		return fmt.Sprintf("unreachable gave exit %d", unreachable), measured, nil
	}
	return fmt.Sprintf("exit %d", code), measured, nil
}

// nodeCheckToken makes the plugin's service account, allowed to read the
// kubelet's metrics and heap profile, and returns a token of it.
func (c *Cluster) nodeCheckToken(ctx context.Context) (string, error) {
	const ns = "kube-system"
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: nodeCheckName}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: nodeCheckName},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/metrics", "nodes/proxy"}, Verbs: []string{"get"}}},
	}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: nodeCheckName},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: nodeCheckName},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: nodeCheckName, Namespace: ns}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, nodeCheckName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}
