package nodee2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
)

// ChurnOptions shapes the churn scenario.
type ChurnOptions struct {
	Waves, Pods int
	// Settle is how long after the last wave the node is judged.
	Settle time.Duration
}

// Bounds of the churn scenario. A pod whose sync is blocked mounting a
// ConfigMap that does not exist leaves within seconds of its deletion if the
// deletion cancels the running sync, and after WaitForAttachAndMount's two
// minutes if it does not: blockedGoneWithin lies between, above the 16 s
// such pods took on this machine while a wave's other pods terminated
// beside them. The other pods have
// their grace period and 45 s: on a 2-core machine, with 25 containers
// stopped at once under exec probes, containerd was seen to report a
// container's exit 24 s after it sent SIGKILL, on stock and patched alike.
const (
	churnGrace         = 5 * time.Second
	blockedGoneWithin  = 30 * time.Second
	churnGoneWithin    = churnGrace + 45*time.Second
	churnGoroutineRise = 25
	churnSyncContexts  = 10
)

// churnKind is what a churn wave does with a pod.
type churnKind string

const (
	churnOrdinary     churnKind = "ordinary"
	churnBlocked      churnKind = "blocked"
	churnQuickDeleted churnKind = "deleted-at-1s"
	churnForceDeleted churnKind = "force-deleted-at-2s"
)

// churnKinds splits a wave of n pods: a fifth blocked on a missing
// ConfigMap, a tenth deleted a second after creation, a tenth force-deleted
// two seconds after creation, and the rest ordinary (30 of 50).
func churnKinds(n int) []churnKind {
	blocked, quick, force := n/5, n/10, n/10
	kinds := make([]churnKind, 0, n)
	for range n - blocked - quick - force {
		kinds = append(kinds, churnOrdinary)
	}
	for range blocked {
		kinds = append(kinds, churnBlocked)
	}
	for range quick {
		kinds = append(kinds, churnQuickDeleted)
	}
	for range force {
		kinds = append(kinds, churnForceDeleted)
	}
	return kinds
}

