package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodee2e"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

// RollOptions describe the rolling replacement of a cluster's kubelets,
// which Up built with the stock kubelet's package.
type RollOptions struct {
	// Stock and Patched are the kubelet's packages, NAME=VERSION: the
	// stock one (upstream's, or its stand-in) and ours.
	Stock, Patched string
	// StockVersion and PatchedVersion are what each kubelet reports.
	StockVersion, PatchedVersion string
	// Image is the workload's image: busybox, imported on every node.
	Image string
	// Requests and Interval make each round's request loop; a round with
	// drain makes drainRequests times as many.
	Requests int
	Interval time.Duration
	// Ctxleak is kubectl's ctxleak plugin, which the operator runs on the
	// control-plane node: kubectl ctxleak nodes --profile.
	Ctxleak string
	// Recipe is the operator's commands, as the README gives them.
	Recipe Recipe
	// Short is make test's form: on two nodes or more, one round without
	// drain, in which only the first worker's kubelet is replaced with
	// ours; no churn and no ctxleak.
	Short bool
}

// Recipe is the operator's commands that replace one node's kubelet, shell
// scripts as the README gives them ("Replacing the kubelet node by node"
// and "Rolling back"), with the versions of the run's base. Drain, Wait
// and Uncordon run on the control-plane node, as an admin, with NODE (and
// VERSION, the version the kubelet must report) set; Upgrade and Rollback
// on the node, where systemctl restart kubelet restarts its kubelet.
type Recipe struct {
	Drain, Upgrade, Wait, Uncordon, Rollback string
}

func (r Recipe) validate() error {
	for name, script := range map[string]string{"drain": r.Drain, "upgrade": r.Upgrade, "wait": r.Wait, "uncordon": r.Uncordon, "rollback": r.Rollback} {
		if strings.TrimSpace(script) == "" {
			return fmt.Errorf("the recipe's %s commands are empty: the README must give them", name)
		}
	}
	return nil
}

// Round is one pass over every node, control plane first, from one kubelet
// to the other.
type Round struct {
	Name string
	// Drain says each node was drained before and uncordoned after.
	Drain bool
	// To is the package installed, Version what the kubelets then report.
	To, Version string
	// Nodes say how each node's replacement went.
	Nodes []string
	// Requests is the round's request loop; Failures its failed requests,
	// each with the node being replaced when it failed, if any.
	Requests loopResult
	Failures []string
	// Restarts counts the containers restarted during the round, across
	// the cluster; Changed the containers of pods that were not evicted
	// that are no longer the same containers; Evicted the pods drained.
	Restarts int
	Changed  []string
	Evicted  int
	// Gone counts the containers of pods that went during the round;
	// NotEvicted names those of them whose pods kubectl drain did not
	// evict.
	Gone       int
	NotEvicted []string
	// FewestReady is the fewest ready endpoints the Service had, sampled
	// every half second through the round: the PodDisruptionBudget
	// allows one fewer than the replicas.
	FewestReady int
	// Readiness is readiness-during-termination on a worker, after the
	// round: its outcome and what it measured.
	Readiness, ReadinessMeasured string
	// Took is the round's length, request loop included.
	Took time.Duration
}

// RollReport is what Roll saw, and what did not hold.
type RollReport struct {
	Rounds []Round
	// LeakBefore and LeakAfter are kubectl ctxleak nodes --profile on the
	// stock nodes, and once they run ours, after the same pod churn.
	LeakBefore, LeakAfter []ctxleak.NodeReport
	// Problems are what did not hold.
	Problems []string
}

// maxFailuresShown is how many failed requests a round's report lists.
const maxFailuresShown = 20

// drainRequests is how many times more requests a round with drain makes.
const drainRequests = 3

// churnPods are the short-lived pods run on each worker before ctxleak
// looks: each is synced a few times, so that a kubelet that keeps one
// context per sync holds far more than its pods account for.
const churnPods = 20

