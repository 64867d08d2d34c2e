// Package ctxleaktest serves a fake API server for the tests of ctxleak.
package ctxleaktest

import (
	"encoding/json"
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
// selector, and each node's heap profile through the node proxy path as heap
// says. It is closed when the test ends.
func NewAPIServer(t testing.TB, versions map[string]string, heap map[string]http.HandlerFunc) *httptest.Server {
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
	for name, h := range heap {
		mux.HandleFunc("/api/v1/nodes/"+name+"/proxy/debug/pprof/heap", h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
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