// churn runs waves of pods through the kubelet: ordinary ones, deleted
// together once Ready; ones whose sync blocks on a ConfigMap that does not
// exist; ones deleted or force-deleted while they start. Every pod must
// leave in time, and once the waves are over the node must hold nothing of
// them: no pod worker, no goroutines beyond a small rise, no running
// container, Ready sandbox, pod folder or mount. The outcome is ctxleak's
// verdict on the node, then: stock v1.36.0-v1.36.2 keep the sync contexts
// they leaked after every pod is gone. Start and deletion latencies, pod
// syncs per second and the kubelet's CPU time and memory are measured.
func churn(ctx context.Context, env *Env) (outcome, measured string, err error) {
	logger := klog.FromContext(ctx)
	c := env.Cluster
	opts := env.Churn
	ns, err := c.createNamespace(ctx, "churn")
	if err != nil {
		return "", "", err
	}
	defer c.deleteNamespaceInto(ctx, ns, &err)
	if err := createVolumeSources(ctx, c, ns); err != nil {
		return "", "", err
	}
	runtime, err := env.runtimeClient(ctx)
	if err != nil {
		return "", "", err
	}
	defer closeRuntime(ctx, runtime)
	// The kubelet reports its pod workers from its first housekeeping on,
	// which waits for its pod sources: a kubelet just started may not have
	// had one yet.
	var before kubeletmetrics.Metrics
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		before, err = c.kubeletMetrics(ctx)
		if err != nil {
			return false, err
		}
		_, err = before.Sum(kubeletmetrics.WorkingPods)
		return err == nil, nil
	})
	if err != nil {
		return "", "", fmt.Errorf("the kubelet reported no %s within a minute: %w", kubeletmetrics.WorkingPods, err)
	}
	goroutinesBefore, err := before.Sum("go_goroutines")
	if err != nil {
		return "", "", err
	}
	syncsBefore, err := before.PodSyncs()
	if err != nil {
		return "", "", err
	}
	usageBefore, err := env.Kubelet.Usage()
	if err != nil {
		return "", "", err
	}
	started := time.Now()

	var problems []string
	var startLatencies, deleteLatencies, blockedLatencies []time.Duration
	uids := map[types.UID]string{}
	for wave := range opts.Waves {
		created := map[string]time.Time{}
		kinds := map[string]churnKind{}
		for i, kind := range churnKinds(opts.Pods) {
			name := fmt.Sprintf("w%d-%s-%02d", wave, kind, i)
			pod := podWithVolumes(name, 2)
			pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(churnGrace.Seconds()))
			if kind == churnBlocked {
				pod.Spec.Volumes[0].ConfigMap.Name = "missing"
			}
			p, err := c.createPod(ctx, ns, pod)
			if err != nil {
				return "", "", err
			}
			created[name], kinds[name] = time.Now(), kind
			uids[p.UID] = name
		}
		watch := newWaveWatch()
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			watch.run(watchCtx, c, ns)
		}()
		gone, ready, err := runWave(ctx, c, ns, kinds, created, watch)
		stopWatch()
		<-watched
		if err != nil {
			return "", "", fmt.Errorf("wave %d: %w", wave, err)
		}
		startLatencies = append(startLatencies, ready...)
		for name, after := range gone {
			bound := churnGoneWithin
			if kinds[name] == churnBlocked {
				bound = blockedGoneWithin
			}
			if after > bound {
				problems = append(problems, fmt.Sprintf("%s (%s) gone %.1fs after deletion, bound %s", name, kinds[name], after.Seconds(), bound))
			}
			switch kinds[name] {
			case churnBlocked:
				blockedLatencies = append(blockedLatencies, after)
			case churnForceDeleted:
			default:
				deleteLatencies = append(deleteLatencies, after)
			}
		}
		logger.Info("Churn wave done", "kubelet", env.Kubelet.Spec.Name, "wave", wave, "pods", opts.Pods)
	}
	churned := time.Since(started)
	usageAfter, err := env.Kubelet.Usage()
	if err != nil {
		return "", "", err
	}
	churnedMetrics, err := c.kubeletMetrics(ctx)
	if err != nil {
		return "", "", err
	}
	syncsAfter, err := churnedMetrics.PodSyncs()
	if err != nil {
		return "", "", err
	}
	time.Sleep(opts.Settle)

	after, err := c.kubeletMetrics(ctx)
	if err != nil {
		return "", "", err
	}
	workers, err := after.Sum(kubeletmetrics.WorkingPods)
	if err != nil {
		return "", "", err
	}
	if workers != 0 {
		problems = append(problems, fmt.Sprintf("%v pod workers %s after the last wave", workers, opts.Settle))
	}
	goroutinesAfter, err := after.Sum("go_goroutines")
	if err != nil {
		return "", "", err
	}
	if goroutinesAfter > goroutinesBefore+churnGoroutineRise {
		problems = append(problems, fmt.Sprintf("goroutines %v before, %v after (at most %d more)", goroutinesBefore, goroutinesAfter, churnGoroutineRise))
	}
	left, err := leftOnNode(ctx, runtime, env.Kubelet.Spec.RootDir, ns, uids)
	if err != nil {
		return "", "", err
	}
	problems = append(problems, left...)
	report, err := ctxleakNode(ctx, env)
	if err != nil {
		return "", "", err
	}
	contexts := report.Analysis.SyncContexts
	if report.Analysis.Verdict == ctxleak.Clean && contexts > churnSyncContexts {
		problems = append(problems, fmt.Sprintf("%d live sync contexts with no pod left, at most %d", contexts, churnSyncContexts))
	}
	for _, latencies := range []struct {
		name      string
		durations []time.Duration
	}{{"start", startLatencies}, {"deletion", deleteLatencies}, {"blocked deletion", blockedLatencies}} {
		for _, p := range []int{50, 90, 99} {
			env.measure(fmt.Sprintf("%s p%d (s)", latencies.name, p), percentile(latencies.durations, p))
		}
	}
	env.measure("pod syncs/s", float64(syncsAfter-syncsBefore)/churned.Seconds())
	env.measure("kubelet CPU (s)", (usageAfter.CPU - usageBefore.CPU).Seconds())
	env.measure("kubelet RSS (MiB)", float64(usageAfter.RSSBytes>>20))
	measured = fmt.Sprintf("%d waves of %d pods in %s: start p50/p90/p99 %s, deletion %s, blocked pods' deletion %s, %.1f pod syncs/s, kubelet CPU %.1fs, RSS %d MiB; %s later %v pod workers, goroutines %v -> %v, %d live sync contexts",
		opts.Waves, opts.Pods, churned.Round(time.Second), percentiles(startLatencies), percentiles(deleteLatencies), percentiles(blockedLatencies),
		float64(syncsAfter-syncsBefore)/churned.Seconds(), (usageAfter.CPU - usageBefore.CPU).Seconds(), usageAfter.RSSBytes>>20,
		opts.Settle, workers, goroutinesBefore, goroutinesAfter, contexts)
	if len(problems) > 0 {
		sort.Strings(problems)
		return Fail, strings.Join(problems, "; ") + "; " + measured, nil
	}
	return string(report.Analysis.Verdict), measured, nil
}