// Roll replaces every node's kubelet under a live workload, as an operator
// does with packages: from the stock kubelet to ours, node by node, and
// back, first without drain and then with kubectl drain; ctxleak looks at
// the nodes before and after the first replacement. A round's error is the
// harness's; what the kubelets did wrong is in the RollReport's Problems.
func Roll(ctx context.Context, c *Cluster, o RollOptions) (*RollReport, error) {
	logger := klog.FromContext(ctx)
	if err := o.Recipe.validate(); err != nil {
		return nil, err
	}
	switch {
	case o.Short && len(c.Nodes) < 2:
		return nil, fmt.Errorf("the short rolling replacement needs 2 nodes or more, %d given: a worker to replace", len(c.Nodes))
	case !o.Short && len(c.Nodes) < 3:
		return nil, fmt.Errorf("the rolling replacement needs 3 nodes or more, %d given: two workers, so that a drained one's pods have somewhere to go", len(c.Nodes))
	}
	// readiness-during-termination's pod runs upstream's busybox image,
	// by the name nodee2e gives it.
	if o.Image != nodee2e.BusyboxImage {
		return nil, fmt.Errorf("the workload's image is %s; readiness-during-termination runs %s", o.Image, nodee2e.BusyboxImage)
	}
	stockProblem, why := ctxleak.ClassifyVersion(o.StockVersion)
	if stockProblem == ctxleak.ProblemUnknown {
		return nil, fmt.Errorf("no version facts for the stock kubelet %s (%s): what it must do is not known", o.StockVersion, why)
	}
	client, _, err := c.Client()
	if err != nil {
		return nil, err
	}
	clusterIP, err := deployWorkload(ctx, client, o.Image)
	if err != nil {
		return nil, fmt.Errorf("the workload: %w", err)
	}
	logger.Info("Workload up", "deployment", webName, "replicas", webReplicas, "service", clusterIP)
	report := &RollReport{}
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}

	if !o.Short {
		if err := c.churn(ctx, client, o.Image, "before"); err != nil {
			return nil, err
		}
		if report.LeakBefore, err = c.ctxleakNodes(ctx, o.Ctxleak); err != nil {
			return nil, err
		}
		report.Problems = append(report.Problems, judgeLeak(report.LeakBefore, names, stockProblem == ctxleak.ProblemLeak)...)
	}
	// Every node, the control plane first; in the short form, the first
	// worker.
	targets := make([]int, len(c.Nodes))
	for i := range targets {
		targets[i] = i
	}

	rounds := []struct {
		name        string
		drain       bool
		to, version string
		back        bool
	}{
		{"replace", false, o.Patched, o.PatchedVersion, false},
		{"roll back", false, o.Stock, o.StockVersion, true},
		{"replace with drain", true, o.Patched, o.PatchedVersion, false},
		{"roll back with drain", true, o.Stock, o.StockVersion, true},
	}
	if o.Short {
		rounds, targets = rounds[:1], []int{1}
	}
	for i, r := range rounds {
		loop := requestLoop{Name: fmt.Sprintf("requests-%d", i+1), Requests: o.Requests, Interval: o.Interval, ClusterIP: clusterIP, Port: 80}
		if r.drain {
			// A drain waits for each evicted replica's replacement.
			loop.Requests *= drainRequests
		}
		round, err := c.roll(ctx, client, o, loop, targets, r.name, r.drain, r.to, r.version, r.back)
		if err != nil {
			return report, fmt.Errorf("round %q: %w", r.name, err)
		}
		// Ours passes; stock as its version's facts say.
		want := nodee2e.Pass
		if r.back && stockProblem == ctxleak.ProblemProbeRegression {
			want = nodee2e.Fail
		}
		if round.Readiness != want {
			report.Problems = append(report.Problems, fmt.Sprintf("%s: readiness-during-termination on %s: %s, want %s (%s)", r.name, r.version, round.Readiness, want, round.ReadinessMeasured))
		}
		if round.Restarts > 0 || len(round.Changed) > 0 {
			report.Problems = append(report.Problems, fmt.Sprintf("%s: %d containers restarted, %d changed: %v", r.name, round.Restarts, len(round.Changed), round.Changed))
		}
		// The PodDisruptionBudget's floor with a drain; without one,
		// every replica stays ready. In the short form all six replicas
		// sit on the one kubelet restarted, and one short run of four
		// counted 5 ready at the fewest with no request failed: there the
		// floor is the budget's too.
		floor := webReplicas
		if r.drain || o.Short {
			floor = webReplicas - 1
		}
		if round.FewestReady < floor {
			report.Problems = append(report.Problems, fmt.Sprintf("%s: the Service had %d ready endpoints at the fewest (-1: none could be counted), want %d or more", r.name, round.FewestReady, floor))
		}
		switch {
		case !r.drain && round.Gone > 0:
			report.Problems = append(report.Problems, fmt.Sprintf("%s: %d pods went, without a drain", r.name, round.Gone))
		case r.drain && round.Evicted == 0:
			report.Problems = append(report.Problems, fmt.Sprintf("%s: kubectl drain evicted no pod", r.name))
		case r.drain && len(round.NotEvicted) > 0:
			report.Problems = append(report.Problems, fmt.Sprintf("%s: pods went that kubectl drain did not evict: %v", r.name, round.NotEvicted))
		}
		if round.Requests.Failed > 0 {
			report.Problems = append(report.Problems, fmt.Sprintf("%s: %d of %d requests failed, first %s", r.name, round.Requests.Failed, round.Requests.Requests, round.Failures[0]))
		}
		report.Rounds = append(report.Rounds, round)
		if i == 0 && !o.Short {
			if err := c.churn(ctx, client, o.Image, "after"); err != nil {
				return report, err
			}
			if report.LeakAfter, err = c.ctxleakNodes(ctx, o.Ctxleak); err != nil {
				return report, err
			}
			report.Problems = append(report.Problems, judgeLeak(report.LeakAfter, names, false)...)
		}
	}
	return report, nil
}

