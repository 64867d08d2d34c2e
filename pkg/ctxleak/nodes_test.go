package ctxleak

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak/ctxleaktest"
)

func TestNodes(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := ctxleaktest.NewAPIServer(t,
		map[string]string{
			"leaking":   "v1.36.2",
			"patched":   "v1.36.2-ctxfix.1",
			"probe":     "v1.36.5",
			"slow":      "v1.36.5-ctxfix.1",
			"forbidden": "v1.36.5-ctxfix.1",
			"garbage":   "v1.36.5-ctxfix.1",
			"fewpods":   "v1.36.5-ctxfix.1",
		},
		map[string]http.Handler{
			"leaking": ctxleaktest.Kubelet{Version: "v1.36.2", Pods: 100, Heap: ctxleaktest.ServeFile(t, "testdata/stock-v1.36.2-heap-contexts.pb.gz")},
			"patched": ctxleaktest.Kubelet{Version: "v1.36.2-ctxfix.1", Pods: 100, Heap: ctxleaktest.ServeFile(t, "testdata/patched-v1.36.2-heap-contexts.pb.gz")},
			"probe":   ctxleaktest.Kubelet{Version: "v1.36.5", Pods: 100, Heap: ctxleaktest.ServeFile(t, "testdata/stock-v1.36.5-heap-contexts.pb.gz")},
			"slow": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}),
			"forbidden": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `nodes "forbidden" is forbidden: User "viewer" cannot get resource "nodes/proxy"`, http.StatusForbidden)
			}),
			// A kubelet that runs 10 pods cannot account for the 100
			// pod workers' contexts in its heap.
			"fewpods": ctxleaktest.Kubelet{Version: "v1.36.5-ctxfix.1", Pods: 10, Heap: ctxleaktest.ServeFile(t, "testdata/patched-v1.36.2-heap-contexts.pb.gz")},
			"garbage": ctxleaktest.Kubelet{Version: "v1.36.5-ctxfix.1", Pods: 100, Heap: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("<html>not a profile</html>"))
			}},
		})
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL})

	var progress strings.Builder
	reports, err := Nodes(context.Background(), client, NodesOptions{Profile: true, Parallelism: 2, Timeout: 2 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]NodeReport{}
	for _, r := range reports {
		byName[r.Name] = r
	}
	if len(byName) != 7 {
		t.Fatalf("got %d nodes, want 7: %+v", len(byName), reports)
	}
	for name, want := range map[string]struct {
		problem  Problem
		verdict  Verdict
		errorHas string
		affected bool
	}{
		"leaking":   {problem: ProblemLeak, verdict: Leaking, affected: true},
		"patched":   {problem: ProblemNone, verdict: Clean},
		"probe":     {problem: ProblemProbeRegression, verdict: Clean, affected: true},
		"slow":      {problem: ProblemNone, errorHas: "not received within 2s"},
		"forbidden": {problem: ProblemNone, errorHas: "forbidden"},
		"garbage":   {problem: ProblemNone, errorHas: "did not return a heap profile"},
		"fewpods":   {problem: ProblemNone, verdict: Leaking, affected: true},
	} {
		r := byName[name]
		if r.Problem != want.problem {
			t.Errorf("%s: problem %q, want %q", name, r.Problem, want.problem)
		}
		if r.Affected() != want.affected {
			t.Errorf("%s: affected %v, want %v", name, r.Affected(), want.affected)
		}
		switch {
		case want.errorHas != "":
			if !strings.Contains(r.Error, want.errorHas) || r.Analysis != nil {
				t.Errorf("%s: error %q, analysis %v; want an error containing %q", name, r.Error, r.Analysis, want.errorHas)
			}
		case r.Analysis == nil:
			t.Errorf("%s: no analysis (error %q)", name, r.Error)
		case r.Analysis.Verdict != want.verdict:
			t.Errorf("%s: verdict %q, want %q: %s", name, r.Analysis.Verdict, want.verdict, r.Analysis.Reason)
		case r.Analysis.Workload.Source != SourceKubelet:
			t.Errorf("%s: judged by %+v, want the kubelet's own workload", name, r.Analysis.Workload)
		}
	}
	if lines := strings.Count(progress.String(), "\n"); lines != 7 {
		t.Errorf("progress has %d lines, want one per node:\n%s", lines, progress.String())
	}
}

func TestNodesWithoutProfiles(t *testing.T) {
	srv := ctxleaktest.NewAPIServer(t, map[string]string{"a": "v1.36.1", "b": "v1.37.2"}, nil)
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL})
	reports, err := Nodes(context.Background(), client, NodesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || reports[0].Problem != ProblemLeak || reports[1].Problem != ProblemNone || reports[0].Analysis != nil {
		t.Errorf("reports = %+v", reports)
	}
}
