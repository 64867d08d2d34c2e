package nodee2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// CrashOptions shapes the kubelet-killed-mid-sync scenario.
type CrashOptions struct {
	// Pods run before the kills; NewPods are created 2 s before the last.
	Pods, NewPods int
	// Kills are the kills at random intervals before the last one.
	Kills int
	// Seed makes the intervals the same from run to run.
	Seed uint64
}

// crashProbePeriod is the readiness probe period of the pods the kubelet is
// killed under, in seconds: every probe is a runc exec, and 35 pods probed
// every 2 s drove this 2-core machine's load above 50.
const crashProbePeriod = 5

// kubeletKilledMidSync kills the kubelet with SIGKILL, as a crash or the OOM
// killer would, under pods that it syncs every second: Kills times, each
// after a seeded random interval of 10-30 s counted from the node being
// Ready again and followed by a start 3 s later, and once more 2 s after
// NewPods pods were created, with their first syncs in flight. Both kubelets must lose nothing: the pods that ran keep their
// containers, sandboxes, addresses and restart counts, and a restarted
// kubelet starts none of their pods or containers; every new pod has one
// running container and one Ready sandbox and is Ready within 2 minutes;
// probes still work (a removed ready file gives not Ready within 10 s). The
// outcome is ctxleak's verdict 2 minutes after the last start: stock
// v1.36.0-v1.36.2 leak a sync context per pod sync.
func kubeletKilledMidSync(ctx context.Context, env *Env) (outcome, measured string, err error) {
	logger := klog.FromContext(ctx)
	c := env.Cluster
	opts := env.Crashes
	ns, err := c.createNamespace(ctx, "crash")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	if err := createVolumeSources(ctx, c, ns); err != nil {
		return "", "", err
	}
	for i := range opts.Pods {
		if _, err := c.createPod(ctx, ns, podWithVolumes(fmt.Sprintf("settled-%02d", i), crashProbePeriod)); err != nil {
			return "", "", err
		}
	}
	if err := c.waitPodsReady(ctx, ns, opts.Pods, 4*time.Minute); err != nil {
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

	var problems, kills []string
	// started reports what the kubelet started since its last start; none of
	// it may be a pod that ran before.
	started := func() (pods, containers float64, err error) {
		scrape, err := c.kubeletMetrics(ctx)
		if err != nil {
			return 0, 0, err
		}
		return scrape.Started()
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0))
	for kill := range opts.Kills {
		interval := 10*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))
		time.Sleep(interval)
		if kill > 0 {
			// The previous start has had its interval to settle.
			pods, containers, err := started()
			if err != nil {
				return "", "", err
			}
			if pods != 0 || containers != 0 {
				problems = append(problems, fmt.Sprintf("after kill %d the kubelet started %v pods and %v containers", kill, pods, containers))
			}
		}
		logger.Info("Killing the kubelet", "kill", kill+1, "after", interval)
		if err := env.Crash(ctx); err != nil {
			return "", "", fmt.Errorf("kill %d: %w", kill+1, err)
		}
		kills = append(kills, fmt.Sprintf("%.0fs", interval.Seconds()))
	}
	time.Sleep(10 * time.Second)
	if pods, containers, err := started(); err != nil {
		return "", "", err
	} else if pods != 0 || containers != 0 {
		problems = append(problems, fmt.Sprintf("after kill %d the kubelet started %v pods and %v containers", opts.Kills, pods, containers))
	}

	// The last kill, with the first syncs of new pods in flight.
	var fresh []*v1.Pod
	for i := range opts.NewPods {
		pod, err := c.createPod(ctx, ns, podWithVolumes(fmt.Sprintf("fresh-%02d", i), crashProbePeriod))
		if err != nil {
			return "", "", err
		}
		fresh = append(fresh, pod)
	}
	time.Sleep(2 * time.Second)
	if err := env.Crash(ctx); err != nil {
		return "", "", fmt.Errorf("the kill during new pods' syncs: %w", err)
	}
	lastStart := env.Kubelet.Started
	freshReady := time.Duration(0)
	if err := c.waitPodsReady(ctx, ns, opts.Pods+opts.NewPods, 2*time.Minute); err != nil {
		problems = append(problems, "after the last kill: "+err.Error())
	} else {
		freshReady = time.Since(lastStart)
	}
	var interrupted []string
	for _, pod := range fresh {
		wrong, started := oneOfEach(ctx, runtime, pod, lastStart)
		problems = append(problems, wrong...)
		interrupted = append(interrupted, started...)
	}
	leftovers := "none"
	if len(interrupted) > 0 {
		leftovers = strings.Join(interrupted, ", ")
	}
	after, err := podIdentities(ctx, c, runtime, ns)
	if err != nil {
		return "", "", err
	}
	for _, pod := range fresh {
		delete(after, pod.Name)
	}
	problems = append(problems, comparePodIdentities(before, after)...)

	// Probes still work after the kills.
	probed := "settled-00"
	if _, err := c.exec(ctx, ns, probed, "rm", "-f", readyFile); err != nil {
		return "", "", err
	}
	removed := time.Now()
	notReadyAfter := time.Duration(0)
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, probed, metav1.GetOptions{})
		if err != nil || podReady(pod) {
			return false, nil
		}
		notReadyAfter = time.Since(removed)
		return true, nil
	}); err != nil {
		problems = append(problems, fmt.Sprintf("%s still Ready 10s after its ready file was removed", probed))
	}

	time.Sleep(time.Until(lastStart.Add(2 * time.Minute)))
	report, err := ctxleakNode(ctx, env)
	if err != nil {
		return "", "", err
	}
	measured = fmt.Sprintf("%d pods, %d kills after %s, the last 2s after creating %d pods, which were Ready %.0fs after the start (a container whose start the kill interrupted: %s); probes: not Ready %.1fs after the file's removal; ctxleak %s (%d sync contexts)",
		opts.Pods, opts.Kills+1, strings.Join(kills, ", "), opts.NewPods, freshReady.Seconds(), leftovers, notReadyAfter.Seconds(), report.Analysis.Verdict, report.Analysis.SyncContexts)
	if len(problems) > 0 {
		return podsDisturbed, strings.Join(problems, "; ") + "; " + measured, nil
	}
	return string(report.Analysis.Verdict), measured, nil
}

