package soak

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// RunOptions describes a soak run.
type RunOptions struct {
	// Base is the upstream base both kubelets are built from.
	Base string
	// Kubelets are run side by side, with the same pods, for the same time.
	Kubelets []KubeletSpec
	// Duration is how long the kubelets run once all of them serve.
	Duration time.Duration
	// Interval is the time between samples.
	Interval time.Duration
	// ProfileDir, when set, receives each kubelet's last heap profile as
	// NAME-heap.pb.gz.
	ProfileDir string
}

// Series is the samples of one kubelet.
type Series struct {
	Name    string   `json:"name"`
	Binary  string   `json:"binary"`
	Version string   `json:"version"`
	Samples []Sample `json:"samples"`
}

// Result is a whole run.
type Result struct {
	Base            string    `json:"base"`
	Pods            int       `json:"pods"`
	ProbedPods      int       `json:"probedPods"`
	DurationSeconds float64   `json:"durationSeconds"`
	IntervalSeconds float64   `json:"intervalSeconds"`
	Started         time.Time `json:"started"`
	Series          []*Series `json:"series"`
}

// Run starts every kubelet, samples them all at each interval for the
// duration, and stops them. Whatever happens, every kubelet it started is
// stopped and cleaned up before it returns; a cancelled ctx ends the run
// early with the samples taken so far.
func Run(ctx context.Context, opts RunOptions) (*Result, error) {
	logger := klog.FromContext(ctx)
	if len(opts.Kubelets) == 0 {
		return nil, errors.New("no kubelets to run")
	}
	result := &Result{
		Base:            opts.Base,
		Pods:            opts.Kubelets[0].Pods,
		ProbedPods:      opts.Kubelets[0].PodOptions.ProbedPods(opts.Kubelets[0].Pods),
		DurationSeconds: opts.Duration.Seconds(),
		IntervalSeconds: opts.Interval.Seconds(),
	}

	// Cleanup must run even when ctx is cancelled (Ctrl-C).
	cleanupCtx := context.WithoutCancel(ctx)
	var kubelets []*Kubelet
	defer func() {
		var wg sync.WaitGroup
		for _, k := range kubelets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k.Stop(cleanupCtx)
			}()
		}
		wg.Wait()
	}()

	for _, spec := range opts.Kubelets {
		k, err := StartKubelet(ctx, spec)
		if err != nil {
			return nil, err
		}
		kubelets = append(kubelets, k)
		result.Series = append(result.Series, &Series{Name: spec.Name, Binary: spec.Binary, Version: k.Version})
	}

	start := time.Now()
	result.Started = start
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	for {
		if err := sampleAll(ctx, kubelets, result, start); err != nil {
			return result, err
		}
		if time.Since(start) >= opts.Duration {
			if opts.ProfileDir != "" {
				for _, k := range kubelets {
					if err := k.SaveLastHeapProfile(filepath.Join(opts.ProfileDir, k.Spec.Name+"-heap.pb.gz")); err != nil {
						return result, err
					}
				}
			}
			return result, nil
		}
		select {
		case <-ctx.Done():
			logger.Info("Soak run interrupted, stopping the kubelets")
			return result, ctx.Err()
		case <-ticker.C:
		}
		for _, k := range kubelets {
			select {
			case <-k.Exited():
				return result, k.ExitError()
			default:
			}
		}
	}
}

// sampleAll samples every kubelet at once, so that their samples are taken
// at the same time into the run.
func sampleAll(ctx context.Context, kubelets []*Kubelet, result *Result, start time.Time) error {
	logger := klog.FromContext(ctx)
	samples := make([]Sample, len(kubelets))
	errs := make([]error, len(kubelets))
	var wg sync.WaitGroup
	for i, k := range kubelets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples[i], errs[i] = k.Sample(ctx, start)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sampling: %w", err)
	}
	for i, k := range kubelets {
		s := samples[i]
		result.Series[i].Samples = append(result.Series[i].Samples, s)
		logger.Info("Sample", "kubelet", k.Spec.Name, "elapsed", time.Duration(s.ElapsedSeconds*float64(time.Second)).Round(time.Second),
			"syncContexts", s.SyncContexts(), "goroutines", s.Goroutines, "podSyncs", s.PodSyncs, "rssMiB", s.RSSBytes>>20)
	}
	return nil
}
