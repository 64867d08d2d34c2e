package nodee2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

// Bounds of the outage scenarios.
const (
	// outagePodsReadyWithin and outageNodeReadyWithin bound the time from
	// containerd's return until every pod, and the node, are Ready again.
	outagePodsReadyWithin = 30 * time.Second
	outageNodeReadyWithin = 60 * time.Second
	// outageReadinessBound bounds the time from the moment a terminating
	// pod's kubelet can see and report again (containerd back, the API
	// reachable) until the pod is reported not Ready, its ready file having
	// gone meanwhile: a probe period, a failure and a status update, with
	// the slack a 2-core machine needs right after an outage.
	outageReadinessBound = 15 * time.Second
)

// outagePod is a probed pod for the outage scenarios: exec readiness every
// period, and an exec liveness probe that a runtime outage must not trip.
func outagePod(name string, period int32) *v1.Pod {
	pod := probedPod(name, period)
	pod.Spec.Containers[0].LivenessProbe = &v1.Probe{
		ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}},
		PeriodSeconds:    5,
		FailureThreshold: 3,
	}
	return pod
}

// terminatingPod is an outagePod, deleted during the outage, whose preStop
// hook removes its ready file after removeAfter and keeps it running for
// holdFor more, within a grace period of grace.
func terminatingPod(name string, removeAfter, holdFor, grace time.Duration) *v1.Pod {
	pod := outagePod(name, 1)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(grace.Seconds()))
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{
		"sh", "-c", fmt.Sprintf("echo '%s' >/proc/1/fd/1; sleep %d; rm -f %s; %s; sleep %d",
			hookRanLine, int(removeAfter.Seconds()), readyFile, logRemoval, int(holdFor.Seconds())),
	}}}}
	return pod
}

// containerdKilled kills containerd, not its shims, three times under 20
// probed pods, each time 10 s down, the next kill 30 s after the node and
// the pods are Ready again, the first 2 s after one pod was deleted whose
// preStop hook removes its ready file 5 s in. Both kubelets must lose
// nothing: no container or sandbox replaced and no liveness restart; the
// pods Ready within outagePodsReadyWithin and the node within
// outageNodeReadyWithin of each return; the deleted pod gone within 90 s of
// the last return, with no running container and no Ready sandbox left.
// Where they differ is the deleted pod's readiness (kubernetes#140881),
// judged by readinessVerdict from containerd's first return: the hook that
// removes the file dies with containerd and the kubelet runs it again once
// containerd is back, so the file may go before the return or after it.
func containerdKilled(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "runtime-kill")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	const pods = 20
	// The hook holds the container for 30 s after the removal: a hook cut
	// off by containerd's death runs again in full once it is back, and
	// after the last return it must end within the 90 s the pod has.
	leaving, err := c.createPod(ctx, ns, terminatingPod("leaving", 5*time.Second, 30*time.Second, time.Minute))
	if err != nil {
		return "", "", err
	}
	for i := range pods - 1 {
		if _, err := c.createPod(ctx, ns, outagePod(fmt.Sprintf("steady-%02d", i), int32(probePeriod.Seconds()))); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, pods, 3*time.Minute); err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)
	before, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	delete(before, leaving.Name)
	nodeWatch := c.watchNodeReady(ctx)
	defer nodeWatch.stop()

	leavingWatch, deleted, err := c.deleteWatched(ctx, runtime, leaving)
	if err != nil {
		return "", "", err
	}
	defer leavingWatch.stop()
	time.Sleep(2 * time.Second)
	var problems, recoveries []string
	var firstReturn, lastReturn time.Time
	for kill := range 3 {
		if kill > 0 {
			time.Sleep(30 * time.Second)
		}
		returned, err := env.Runtime.Crash(ctx, 10*time.Second)
		if err != nil {
			return "", "", fmt.Errorf("containerd kill %d: %w", kill+1, err)
		}
		if kill == 0 {
			firstReturn = returned
		}
		lastReturn = returned
		nodeReady, err := c.waitNodeReadySince(ctx, returned, outageNodeReadyWithin)
		if err != nil {
			problems = append(problems, fmt.Sprintf("after kill %d: %v", kill+1, err))
		}
		// Not fresh: probe errors while containerd is down are thrown
		// away, so the pods may never have been reported not Ready.
		podsReady, err := c.waitNamedReady(ctx, ns, sortedNames(before), returned, outagePodsReadyWithin, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("after kill %d: %v", kill+1, err))
		}
		recoveries = append(recoveries, fmt.Sprintf("node Ready %.0fs and pods %.0fs after return %d", nodeReady.Seconds(), podsReady.Seconds(), kill+1))
	}
	if err := c.waitPodGone(ctx, ns, leaving.Name, time.Until(lastReturn.Add(90*time.Second))); err != nil {
		problems = append(problems, "the deleted pod is still in the API 90s after containerd's last return")
	}
	leavingWatch.stop()
	seen := leavingWatch.snapshot()
	left, err := leftInRuntime(ctx, runtime, leaving)
	if err != nil {
		return "", "", err
	}
	problems = append(problems, left...)
	if seen.maxContainers == 0 {
		problems = append(problems, "the runtime never listed the deleted pod's container by its UID: nothing was observed")
	}
	after, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	// Judged above, if it is still there.
	delete(after, leaving.Name)
	problems = append(problems, comparePodIdentities(before, after)...)
	if seen.maxContainers > 1 {
		problems = append(problems, fmt.Sprintf("the deleted pod had %d containers at once: started again", seen.maxContainers))
	}
	measured = fmt.Sprintf("%s; node not Ready %s; deleted pod: hook ran %d times, ready file removed at %s, Ready: %s, container gone %s after deletion",
		strings.Join(recoveries, ", "), nodeWatch.notReadySpells(), seen.hookRuns, seen.removedAfter(deleted), strings.Join(seen.readiness, ", "), seen.goneAfter())
	if len(problems) > 0 {
		return podsDisturbed, strings.Join(problems, "; ") + "; " + measured, nil
	}
	outcome, err = readinessVerdict(seen, deleted, firstReturn, outageReadinessBound)
	return outcome, measured, err
}

