package soak

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// ProbeCheckOptions describes a probe check of one kubelet.
type ProbeCheckOptions struct {
	Spec KubeletSpec
	// Window is how long after the pods are removed exec calls and probe
	// errors are counted.
	Window time.Duration
}

// ProbeCheckResult is what a kubelet did with exec readiness probes once its
// pods started terminating.
type ProbeCheckResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pods    int    `json:"pods"`
	// Cancellations counts the kubelet's "Cancelling current pod sync".
	Cancellations int `json:"cancellations"`
	// ExecCallsBefore counts the exec calls that reached the runtime in the
	// same length of time before the pods were removed.
	ExecCallsBefore int64 `json:"execCallsBefore"`
	// ExecCallsAfter counts the exec calls that reached the runtime in the
	// window after the pods were removed.
	ExecCallsAfter int64 `json:"execCallsAfter"`
	// CanceledProbeErrors counts the kubelet's probe errors with "context
	// canceled" in the window.
	CanceledProbeErrors int `json:"canceledProbeErrors"`
}

// KeptProbing reports whether probes kept running, without a "context
// canceled" error, once the pods started terminating.
func (r ProbeCheckResult) KeptProbing() bool {
	return r.Cancellations > 0 && r.ExecCallsAfter > 0 && r.CanceledProbeErrors == 0
}

// ShowedRegression reports whether the kubelet showed kubernetes#140881 as
// it is: probes of terminating pods failing with "context canceled" before
// they reach the runtime, so that no exec call reaches it once the pods
// started terminating. A kubelet with neither errors nor exec calls stopped
// probing for another reason, which proves nothing either way.
func (r ProbeCheckResult) ShowedRegression() bool {
	return r.Cancellations > 0 && r.CanceledProbeErrors > 0 && r.ExecCallsAfter == 0
}

// ProbesFixed judges a stock and a patched result as -check probes-fixed
// does: patched keeps probing, stock shows the regression. Each way a result
// fails says what was seen.
func ProbesFixed(name string, r ProbeCheckResult) error {
	switch {
	case name == "patched" && !r.KeptProbing():
		return fmt.Errorf("patched: exec probes did not keep running once the pods started terminating (%d exec calls after, %d \"context canceled\" errors, %d syncs cancelled)",
			r.ExecCallsAfter, r.CanceledProbeErrors, r.Cancellations)
	case name == "stock" && r.KeptProbing():
		return fmt.Errorf("stock: exec probes kept running once the pods started terminating; the check cannot tell the regression from the fix")
	case name == "stock" && !r.ShowedRegression():
		return fmt.Errorf("stock: inconclusive: %d \"context canceled\" probe errors and %d exec calls after the pods started terminating (%d syncs cancelled); the regression shows as errors above zero and no exec call",
			r.CanceledProbeErrors, r.ExecCallsAfter, r.Cancellations)
	}
	return nil
}

func (r ProbeCheckResult) String() string {
	return fmt.Sprintf("%s (%s): %d pods removed, %d syncs cancelled; exec probe calls %d in the window before, %d after; %d probe errors with \"context canceled\"",
		r.Name, r.Version, r.Pods, r.Cancellations, r.ExecCallsBefore, r.ExecCallsAfter, r.CanceledProbeErrors)
}

// ProbeCheck runs a kubelet whose pods all have an exec readiness probe
// (period 1s) and a preStop sleep, waits until the probes run, removes every
// pod's manifest, and counts, from then on for opts.Window, the exec calls
// that reach the runtime and the probe errors with "context canceled".
//
// Standalone, the kubelet drops a removed static pod's status about a second
// after the removal, and its probe workers stop probing then ("No status for
// pod"): the window in which a probe can run, or fail, is short, so the check
// uses many pods.
func ProbeCheck(ctx context.Context, opts ProbeCheckOptions) (result ProbeCheckResult, err error) {
	logger := klog.FromContext(ctx)
	spec := opts.Spec
	spec.PodOptions = PodOptions{
		ReadinessEvery:      1,
		PreStopEvery:        1,
		ProbePeriodSeconds:  1,
		GracePeriodSeconds:  60,
		PreStopSleepSeconds: 30,
	}
	spec.Verbosity = max(spec.Verbosity, 3) // "Cancelling current pod sync" is V(3)
	k, err := StartKubelet(ctx, spec)
	if err != nil {
		return result, err
	}
	defer k.Stop(context.WithoutCancel(ctx))
	result = ProbeCheckResult{Name: spec.Name, Version: k.Version, Pods: spec.Pods}

	// Wait for every pod to be probed a few times.
	deadline := time.Now().Add(3 * time.Minute)
	for k.cri.ExecSyncCalls() < int64(3*spec.Pods) {
		if time.Now().After(deadline) {
			return result, fmt.Errorf("%s kubelet: only %d exec probe calls after 3 minutes; the pods did not start", spec.Name, k.cri.ExecSyncCalls())
		}
		select {
		case <-ctx.Done():
			return result, ctx.Err()
		case <-k.Exited():
			return result, k.ExitError()
		case <-time.After(time.Second):
		}
	}
	before := k.cri.ExecSyncCalls()
	time.Sleep(opts.Window)
	result.ExecCallsBefore = k.cri.ExecSyncCalls() - before

	logStart, err := fileSize(k.LogPath)
	if err != nil {
		return result, err
	}
	removedAt := k.cri.ExecSyncCalls()
	for i := range spec.Pods {
		if err := os.Remove(ManifestPath(k.ManifestDir(), i)); err != nil {
			return result, err
		}
	}
	logger.Info("Removed every pod manifest", "kubelet", spec.Name, "pods", spec.Pods)
	time.Sleep(opts.Window)
	result.ExecCallsAfter = k.cri.ExecSyncCalls() - removedAt

	data, err := os.ReadFile(k.LogPath)
	if err != nil {
		return result, err
	}
	for _, line := range strings.Split(string(data[min(logStart, int64(len(data))):]), "\n") {
		switch {
		case strings.Contains(line, "Cancelling current pod sync"):
			result.Cancellations++
		case strings.Contains(line, "Probe errored") && strings.Contains(line, "context canceled"):
			result.CanceledProbeErrors++
		}
	}
	return result, nil
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
