package soak

import (
	"strings"
	"testing"
)

func TestProbesFixed(t *testing.T) {
	// As docs/RESULTS.md measured them on v1.36.5.
	stockSeen := ProbeCheckResult{Pods: 20, Cancellations: 20, ExecCallsBefore: 100, ExecCallsAfter: 0, CanceledProbeErrors: 17}
	patchedSeen := ProbeCheckResult{Pods: 20, Cancellations: 20, ExecCallsBefore: 100, ExecCallsAfter: 40, CanceledProbeErrors: 0}
	for _, tc := range []struct {
		name, kubelet string
		result        ProbeCheckResult
		wantErr       string
	}{
		{"patched keeps probing", "patched", patchedSeen, ""},
		{"stock shows the regression", "stock", stockSeen, ""},
		{"patched with canceled probes", "patched", stockSeen, "patched: exec probes did not keep running"},
		{"stock that kept probing", "stock", patchedSeen, "cannot tell the regression from the fix"},
		// Probes that stopped without a single "context canceled" error
		// (a log level that hides them, pods that never terminated) are
		// not the regression.
		{"stock that stopped probing silently", "stock", ProbeCheckResult{Cancellations: 20, ExecCallsBefore: 100}, "stock: inconclusive: 0 \"context canceled\""},
		{"stock with errors but calls still reaching the runtime", "stock", ProbeCheckResult{Cancellations: 20, ExecCallsAfter: 5, CanceledProbeErrors: 3}, "stock: inconclusive"},
		{"stock with no sync cancelled", "stock", ProbeCheckResult{CanceledProbeErrors: 3}, "stock: inconclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ProbesFixed(tc.kubelet, tc.result)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