// judgeLeak says which nodes ctxleak did not judge as expected: leaking
// where leaking is true, else clean; every node of names must be judged.
func judgeLeak(reports []ctxleak.NodeReport, names []string, leaking bool) []string {
	want := ctxleak.Clean
	if leaking {
		want = ctxleak.Leaking
	}
	var problems []string
	for _, name := range names {
		if !slices.ContainsFunc(reports, func(r ctxleak.NodeReport) bool { return r.Name == name }) {
			problems = append(problems, fmt.Sprintf("ctxleak did not report node %s", name))
		}
	}
	for _, r := range reports {
		switch {
		case r.Analysis == nil:
			problems = append(problems, fmt.Sprintf("ctxleak could not profile %s: %s", r.Name, r.Error))
		case r.Analysis.Verdict == want:
		case leaking && r.Name == controlPlaneName && r.Analysis.Verdict == ctxleak.Clean:
			// The control plane runs static pods and kube-proxy, which
			// sync too seldom for a leak to show by then; the workers
			// are judged.
		default:
			problems = append(problems, fmt.Sprintf("ctxleak judged %s (kubelet %s) %s, want %s: %s", r.Name, r.KubeletVersion, r.Analysis.Verdict, want, r.Analysis.Reason))
		}
	}
	return problems
}

