package ctxleak

import (
	"os"
	"strings"
	"testing"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

func analyzeFile(t *testing.T, path string) Analysis {
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
	a, err := Analyze(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The test data are heap profiles the soak harness took of real kubelets
// under sustained sync (testdata/README.md).
func TestAnalyzeSoakProfiles(t *testing.T) {
	for file, want := range map[string]Verdict{
		"testdata/stock-v1.36.2-heap-contexts.pb.gz":   Leaking,
		"testdata/patched-v1.36.2-heap-contexts.pb.gz": Clean,
		"testdata/stock-v1.36.5-heap-contexts.pb.gz":   Clean,
		"testdata/patched-v1.36.5-heap-contexts.pb.gz": Clean,
	} {
		t.Run(file, func(t *testing.T) {
			a := analyzeFile(t, file)
			if a.Verdict != want {
				t.Errorf("verdict %q, want %q: %s", a.Verdict, want, a.Reason)
			}
			if !a.Exact {
				t.Errorf("soak profiles are exact (memprofilerate=1); analysis says sampled every %d bytes", a.SamplingRate)
			}
			// Each worker keeps the cancel function of its latest sync; a
			// profile taken while syncs are in flight can also hold a few of
			// the syncs just replaced (5 in the stock v1.36.2 profile).
			if a.PodWorkers < 100 || a.PodWorkers > 100+heapprofile.SyncContextSlack {
				t.Errorf("estimated %d pod workers; the soak ran 100 pods", a.PodWorkers)
			}
			if want == Leaking && (a.LeakedEstimate < 1000 || len(a.Evidence) == 0) {
				t.Errorf("leaking profile: %d leaked, evidence %q; want thousands, with stacks", a.LeakedEstimate, a.Evidence)
			}
			t.Logf("%s: %s", a.Verdict, a.Reason)
		})
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