// apiOutage is how a scenario takes the API server away from the node and
// gives it back.
type apiOutage struct {
	// cutWord and healWord say what happened, in the report.
	cutWord, healWord string
	cut               func(ctx context.Context) error
	// heal gives the API server back: the partition's rule removed, or the
	// API server started again and ready. A second heal does nothing.
	heal func(ctx context.Context) error
	// forceDelete says whether a pod is force-deleted during the outage,
	// which needs the API server up.
	forceDelete bool
	// healAfter is when, after the deletion, the outage ends.
	healAfter time.Duration
}

// apiPartitioned cuts the node off from the API server, with a rule in the
// node's network namespace that rejects its traffic, 2 s into the graceful
// deletion of a pod whose preStop hook removes its ready file 6 s in and
// holds the container for 40 s more, and heals it 25 s later: under the
// controller manager's node-monitor grace period, so that only the kubelet
// speaks for the node. During the partition another pod is force-deleted.
// Both kubelets must lose nothing: the node stays Ready, no bystander's
// container or sandbox is replaced, the deleted pod's container is gone 70 s
// after deletion and the pod 80 s after, and the force-deleted pod's
// container within 45 s of the heal. Where they differ is the deleted pod's
// readiness (kubernetes#140881), judged by readinessVerdict from the heal.
func apiPartitioned(ctx context.Context, env *Env) (outcome, measured string, err error) {
	partition, err := newAPIPartition(env.Kubelet.Spec.NetNS, env.Cluster.Config.Host)
	if err != nil {
		return "", "", err
	}
	return apiOutageDuringDeletion(ctx, env, "partition", apiOutage{
		cutWord: "cut", healWord: "healed", cut: partition.cut, heal: partition.heal, forceDelete: true, healAfter: 27 * time.Second,
	})
}

