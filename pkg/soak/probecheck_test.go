package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

func TestProbesFixed(t *testing.T) {
	// As docs/RESULTS.md measured them on v1.36.5.
	stockSeen := ProbeCheckResult{Pods: 20, Cancellations: 20, ExecCallsBefore: 100, ExecCallsAfter: 0, CanceledProbeErrors: 39}
	patchedSeen := ProbeCheckResult{Pods: 20, Cancellations: 20, ExecCallsBefore: 100, ExecCallsAfter: 37, CanceledProbeErrors: 0}
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
		{"stock with errors but calls still reaching the runtime", "stock", ProbeCheckResult{Cancellations: 20, ExecCallsBefore: 40, ExecCallsAfter: 4, CanceledProbeErrors: 3}, "stock: inconclusive"},
		{"stock with errors and no calls before", "stock", ProbeCheckResult{Cancellations: 20, CanceledProbeErrors: 3}, "stock: inconclusive"},
		// A probe under way when the last sync is cancelled can reach the
		// runtime just after it: stock v1.36.5 in CI, once.
		{"stock with one call in flight at the cancellation", "stock", ProbeCheckResult{Cancellations: 20, ExecCallsBefore: 100, ExecCallsAfter: 1, CanceledProbeErrors: 36}, ""},
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

func TestWaitForLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	line := func(pod string) string {
		return fmt.Sprintf("I1204 pod_workers.go:991] \"Cancelling current pod sync\" pod=\"default/%s\" podUID=\"uid-%s\" updateType=\"kill\"\n", pod, pod)
	}
	before := line("a")
	if err := os.WriteFile(log, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	// A process that stands in for the kubelet, until it is killed below.
	dir := t.TempDir()
	process, err := nodeproc.Start(context.Background(), nodeproc.Spec{Name: "kubelet", Path: "/bin/sleep", Args: []string{"100"}, LogPath: filepath.Join(dir, "sleep.log"), RecordDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer process.Stop(context.Background())
	k := &Kubelet{Spec: KubeletSpec{Name: "test"}, LogPath: log, process: process}
	from := int64(len(before))
	// A line before the offset does not count.
	err = k.waitForLog(context.Background(), from, syncCancelled, 1, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "0 of 1 pods logged \"Cancelling current pod sync\"") {
		t.Fatalf("got %v, want an error naming 0 of 1 pods", err)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A pod that logs twice (its grace period shortened) is one pod.
	if _, err := f.WriteString(line("b") + line("b")); err != nil {
		t.Fatal(err)
	}
	err = k.waitForLog(context.Background(), from, syncCancelled, 2, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 pods logged") {
		t.Fatalf("got %v, want a pod that logged twice counted once", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(f, line("c"))
	}()
	if err := k.waitForLog(context.Background(), from, syncCancelled, 2, 5*time.Second); err != nil {
		t.Fatalf("got %v, want both pods' lines written after the offset", err)
	}
	// A kubelet that exits ends the wait, saying so.
	process.Kill(context.Background())
	err = k.waitForLog(context.Background(), from, housekeepingEnd, 1, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited while waiting for \"SyncLoop (housekeeping) end\"") {
		t.Fatalf("got %v, want the kubelet's exit", err)
	}
}
