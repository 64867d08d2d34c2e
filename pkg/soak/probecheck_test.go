package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestWaitForLogLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	before := "I1204 \"Cancelling current pod sync\" pod=\"a\"\n"
	if err := os.WriteFile(log, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	from := int64(len(before))
	// A line before the offset does not count.
	err := waitForLogLines(context.Background(), log, from, syncCancelled, 1, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "0 of 1 lines with \"Cancelling current pod sync\"") {
		t.Fatalf("got %v, want an error naming 0 of 1 lines", err)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	go func() {
		for _, pod := range []string{"b", "c"} {
			time.Sleep(20 * time.Millisecond)
			fmt.Fprintf(f, "I1204 \"Cancelling current pod sync\" pod=%q\n", pod)
		}
	}()
	if err := waitForLogLines(context.Background(), log, from, syncCancelled, 2, 5*time.Second); err != nil {
		t.Fatalf("got %v, want both lines written after the offset", err)
	}
}