// apiServerRestarted is apiPartitioned with the API server itself gone: it
// is killed 2 s into the deletion and started again as it ran 15 s later
// (from its record, pkg/nodeproc), and the heal is the moment it is ready
// again, about 3 s after that: 15 s down leaves the verdict the time it
// needs before the pod's container ends. Nothing can be force-deleted
// meanwhile. The same must hold, and the readiness is judged from the API
// server's return. The controller manager loses the API server too; it
// runs with a node-monitor grace period that outlasts the outage
// (hack/e2e.sh), so that only the kubelet speaks for the node and its pods.
func apiServerRestarted(ctx context.Context, env *Env) (outcome, measured string, err error) {
	var down *nodeproc.Recorded
	return apiOutageDuringDeletion(ctx, env, "apiserver", apiOutage{
		cutWord: "API server killed", healWord: "API server ready again", forceDelete: false, healAfter: 17 * time.Second,
		cut: func(ctx context.Context) error {
			// hack/e2e.sh records the control plane in the run's records,
			// beside containerd.
			recorded, err := nodeproc.FindRecorded(env.Runtime.RecordDir, "kube-apiserver")
			if err != nil {
				return err
			}
			// Before the kill: a kill that fails after its signal still
			// leaves the API server to start again.
			down = recorded
			return recorded.Kill(ctx)
		},
		heal: func(ctx context.Context) error {
			if down == nil {
				return nil
			}
			process, err := nodeproc.Start(ctx, down.Spec)
			if err != nil {
				return err
			}
			down = nil
			klog.FromContext(ctx).Info("Started the API server again", "pid", process.PID)
			return env.Cluster.waitAPIReady(ctx, process, 90*time.Second)
		},
	})
}

// waitAPIReady waits until the API server, just started as process, says
// it is ready.
func (c *Cluster) waitAPIReady(ctx context.Context, process *nodeproc.Process, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if exited, _ := process.Exited(); exited {
			return false, process.ExitError()
		}
		_, last = c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Timeout(5 * time.Second).DoRaw(ctx)
		return last == nil, nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("the API server started again was not ready in %s (last: %v): %w", timeout, last, err)
	}
	return nil
}

// sleepUntil waits until t, or until ctx ends: an interrupted run stops
// waiting, with ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// apiOutageDuringDeletion runs apiPartitioned's scenario with outage.
func apiOutageDuringDeletion(ctx context.Context, env *Env, name string, outage apiOutage) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, name)
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	// The hook removes the ready file 6 s into the deletion and holds the
	// container 40 s more.
	const removeAfter, holdFor = 6 * time.Second, 40 * time.Second
	leaving, err := c.createPod(ctx, ns, terminatingPod("leaving", removeAfter, holdFor, time.Minute))
	if err != nil {
		return "", "", err
	}
	const bystanders = 5
	for i := range bystanders {
		if _, err := c.createPod(ctx, ns, outagePod(fmt.Sprintf("bystander-%d", i), int32(probePeriod.Seconds()))); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, 1+bystanders, 2*time.Minute); err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)
	before, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	delete(before, leaving.Name)
	var forced *v1.Pod
	if outage.forceDelete {
		if forced, err = c.Client.CoreV1().Pods(ns).Get(ctx, "bystander-0", metav1.GetOptions{}); err != nil {
			return "", "", err
		}
		delete(before, forced.Name)
	}
	nodeWatch := c.watchNodeReady(ctx)
	defer nodeWatch.stop()

	leavingWatch, deleted, err := c.deleteWatched(ctx, runtime, leaving)
	if err != nil {
		return "", "", err
	}
	defer leavingWatch.stop()
	if err := sleepUntil(ctx, deleted.Add(2*time.Second)); err != nil {
		return "", "", err
	}
	// Healed on every way out, an interrupted run's included: a partition's
	// rule would otherwise hold until hack/e2e.sh removes the namespace.
	defer func() {
		if healErr := outage.heal(context.WithoutCancel(ctx)); healErr != nil {
			err = errors.Join(err, healErr)
		}
	}()
	if err := outage.cut(ctx); err != nil {
		return "", "", err
	}
	if err := sleepUntil(ctx, deleted.Add(5*time.Second)); err != nil {
		return "", "", err
	}
	if forced != nil {
		if err := c.Client.CoreV1().Pods(ns).Delete(ctx, forced.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			return "", "", err
		}
	}
	if err := sleepUntil(ctx, deleted.Add(outage.healAfter)); err != nil {
		return "", "", err
	}
	if err := outage.heal(ctx); err != nil {
		return "", "", err
	}
	healed := time.Now()
	// The verdict needs the pod's container running for outageReadinessBound
	// after the heal, and its hook ends it no sooner than removeAfter+holdFor
	// after the deletion: a heal later than that (an API server slow to
	// start again) cannot be judged.
	if last := deleted.Add(removeAfter + holdFor - outageReadinessBound); healed.After(last) {
		return "", "", fmt.Errorf("the API was back only %.0fs after the deletion (%s), after %.0fs: too late to judge the pod's readiness before its container ends",
			healed.Sub(deleted).Seconds(), outage.healWord, last.Sub(deleted).Seconds())
	}

	var problems []string
	forcedGone := "no pod force-deleted"
	if forced != nil {
		gone, err := runtimeGoneWithin(ctx, runtime, forced, healed.Add(45*time.Second))
		if err != nil {
			problems = append(problems, fmt.Sprintf("the force-deleted pod: %v", err))
		}
		forcedGone = fmt.Sprintf("force-deleted pod's container gone %.0fs after the heal", gone.Seconds())
	}
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(deleted.Add(70*time.Second)), true, func(ctx context.Context) (bool, error) {
		return leavingWatch.snapshot().running == 0, nil
	}); err != nil {
		problems = append(problems, "the deleted pod's container still runs 70s after deletion")
	}
	if err := c.waitPodGone(ctx, ns, leaving.Name, time.Until(deleted.Add(80*time.Second))); err != nil {
		problems = append(problems, "the deleted pod is still in the API 80s after deletion")
	}
	leavingWatch.stop()
	nodeWatch.stop()
	seen := leavingWatch.snapshot()
	if seen.maxContainers == 0 {
		problems = append(problems, "the runtime never listed the deleted pod's container by its UID: nothing was observed")
	}
	if seen.maxContainers > 1 {
		problems = append(problems, fmt.Sprintf("the deleted pod had %d containers at once: started again", seen.maxContainers))
	}
	if spells := nodeWatch.notReadySpells(); spells != "never" {
		problems = append(problems, "the node was not Ready "+spells)
	}
	after, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	// Judged above, if they are still there.
	delete(after, leaving.Name)
	if forced != nil {
		delete(after, forced.Name)
	}
	problems = append(problems, comparePodIdentities(before, after)...)
	measured = fmt.Sprintf("%s 2s after deletion, %s at %.0fs; node not Ready %s; %s; deleted pod: ready file removed at %s, Ready: %s, container gone %s after deletion",
		outage.cutWord, outage.healWord, healed.Sub(deleted).Seconds(), nodeWatch.notReadySpells(), forcedGone, seen.removedAfter(deleted), strings.Join(seen.readiness, ", "), seen.goneAfter())
	if len(problems) > 0 {
		return podsDisturbed, strings.Join(problems, "; ") + "; " + measured, nil
	}
	outcome, err = readinessVerdict(seen, deleted, healed, outageReadinessBound)
	return outcome, measured, err
}

