package cluster

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// TestRequestLoopCountsFailures runs the request loop's script as the
// workload's image runs it (bash as sh, busybox's wget) against a server
// that fails one request in three (with busybox's nc), and reads its log as Roll does.
func TestRequestLoopCountsFailures(t *testing.T) {
	for _, tool := range []string{"bash", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	var served atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%3 == 0 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("web-1\n"))
	}))
	defer server.Close()
	bin := t.TempDir()
	busybox, _ := exec.LookPath("busybox")
	if err := os.Symlink(busybox, filepath.Join(bin, "nc")); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(server.URL, "http://"), ":")
	portNumber, _ := strconv.Atoi(port)
	loop := requestLoop{Name: "requests-1", Requests: 7, Interval: 10 * time.Millisecond, ClusterIP: host, Port: portNumber}
	cmd := exec.Command("bash", "-c", loop.script())
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the loop: %v\n%s", err, out)
	}
	r, err := parseLoopLog(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 7 || r.Failed != 2 || len(r.Failures) != 2 || !strings.Contains(r.Failures[0], "request 3:") {
		t.Errorf("loop result %+v, want 7 requests with requests 3 and 6 failed; its log:\n%s", r, out)
	}
	if !r.Ended.After(r.Started) || time.Since(r.Started) > time.Minute {
		t.Errorf("loop from %v to %v", r.Started, r.Ended)
	}
	if _, err := parseLoopLog([]byte("start 1.0\nfailed 1.5 request 1: x\nend 2.0 requests 1 failed 0\n")); err == nil {
		t.Error("a log whose count disagrees with its failure lines parsed")
	}
	if _, err := parseLoopLog([]byte("start 1.0\n")); err == nil {
		t.Error("a log without its end line parsed")
	}
}

func TestCompareContainers(t *testing.T) {
	before := map[string]containerState{
		"rolling/web-a (1) web":   {"containerd://a", 0},
		"rolling/web-b (2) web":   {"containerd://b", 0},
		"kube-system/proxy (3) p": {"containerd://p", 1},
	}
	after := map[string]containerState{
		"rolling/web-a (1) web":   {"containerd://a", 0},
		"rolling/web-c (4) web":   {"containerd://c", 1},
		"kube-system/proxy (3) p": {"containerd://p2", 2},
	}
	restarts, changed, gone := compareContainers(before, after)
	if restarts != 2 || len(gone) != 1 || gone[0] != "rolling/web-b (2) web" || len(changed) != 1 || !strings.HasPrefix(changed[0], "kube-system/proxy") {
		t.Errorf("compareContainers = %d restarts, changed %v, gone %v; want 2, the proxy, web-b", restarts, changed, gone)
	}
	if r, c, g := compareContainers(before, before); r != 0 || len(c) != 0 || len(g) != 0 {
		t.Errorf("nothing changed, but compareContainers = %d, %v, %v", r, c, g)
	}
}

func TestEvictedPods(t *testing.T) {
	out := `node/ctxfix-worker-1 cordoned
Warning: ignoring DaemonSet-managed Pods: kube-system/kube-proxy-x2v9q
evicting pod rolling/web-6d4f-abcde
evicting pod rolling/web-6d4f-fghij
pod/web-6d4f-abcde evicted
pod/web-6d4f-fghij evicted
node/ctxfix-worker-1 drained
`
	if got := evictedPods(out); len(got) != 2 || got[0] != "pod/web-6d4f-abcde" {
		t.Errorf("evictedPods = %v, want the two web pods", got)
	}
}

func TestJudgeLeak(t *testing.T) {
	report := func(name string, v ctxleak.Verdict) ctxleak.NodeReport {
		return ctxleak.NodeReport{Name: name, Analysis: &ctxleak.Analysis{Verdict: v}}
	}
	names := []string{"ctxfix-control-plane", "ctxfix-worker-1"}
	stock := []ctxleak.NodeReport{report("ctxfix-control-plane", ctxleak.Clean), report("ctxfix-worker-1", ctxleak.Leaking)}
	if p := judgeLeak(stock, names, true); len(p) != 0 {
		t.Errorf("a leaking worker and a quiet control plane of a leaking base: %v", p)
	}
	if p := judgeLeak(stock, names, false); len(p) != 1 {
		t.Errorf("a leaking worker where none may leak: problems %v, want one", p)
	}
	if p := judgeLeak([]ctxleak.NodeReport{report("ctxfix-worker-1", ctxleak.Clean)}, names[1:], true); len(p) != 1 {
		t.Errorf("a clean worker of a leaking base: problems %v, want one", p)
	}
	if p := judgeLeak([]ctxleak.NodeReport{{Name: "ctxfix-worker-1", Error: "forbidden"}}, names[1:], false); len(p) != 1 {
		t.Errorf("a node ctxleak could not profile: problems %v, want one", p)
	}
	if p := judgeLeak(nil, names, false); len(p) != 2 {
		t.Errorf("no report at all: problems %v, want one per node", p)
	}
}
