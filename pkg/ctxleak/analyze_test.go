package ctxleak

import (
	"os"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

func analyzeFile(t *testing.T, path string, workload *Workload) Analysis {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("test data: %v (see testdata/README.md to regenerate)", err)
	}
	defer f.Close()
	p, err := heapprofile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(p, workload)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// soakWorkload is what the soak that took the test data ran: 100 static
// pods, every second one with an exec readiness probe.
var soakWorkload = Workload{PodWorkers: 100, ProbedPods: 50, Source: "the soak's pods"}

// The test data are heap profiles the soak harness took of real kubelets
// under sustained sync (testdata/README.md), judged by the soak's pods and,
// as for a profile without its kubelet, by the profile's own count.
func TestAnalyzeSoakProfiles(t *testing.T) {
	for file, want := range map[string]Verdict{
		"testdata/stock-v1.36.2-heap-contexts.pb.gz":   Leaking,
		"testdata/patched-v1.36.2-heap-contexts.pb.gz": Clean,
		"testdata/stock-v1.36.5-heap-contexts.pb.gz":   Clean,
		"testdata/patched-v1.36.5-heap-contexts.pb.gz": Clean,
	} {
		for _, workload := range []*Workload{&soakWorkload, nil} {
			t.Run(file, func(t *testing.T) {
				a := analyzeFile(t, file, workload)
				if a.Verdict != want {
					t.Errorf("verdict %q, want %q: %s", a.Verdict, want, a.Reason)
				}
				if !a.Exact {
					t.Errorf("soak profiles are exact (memprofilerate=1); analysis says sampled every %d bytes", a.SamplingRate)
				}
				// Each worker keeps the cancel function of its latest sync; a
				// profile taken while syncs are in flight can also hold a few of
				// the syncs just replaced.
				if a.ProfilePodWorkers < 100 || a.ProfilePodWorkers > 100+heapprofile.SyncContextSlack {
					t.Errorf("the profile holds %d pod-sync cancel functions; the soak ran 100 pods", a.ProfilePodWorkers)
				}
				if workload == nil && (a.Workload.PodWorkers != a.ProfilePodWorkers || a.Workload.Source != SourceProfile) {
					t.Errorf("without a workload, judged by %+v; want the profile's %d pod workers", a.Workload, a.ProfilePodWorkers)
				}
				if want == Leaking && (a.LeakedEstimate < 1000 || len(a.Evidence) == 0) {
					t.Errorf("leaking profile: %d leaked, evidence %q; want thousands, with stacks", a.LeakedEstimate, a.Evidence)
				}
				t.Logf("%s: %s", a.Verdict, a.Reason)
			})
		}
	}
}

// The bound comes from the workload the kubelet reports, not from the
// profile: the patched kubelet's 100 pod workers' contexts are too many for
// a kubelet that runs 10 pods, whatever the profile's own count says.
func TestAnalyzeBoundsByTheWorkload(t *testing.T) {
	few := Workload{PodWorkers: 10, ProbedPods: 10, Source: "test"}
	a := analyzeFile(t, "testdata/patched-v1.36.2-heap-contexts.pb.gz", &few)
	if a.Verdict != Leaking || a.Expected != few.Bound() {
		t.Errorf("10 pods: verdict %q, expected %d; want leaking, %d: %s", a.Verdict, a.Expected, few.Bound(), a.Reason)
	}
	if !strings.Contains(a.Reason, "more than one per pod worker") {
		t.Errorf("reason %q does not say that the profile holds more cancel functions than pod workers", a.Reason)
	}
}

func TestWorkloadOf(t *testing.T) {
	probe := &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
	always := v1.ContainerRestartPolicyAlways
	pods := []v1.Pod{
		{Spec: v1.PodSpec{Containers: []v1.Container{{LivenessProbe: probe}}}},
		{Spec: v1.PodSpec{Containers: []v1.Container{{}, {StartupProbe: probe}}}},
		{Spec: v1.PodSpec{InitContainers: []v1.Container{{RestartPolicy: &always, ReadinessProbe: probe}}, Containers: []v1.Container{{}}}},
		{Spec: v1.PodSpec{Containers: []v1.Container{{}}}},
	}
	for _, tc := range []struct {
		name                    string
		workers                 int64
		wantWorkers, wantProbed int64
	}{
		{"every pod listed", 4, 4, 3},
		{"two deleted pods not finished yet count as probed", 6, 6, 5},
		{"a pod added since the last housekeeping", 3, 4, 3},
	} {
		w := WorkloadOf(tc.workers, pods)
		if w.PodWorkers != tc.wantWorkers || w.ProbedPods != tc.wantProbed || w.Source != SourceKubelet {
			t.Errorf("%s: WorkloadOf(%d, 4 pods) = %+v, want %d pod workers, %d probed", tc.name, tc.workers, w, tc.wantWorkers, tc.wantProbed)
		}
	}
}

func TestClassifyVersion(t *testing.T) {
	for version, want := range map[string]Problem{
		"v1.35.0":                    ProblemProbeRegression,
		"v1.35.8":                    ProblemProbeRegression,
		"v1.35.7":                    ProblemUnknown, // not served
		"v1.36.0":                    ProblemLeak,
		"v1.36.2":                    ProblemLeak,
		"v1.36.3":                    ProblemProbeRegression,
		"v1.36.5":                    ProblemProbeRegression,
		"v1.36.5-ctxfix.1":           ProblemNone,
		"v1.36.0-ctxfix.3":           ProblemNone,
		"v1.37.0":                    ProblemNone,
		"v1.37.2":                    ProblemNone,
		"v1.36.6":                    ProblemUnknown,
		"v1.34.4":                    ProblemUnknown,
		"v1.36.2-eks-1-36-5":         ProblemLeak,
		"v1.36.5+vendor.1":           ProblemProbeRegression,
		"v1.36.9-eks-1-36-1":         ProblemUnknown,
		"garbage":                    ProblemUnknown,
		"v1.37.2-bottlerocket.0.1.2": ProblemNone,
	} {
		if got, detail := ClassifyVersion(version); got != want {
			t.Errorf("ClassifyVersion(%q) = %q (%s), want %q", version, got, detail, want)
		}
	}
	if _, detail := ClassifyVersion("v1.36.2-eks-1-36-5"); !strings.Contains(detail, "patches unknown: confirm with --profile") {
		t.Errorf("a vendor build's detail %q does not say that its patches are unknown", detail)
	}
}