// readinessVerdict says whether a terminating pod was reported not Ready,
// while its container ran, within bound of the moment its kubelet could see
// the ready file gone and say so: the later of the file's removal (as its
// hook logged it) and reachable, when the node could probe and report again
// (the deletion itself, when nothing cut the node off). A hook that never
// logged the removal cannot be judged.
func readinessVerdict(seen terminationSeen, deleted, reachable time.Time, bound time.Duration) (string, error) {
	if seen.fileRemoved.IsZero() {
		return "", fmt.Errorf("no preStop hook of the deleted pod logged %q: its readiness cannot be judged", fileRemovedLine)
	}
	from := reachable
	if seen.fileRemoved.After(from) {
		from = seen.fileRemoved
	}
	if seen.notReadyRunning == 0 || deleted.Add(seen.notReadyRunning).After(from.Add(bound)) {
		return Fail, nil
	}
	return Pass, nil
}

// apiPartition rejects the node's traffic to the API server, from inside the
// node's network namespace: the kubelet's connections are reset, and every
// new one refused, while the API server and the harness see nothing.
type apiPartition struct {
	netns, host, port string
}

func newAPIPartition(netns, server string) (apiPartition, error) {
	u, err := url.Parse(server)
	if err != nil {
		return apiPartition{}, fmt.Errorf("API server %q: %w", server, err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return apiPartition{}, fmt.Errorf("API server %q: %w", server, err)
	}
	if netns == "" {
		return apiPartition{}, fmt.Errorf("the node has no network namespace of its own to cut off")
	}
	return apiPartition{netns: netns, host: host, port: port}, nil
}

// iptables runs iptables with op (-I, -C, -D) on the partition's rule in the
// node's namespace; the exit status is in the error.
func (p apiPartition) iptables(ctx context.Context, op string) error {
	args := []string{"--net=" + p.netns, "--", "iptables", "-w", op, "OUTPUT", "-p", "tcp", "-d", p.host, "--dport", p.port, "-j", "REJECT", "--reject-with", "tcp-reset"}
	if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("nsenter %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// cut inserts the rule.
func (p apiPartition) cut(ctx context.Context) error {
	if err := p.iptables(ctx, "-I"); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Cut the node off from the API server", "netns", p.netns, "server", net.JoinHostPort(p.host, p.port))
	return nil
}

// heal removes the rule, if it is there: a second heal does nothing. Only
// iptables -C's exit status 1 says the rule is absent; any other failure
// could leave the node cut off, and is an error.
func (p apiPartition) heal(ctx context.Context) error {
	var exit *exec.ExitError
	if err := p.iptables(ctx, "-C"); errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil
	} else if err != nil {
		return err
	}
	if err := p.iptables(ctx, "-D"); err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Healed the partition", "netns", p.netns)
	return nil
}

// criLister is the part of a CRI runtime client the scenarios look through.
type criLister interface {
	ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error)
	ListPodSandbox(context.Context, *criv1.PodSandboxFilter) ([]*criv1.PodSandbox, error)
}

// runtimeHolding is what the runtime holds that carries some labels: every
// container, in any state, and the Ready sandboxes.
type runtimeHolding struct {
	containers     []*criv1.Container
	readySandboxes []*criv1.PodSandbox
}

// inRuntime lists what the runtime holds with labels (a pod's UID, a
// namespace).
func inRuntime(ctx context.Context, runtime criLister, labels map[string]string) (runtimeHolding, error) {
	containers, err := runtime.ListContainers(ctx, &criv1.ContainerFilter{LabelSelector: labels})
	if err != nil {
		return runtimeHolding{}, err
	}
	sandboxes, err := runtime.ListPodSandbox(ctx, &criv1.PodSandboxFilter{
		State: &criv1.PodSandboxStateValue{State: criv1.PodSandboxState_SANDBOX_READY}, LabelSelector: labels,
	})
	if err != nil {
		return runtimeHolding{}, err
	}
	return runtimeHolding{containers: containers, readySandboxes: sandboxes}, nil
}

// running lists the containers that run.
func (h runtimeHolding) running() []*criv1.Container {
	var running []*criv1.Container
	for _, c := range h.containers {
		if c.State == criv1.ContainerState_CONTAINER_RUNNING {
			running = append(running, c)
		}
	}
	return running
}

// byUID selects what belongs to pod.
func byUID(pod *v1.Pod) map[string]string {
	return map[string]string{"io.kubernetes.pod.uid": string(pod.UID)}
}

// runtimeGoneWithin waits until deadline for none of pod's containers to
// run, and says how long that took.
func runtimeGoneWithin(ctx context.Context, runtime criLister, pod *v1.Pod, deadline time.Time) (time.Duration, error) {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Until(deadline), true, func(ctx context.Context) (bool, error) {
		held, err := inRuntime(ctx, runtime, byUID(pod))
		return err == nil && len(held.running()) == 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("its container still runs %s later", deadline.Sub(start).Round(time.Second))
	}
	return time.Since(start), nil
}

// leftInRuntime lists what the runtime still runs of a pod that is gone: a
// running container or a Ready sandbox.
func leftInRuntime(ctx context.Context, runtime criLister, pod *v1.Pod) ([]string, error) {
	held, err := inRuntime(ctx, runtime, byUID(pod))
	if err != nil {
		return nil, err
	}
	var left []string
	if running := held.running(); len(running) > 0 {
		left = append(left, fmt.Sprintf("%s: %d running containers left", pod.Name, len(running)))
	}
	if len(held.readySandboxes) > 0 {
		left = append(left, fmt.Sprintf("%s: %d Ready sandboxes left", pod.Name, len(held.readySandboxes)))
	}
	return left, nil
}

// sortedNames lists the keys of identities, sorted.
func sortedNames(identities map[string]podIdentity) []string {
	var out []string
	for name := range identities {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// waitNamedReady waits until every pod of names is Ready, and also, if
// given, holds for it, and says how long after since they all were.
func (c *Cluster) waitNamedReady(ctx context.Context, ns string, names []string, since time.Time, timeout time.Duration, also func(*v1.Pod) bool) (time.Duration, error) {
	var notReady []string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Until(since.Add(timeout)), true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := map[string]bool{}
		for i := range list.Items {
			pod := &list.Items[i]
			ready[pod.Name] = podReady(pod) && (also == nil || also(pod))
		}
		notReady = notReady[:0]
		for _, name := range names {
			if !ready[name] {
				notReady = append(notReady, name)
			}
		}
		return len(notReady) == 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("%d pods not Ready %s after containerd's return (%s)", len(notReady), timeout, strings.Join(notReady, ", "))
	}
	return time.Since(since), nil
}

// nodeReadyWatch follows the node's Ready condition every 250 ms, from the
// API, until stopped.
type nodeReadyWatch struct {
	cluster *Cluster
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}

	mu sync.Mutex
	// spells are the times, since started, when the node was seen not
	// Ready: by what the kubelet reported (False), or by what the
	// controller manager set when it heard nothing (Unknown).
	spells []notReadySpell
	status v1.ConditionStatus
}

// notReadySpell is a time the node was not Ready, in seconds since the
// watch started; to is 0 while it lasts.
type notReadySpell struct {
	status   v1.ConditionStatus
	from, to float64
}

func (s notReadySpell) String() string {
	if s.to == 0 {
		return fmt.Sprintf("%.0fs (%s)", s.from, s.status)
	}
	return fmt.Sprintf("%.0fs-%.0fs (%s)", s.from, s.to, s.status)
}

func (c *Cluster) watchNodeReady(ctx context.Context) *nodeReadyWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &nodeReadyWatch{cluster: c, started: time.Now(), cancel: cancel, done: make(chan struct{}), status: v1.ConditionTrue}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			if node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{}); err == nil {
				status := v1.ConditionUnknown
				for _, cond := range node.Status.Conditions {
					if cond.Type == v1.NodeReady {
						status = cond.Status
					}
				}
				w.observe(status, time.Since(w.started).Seconds())
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return w
}