// criStatusLister lists what the runtime holds and says how a container
// fared.
type criStatusLister interface {
	criLister
	ContainerStatus(ctx context.Context, containerID string, verbose bool) (*criv1.ContainerStatusResponse, error)
}

// oneOfEach says what is wrong with pod in the runtime if it has other than
// exactly one running container and one Ready sandbox, and names it if it
// also has a container whose start the kill interrupted. A kubelet killed
// between CreateContainer and StartContainer leaves a container created
// and never started; one killed during StartContainer leaves one exited
// without having started (containerd: "failed to start containerd task:
// context canceled", exit 128, as the kubelet's connection closes). The
// kubelet started again, as kuberuntime's computePodActions does for a
// container that is not running, creates another (attempt 1, restart count
// 1 in the API) and starts that, stock and patched alike; the container GC
// keeps the first as the dead one it keeps per container. One such
// container is excused, if it dates from before the restart and the running
// one is its next attempt; any other second container (one that ran, one
// created after the restart, a third) is wrong.
func oneOfEach(ctx context.Context, runtime criStatusLister, pod *v1.Pod, restarted time.Time) (wrong, interrupted []string) {
	held, err := inRuntime(ctx, runtime, byUID(pod))
	if err != nil {
		return []string{fmt.Sprintf("%s: listing it in the runtime: %v", pod.Name, err)}, nil
	}
	var states []string
	excused, others := 0, 0
	for _, container := range held.containers {
		states = append(states, container.State.String())
		beforeRestart := time.Unix(0, container.CreatedAt).Before(restarted)
		switch {
		case container.State == criv1.ContainerState_CONTAINER_RUNNING:
		case container.State == criv1.ContainerState_CONTAINER_CREATED && beforeRestart:
			excused++
		case container.State == criv1.ContainerState_CONTAINER_EXITED && beforeRestart:
			status, err := runtime.ContainerStatus(ctx, container.Id, false)
			if err != nil {
				return []string{fmt.Sprintf("%s: the status of container %s: %v", pod.Name, container.Id, err)}, nil
			}
			if status.GetStatus().GetStartedAt() == 0 {
				excused++
			} else {
				others++
			}
		default:
			others++
		}
	}
	running := held.running()
	attemptOK := len(running) == 1 && running[0].GetMetadata().GetAttempt() == uint32(excused)
	if len(running) != 1 || others > 0 || excused > 1 || !attemptOK {
		wrong = append(wrong, fmt.Sprintf("%s has containers %v, want one running and at most one whose start the kill interrupted, the running one its next attempt", pod.Name, states))
	} else if excused == 1 {
		interrupted = append(interrupted, pod.Name)
	}
	if len(held.readySandboxes) != 1 {
		wrong = append(wrong, fmt.Sprintf("%s has %d Ready sandboxes, want 1", pod.Name, len(held.readySandboxes)))
	}
	return wrong, interrupted
}
