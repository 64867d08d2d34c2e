package soak

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletlog"
)

// ProbeCheckOptions describes a probe check of one kubelet.
type ProbeCheckOptions struct {
	Spec KubeletSpec
	// Window is how long exec calls are counted: before the pods are
	// removed, and after every pod's sync is cancelled.
	Window time.Duration
}

// ProbeCheckResult is what a kubelet did with exec readiness probes once its
// pods started terminating.
type ProbeCheckResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pods    int    `json:"pods"`
	// Cancellations counts the pods whose sync the kubelet logged as
	// cancelled ("Cancelling current pod sync").
	Cancellations int `json:"cancellations"`
	// ExecCallsBefore counts the exec calls that reached the runtime in a
	// window while every pod ran, ending at most a housekeeping period (2s)
	// before the pods were removed.
	ExecCallsBefore int64 `json:"execCallsBefore"`
	// ExecCallsAfter counts the exec calls that reached the runtime in the
	// window after every pod's sync was cancelled.
	ExecCallsAfter int64 `json:"execCallsAfter"`
	// CanceledProbeErrors counts the kubelet's probe errors with "context
	// canceled" from the removal of the pods to the end of the window.
	CanceledProbeErrors int `json:"canceledProbeErrors"`
}

// KeptProbing reports whether probes kept running, without a "context
// canceled" error, once the pods started terminating.
func (r ProbeCheckResult) KeptProbing() bool {
	return r.Cancellations > 0 && r.ExecCallsAfter > 0 && r.CanceledProbeErrors == 0
}

// ShowedRegression reports whether the kubelet showed kubernetes#140881 as
// it is: probes of terminating pods failing with "context canceled" before
// they reach the runtime, so that almost no exec call reaches it once the
// pods started terminating: fewer than a tenth of the calls of the window
// before. Not none: a probe already under way when the last sync is
// cancelled can reach the runtime just after (seen once: 1 call after, 100
// before, 36 errors). A kubelet with neither errors nor that drop stopped
// probing for another reason, which proves nothing either way.
func (r ProbeCheckResult) ShowedRegression() bool {
	return r.Cancellations > 0 && r.CanceledProbeErrors > 0 && r.ExecCallsAfter*10 < r.ExecCallsBefore
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
		return fmt.Errorf("stock: inconclusive: %d \"context canceled\" probe errors and %d exec calls after the pods started terminating (%d syncs cancelled); the regression shows as errors above zero and fewer exec calls than a tenth of the window before's",
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
// pod's manifest, and counts the probe errors with "context canceled" from
// then on, and the exec calls that reach the runtime for opts.Window from the
// moment every pod's sync is cancelled.
//
// Standalone, the kubelet drops a removed static pod's status at its next
// housekeeping (every 2s), and the pod's probe workers stop probing then ("No
// status for pod"). Removed at an arbitrary moment, the pods could lose their
// status before any probe worker ticks again: both kubelets would then show
// nothing, stock no error and patched no call. So the manifests are removed
// just after a housekeeping ends: the next one starts 2s after this one
// started, which leaves the workers (period 1s) 2s less the housekeeping's
// own time and the removal's, one tick or two each, before their status
// goes.
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
	spec.Verbosity = max(spec.Verbosity, 4) // "SyncLoop (housekeeping) end" is V(4)
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

	logStart, err := kubeletlog.Offset(k.LogPath)
	if err != nil {
		return result, err
	}
	if err := k.waitForLog(ctx, logStart, housekeepingEnd, 1, 10*time.Second); err != nil {
		return result, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	removedLog, err := kubeletlog.Offset(k.LogPath)
	if err != nil {
		return result, err
	}
	for i := range spec.Pods {
		if err := os.Remove(ManifestPath(k.ManifestDir(), i)); err != nil {
			return result, err
		}
	}
	logger.Info("Removed every pod manifest", "kubelet", spec.Name, "pods", spec.Pods)
	// Count from the moment every pod's sync is cancelled: a probe that
	// ticks between a pod's removal and its cancellation reaches the runtime
	// on stock too.
	if err := k.waitForLog(ctx, removedLog, syncCancelled, spec.Pods, 10*time.Second); err != nil {
		return result, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	cancelledAt := k.cri.ExecSyncCalls()
	time.Sleep(opts.Window)
	result.ExecCallsAfter = k.cri.ExecSyncCalls() - cancelledAt

	lines, err := kubeletlog.LinesAfter(k.LogPath, removedLog)
	if err != nil {
		return result, err
	}
	result.Cancellations = podsLogging(lines, syncCancelled)
	for _, line := range lines {
		if strings.Contains(line, "Probe errored") && strings.Contains(line, "context canceled") {
			result.CanceledProbeErrors++
		}
	}
	return result, nil
}

const (
	// housekeepingEnd is what the kubelet logs, at V(4), when a
	// housekeeping, which drops the status of removed pods, has ended.
	housekeepingEnd = "SyncLoop (housekeeping) end"
	// syncCancelled is what the kubelet logs, at V(3), when a pod's
	// termination cancels its sync.
	syncCancelled = "Cancelling current pod sync"
)

// waitForLog waits until n pods have logged text after offset from of the
// kubelet's log, or the kubelet exits.
func (k *Kubelet) waitForLog(ctx context.Context, from int64, text string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		lines, err := kubeletlog.LinesAfter(k.LogPath, from)
		if err != nil {
			return err
		}
		seen := podsLogging(lines, text)
		if seen >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods logged %q within %s (%s)", seen, n, text, timeout, k.LogPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-k.Exited():
			return fmt.Errorf("exited while waiting for %q: %w", text, k.ExitError())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// logPodUID is the pod a kubelet log line is about.
var logPodUID = regexp.MustCompile(`podUID="([^"]+)"`)

// podsLogging counts the pods that logged text: lines with the same
// podUID count once (a pod whose grace period is shortened logs its
// cancellation again), and each line without one counts as a pod of its own
// (the housekeeping's lines are of no pod).
func podsLogging(lines []string, text string) int {
	pods := map[string]bool{}
	n := 0
	for _, line := range lines {
		if !strings.Contains(line, text) {
			continue
		}
		m := logPodUID.FindStringSubmatch(line)
		switch {
		case m == nil:
			n++
		case !pods[m[1]]:
			pods[m[1]] = true
			n++
		}
	}
	return n
}