// roll is one round: each node of targets (indices of c.Nodes) in turn
// gets the kubelet package to, and its kubelet restarted; the request loop
// runs throughout.
func (c *Cluster) roll(ctx context.Context, client kubernetes.Interface, o RollOptions, loop requestLoop, targets []int, name string, drain bool, to, version string, back bool) (Round, error) {
	logger := klog.FromContext(ctx).WithValues("round", name)
	round := Round{Name: name, Drain: drain, To: to, Version: version}
	start := time.Now()
	before, err := containers(ctx, client)
	if err != nil {
		return round, err
	}
	cp := c.Nodes[0]
	if err := loop.start(ctx, client, cp, o.Image); err != nil {
		return round, err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	fewest := make(chan int, 1)
	go func() { fewest <- fewestReadyEndpoints(sampleCtx, client) }()
	stopped := false
	stop := func() int {
		if stopped {
			return round.FewestReady
		}
		stopSampling()
		stopped = true
		return <-fewest
	}
	defer stop()
	type replaced struct {
		node       string
		start, end time.Time
	}
	var windows []replaced
	// Every pod kubectl drain evicted in the round.
	var evictedAll []string
	for _, i := range targets {
		n := c.Nodes[i]
		nodeStart := time.Now()
		var evicted []string
		admin := []string{"NODE=" + n.Name, "VERSION=" + version}
		if drain {
			out, err := c.runRecipe(ctx, cp, "drain", o.Recipe.Drain, admin)
			if err != nil {
				return round, err
			}
			evicted = evictedPods(out)
		}
		onNode := o.Recipe.Upgrade
		if back {
			onNode = o.Recipe.Rollback
		}
		waited, err := c.replaceKubelet(ctx, client, i, onNode, o.Recipe.Wait, version)
		if err != nil {
			return round, err
		}
		if drain {
			if _, err := c.runRecipe(ctx, cp, "uncordon", o.Recipe.Uncordon, admin); err != nil {
				return round, err
			}
		}
		windows = append(windows, replaced{n.Name, nodeStart, time.Now()})
		line := fmt.Sprintf("%s: %s installed; %s, Ready, its /pods the API's (the recipe's wait) %.1fs after the restart",
			n.Name, to, version, waited.Seconds())
		if drain {
			line += fmt.Sprintf("; drained (%d pods evicted) and uncordoned", len(evicted))
		}
		round.Nodes = append(round.Nodes, line+fmt.Sprintf("; %.0fs in all", time.Since(nodeStart).Seconds()))
		logger.Info("Node replaced", "node", n.Name, "version", version, "took", time.Since(nodeStart).Round(time.Second))
		round.Evicted += len(evicted)
		evictedAll = append(evictedAll, evicted...)
	}
	round.FewestReady = stop()
	round.Requests, err = loop.wait(ctx, client, cp)
	if err != nil {
		return round, err
	}
	if round.Requests.Ended.Before(windows[len(windows)-1].end) {
		return round, fmt.Errorf("the request loop ended at %s, before the last node was replaced: give it more requests", round.Requests.Ended.Format(time.TimeOnly))
	}
	for _, f := range round.Requests.Failures {
		at := epoch(strings.Fields(f)[1])
		during := "between replacements"
		for _, w := range windows {
			if !at.Before(w.start) && !at.After(w.end) {
				during = "while " + w.node + " was replaced"
			}
		}
		round.Failures = append(round.Failures, f+" ("+during+")")
	}
	after, err := containers(ctx, client)
	if err != nil {
		return round, err
	}
	var gone []string
	round.Restarts, round.Changed, gone = compareContainers(before, after)
	round.Gone = len(gone)
	for _, key := range gone {
		// "NAMESPACE/NAME (UID) CONTAINER"; drain names "pod/NAME".
		name := strings.Fields(key)[0]
		if !slices.Contains(evictedAll, "pod/"+name[strings.Index(name, "/")+1:]) {
			round.NotEvicted = append(round.NotEvicted, key)
		}
	}
	worker := c.Nodes[min(1, len(c.Nodes)-1)]
	round.Readiness, round.ReadinessMeasured, err = nodee2e.ReadinessDuringTermination(ctx,
		&nodee2e.Cluster{Client: client, Node: worker.Name}, filepath.Join(worker.logs, "kubelet.log"))
	if err != nil {
		return round, fmt.Errorf("readiness-during-termination on %s: %w", worker.Name, err)
	}
	round.Took = time.Since(start)
	return round, nil
}

// fewestReadyEndpoints samples the Service's ready endpoints every half
// second until ctx ends, and returns the fewest it counted, -1 if a sample
// could not be taken: a gap in the samples could hide the fewest.
func fewestReadyEndpoints(ctx context.Context, client kubernetes.Interface) int {
	fewest := webReplicas
	for {
		ready, err := readyEndpoints(ctx, client)
		switch {
		case ctx.Err() != nil:
			return fewest
		case err != nil:
			klog.FromContext(ctx).Error(err, "Could not count the Service's ready endpoints")
			fewest = -1
		case ready < fewest:
			fewest = ready
		}
		select {
		case <-ctx.Done():
			return fewest
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// containerState is a container as a round must leave it.
type containerState struct {
	id       string
	restarts int32
}

// containers maps every container of every pod of the cluster, by pod UID
// and name, to its ID and restart count. Pods that have ended (the request
// loops', the churn's) are left out.
func containers(ctx context.Context, client kubernetes.Interface) (map[string]containerState, error) {
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	all := map[string]containerState{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || strings.HasPrefix(p.Name, "requests-") {
			continue
		}
		for _, s := range p.Status.ContainerStatuses {
			all[fmt.Sprintf("%s/%s (%s) %s", p.Namespace, p.Name, p.UID, s.Name)] = containerState{s.ContainerID, s.RestartCount}
		}
	}
	return all, nil
}

// compareContainers counts the restarts since before, names the
// containers of pods still there that are not the same, and names the
// containers whose pods went.
func compareContainers(before, after map[string]containerState) (restarts int, changed, gone []string) {
	for key, a := range after {
		b, ok := before[key]
		if !ok {
			restarts += int(a.restarts)
			continue
		}
		restarts += int(a.restarts - b.restarts)
		if a.id != b.id {
			changed = append(changed, fmt.Sprintf("%s: %s, was %s", key, a.id, b.id))
		}
	}
	for key := range before {
		if _, ok := after[key]; !ok {
			gone = append(gone, key)
		}
	}
	slices.Sort(changed)
	slices.Sort(gone)
	return restarts, changed, gone
}

// replaceKubelet replaces the kubelet of node i as the operator's recipe
// does: script (the recipe's upgrade or rollback) on the node, which must
// restart its kubelet, then wait, the recipe's wait, on the control-plane
// node; then the harness's own checks: the node Ready with the kubelet
// version, and its /pods the API's. It returns how long after the restart
// the recipe's wait was done.
func (c *Cluster) replaceKubelet(ctx context.Context, client kubernetes.Interface, i int, script, wait, version string) (time.Duration, error) {
	n, cp := c.Nodes[i], c.Nodes[0]
	starts, _ := c.kubelets[i].startsAndCurrent()
	if _, err := c.runRecipe(ctx, n, "upgrade", script, nil); err != nil {
		return 0, err
	}
	restarted, kubelet := c.kubelets[i].startsAndCurrent()
	if restarted == starts {
		return 0, fmt.Errorf("the recipe's commands on %s did not restart its kubelet", n.Name)
	}
	if _, err := c.runRecipe(ctx, cp, "wait", wait, []string{"NODE=" + n.Name, "VERSION=" + version}); err != nil {
		return 0, err
	}
	waited := time.Since(kubelet.Started)
	if err := waitKubelet(ctx, client, n, version, kubelet); err != nil {
		return 0, err
	}
	if err := waitKubeletPods(ctx, client, n); err != nil {
		return 0, err
	}
	return waited, nil
}

// waitKubelet waits until the node reports version and Ready from the
// kubelet started at kubelet.Started.
func waitKubelet(ctx context.Context, client kubernetes.Interface, n *Node, version string, kubelet *nodeproc.Process) error {
	return waitFor(ctx, fmt.Sprintf("node %s Ready with kubelet %s", n.Name, version), func() (bool, error) {
		node, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if node.Status.NodeInfo.KubeletVersion != version || !nodeReady(node) {
			return false, nil
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.LastHeartbeatTime.Time.Before(kubelet.Started.Truncate(time.Second)) {
				return false, nil
			}
		}
		return true, nil
	})
}

// waitKubeletPods waits until the kubelet's own pod list (its /pods,
// through the API server's node proxy) names the pods the API binds to the
// node. A node reports Ready about a second before a restarted kubelet has
// loaded its pods, and kubectl exec in that gap fails with "pod does not
// exist": an operator waits for this before going on.
func waitKubeletPods(ctx context.Context, client kubernetes.Interface, n *Node) error {
	return waitFor(ctx, "the kubelet of "+n.Name+" to list the pods the API binds to it", func() (bool, error) {
		raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "pods").DoRaw(ctx)
		if err != nil {
			// The kubelet is not serving yet.
			return false, nil
		}
		var kubelet corev1.PodList
		if err := json.Unmarshal(raw, &kubelet); err != nil {
			return false, fmt.Errorf("the /pods of %s: %w", n.Name, err)
		}
		api, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
		if err != nil {
			return false, err
		}
		return slices.Equal(podNames(kubelet.Items), podNames(api.Items)), nil
	})
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	slices.Sort(names)
	return names
}

// evictedPods reads the pods kubectl drain evicted from its output.
func evictedPods(out string) []string {
	var pods []string
	for _, line := range strings.Split(out, "\n") {
		if pod, ok := strings.CutSuffix(strings.TrimSpace(line), " evicted"); ok {
			pods = append(pods, pod)
		}
	}
	return pods
}

// recipeTimeout bounds one step of the recipe.
const recipeTimeout = 5 * time.Minute

// runRecipe runs one step of the operator's recipe, script, with bash on
// node n (the control-plane node as the cluster's admin), errexit and
// pipefail set, with env more environment, and the node's shims
// (systemctlShim, kubeadmShim with the node's patches) first on PATH, and
// returns its output, which the node's recipe.log keeps too.
func (c *Cluster) runRecipe(ctx context.Context, n *Node, step, script string, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, recipeTimeout)
	defer cancel()
	shims := filepath.Join(c.Options.Dir, "recipe-bin")
	if err := os.MkdirAll(shims, 0o755); err != nil {
		return "", err
	}
	for name, text := range map[string]string{"systemctl": systemctlShim, "kubeadm": kubeadmShim} {
		if err := os.WriteFile(filepath.Join(shims, name), []byte(text), 0o755); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+netnsPath(n.Namespace), "--mount="+n.MountNS(), "--",
		"bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(slices.Clone(serviceEnvironment), "DEBIAN_FRONTEND=noninteractive", "KUBECONFIG=/etc/kubernetes/admin.conf",
		"CTXFIX_KUBEADM_PATCHES="+n.patchesDir(),
		"PATH="+shims+":"+strings.TrimPrefix(serviceEnvironment[0], "PATH="))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if werr := appendFile(filepath.Join(n.logs, "recipe.log"), append([]byte(fmt.Sprintf("$ %s %v\n%s\n", step, env, script)), out...)); werr != nil {
		return "", werr
	}
	if err != nil {
		return "", fmt.Errorf("the recipe's %s commands on %s %v: %w:\n%s", step, n.Name, env, err, out)
	}
	return string(out), nil
}

// ControlPlaneCommand is argv run in the control-plane node's namespaces,
// as on a shell of that machine, with KUBECONFIG its admin.conf, in a
// process group of its own.
func (c *Cluster) ControlPlaneCommand(ctx context.Context, argv ...string) *exec.Cmd {
	cp := c.Nodes[0]
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + netnsPath(cp.Namespace), "--mount=" + cp.MountNS(), "--"}, argv...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/etc/kubernetes/admin.conf")
	// What argv starts (ginkgo's parallel processes) goes with it when
	// ctx ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// churn runs churnPods short-lived pods on each worker, all at once, and
// deletes them once they have all run.
func (c *Cluster) churn(ctx context.Context, client kubernetes.Interface, image, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "churn-" + name + "-"}}
	created, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	// A pod is refused until its namespace's default ServiceAccount is
	// there.
	err = waitFor(ctx, "the default ServiceAccount of "+created.Name, func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(created.Name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	var pods []string
	for _, n := range c.Nodes[1:] {
		for i := range churnPods {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%02d", n.Name, i)},
				Spec: corev1.PodSpec{
					NodeName: n.Name, RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "churn", Image: image, ImagePullPolicy: corev1.PullNever, Command: []string{"true"}}},
				},
			}
			if _, err := client.CoreV1().Pods(created.Name).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				return err
			}
			pods = append(pods, pod.Name)
		}
	}
	// Every pod must run to its end.
	err = waitFor(ctx, fmt.Sprintf("%d churn pods to succeed", len(pods)), func() (bool, error) {
		list, err := client.CoreV1().Pods(created.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		done := 0
		for _, p := range list.Items {
			switch p.Status.Phase {
			case corev1.PodSucceeded:
				done++
			case corev1.PodFailed:
				return false, fmt.Errorf("churn pod %s failed: %s", p.Name, p.Status.Message)
			}
		}
		return done == len(pods), nil
	})
	if err != nil {
		return err
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	err = waitFor(ctx, "namespace "+created.Name+" to go", func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, created.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return err
	}
	// Until the kubelets have finished with the pods and forgotten them, a
	// kubelet's bound on its sync contexts still counts them.
	for _, n := range c.Nodes[1:] {
		err := waitFor(ctx, "the kubelet of "+n.Name+" to forget the churn's pods", func() (bool, error) {
			working, err := workingPods(ctx, client, n.Name)
			if err != nil {
				return false, err
			}
			api, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
			if err != nil {
				return false, err
			}
			return int(working) <= len(api.Items), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// workingPods is the kubelet's kubelet_working_pods, every label summed:
// the pods it has a pod worker for.
func workingPods(ctx context.Context, client kubernetes.Interface, node string) (float64, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("the metrics of the kubelet of %s: %w", node, err)
	}
	m, err := kubeletmetrics.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("the metrics of the kubelet of %s: %w", node, err)
	}
	return m.Sum(kubeletmetrics.WorkingPods)
}

// ctxleakNodes runs kubectl ctxleak nodes --profile -o json on the
// control-plane node, as an operator does, with the plugin on its PATH.
func (c *Cluster) ctxleakNodes(ctx context.Context, plugin string) ([]ctxleak.NodeReport, error) {
	ctx, cancel := context.WithTimeout(ctx, recipeTimeout)
	defer cancel()
	dir := filepath.Join(c.Options.Dir, "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	link := filepath.Join(dir, "kubectl-ctxleak")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(plugin, link); err != nil {
			return nil, err
		}
	}
	cmd := c.ControlPlaneCommand(ctx, "kubectl", "ctxleak", "nodes", "--profile", "-o", "json")
	// The last PATH of the environment is the one that counts.
	cmd.Env = append(cmd.Env, "PATH="+dir+":"+strings.TrimPrefix(serviceEnvironment[0], "PATH="))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// 1: a node is affected, which ctxleak says by its exit status.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("kubectl ctxleak nodes --profile: %w:\n%s", err, stderr.String())
	}
	var reports []ctxleak.NodeReport
	if err := json.Unmarshal(out, &reports); err != nil {
		return nil, fmt.Errorf("kubectl ctxleak nodes --profile -o json: %w:\n%s", err, out)
	}
	return reports, nil
}

// String says what the rolling replacement saw, as docs/RESULTS.md keeps
// it.
func (r *RollReport) String() string {
	var b strings.Builder
	leak := func(when string, reports []ctxleak.NodeReport) {
		fmt.Fprintf(&b, "kubectl ctxleak nodes --profile, %s:\n", when)
		for _, n := range reports {
			if n.Analysis == nil {
				fmt.Fprintf(&b, "  %-22s %-20s error: %s\n", n.Name, n.KubeletVersion, n.Error)
				continue
			}
			fmt.Fprintf(&b, "  %-22s %-20s %-8s %d sync contexts, %d pod workers\n", n.Name, n.KubeletVersion, n.Analysis.Verdict, n.Analysis.SyncContexts, n.Analysis.Workload.PodWorkers)
		}
	}
	if r.LeakBefore != nil {
		leak("before (stock), after "+fmt.Sprint(churnPods)+" short pods per worker", r.LeakBefore)
	}
	for i, round := range r.Rounds {
		fmt.Fprintf(&b, "Round %d, %s, to %s (%.0fs):\n", i+1, round.Name, round.To, round.Took.Seconds())
		for _, n := range round.Nodes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
		fmt.Fprintf(&b, "  requests: %d, %d failed, over %.0fs\n", round.Requests.Requests, round.Requests.Failed, round.Requests.Ended.Sub(round.Requests.Started).Seconds())
		for i, f := range round.Failures {
			if i == maxFailuresShown {
				fmt.Fprintf(&b, "    and %d more\n", len(round.Failures)-i)
				break
			}
			fmt.Fprintf(&b, "    %s\n", f)
		}
		fmt.Fprintf(&b, "  containers: %d restarted, %d changed, %d pods evicted; the Service's ready endpoints, at the fewest: %d of %d\n", round.Restarts, len(round.Changed), round.Evicted, round.FewestReady, webReplicas)
		fmt.Fprintf(&b, "  readiness-during-termination: %s (%s)\n", round.Readiness, round.ReadinessMeasured)
		if i == 0 && r.LeakAfter != nil {
			leak("after round 1 (ours), after the same churn", r.LeakAfter)
		}
	}
	return b.String()
}
