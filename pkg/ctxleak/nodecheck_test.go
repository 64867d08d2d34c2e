package ctxleak

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak/ctxleaktest"
)

// fakeKubelet serves a kubelet's /metrics, /pods and /debug/pprof/heap,
// from a test profile of the soak's 100 pods, behind a bearer token.
func fakeKubelet(t *testing.T, version, heapFile string) *httptest.Server {
	kubelet := ctxleaktest.Kubelet{Version: version, Pods: 100, Heap: ctxleaktest.ServeFile(t, heapFile)}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer node-token" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		kubelet.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNodeCheckFollowsNPDPluginInterface(t *testing.T) {
	for _, tc := range []struct {
		name, version, heap string
		profile             bool
		token               string
		want                int
	}{
		{"clean patched kubelet, profiled", "v1.36.2-ctxfix.2", "testdata/patched-v1.36.2-heap-contexts.pb.gz", true, "node-token", NPDOK},
		{"leaking stock kubelet, profiled", "v1.36.2", "testdata/stock-v1.36.2-heap-contexts.pb.gz", true, "node-token", NPDProblem},
		{"leaking version, not profiled", "v1.36.2", "testdata/stock-v1.36.2-heap-contexts.pb.gz", false, "node-token", NPDProblem},
		{"probe regression version", "v1.36.5", "testdata/stock-v1.36.5-heap-contexts.pb.gz", true, "node-token", NPDProblem},
		{"vendor build of a leaking base, profiled clean", "v1.36.2-eks-1-36-9", "testdata/patched-v1.36.2-heap-contexts.pb.gz", true, "node-token", NPDOK},
		{"vendor build of a leaking base, profiled leaking", "v1.36.2-eks-1-36-9", "testdata/stock-v1.36.2-heap-contexts.pb.gz", true, "node-token", NPDProblem},
		{"fixed release", "v1.37.2", "testdata/patched-v1.36.5-heap-contexts.pb.gz", false, "node-token", NPDOK},
		{"unknown release, not profiled", "v1.40.0", "testdata/patched-v1.36.5-heap-contexts.pb.gz", false, "node-token", NPDUnknown},
		{"kubelet refuses the token", "v1.36.5", "testdata/patched-v1.36.5-heap-contexts.pb.gz", true, "wrong", NPDUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeKubelet(t, tc.version, tc.heap)
			got := NodeCheck(context.Background(), NodeCheckOptions{KubeletURL: srv.URL, Token: tc.token, Insecure: true, Profile: tc.profile})
			if got.Status != tc.want {
				t.Errorf("status %d (%q), want %d", got.Status, got.Message, tc.want)
			}
			if n := utf8.RuneCountInString(got.Message); n == 0 || n > NPDMessageLimit {
				t.Errorf("message %q has %d characters, want 1 to %d", got.Message, n, NPDMessageLimit)
			}
		})
	}
}

func TestNodeCheckUnreachableKubeletIsUnknown(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	got := NodeCheck(context.Background(), NodeCheckOptions{KubeletURL: url, Insecure: true})
	if got.Status != NPDUnknown || utf8.RuneCountInString(got.Message) > NPDMessageLimit {
		t.Errorf("got %d %q, want status %d and a message of at most %d characters", got.Status, got.Message, NPDUnknown, NPDMessageLimit)
	}
}
