package nodee2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// hookRanLine is what the preStop hooks of the fault scenarios write to
// their container's output each time they run, and fileRemovedLine what
// they write once they have removed the ready file, followed by " at " and
// the hook's own clock (logRemoval): CRI's log dates a line when containerd
// copies it, and a loaded containerd once dated it 17 s after the probe had
// already found the file gone.
const (
	hookRanLine     = "preStop hook ran"
	fileRemovedLine = "ready file removed"
)

// logRemoval is the shell a preStop hook runs right after it removed the
// ready file. The image's sh is bash, whose EPOCHREALTIME is the time in
// seconds, to the microsecond.
const logRemoval = `echo "` + fileRemovedLine + ` at ${EPOCHREALTIME}" >/proc/1/fd/1`

// kubeletKilledDuringPreStop deletes a pod whose preStop hook takes 30 s of
// its 40 s grace period, kills the kubelet with SIGKILL 8 s later, in the
// middle of the hook, and starts it again 3 s after that. A crash must not
// start the pod again, leave its container or sandbox behind, or touch its
// neighbours: the container is gone within the grace period plus 60 s, the
// pod a further 10 s later, and the pod never has a second container.
// Termination does not run on the sync context the series changes
// (SyncTerminatingPod makes its own), so both kubelets must pass. How many
// times the hook ran and how readiness went are reported, not judged.
func kubeletKilledDuringPreStop(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "prestop-kill")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	const grace = 40 * time.Second
	pod := probedPod("hooked", 1)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(grace.Seconds()))
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{
		// PID 1's output is the container's log, which the harness reads
		// from the node's disk.
		Exec: &v1.ExecAction{Command: []string{"sh", "-c", "echo '" + hookRanLine + "' >/proc/1/fd/1; rm -f " + readyFile + "; sleep 30"}},
	}}
	hooked, err := c.createPod(ctx, ns, pod)
	if err != nil {
		return "", "", err
	}
	const bystanders = 3
	for i := range bystanders {
		if _, err := c.createPod(ctx, ns, probedPod(fmt.Sprintf("bystander-%d", i), 1)); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, 1+bystanders, 2*time.Minute); err != nil {
		return "", "", err
	}
	before, err := containerIDs(ctx, c, ns)
	if err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)

	w, deleted, err := c.deleteWatched(ctx, runtime, hooked)
	if err != nil {
		return "", "", err
	}
	defer w.stop()
	time.Sleep(8 * time.Second)
	if err := env.Crash(ctx); err != nil {
		return "", "", err
	}
	restarted := time.Since(deleted)

	var problems []string
	containerGone := grace + time.Minute
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(deleted.Add(containerGone)), true, func(ctx context.Context) (bool, error) {
		return w.snapshot().running == 0, nil
	}); err != nil {
		problems = append(problems, fmt.Sprintf("its container still runs %s after deletion", containerGone))
	}
	if err := c.waitPodGone(ctx, ns, hooked.Name, time.Until(deleted.Add(containerGone+10*time.Second))); err != nil {
		problems = append(problems, fmt.Sprintf("the pod is still in the API %s after deletion", containerGone+10*time.Second))
	}
	w.stop()
	seen := w.snapshot()
	if seen.maxContainers == 0 {
		problems = append(problems, "the runtime never listed its container by pod UID: nothing above was observed")
	}
	if seen.maxContainers > 1 {
		problems = append(problems, fmt.Sprintf("it had %d containers at once: started again", seen.maxContainers))
	}
	readySandboxes, err := runtime.ListPodSandbox(ctx, &criv1.PodSandboxFilter{
		State:         &criv1.PodSandboxStateValue{State: criv1.PodSandboxState_SANDBOX_READY},
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(hooked.UID)},
	})
	if err != nil {
		return "", "", err
	}
	if len(readySandboxes) != 0 {
		problems = append(problems, fmt.Sprintf("%d Ready sandboxes left", len(readySandboxes)))
	}
	after, err := containerIDs(ctx, c, ns)
	if err != nil {
		return "", "", err
	}
	for name, id := range before {
		if name != hooked.Name && after[name] != id {
			problems = append(problems, fmt.Sprintf("bystander %s: %s before, %s after", name, id, after[name]))
		}
	}
	measured = fmt.Sprintf("killed 8s into the hook, Ready again %.0fs after deletion; container gone %s after deletion; hook ran %d times; Ready: %s",
		restarted.Seconds(), seen.goneAfter(), seen.hookRuns, strings.Join(seen.readiness, ", "))
	if len(problems) > 0 {
		return Fail, strings.Join(problems, "; ") + "; " + measured, nil
	}
	return Pass, measured, nil
}

// terminationWatch follows a terminating pod through a kubelet crash: its
// containers in the runtime, how often its preStop hook ran (from its
// container's log on the node's disk) and its Ready condition in the API.
type terminationWatch struct {
	cluster *Cluster
	runtime terminationRuntime
	pod     *v1.Pod
	since   time.Time

	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	seen terminationSeen
}

