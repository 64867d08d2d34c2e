package nodee2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// supportedBases reads build/bases.tsv.
func supportedBases(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "build", "bases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var bases []string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bases = append(bases, strings.Fields(line)[0])
	}
	if len(bases) == 0 {
		t.Fatal("build/bases.tsv names no base")
	}
	return bases
}

// Every scenario that tells stock bases apart says what each supported base
// must do, and a base it does not name is an error, not a default.
func TestStockOutcomesNameEverySupportedBase(t *testing.T) {
	for _, s := range Scenarios {
		if s.Patched == "" {
			t.Errorf("scenario %s has no outcome for patched kubelets", s.Name)
		}
		if s.Stock == nil {
			continue
		}
		for _, base := range supportedBases(t) {
			if _, err := s.Expect("stock", base); err != nil {
				t.Error(err)
			}
		}
		if _, err := s.Expect("stock", "v1.36.99"); err == nil || !strings.Contains(err.Error(), "v1.36.99") {
			t.Errorf("scenario %s: an unknown base gives %v, want an error naming it", s.Name, err)
		}
	}
}

// The table is written out per base; ctxleak's facts, read from the same
// sources, must say the same about each base, or one of the two is wrong.
func TestStockOutcomesAgreeWithVersionFacts(t *testing.T) {
	byProblem := map[ctxleak.Problem]map[string]string{
		ctxleak.ProblemLeak: {"readiness-during-termination": Pass, "sustained-sync": string(ctxleak.Leaking), "npd-node-check": "exit 1", "kubelet-swap": string(ctxleak.Leaking), "kubelet-package-swap": string(ctxleak.Leaking), "churn": string(ctxleak.Leaking),
			"kubelet-killed-mid-sync": string(ctxleak.Leaking), "containerd-killed": Pass, "api-partitioned": Pass, "apiserver-restarted": Pass},
		ctxleak.ProblemProbeRegression: {"readiness-during-termination": Fail, "sustained-sync": string(ctxleak.Clean), "npd-node-check": "exit 1", "kubelet-swap": Fail, "kubelet-package-swap": Fail, "churn": string(ctxleak.Clean),
			"kubelet-killed-mid-sync": string(ctxleak.Clean), "containerd-killed": Fail, "api-partitioned": Fail, "apiserver-restarted": Fail},
		ctxleak.ProblemNone: {"readiness-during-termination": Pass, "sustained-sync": string(ctxleak.Clean), "npd-node-check": "exit 0", "kubelet-swap": Pass, "kubelet-package-swap": Pass, "churn": string(ctxleak.Clean),
			"kubelet-killed-mid-sync": string(ctxleak.Clean), "containerd-killed": Pass, "api-partitioned": Pass, "apiserver-restarted": Pass},
	}
	for _, base := range supportedBases(t) {
		problem, why := ctxleak.ClassifyVersion(base)
		want, ok := byProblem[problem]
		if !ok {
			t.Errorf("%s: ctxleak says %s (%s)", base, problem, why)
			continue
		}
		for _, s := range Scenarios {
			if s.Stock == nil {
				continue
			}
			if got, _ := s.Expect("stock", base); got != want[s.Name] {
				t.Errorf("%s on stock %s: the table says %q, ctxleak's facts (%s) say %q", s.Name, base, got, problem, want[s.Name])
			}
		}
	}
}

func TestPatchedAndUniformOutcomes(t *testing.T) {
	for _, s := range Scenarios {
		got, err := s.Expect("patched", "v1.36.99")
		if err != nil || got != s.Patched {
			t.Errorf("%s on patched: %q, %v, want %q for any base", s.Name, got, err, s.Patched)
		}
		if s.Stock == nil {
			if got, err := s.Expect("stock", "v1.36.2"); err != nil || got != s.Patched {
				t.Errorf("%s on stock: %q, %v, want %q", s.Name, got, err, s.Patched)
			}
		}
	}
}

