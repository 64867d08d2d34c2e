package soak

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletmetrics"
)

// Sample is what one look at a running kubelet saw.
type Sample struct {
	// ElapsedSeconds is the time since the run started.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// Contexts are the in-use contexts and context package objects by
	// creation site, exact (the kubelet runs with GODEBUG=memprofilerate=1).
	Contexts map[heapprofile.Site]heapprofile.SiteCounts `json:"contexts"`
	// Goroutines is the kubelet's goroutine count.
	Goroutines int64 `json:"goroutines"`
	// RSSBytes is the kubelet's resident set size.
	RSSBytes int64 `json:"rssBytes"`
	// PodSyncs counts the pod worker syncs so far
	// (kubelet_pod_worker_duration_seconds_count).
	PodSyncs int64 `json:"podSyncs"`
	// ExecSyncCalls counts the exec calls that reached the runtime.
	ExecSyncCalls int64 `json:"execSyncCalls"`
}

// SyncContexts is the number of live contexts created for pod syncs.
func (s Sample) SyncContexts() int64 { return s.Contexts[heapprofile.SitePodSync].Contexts }

// Sample takes one sample. The heap profile is taken after a garbage
// collection (gc=1), so that in-use counts are current.
func (k *Kubelet) Sample(ctx context.Context, start time.Time) (Sample, error) {
	s := Sample{ElapsedSeconds: time.Since(start).Seconds()}
	heap, err := k.get(ctx, "/debug/pprof/heap?gc=1")
	if err != nil {
		return s, fmt.Errorf("%s kubelet heap profile: %w", k.Spec.Name, err)
	}
	profile, err := heapprofile.Parse(bytes.NewReader(heap))
	if err != nil {
		return s, fmt.Errorf("%s kubelet heap profile: %w", k.Spec.Name, err)
	}
	counts, err := heapprofile.CountContexts(profile)
	if err != nil {
		return s, fmt.Errorf("%s kubelet heap profile: %w", k.Spec.Name, err)
	}
	if !counts.Exact {
		return s, fmt.Errorf("%s kubelet heap profile is sampled every %d bytes, not every allocation: GODEBUG=memprofilerate=1 did not take", k.Spec.Name, counts.SamplingRate)
	}
	s.Contexts = counts.Sites
	k.lastHeap = heap

	goroutines, err := k.get(ctx, "/debug/pprof/goroutine")
	if err != nil {
		return s, fmt.Errorf("%s kubelet goroutine profile: %w", k.Spec.Name, err)
	}
	goroutineProfile, err := heapprofile.Parse(bytes.NewReader(goroutines))
	if err != nil {
		return s, fmt.Errorf("%s kubelet goroutine profile: %w", k.Spec.Name, err)
	}
	for _, sample := range goroutineProfile.Sample {
		s.Goroutines += sample.Value[0]
	}

	metrics, err := k.get(ctx, "/metrics")
	if err != nil {
		return s, fmt.Errorf("%s kubelet metrics: %w", k.Spec.Name, err)
	}
	scrape, err := kubeletmetrics.Parse(metrics)
	if err != nil {
		return s, fmt.Errorf("%s kubelet metrics: %w", k.Spec.Name, err)
	}
	podSyncs, err := scrape.Observations(kubeletmetrics.PodWorkerDuration)
	if err != nil {
		return s, fmt.Errorf("%s kubelet metrics: %w", k.Spec.Name, err)
	}
	s.PodSyncs = int64(podSyncs)
	usage, err := k.process.Usage()
	if err != nil {
		return s, fmt.Errorf("%s kubelet: %w", k.Spec.Name, err)
	}
	s.RSSBytes = usage.RSSBytes
	s.ExecSyncCalls = k.cri.ExecSyncCalls()
	return s, nil
}

// SaveLastHeapProfile writes the heap profile of the kubelet's last sample
// to path (gzipped pprof, as /debug/pprof/heap serves it), and the same
// profile reduced to the context package's allocations, small enough to keep
// as test data, beside it with a -contexts suffix.
func (k *Kubelet) SaveLastHeapProfile(path string) error {
	if k.lastHeap == nil {
		return fmt.Errorf("%s kubelet: no heap profile taken yet", k.Spec.Name)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, k.lastHeap, 0o644); err != nil {
		return err
	}
	full, err := heapprofile.Parse(bytes.NewReader(k.lastHeap))
	if err != nil {
		return err
	}
	reduced, err := heapprofile.ReduceToContexts(full)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := reduced.Write(&buf); err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(path, ".pb.gz")+"-contexts.pb.gz", buf.Bytes(), 0o644)
}