// namesOf lists the pods of one kind.
func namesOf(kinds map[string]churnKind, kind churnKind) []string {
	var names []string
	for name, k := range kinds {
		if k == kind {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// runWave deletes the pods of a wave as their kinds say, waits for the
// ordinary ones to be Ready before deleting them with the blocked ones, and
// returns how long each deleted pod took to leave the API and each ordinary
// pod to be Ready, as watch saw them.
func runWave(ctx context.Context, c *Cluster, ns string, kinds map[string]churnKind, created map[string]time.Time, watch *waveWatch) (gone map[string]time.Duration, ready []time.Duration, err error) {
	deleteAt := func(kind churnKind, after time.Duration, grace int64) error {
		for _, name := range namesOf(kinds, kind) {
			time.Sleep(time.Until(created[name].Add(after)))
			watch.deleting(name)
			if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(grace)}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := deleteAt(churnQuickDeleted, time.Second, int64(churnGrace.Seconds())); err != nil {
		return nil, nil, err
	}
	if err := deleteAt(churnForceDeleted, 2*time.Second, 0); err != nil {
		return nil, nil, err
	}
	ordinary := namesOf(kinds, churnOrdinary)
	readyAt, err := watch.wait(ctx, "Ready", 3*time.Minute, func(w *waveWatch) map[string]time.Time {
		return pick(w.ready, ordinary)
	}, ordinary)
	if err != nil {
		return nil, nil, err
	}
	for name, at := range readyAt {
		ready = append(ready, at.Sub(created[name]))
	}
	// Blocked and ordinary pods deleted together.
	for _, kind := range []churnKind{churnBlocked, churnOrdinary} {
		if err := deleteAt(kind, 0, int64(churnGrace.Seconds())); err != nil {
			return nil, nil, err
		}
	}
	// Longer than WaitForAttachAndMount's two minutes: a blocked pod whose
	// sync was not cancelled is then measured, and fails its bound, rather
	// than ending the scenario in an error.
	var deleted map[string]time.Time
	goneAt, err := watch.wait(ctx, "gone from the API", 3*time.Minute, func(w *waveWatch) map[string]time.Time {
		deleted = maps.Clone(w.deleted)
		return maps.Clone(w.gone)
	}, slices.Sorted(maps.Keys(kinds)))
	if err != nil {
		return nil, nil, err
	}
	gone = map[string]time.Duration{}
	for name, at := range goneAt {
		gone[name] = at.Sub(deleted[name])
	}
	return gone, ready, nil
}

// pick is the entries of m named in names.
func pick(m map[string]time.Time, names []string) map[string]time.Time {
	picked := map[string]time.Time{}
	for _, name := range names {
		if t, ok := m[name]; ok {
			picked[name] = t
		}
	}
	return picked
}

// waveWatch lists a namespace's pods every 250 ms while a wave runs, and
// records when each pod was first seen Ready and when each pod being deleted
// was first seen gone: pods deleted while others start are timed as they
// go, not when the scenario next looks.
type waveWatch struct {
	mu      sync.Mutex
	deleted map[string]time.Time
	ready   map[string]time.Time
	gone    map[string]time.Time
}

func newWaveWatch() *waveWatch {
	return &waveWatch{deleted: map[string]time.Time{}, ready: map[string]time.Time{}, gone: map[string]time.Time{}}
}

// deleting records that name is about to be deleted.
func (w *waveWatch) deleting(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deleted[name] = time.Now()
}

func (w *waveWatch) run(ctx context.Context, c *Cluster, ns string) {
	for ctx.Err() == nil {
		// A list that fails is skipped: the next comes 250 ms later.
		if list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			now := time.Now()
			present := map[string]bool{}
			w.mu.Lock()
			for i := range list.Items {
				p := &list.Items[i]
				present[p.Name] = true
				if _, seen := w.ready[p.Name]; !seen && podReady(p) {
					w.ready[p.Name] = now
				}
			}
			for name := range w.deleted {
				if _, seen := w.gone[name]; !seen && !present[name] {
					w.gone[name] = now
				}
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// wait waits until seen, called under the watch's lock, returns an entry for
// every pod of want, and returns them.
func (w *waveWatch) wait(ctx context.Context, what string, timeout time.Duration, seen func(*waveWatch) map[string]time.Time, want []string) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got := seen(w)
		w.mu.Unlock()
		var missing []string
		for _, name := range want {
			if _, ok := got[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return got, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d pods %s after %s; not: %s", len(want)-len(missing), len(want), what, timeout, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// leftOnNode says what the pods of ns (uids) left on the node: running
// containers and Ready sandboxes in the runtime, folders under the kubelet's
// root and mounts below them.
func leftOnNode(ctx context.Context, runtime criLister, kubeletRoot, ns string, uids map[types.UID]string) ([]string, error) {
	var left []string
	held, err := inRuntime(ctx, runtime, map[string]string{"io.kubernetes.pod.namespace": ns})
	if err != nil {
		return nil, err
	}
	for _, container := range held.running() {
		left = append(left, fmt.Sprintf("running container %s of %s", container.Id[:12], container.Labels["io.kubernetes.pod.name"]))
	}
	for _, sandbox := range held.readySandboxes {
		left = append(left, fmt.Sprintf("Ready sandbox %s of %s", sandbox.Id[:12], sandbox.Metadata.Name))
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for uid, name := range uids {
		folder := filepath.Join(kubeletRoot, "pods", string(uid))
		if _, err := os.Stat(folder); err == nil {
			left = append(left, fmt.Sprintf("pod folder of %s", name))
		} else if !os.IsNotExist(err) {
			return nil, err
		}
		if strings.Contains(string(mountinfo), " "+folder+"/") {
			left = append(left, fmt.Sprintf("mounts of %s", name))
		}
	}
	sort.Strings(left)
	return left, nil
}

// percentiles formats the p50, p90 and p99 of durations, in seconds.
func percentiles(durations []time.Duration) string {
	if len(durations) == 0 {
		return "none"
	}
	return fmt.Sprintf("%.1f/%.1f/%.1fs", percentile(durations, 50), percentile(durations, 90), percentile(durations, 99))
}

// percentile is the nearest-rank p-th percentile of durations, in seconds:
// the smallest value with at least p% of them at or below it.
func percentile(durations []time.Duration, p int) float64 {
	if len(durations) == 0 {
		return 0
	}
	sorted := slices.Clone(durations)
	slices.Sort(sorted)
	return sorted[max((len(sorted)*p+99)/100-1, 0)].Seconds()
}
