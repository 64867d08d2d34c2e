package nodee2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/utils/ptr"
)

// hookRanLine is what the preStop hook of kubeletKilledDuringPreStop writes
// to its container's output each time it runs.
const hookRanLine = "preStop hook ran"

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
	runtime, err := remote.NewRemoteRuntimeService(ctx, "unix://"+env.CRISocket, 10*time.Second, nil, false)
	if err != nil {
		return "", "", err
	}

	deleted := time.Now()
	watchCtx, stopWatch := context.WithCancel(ctx)
	w := &terminationWatch{cluster: c, runtime: runtime, pod: hooked, since: deleted}
	var watched sync.WaitGroup
	watched.Add(1)
	go func() {
		defer watched.Done()
		w.run(watchCtx)
	}()
	defer func() {
		stopWatch()
		watched.Wait()
	}()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, hooked.Name, metav1.DeleteOptions{}); err != nil {
		return "", "", err
	}
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
	stopWatch()
	watched.Wait()
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
	runtime interface {
		ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error)
		ContainerStatus(context.Context, string, bool) (*criv1.ContainerStatusResponse, error)
	}
	pod   *v1.Pod
	since time.Time

	mu   sync.Mutex
	seen terminationSeen
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
	// readiness is the Ready condition's changes, since the deletion.
	readiness []string
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
// runtime busy while the kubelet restarts) is skipped.
func (w *terminationWatch) run(ctx context.Context) {
	byUID := map[string]string{"io.kubernetes.pod.uid": string(w.pod.UID)}
	lastReady := "True"
	w.mu.Lock()
	w.seen.running = 1
	w.mu.Unlock()
	for ctx.Err() == nil {
		containers, err := w.runtime.ListContainers(ctx, &criv1.ContainerFilter{LabelSelector: byUID})
		if err == nil {
			running := 0
			hookRuns := 0
			for _, container := range containers {
				if container.State == criv1.ContainerState_CONTAINER_RUNNING {
					running++
				}
				if status, err := w.runtime.ContainerStatus(ctx, container.Id, false); err == nil && status.Status != nil {
					if log, err := os.ReadFile(status.Status.LogPath); err == nil {
						hookRuns += strings.Count(string(log), hookRanLine)
					}
				}
			}
			w.mu.Lock()
			w.seen.running = running
			w.seen.maxContainers = max(w.seen.maxContainers, len(containers))
			w.seen.hookRuns = max(w.seen.hookRuns, hookRuns)
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
			if ready != lastReady {
				w.mu.Lock()
				w.seen.readiness = append(w.seen.readiness, fmt.Sprintf("%s at %.1fs", ready, time.Since(w.since).Seconds()))
				w.mu.Unlock()
				lastReady = ready
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