// observe records the node's Ready status seen at seconds since the watch
// started: a spell begins when it leaves True, changes when it changes, and
// ends when it is True again.
func (w *nodeReadyWatch) observe(status v1.ConditionStatus, at float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if status == w.status {
		return
	}
	if w.status != v1.ConditionTrue {
		w.spells[len(w.spells)-1].to = at
	}
	if status != v1.ConditionTrue {
		w.spells = append(w.spells, notReadySpell{status: status, from: at})
	}
	w.status = status
}

// stop ends the watch; a second stop does nothing.
func (w *nodeReadyWatch) stop() {
	w.cancel()
	<-w.done
}

// notReadySpells lists when the node was not Ready, and as what, or
// "never".
func (w *nodeReadyWatch) notReadySpells() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.spells) == 0 {
		return "never"
	}
	var spells []string
	for _, s := range w.spells {
		spells = append(spells, s.String())
	}
	return "at " + strings.Join(spells, ", ")
}

// waitNodeReadySince waits until the node reports itself Ready in a
// heartbeat sent at or after since, and says how long after since that was.
func (c *Cluster) waitNodeReadySince(ctx context.Context, since time.Time, timeout time.Duration) (time.Duration, error) {
	last := "no Ready condition"
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Until(since.Add(timeout)), true, func(ctx context.Context) (bool, error) {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready, why := readyHeartbeatSince(node, since)
		last = why
		return ready, nil
	})
	if err != nil {
		return 0, fmt.Errorf("the node did not report itself Ready within %s (last: %s)", timeout, last)
	}
	return time.Since(since), nil
}