// startTerminationWatch watches pod, deleted at since, until stopped.
func startTerminationWatch(ctx context.Context, c *Cluster, runtime terminationRuntime, pod *v1.Pod, since time.Time) *terminationWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &terminationWatch{cluster: c, runtime: runtime, pod: pod, since: since, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
	return w
}

// deleteWatched deletes pod gracefully with a terminationWatch on it from
// the moment of its deletion, which it returns.
func (c *Cluster) deleteWatched(ctx context.Context, runtime terminationRuntime, pod *v1.Pod) (*terminationWatch, time.Time, error) {
	deleted := time.Now()
	w := startTerminationWatch(ctx, c, runtime, pod, deleted)
	if err := c.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		w.stop()
		return nil, time.Time{}, err
	}
	return w, deleted, nil
}

// watchReadiness lets w watch a deleted pod until the API has reported it
// not Ready while its container ran, or its container has stopped, or
// watchFor has passed since its hook logged the ready file's removal, which
// the verdict counts from; then it stops w and says what it saw. A hook may
// run late, as late as the kubelet takes to act on the deletion: without the
// removal logged, it watches for up to grace, the pod's grace period.
func watchReadiness(ctx context.Context, w *terminationWatch, watchFor, grace time.Duration) (terminationSeen, error) {
	defer w.stop()
	for {
		seen := w.snapshot()
		if (seen.notReadyRunning != 0 || seen.running == 0) && !seen.fileRemoved.IsZero() {
			return seen, nil
		}
		deadline := w.since.Add(grace)
		if !seen.fileRemoved.IsZero() {
			deadline = seen.fileRemoved.Add(watchFor)
		}
		if time.Now().After(deadline) {
			w.stop()
			return w.snapshot(), nil
		}
		select {
		case <-ctx.Done():
			return terminationSeen{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop ends the watch and waits for it; a second stop does nothing.
func (w *terminationWatch) stop() {
	w.cancel()
	<-w.done
}

// terminationRuntime is what a terminationWatch asks the runtime.
type terminationRuntime interface {
	ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error)
	ContainerStatus(context.Context, string, bool) (*criv1.ContainerStatusResponse, error)
}

// terminationSeen is what a terminationWatch saw.
type terminationSeen struct {
	// running is how many of the pod's containers ran at the last look.
	running int
	// maxContainers is the most containers, in any state, it had at once.
	maxContainers int
	// gone is when no container ran any more, since the deletion.
	gone time.Duration
	// hookRuns is the most hook lines its container's log held.
	hookRuns int
	// fileRemoved is when a hook first logged that it removed the ready
	// file; zero if none did.
	fileRemoved time.Time
	// readiness is the Ready condition's changes, since the deletion.
	readiness []string
	// notReadyRunning is when, since the deletion, the API first reported
	// the pod not Ready while the runtime, asked in the same pass, still ran
	// its container; zero if never.
	notReadyRunning time.Duration
}

// removedAfter says when the ready file was removed, since deleted.
func (s terminationSeen) removedAfter(deleted time.Time) string {
	if s.fileRemoved.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.1fs", s.fileRemoved.Sub(deleted).Seconds())
}

func (s terminationSeen) goneAfter() string {
	if s.gone == 0 {
		return "never"
	}
	return s.gone.Round(time.Second).String()
}

func (w *terminationWatch) snapshot() terminationSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.seen
	seen.readiness = append([]string(nil), w.seen.readiness...)
	return seen
}

// run looks every 250 ms until ctx ends. A look that fails (the API or the
// runtime busy while the kubelet restarts) is skipped, and logged at V(4).
func (w *terminationWatch) run(ctx context.Context) {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KObj(w.pod))
	byUID := map[string]string{"io.kubernetes.pod.uid": string(w.pod.UID)}
	lastReady := "True"
	w.mu.Lock()
	w.seen.running = 1
	w.mu.Unlock()
	for ctx.Err() == nil {
		containers, err := w.runtime.ListContainers(ctx, &criv1.ContainerFilter{LabelSelector: byUID})
		// Whether the runtime answered in this pass: a count from an
		// earlier one (containerd down) says nothing of now.
		listed := err == nil
		if err != nil {
			logger.V(4).Info("Termination watch: the runtime did not list the pod's containers", "err", err)
		}
		if listed {
			running := 0
			hookRuns := 0
			var fileRemoved time.Time
			for _, container := range containers {
				if container.State == criv1.ContainerState_CONTAINER_RUNNING {
					running++
				}
				status, err := w.runtime.ContainerStatus(ctx, container.Id, false)
				if err != nil || status.Status == nil {
					logger.V(4).Info("Termination watch: no status of a container", "container", container.Id, "err", err)
					continue
				}
				log, err := os.ReadFile(status.Status.LogPath)
				if err != nil {
					logger.V(4).Info("Termination watch: no log of a container", "container", container.Id, "err", err)
					continue
				}
				hookRuns += strings.Count(string(log), hookRanLine)
				if at, ok := firstLogged(log, fileRemovedLine); ok && (fileRemoved.IsZero() || at.Before(fileRemoved)) {
					fileRemoved = at
				}
			}
			w.mu.Lock()
			w.seen.running = running
			w.seen.maxContainers = max(w.seen.maxContainers, len(containers))
			w.seen.hookRuns = max(w.seen.hookRuns, hookRuns)
			if !fileRemoved.IsZero() && w.seen.fileRemoved.IsZero() {
				w.seen.fileRemoved = fileRemoved
			}
			if running == 0 && w.seen.gone == 0 {
				w.seen.gone = time.Since(w.since)
			}
			w.mu.Unlock()
		}
		if p, err := w.cluster.Client.CoreV1().Pods(w.pod.Namespace).Get(ctx, w.pod.Name, metav1.GetOptions{}); err == nil {
			ready := "False"
			if podReady(p) {
				ready = "True"
			}
			w.mu.Lock()
			if ready != lastReady {
				w.seen.readiness = append(w.seen.readiness, fmt.Sprintf("%s at %.1fs", ready, time.Since(w.since).Seconds()))
				lastReady = ready
			}
			if ready == "False" && listed && w.seen.running > 0 && w.seen.notReadyRunning == 0 {
				w.seen.notReadyRunning = time.Since(w.since)
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kubeletKilledAtSucceeded is kubernetes#116925's case: the kubelet is
// killed with SIGKILL the moment a pod being deleted reports Succeeded, before
// it could finish the deletion, and started again 3 s later. The pod's
// container exits 0 on SIGTERM and it never restarts, so its deletion ends
// in the Succeeded phase. After the restart the kubelet must finish the
// deletion: the pod gone from the API within 60 s. Both kubelets must pass.
func kubeletKilledAtSucceeded(ctx context.Context, env *Env) (outcome, measured string, err error) {
	c := env.Cluster
	ns, err := c.createNamespace(ctx, "succeeded-kill")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	pod := probedPod("finishing", 1)
	pod.Spec.RestartPolicy = v1.RestartPolicyNever
	created, err := c.createPod(ctx, ns, pod)
	if err != nil {
		return "", "", err
	}
	if err := c.waitPodsReady(ctx, ns, 1, 2*time.Minute); err != nil {
		return "", "", err
	}
	// From now, not from the pod's creation: a resource version two
	// minutes old may be too old to watch from.
	current, err := c.Client.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	watcher, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector:   "metadata.name=" + created.Name,
		ResourceVersion: current.ResourceVersion,
	})
	if err != nil {
		return "", "", err
	}
	defer watcher.Stop()
	deleted := time.Now()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, created.Name, metav1.DeleteOptions{}); err != nil {
		return "", "", err
	}
	var succeeded time.Duration
	timeout := time.After(time.Minute)
	for succeeded == 0 {
		select {
		case event, ok := <-watcher.ResultChan():
			if !ok {
				return "", "", fmt.Errorf("the watch of %s ended before it reported Succeeded", created.Name)
			}
			if p, isPod := event.Object.(*v1.Pod); isPod && p.DeletionTimestamp != nil && p.Status.Phase == v1.PodSucceeded {
				succeeded = time.Since(deleted)
			}
		case <-timeout:
			return Fail, fmt.Sprintf("%s never reported Succeeded within a minute of its deletion", created.Name), nil
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
	// The watch goes on through the kill: a pod the kubelet removed before
	// it was killed did not try the case.
	removed := make(chan time.Time, 1)
	go func() {
		for event := range watcher.ResultChan() {
			if event.Type == watch.Deleted {
				removed <- time.Now()
				return
			}
		}
	}()
	killed := time.Now()
	if err := env.Crash(ctx); err != nil {
		return "", "", err
	}
	restarted := env.Kubelet.Started
	measured = fmt.Sprintf("Succeeded %.1fs after deletion, the kubelet killed then", succeeded.Seconds())
	select {
	case at := <-removed:
		if at.Before(killed) {
			return "", "", fmt.Errorf("%s: the kubelet removed the pod before it was killed; the case was not tried", measured)
		}
		return Pass, fmt.Sprintf("%s; gone %.1fs after the restart", measured, at.Sub(restarted).Seconds()), nil
	case <-time.After(time.Until(restarted.Add(time.Minute))):
		return Fail, measured + "; the pod still in the API a minute after the restart (kubernetes#116925)", nil
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
}

// firstLogged finds the first line of a container's log, in CRI's format
// ("TIMESTAMP STREAM TAG MESSAGE"), whose message is text, and gives its
// time: the one the message carries after text and " at " (seconds since
// the epoch, as logRemoval writes), or else CRI's.
func firstLogged(log []byte, text string) (time.Time, bool) {
	for _, line := range strings.Split(string(log), "\n") {
		fields := strings.SplitN(line, " ", 4)
		if len(fields) != 4 {
			continue
		}
		message, stated, carries := strings.Cut(fields[3], " at ")
		if message != text {
			continue
		}
		if carries {
			if seconds, err := strconv.ParseFloat(stated, 64); err == nil {
				return time.Unix(0, int64(seconds*float64(time.Second))), true
			}
		}
		if at, err := time.Parse(time.RFC3339Nano, fields[0]); err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}
