package nodee2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
)

// SwapOutcome is what one direction of a swap did.
type SwapOutcome struct {
	Outcome, Measured string
}

// podsDisturbed is the outcome of a swap after which a pod lost its
// container, sandbox or address, restarted, or was not Ready again: what a
// drop-in replacement must never do. It is the outcome of the kubelet swapped
// in: patched for the upgrade, stock for the rollback.
const podsDisturbed = "pods-disturbed"

// swapReadyWithin bounds the time from the new kubelet's start until the
// node and every pod are Ready again.
const swapReadyWithin = 60 * time.Second

// probePeriod is the readiness probe period of the outage scenarios' pods
// but the deleted ones.
const probePeriod = 2 * time.Second

// swapProbePeriod is the readiness probe period of the swap's pods but the
// two deleted after the swaps: the kubelet's default. Every exec probe is a
// runc exec, and at 25 pods probed every 2 s this machine's two cores were
// saturated: housekeeping took 2-9 s on stock and patched alike, holding the
// sync loop, so that no readiness report, stock's or patched's, could meet
// readinessBound.
const swapProbePeriod = 10 * time.Second

// readyChangedSince names the pods of ns whose Ready condition changed after
// since, with the latest change: a pod that a restarted kubelet reported not
// Ready, and Ready again, shows its return.
func (c *Cluster) readyChangedSince(ctx context.Context, ns string, since time.Time) ([]string, error) {
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, p := range list.Items {
		for _, cond := range p.Status.Conditions {
			// Transition times have a resolution of a second.
			if cond.Type == v1.PodReady && !cond.LastTransitionTime.Time.Before(since.Truncate(time.Second)) {
				changed = append(changed, fmt.Sprintf("%s (Ready=%s at %s)", p.Name, cond.Status, cond.LastTransitionTime.UTC().Format(time.TimeOnly)))
			}
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// podIdentity is what a pod must keep across a kubelet swap.
type podIdentity struct {
	UID       types.UID
	Container string
	Restarts  int32
	IP        string
	// Sandboxes are the pod's Ready sandboxes in the runtime.
	Sandboxes []string
}

func (p podIdentity) String() string {
	return fmt.Sprintf("container %s restarts=%d ip=%s sandboxes=%s", p.Container, p.Restarts, p.IP, strings.Join(p.Sandboxes, ","))
}

// kubeletSwap does to the node what a platform team does when it adopts the
// series: the stock kubelet, running pods, is stopped with SIGTERM as its
// service manager would, and the patched kubelet is started with the same
// flags, configuration and root folder; then the same backwards, a rollback.
// After each swap every pod must be Ready again within swapReadyWithin with
// the same container, sandbox, address and restart count, and the new
// kubelet must have started no pod and no container. Then one pod that the
// stock kubelet started is deleted, its preStop hook removing its ready
// file and logging when: once patched runs, the pods stock started are
// probed through termination (kubernetes#140881), and the pod must be
// reported not Ready within readinessBound of the removal; on rollback
// stock does what its base does.
// After the upgrade, ctxleak must find the node clean; after the rollback,
// it finds what stock's base does (leaking on v1.36.0-v1.36.2).
func kubeletSwap(ctx context.Context, env *Env, stock, patched KubeletSpec) (upgrade, rollback SwapOutcome, err error) {
	// One root folder for both, as on a node whose binary is replaced.
	root := filepath.Join(filepath.Dir(stock.RootDir), "kubelet-swap")
	stock.RootDir, patched.RootDir = root, root
	binaryInPlace := func(_ context.Context, spec KubeletSpec) (KubeletSpec, string, error) { return spec, "", nil }
	return swapKubelets(ctx, env, stock, patched, binaryInPlace)
}

// kubeletInstaller puts spec's kubelet in place on the node, while the
// kubelet it replaces still runs, and gives the spec that starts it and
// what it did, for the report.
type kubeletInstaller func(ctx context.Context, spec KubeletSpec) (KubeletSpec, string, error)

// swapKubelets does kubeletSwap's upgrade and rollback, each kubelet put in
// place by install.
func swapKubelets(ctx context.Context, env *Env, stock, patched KubeletSpec, install kubeletInstaller) (upgrade, rollback SwapOutcome, err error) {
	logger := klog.FromContext(ctx)
	c := env.Cluster
	first, _, err := install(ctx, stock)
	if err != nil {
		return upgrade, rollback, err
	}
	kubelet, err := StartKubelet(ctx, first)
	if err != nil {
		return upgrade, rollback, err
	}
	env.Kubelet = kubelet
	defer func() {
		env.Kubelet.Stop(ctx)
		env.Kubelet = nil
	}()
	if err := kubelet.WaitNodeReady(ctx, c.Client, c.Node, 3*time.Minute); err != nil {
		return upgrade, rollback, err
	}
	ns, err := c.createNamespace(ctx, "swap")
	if err != nil {
		return upgrade, rollback, err
	}
	// Before the kubelet is stopped: it kills the containers of the pods
	// deleted with the namespace.
	defer c.deleteNamespaceInto(ctx, ns, &err)
	if err := createVolumeSources(ctx, c, ns); err != nil {
		return upgrade, rollback, err
	}
	pods := env.Swap.Pods
	for i := range pods {
		period := swapProbePeriod
		if i < 2 {
			// The pods deleted after each swap, judged by readinessBound:
			// five periods of 1 s.
			period = time.Second
		}
		pod := podWithVolumes(fmt.Sprintf("swap-%03d", i), int32(period/time.Second))
		pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{
			Exec: &v1.ExecAction{Command: []string{"sh", "-c", fmt.Sprintf("rm -f %s; %s; sleep 20", readyFile, logRemoval)}},
		}}
		if _, err := c.createPod(ctx, ns, pod); err != nil {
			return upgrade, rollback, err
		}
	}
	if err := c.waitPodsReady(ctx, ns, pods, time.Duration(pods)*3*time.Second+time.Minute); err != nil {
		return upgrade, rollback, err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return upgrade, rollback, err
	}
	defer closeRuntime(ctx, runtime)
	identities := func() (map[string]podIdentity, error) { return podIdentities(ctx, c, runtime, ns) }
	started, err := identities()
	if err != nil {
		return upgrade, rollback, err
	}

	// swap replaces the running kubelet with spec's, and says what changed.
	swap := func(direction string, spec KubeletSpec) (disturbed []string, measured string, err error) {
		spec, installed, err := install(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		env.Kubelet.Stop(ctx)
		next, err := StartKubelet(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		env.Kubelet = next
		logger.Info("Swapped kubelet", "direction", direction, "version", next.Version)
		if err := next.WaitNodeReady(ctx, c.Client, c.Node, swapReadyWithin); err != nil {
			return nil, "", err
		}
		nodeReadyAfter := time.Since(next.Started)
		// The API shows what the old kubelet reported until the new one
		// has probed each pod: judge readiness after three probe periods.
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(3 * swapProbePeriod):
		}
		if err := c.waitPodsReady(ctx, ns, len(started), max(swapReadyWithin-time.Since(next.Started), time.Second)); err != nil {
			return []string{fmt.Sprintf("not every pod Ready %s after the %s kubelet started: %v", swapReadyWithin, spec.Name, err)}, "", nil
		}
		readyAfter := time.Since(next.Started)
		now, err := identities()
		if err != nil {
			return nil, "", err
		}
		disturbed = comparePodIdentities(started, now)
		scrape, err := c.kubeletMetrics(ctx)
		if err != nil {
			return nil, "", err
		}
		startedPods, startedContainers, err := scrape.Started()
		if err != nil {
			return nil, "", err
		}
		if startedPods != 0 || startedContainers != 0 {
			disturbed = append(disturbed, fmt.Sprintf("the %s kubelet started %v pods and %v containers", spec.Name, startedPods, startedContainers))
		}
		flapped, err := c.readyChangedSince(ctx, ns, next.Started)
		if err != nil {
			return nil, "", err
		}
		// Reported, not judged: a kubelet reports a probed container not
		// Ready until its first probe after a restart, stock and patched
		// alike; what must hold is that every pod is Ready again.
		changes := "no pod's Ready changed"
		if len(flapped) > 0 {
			changes = fmt.Sprintf("Ready changed for %d pods (%s)", len(flapped), strings.Join(flapped, ", "))
		}
		return disturbed, fmt.Sprintf("%s: %snode Ready %.0fs after the start, %d pods Ready at %.0fs, %s; same containers, sandboxes and addresses, 0 restarts, %v pods and %v containers started",
			direction, installed, nodeReadyAfter.Seconds(), len(started), readyAfter.Seconds(), changes, startedPods, startedContainers), nil
	}
	// deleteOne deletes a pod that the stock kubelet started, and reports
	// how readiness followed its preStop hook, judged from the moment the
	// hook logged the ready file's removal; the pod is gone when it
	// returns, so that the next swap compares the others.
	deleteOne := func(name string) (outcome, measured string, err error) {
		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		// Ready before, or its going not Ready would say nothing.
		if !podReady(pod) {
			return "", "", fmt.Errorf("pod %s is not Ready before its deletion: %s", name, describePod(pod))
		}
		watch, deleted, err := c.deleteWatched(ctx, runtime, pod)
		if err != nil {
			return "", "", err
		}
		seen, err := watchReadiness(ctx, watch, readinessWatch, time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second)
		if err != nil {
			return "", "", err
		}
		if seen.notReadyRunning == 0 && seen.running == 0 && seen.fileRemoved.IsZero() {
			return "", "", fmt.Errorf("the container of %s stopped %s after deletion, before its preStop hook removed the ready file", name, seen.goneAfter())
		}
		if err := c.waitPodGone(ctx, ns, name, time.Minute); err != nil {
			return "", "", fmt.Errorf("pod %s not gone a minute after its preStop hook: %w", name, err)
		}
		delete(started, name)
		outcome, err = readinessVerdict(seen, deleted, deleted, readinessBound)
		if err != nil {
			return "", "", err
		}
		removed := seen.fileRemoved.Sub(deleted)
		measured = fmt.Sprintf("deleted %s: ready file removed %.1fs after deletion, ", name, removed.Seconds())
		switch {
		case seen.notReadyRunning == 0 && seen.running == 0:
			measured += fmt.Sprintf("still Ready when its container stopped, %s after deletion", seen.goneAfter())
		case seen.notReadyRunning == 0:
			measured += fmt.Sprintf("still Ready %s after that", readinessWatch)
		case seen.notReadyRunning < removed:
			// Seen before the hook's line said the file was gone: the
			// kubelet's probe may run between the removal and the echo.
			measured += fmt.Sprintf("not Ready already, %.1fs after deletion, container running", seen.notReadyRunning.Seconds())
		case outcome == Pass:
			measured += fmt.Sprintf("not Ready %.1fs after that, container running", (seen.notReadyRunning - removed).Seconds())
		default:
			measured += fmt.Sprintf("not Ready only %.1fs after that (bound %s)", (seen.notReadyRunning - removed).Seconds(), readinessBound)
		}
		return outcome, measured, nil
	}

	disturbed, measured, err := swap("upgrade", patched)
	if err != nil {
		return upgrade, rollback, err
	}
	if len(disturbed) > 0 {
		return SwapOutcome{podsDisturbed, "upgrade: " + strings.Join(disturbed, "; ")}, rollback, nil
	}
	outcome, deletion, err := deleteOne("swap-000")
	if err != nil {
		return upgrade, rollback, err
	}
	report, err := ctxleakNode(ctx, env)
	if err != nil {
		return upgrade, rollback, err
	}
	if outcome == Pass && report.Analysis.Verdict != ctxleak.Clean {
		outcome = string(report.Analysis.Verdict)
	}
	upgrade = SwapOutcome{outcome, fmt.Sprintf("%s; %s; ctxleak %s (%d sync contexts)", measured, deletion, report.Analysis.Verdict, report.Analysis.SyncContexts)}

	disturbed, measured, err = swap("rollback", stock)
	if err != nil {
		return upgrade, rollback, err
	}
	if len(disturbed) > 0 {
		return upgrade, SwapOutcome{podsDisturbed, "rollback: " + strings.Join(disturbed, "; ")}, nil
	}
	outcome, deletion, err = deleteOne("swap-001")
	if err != nil {
		return upgrade, rollback, err
	}
	// Stock of a leaking base leaks again: a readiness that passes is
	// judged by ctxleak's verdict.
	report, err = ctxleakNode(ctx, env)
	if err != nil {
		return upgrade, rollback, err
	}
	if outcome == Pass && report.Analysis.Verdict != ctxleak.Clean {
		outcome = string(report.Analysis.Verdict)
	}
	return upgrade, SwapOutcome{outcome, fmt.Sprintf("%s; %s; ctxleak %s (%d sync contexts)", measured, deletion, report.Analysis.Verdict, report.Analysis.SyncContexts)}, nil
}

// podIdentities maps each pod of ns to what it must keep across a swap, from
// the API and from the runtime.
func podIdentities(ctx context.Context, c *Cluster, runtime interface {
	ListPodSandbox(context.Context, *criv1.PodSandboxFilter) ([]*criv1.PodSandbox, error)
}, ns string) (map[string]podIdentity, error) {
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	identities := map[string]podIdentity{}
	for _, p := range list.Items {
		if len(p.Status.ContainerStatuses) != 1 {
			return nil, fmt.Errorf("pod %s has %d container statuses, want 1", p.Name, len(p.Status.ContainerStatuses))
		}
		sandboxes, err := runtime.ListPodSandbox(ctx, &criv1.PodSandboxFilter{
			State:         &criv1.PodSandboxStateValue{State: criv1.PodSandboxState_SANDBOX_READY},
			LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(p.UID)},
		})
		if err != nil {
			return nil, fmt.Errorf("sandboxes of pod %s: %w", p.Name, err)
		}
		id := podIdentity{UID: p.UID, Container: p.Status.ContainerStatuses[0].ContainerID, Restarts: p.Status.ContainerStatuses[0].RestartCount, IP: p.Status.PodIP}
		for _, s := range sandboxes {
			id.Sandboxes = append(id.Sandboxes, s.Id)
		}
		sort.Strings(id.Sandboxes)
		identities[p.Name] = id
	}
	return identities, nil
}

// comparePodIdentities says, pod by pod, what differs between before and
// after: a pod gone, added or changed, or without exactly one Ready sandbox.
func comparePodIdentities(before, after map[string]podIdentity) []string {
	var diffs []string
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			diffs = append(diffs, name+" is gone")
		case a.String() != b.String() || a.UID != b.UID:
			diffs = append(diffs, fmt.Sprintf("%s: %s before, %s after", name, b, a))
		case len(a.Sandboxes) != 1:
			diffs = append(diffs, fmt.Sprintf("%s has %d Ready sandboxes, want 1", name, len(a.Sandboxes)))
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			diffs = append(diffs, name+" appeared")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// kubeletMetrics scrapes the node's kubelet through the API server's node
// proxy, as Prometheus does.
func (c *Cluster) kubeletMetrics(ctx context.Context) (kubeletmetrics.Metrics, error) {
	data, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", c.Node, "proxy/metrics").Timeout(time.Minute).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s through the API server: %w", c.Node, err)
	}
	return kubeletmetrics.Parse(data)
}

// createVolumeSources makes the ConfigMap and Secret that podWithVolumes
// mounts.
func createVolumeSources(ctx context.Context, c *Cluster, ns string) error {
	_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Data: map[string]string{"key": "value"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = c.Client.CoreV1().Secrets(ns).Create(ctx, &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "data"}, StringData: map[string]string{"key": "value"}}, metav1.CreateOptions{})
	return err
}

// podWithVolumes is a probedPod with configmap, secret and projected-token
// volumes: what a kubelet re-syncs on every pod sync.
func podWithVolumes(name string, probePeriodSeconds int32) *v1.Pod {
	pod := probedPod(name, probePeriodSeconds)
	pod.Spec.Volumes = []v1.Volume{
		{Name: "config", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "data"}}}},
		{Name: "secret", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "data"}}},
		{Name: "token", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Audience: "ctxfix-e2e", ExpirationSeconds: ptr.To[int64](3600), Path: "token"}},
		}}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{
		{Name: "config", MountPath: "/config"}, {Name: "secret", MountPath: "/secret"}, {Name: "token", MountPath: "/token"},
	}
	return pod
}

// errNoSwapPair is returned when a run selects kubelet-swap without both a
// stock and a patched kubelet.
var errNoSwapPair = errors.New("the kubelet-swap scenario needs a kubelet named stock and one named patched")