// nodeRebooted deletes a pod whose preStop hook holds it for 50 s of its
// 60 s grace period and, 2 s later, reboots the node as far as one machine
// can (Env.Reboot): kubelet, containerd, shims and containers killed, mounts,
// runtime state and the CNI bridge gone, disk state kept. Both kubelets must
// bring every pod back: Ready within 3 minutes of the kubelet's start, with a
// new sandbox, exactly one Ready, and its restart count up by one. The pod
// that was terminating must never start again and be gone within its grace
// period plus 60 s; 2 minutes after the start the CNI plugin's IPAM holds
// no more addresses than pods plus 2.
func nodeRebooted(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "reboot")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	if err := createVolumeSources(ctx, c, ns); err != nil {
		return "", "", err
	}
	const pods = 10
	const grace = time.Minute
	leavingPod := probedPod("leaving", 1)
	leavingPod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(grace.Seconds()))
	leavingPod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sleep", "50"}}}}
	leaving, err := c.createPod(ctx, ns, leavingPod)
	if err != nil {
		return "", "", err
	}
	for i := range pods {
		if _, err := c.createPod(ctx, ns, podWithVolumes(fmt.Sprintf("booted-%02d", i), int32(probePeriod.Seconds()))); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, pods+1, 3*time.Minute); err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)
	before, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	delete(before, leaving.Name)

	// The runtime keeps the killed container's record (its metadata is on
	// disk): a second container of the pod is one started again.
	leavingWatch, deleted, err := c.deleteWatched(ctx, runtime, leaving)
	if err != nil {
		return "", "", err
	}
	defer leavingWatch.stop()
	time.Sleep(2 * time.Second)
	if err := env.Reboot(ctx); err != nil {
		return "", "", err
	}
	booted := env.Kubelet.Started

	var problems []string
	// Ready in the API is what the kubelet reported before the reboot until
	// it reports again: a pod counts once its status shows the container
	// started again.
	restarted := func(pod *v1.Pod) bool {
		return len(pod.Status.ContainerStatuses) == 1 && pod.Status.ContainerStatuses[0].RestartCount > before[pod.Name].Restarts
	}
	readyAfter, err := c.waitNamedReady(ctx, ns, sortedNames(before), booted, 3*time.Minute, restarted)
	if err != nil {
		problems = append(problems, err.Error())
	}
	leavingGone := "never"
	if err := c.waitPodGone(ctx, ns, leaving.Name, time.Until(deleted.Add(grace+time.Minute))); err != nil {
		problems = append(problems, fmt.Sprintf("the pod deleted before the reboot is still in the API %s after its deletion", grace+time.Minute))
	} else {
		leavingGone = time.Since(deleted).Round(time.Second).String()
	}
	leavingWatch.stop()
	if seen := leavingWatch.snapshot(); seen.maxContainers > 1 {
		problems = append(problems, fmt.Sprintf("the pod deleted before the reboot had %d containers: started again", seen.maxContainers))
	}
	after, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	for _, name := range sortedNames(before) {
		b, a := before[name], after[name]
		switch {
		case a.UID != b.UID:
			problems = append(problems, name+" is gone")
		case a.Restarts != b.Restarts+1:
			problems = append(problems, fmt.Sprintf("%s: %d restarts, want %d", name, a.Restarts, b.Restarts+1))
		case len(a.Sandboxes) != 1:
			problems = append(problems, fmt.Sprintf("%s has %d Ready sandboxes, want 1", name, len(a.Sandboxes)))
		case slices.Contains(b.Sandboxes, a.Sandboxes[0]):
			problems = append(problems, fmt.Sprintf("%s kept its sandbox %s across the reboot", name, a.Sandboxes[0]))
		}
	}
	time.Sleep(time.Until(booted.Add(2 * time.Minute)))
	addresses, err := ipamAddresses(env.Runtime.IPAMDir)
	if err != nil {
		return "", "", err
	}
	if addresses > pods+2 {
		problems = append(problems, fmt.Sprintf("IPAM holds %d addresses 2 minutes after the boot, for %d pods", addresses, pods))
	}
	measured = fmt.Sprintf("%d pods Ready %.0fs after the kubelet's start, each with a new sandbox and one more restart; the pod deleted 2s before the reboot: container killed by it (none ran %s after the deletion), pod gone from the API after %s; IPAM holds %d addresses",
		pods, readyAfter.Seconds(), leavingWatch.snapshot().goneAfter(), leavingGone, addresses)
	if len(problems) > 0 {
		return Fail, strings.Join(problems, "; ") + "; " + measured, nil
	}
	return Pass, measured, nil
}

// ipamAddresses counts the addresses the CNI host-local plugin holds: a file
// named by the address for each, under a folder per network.
func ipamAddresses(dir string) (int, error) {
	networks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("the CNI plugin's IPAM folder: %w", err)
	}
	n := 0
	for _, network := range networks {
		if !network.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, network.Name()))
		if err != nil {
			return 0, err
		}
		for _, entry := range entries {
			if net.ParseIP(entry.Name()) != nil {
				n++
			}
		}
	}
	return n, nil
}