func TestProbeErrorLinesCountsOnlyCanceledProbesAfterOffset(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	before := `I1 prober.go:106] "Probe errored" err="context canceled"` + "\n"
	after := `I2 prober.go:106] "Probe errored" probeType="Readiness" err="rpc error: code = Canceled desc = context canceled"
I3 kubelet.go:1] "SyncLoop" err="context canceled"
I4 prober.go:122] "Probe failed" output="no such file"
`
	if err := os.WriteFile(log, []byte(before+after), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := probeErrorLines(log, int64(len(before))); err != nil || got != 1 {
		t.Errorf("probeErrorLines = %d, %v, want 1", got, err)
	}
}

func TestPrintTableMarksWrongOutcomes(t *testing.T) {
	results := []Result{
		{Scenario: "readiness-during-termination", Kubelet: "stock", Version: "v1.36.5", Outcome: Fail, Expected: Fail, Measured: "still Ready"},
		{Scenario: "readiness-during-termination", Kubelet: "patched", Version: "v1.36.5-ctxfix.2", Outcome: Fail, Expected: Pass, Measured: "still Ready"},
	}
	var out bytes.Buffer
	PrintTable(&out, results, []string{"stock", "patched"})
	for _, want := range []string{"STOCK v1.36.5", "PATCHED v1.36.5-ctxfix.2", "fail (ok)", "fail (WRONG, want pass)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if results[0].OK() != true || results[1].OK() != false {
		t.Error("OK() disagrees with the outcomes")
	}
}

func TestComparePodIdentities(t *testing.T) {
	pod := func(container string, restarts int32, ip string, sandboxes ...string) podIdentity {
		return podIdentity{UID: types.UID("uid-" + container), Container: container, Restarts: restarts, IP: ip, Sandboxes: sandboxes}
	}
	before := map[string]podIdentity{"a": pod("c1", 0, "10.0.0.1", "s1"), "b": pod("c2", 0, "10.0.0.2", "s2")}
	for name, tc := range map[string]struct {
		after map[string]podIdentity
		want  []string
	}{
		"unchanged":          {after: map[string]podIdentity{"a": pod("c1", 0, "10.0.0.1", "s1"), "b": pod("c2", 0, "10.0.0.2", "s2")}},
		"container replaced": {after: map[string]podIdentity{"a": pod("c9", 0, "10.0.0.1", "s1"), "b": pod("c2", 0, "10.0.0.2", "s2")}, want: []string{"a: container c1"}},
		"restarted":          {after: map[string]podIdentity{"a": pod("c1", 1, "10.0.0.1", "s1"), "b": pod("c2", 0, "10.0.0.2", "s2")}, want: []string{"restarts=1 "}},
		"new address":        {after: map[string]podIdentity{"a": pod("c1", 0, "10.0.0.9", "s1"), "b": pod("c2", 0, "10.0.0.2", "s2")}, want: []string{"ip=10.0.0.9"}},
		"second sandbox":     {after: map[string]podIdentity{"a": pod("c1", 0, "10.0.0.1", "s1", "s3"), "b": pod("c2", 0, "10.0.0.2", "s2")}, want: []string{"sandboxes=s1,s3"}},
		"gone and appeared":  {after: map[string]podIdentity{"a": pod("c1", 0, "10.0.0.1", "s1"), "c": pod("c3", 0, "10.0.0.3", "s3")}, want: []string{"b is gone", "c appeared"}},
	} {
		got := comparePodIdentities(before, tc.after)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q, want %d differences", name, got, len(tc.want))
			continue
		}
		for i, want := range tc.want {
			if !strings.Contains(got[i], want) {
				t.Errorf("%s: %q does not say %q", name, got[i], want)
			}
		}
	}
	// Both sides the same but without a Ready sandbox: the runtime lost it.
	lost := map[string]podIdentity{"a": pod("c1", 0, "10.0.0.1")}
	if got := comparePodIdentities(lost, lost); len(got) != 1 || !strings.Contains(got[0], "0 Ready sandboxes") {
		t.Errorf("no sandbox: %q", got)
	}
}

func TestChurnKinds(t *testing.T) {
	for n, want := range map[int]map[churnKind]int{
		50: {churnOrdinary: 30, churnBlocked: 10, churnQuickDeleted: 5, churnForceDeleted: 5},
		25: {churnOrdinary: 16, churnBlocked: 5, churnQuickDeleted: 2, churnForceDeleted: 2},
	} {
		got := map[churnKind]int{}
		for _, kind := range churnKinds(n) {
			got[kind]++
		}
		for kind, count := range want {
			if got[kind] != count {
				t.Errorf("churnKinds(%d): %d %s, want %d", n, got[kind], kind, count)
			}
		}
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*100*time.Millisecond)
	}
	if got, want := percentiles(d), "5.0/9.0/9.9s"; got != want {
		t.Errorf("percentiles(0.1s..10s) = %s, want %s", got, want)
	}
	if got := percentiles(nil); got != "none" {
		t.Errorf("percentiles(nil) = %s", got)
	}
}

