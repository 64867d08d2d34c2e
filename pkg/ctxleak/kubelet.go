package ctxleak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
)

// kubeletGetter gets a path of a kubelet's authenticated server: through the
// API server's node proxy (nodes), or directly on the node (node-check).
// Both need get on nodes/proxy, which /metrics, /pods and /debug/pprof fall
// under.
type kubeletGetter func(ctx context.Context, path string, query url.Values) ([]byte, error)

// profileKubelet judges a kubelet's heap profile by what the kubelet runs.
//
// The profile is taken after a garbage collection (gc=1), so that its in-use
// counts are of now rather than of the last collection. The pod workers are
// kubelet_working_pods, which the kubelet sets at every housekeeping (every
// 2 s), read before and after the profile, and the pods the kubelet lists on
// /pods: a pod added since the last housekeeping is on /pods before the
// metric counts it, and a deleted pod stays in the metric until the kubelet
// has finished it. The workload is the largest of the three counts, so a pod
// that came or went while the profile was taken is counted.
func profileKubelet(ctx context.Context, get kubeletGetter) (Analysis, error) {
	before, err := workingPods(ctx, get)
	if err != nil {
		return Analysis{}, err
	}
	raw, err := get(ctx, "/debug/pprof/heap", url.Values{"gc": {"1"}})
	if err != nil {
		return Analysis{}, err
	}
	p, err := heapprofile.Parse(bytes.NewReader(raw))
	if err != nil {
		return Analysis{}, fmt.Errorf("the kubelet's /debug/pprof/heap did not return a heap profile: %w", err)
	}
	after, err := workingPods(ctx, get)
	if err != nil {
		return Analysis{}, err
	}
	raw, err = get(ctx, "/pods", nil)
	if err != nil {
		return Analysis{}, err
	}
	var pods v1.PodList
	if err := json.Unmarshal(raw, &pods); err != nil {
		return Analysis{}, fmt.Errorf("the kubelet's /pods did not return a pod list: %w", err)
	}
	workload := WorkloadOf(max(before, after), pods.Items)
	klog.FromContext(ctx).V(2).Info("Kubelet workload", "workingPodsBefore", before, "workingPodsAfter", after, "listedPods", len(pods.Items), "podWorkers", workload.PodWorkers, "probedPods", workload.ProbedPods)
	return Analyze(p, &workload)
}

func workingPods(ctx context.Context, get kubeletGetter) (int64, error) {
	raw, err := get(ctx, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	m, err := kubeletmetrics.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("the kubelet's /metrics: %w", err)
	}
	n, err := m.Sum(kubeletmetrics.WorkingPods)
	if err != nil {
		return 0, fmt.Errorf("the kubelet's /metrics: %w", err)
	}
	return int64(n), nil
}

// SourceKubelet is the Source of a workload read from the kubelet.
const SourceKubelet = "the kubelet's kubelet_working_pods and /pods"

// WorkloadOf is the workload of a kubelet that reports podWorkers pod
// workers and lists pods. A pod with a worker that the kubelet no longer
// lists (deleted, not yet finished) is counted as probed, since what it ran
// cannot be seen any more.
func WorkloadOf(podWorkers int64, pods []v1.Pod) Workload {
	workers := max(podWorkers, int64(len(pods)))
	var probed int64
	for i := range pods {
		if hasProbe(&pods[i]) {
			probed++
		}
	}
	unlisted := workers - int64(len(pods))
	return Workload{PodWorkers: workers, ProbedPods: probed + unlisted, Source: SourceKubelet}
}

// hasProbe reports whether the kubelet starts probe workers for pod: any
// container, or restartable init container, with a liveness, readiness or
// startup probe.
func hasProbe(pod *v1.Pod) bool {
	for _, containers := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range containers {
			if c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil {
				return true
			}
		}
	}
	return false
}
