package nodee2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

// The outcomes each kubelet must have are what the issues say: stock fails
// readiness during termination only where the probe regression is, and leaks
// only where the leak is; patched passes everything everywhere.
func TestExpectedOutcomes(t *testing.T) {
	want := map[string]map[string]string{
		"readiness-during-termination": {
			"stock/" + string(ctxleak.ProblemProbeRegression):   Fail,
			"stock/" + string(ctxleak.ProblemLeak):              Pass,
			"patched/" + string(ctxleak.ProblemProbeRegression): Pass,
			"patched/" + string(ctxleak.ProblemLeak):            Pass,
		},
		"sustained-sync": {
			"stock/" + string(ctxleak.ProblemProbeRegression):   string(ctxleak.Clean),
			"stock/" + string(ctxleak.ProblemLeak):              string(ctxleak.Leaking),
			"patched/" + string(ctxleak.ProblemProbeRegression): string(ctxleak.Clean),
			"patched/" + string(ctxleak.ProblemLeak):            string(ctxleak.Clean),
		},
		"npd-node-check": {
			"stock/" + string(ctxleak.ProblemLeak):              "exit 1",
			"stock/" + string(ctxleak.ProblemProbeRegression):   "exit 1",
			"stock/" + string(ctxleak.ProblemNone):              "exit 0",
			"patched/" + string(ctxleak.ProblemLeak):            "exit 0",
			"patched/" + string(ctxleak.ProblemProbeRegression): "exit 0",
		},
		"kubelet-restart":             {"stock/" + string(ctxleak.ProblemLeak): Pass, "patched/" + string(ctxleak.ProblemProbeRegression): Pass},
		"node-conformance":            {"stock/" + string(ctxleak.ProblemLeak): Pass, "patched/" + string(ctxleak.ProblemProbeRegression): Pass},
		"kubectl-plugin":              {"stock/" + string(ctxleak.ProblemLeak): Pass, "patched/" + string(ctxleak.ProblemProbeRegression): Pass},
		"force-delete-during-prestop": {"stock/" + string(ctxleak.ProblemLeak): hookCompleted, "patched/" + string(ctxleak.ProblemProbeRegression): hookCompleted},
	}
	for _, s := range Scenarios {
		cases, ok := want[s.Name]
		if !ok {
			t.Errorf("scenario %s has no expectations in this test", s.Name)
			continue
		}
		for key, outcome := range cases {
			kubelet, problem, _ := strings.Cut(key, "/")
			if got := s.Expect(kubelet, ctxleak.Problem(problem)); got != outcome {
				t.Errorf("%s on %s: expected outcome %q, want %q", s.Name, key, got, outcome)
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