func TestPrintPerfMarksRatiosOutsideTheNoise(t *testing.T) {
	results := []Result{
		{Scenario: "churn", Kubelet: "stock", Perf: map[string]float64{"start p50 (s)": 10, "pod syncs/s": 6}},
		{Scenario: "churn", Kubelet: "patched", Perf: map[string]float64{"start p50 (s)": 15, "pod syncs/s": 6.1}},
		{Scenario: "churn", Kubelet: "stock-again", Perf: map[string]float64{"start p50 (s)": 10.5, "pod syncs/s": 5.7}},
		{Scenario: "kubelet-swap", Kubelet: "stock", Outcome: Pass},
	}
	var out bytes.Buffer
	PrintPerf(&out, results, "stock", "patched", "stock-again")
	lines := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if name, _, ok := strings.Cut(line, "  "); ok {
			lines[name] = line
		}
	}
	// 15/10 = 1.50 against a band of 10.5/10 = 1.05.
	if l := lines["start p50 (s)"]; !strings.Contains(l, "1.50") || !strings.Contains(l, "1.05") || !strings.HasSuffix(l, "outside noise") {
		t.Errorf("start p50: %q, want 1.50 against 1.05, outside noise", l)
	}
	// 6.1/6 = 1.02 against 5.7/6 = 0.95.
	if l := lines["pod syncs/s"]; !strings.Contains(l, "1.02") || !strings.Contains(l, "0.95") || !strings.HasSuffix(l, "within noise") {
		t.Errorf("pod syncs/s: %q, want 1.02 against 0.95, within noise", l)
	}
	if strings.Contains(out.String(), "kubelet-swap") {
		t.Errorf("a scenario without figures is printed:\n%s", out.String())
	}
}

