// Package ctxleaktest serves a fake API server for the tests of ctxleak.
package ctxleaktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NewAPIServer serves a node list with the kubelet versions of versions (read
// at every request: a test may change it between requests), each node
// labelled kubernetes.io/hostname=NAME and filtered by the request's label
// selector, and each node's kubelet through the node proxy path as kubelets
// says. It is closed when the test ends.
func NewAPIServer(t testing.TB, versions map[string]string, kubelets map[string]http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		selector, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		list := v1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}
		for name, version := range versions {
			// Labelled as the kubelet labels its node.
			node := v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}}}
			if !selector.Matches(labels.Set(node.Labels)) {
				continue
			}
			node.Status.NodeInfo.KubeletVersion = version
			list.Items = append(list.Items, node)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	for name, h := range kubelets {
		prefix := "/api/v1/nodes/" + name + "/proxy"
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Kubelet is a fake kubelet's authenticated server: its version and pod
// workers on /metrics, its pods on /pods, and a heap profile on
// /debug/pprof/heap, as the kubelet serves them; the profile only when asked
// for after a garbage collection (gc=1).
type Kubelet struct {
	Version string
	// Pods is how many pods it lists and has pod workers for; every
	// second one has a readiness probe, as in the soak.
	Pods int
	// DeletedPods have pod workers but are no longer listed.
	DeletedPods int
	// Heap serves /debug/pprof/heap.
	Heap http.HandlerFunc
}

// ProbedPods is how many of k's listed pods have probes.
func (k Kubelet) ProbedPods() int { return (k.Pods + 1) / 2 }

func (k Kubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP kubernetes_build_info x\n# TYPE kubernetes_build_info gauge\n"+
			"kubernetes_build_info{build_date=\"2026-01-01T00:00:00Z\",compiler=\"gc\",git_commit=\"abc\",git_tree_state=\"clean\",git_version=%q,go_version=\"go1.26.8\",major=\"1\",minor=\"36\",platform=\"linux/amd64\"} 1\n", k.Version)
		fmt.Fprintf(w, "# HELP kubelet_working_pods x\n# TYPE kubelet_working_pods gauge\n"+
			"kubelet_working_pods{config=\"desired\",lifecycle=\"sync\",static=\"\"} %d\n"+
			"kubelet_working_pods{config=\"orphan\",lifecycle=\"terminating\",static=\"\"} %d\n", k.Pods, k.DeletedPods)
	case "/pods":
		list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
		for i := range k.Pods {
			pod := v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default"}}
			pod.Spec.Containers = []v1.Container{{Name: "c", Image: "pause"}}
			if i%2 == 0 {
				pod.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
			}
			list.Items = append(list.Items, pod)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	case "/debug/pprof/heap":
		if k.Heap == nil {
			http.NotFound(w, r)
			return
		}
		// A profile without a collection first holds what was live at
		// the last one: ctxleak must ask for gc=1.
		if r.URL.Query().Get("gc") != "1" {
			http.Error(w, "fake kubelet: heap profile asked for without gc=1", http.StatusBadRequest)
			return
		}
		k.Heap(w, r)
	default:
		http.NotFound(w, r)
	}
}

// ServeFile returns a handler that serves the file at path.
func ServeFile(t testing.TB, path string) http.HandlerFunc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("test data: %v (see pkg/ctxleak/testdata/README.md to regenerate)", err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	}
}