func TestIPAMAddresses(t *testing.T) {
	dir := t.TempDir()
	network := filepath.Join(dir, "ctxfix-e2e")
	if err := os.Mkdir(network, 0o755); err != nil {
		t.Fatal(err)
	}
	// host-local's layout: a file per address held, and its own
	// bookkeeping beside them.
	for _, name := range []string{"10.214.0.2", "10.214.0.3", "fd00::5", "last_reserved_ip.0", "lock"} {
		if err := os.WriteFile(filepath.Join(network, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ipamAddresses(dir); err != nil || n != 3 {
		t.Errorf("ipamAddresses = %d, %v, want 3", n, err)
	}
	if _, err := ipamAddresses(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing IPAM folder gave no error")
	}
}

func TestExpectedOutcomesOfARepeatedKubelet(t *testing.T) {
	opts := RunOptions{
		Base:      "v1.36.2",
		Scenarios: []string{"churn"},
		Kubelets:  []KubeletSpec{{Name: "stock"}, {Name: "patched"}, {Name: "stock-again", Repeats: "stock"}},
	}
	expected, err := expectedOutcomes(opts)
	if err != nil {
		t.Fatal(err)
	}
	// v1.36.2 leaks: stock, run once or twice, must be found leaking.
	for kubelet, want := range map[string]string{"stock": "leaking", "patched": "clean", "stock-again": "leaking"} {
		if got := expected["churn/"+kubelet]; got != want {
			t.Errorf("churn on %s: expected %q, want %q", kubelet, got, want)
		}
	}
}

func TestFirstLoggedReadsCRILogTimes(t *testing.T) {
	log := []byte("2026-12-05T19:45:00.100000000Z stdout F preStop hook ran\n" +
		"2026-12-05T19:45:05.250000000Z stdout F ready file removed\n" +
		"2026-12-05T19:46:05.000000000Z stdout F ready file removed\n")
	at, ok := firstLogged(log, fileRemovedLine)
	if want := time.Date(2026, 12, 5, 19, 45, 5, 250000000, time.UTC); !ok || !at.Equal(want) {
		t.Errorf("firstLogged = %v, %v, want %v", at, ok, want)
	}
	if _, ok := firstLogged(log, "never written"); ok {
		t.Error("found a line that is not there")
	}
	// The hook's own clock, when the line carries it, not containerd's.
	log = []byte("2026-12-05T19:45:22.000000000Z stdout F ready file removed at 1796499905.250000\n")
	at, ok = firstLogged(log, fileRemovedLine)
	if want := time.Date(2026, 12, 5, 19, 45, 5, 250000000, time.UTC); !ok || at.Sub(want).Abs() > time.Microsecond {
		t.Errorf("firstLogged = %v, %v, want the hook's %v", at, ok, want)
	}
}

func TestReadinessVerdictCountsFromTheLaterOfRemovalAndReach(t *testing.T) {
	deleted := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return deleted.Add(time.Duration(s) * time.Second) }
	for name, tc := range map[string]struct {
		removed, reachable time.Time
		notReady           time.Duration
		want               string
	}{
		// The file went while containerd was down: from its return.
		"removed while unreachable": {at(5), at(12), 20 * time.Second, Pass},
		// The hook ran again after the return and removed the file late:
		// from the removal.
		"removed after the return": {at(30), at(12), 32 * time.Second, Pass},
		"too late":                 {at(5), at(12), 28 * time.Second, Fail},
		"never while running":      {at(5), at(12), 0, Fail},
	} {
		got, err := readinessVerdict(terminationSeen{fileRemoved: tc.removed, notReadyRunning: tc.notReady}, deleted, tc.reachable, outageReadinessBound)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v, want %q", name, got, err, tc.want)
		}
	}
	// Nothing cut off, as in the swap: from the removal, within readinessBound.
	if got, _ := readinessVerdict(terminationSeen{fileRemoved: at(2), notReadyRunning: 6 * time.Second}, deleted, deleted, readinessBound); got != Pass {
		t.Errorf("not Ready 4 s after the removal: %q, want %q", got, Pass)
	}
	if got, _ := readinessVerdict(terminationSeen{fileRemoved: at(2), notReadyRunning: 8 * time.Second}, deleted, deleted, readinessBound); got != Fail {
		t.Errorf("not Ready 6 s after the removal: %q, want %q", got, Fail)
	}
	if _, err := readinessVerdict(terminationSeen{notReadyRunning: time.Second}, deleted, at(12), outageReadinessBound); err == nil {
		t.Error("a removal never logged was judged")
	}
}

// watchReadiness ends once the verdict has what it needs, or once it is too
// late for more: watchFor after the removal, or the grace period without one.
func TestWatchReadinessEnds(t *testing.T) {
	now := time.Now()
	stopped := make(chan struct{})
	close(stopped)
	for name, tc := range map[string]struct {
		since time.Time
		seen  terminationSeen
		want  terminationSeen
	}{
		"not Ready after the removal":        {now, terminationSeen{running: 1, fileRemoved: now, notReadyRunning: time.Second}, terminationSeen{running: 1, fileRemoved: now, notReadyRunning: time.Second}},
		"Ready watchFor after the removal":   {now.Add(-time.Minute), terminationSeen{running: 1, fileRemoved: now.Add(-20 * time.Second)}, terminationSeen{running: 1, fileRemoved: now.Add(-20 * time.Second)}},
		"no removal within the grace period": {now.Add(-time.Minute), terminationSeen{running: 1}, terminationSeen{running: 1}},
	} {
		w := &terminationWatch{since: tc.since, cancel: func() {}, done: stopped, seen: tc.seen}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := watchReadiness(ctx, w, 15*time.Second, 30*time.Second)
		cancel()
		if err != nil || got.fileRemoved != tc.want.fileRemoved || got.notReadyRunning != tc.want.notReadyRunning {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, tc.want)
		}
	}
	// Removed 2 s ago, still Ready: it must keep watching.
	w := &terminationWatch{since: now, cancel: func() {}, done: stopped, seen: terminationSeen{running: 1, fileRemoved: now.Add(-2 * time.Second)}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := watchReadiness(ctx, w, 15*time.Second, 30*time.Second); err == nil {
		t.Error("the watch ended 2 s after the removal, with the pod still Ready")
	}
}
