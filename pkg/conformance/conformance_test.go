package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/ctxleak"
)

const (
	pullSpec   = "[sig-node] Container Runtime blackbox test when running a container with a new image should be able to pull image [NodeConformance]"
	hostIPSpec = "[sig-node] Pods should get a host IP [NodeConformance]"
)

// writeReport writes a ginkgo JSON report of the suite with ginkgo's own
// types, with one [It] spec per status (NAME -> passed, failed, ...; a
// failure's message is "why NAME"), labelled as the e2e framework labels
// its specs, and a BeforeSuite node.
func writeReport(t *testing.T, path string, states map[string]types.SpecState) {
	t.Helper()
	reports := types.SpecReports{{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed}}
	for name, state := range states {
		containers, leaf, _ := strings.Cut(name, "] ")
		r := types.SpecReport{
			ContainerHierarchyTexts: []string{containers + "]"}, LeafNodeText: leaf,
			LeafNodeType: types.NodeTypeIt, LeafNodeLabels: []string{"NodeConformance"}, State: state,
		}
		if state == types.SpecStateFailed {
			r.Failure.Message = "why " + name
		}
		reports = append(reports, r)
	}
	data, err := json.Marshal([]types.Report{{SuiteDescription: "E2eNode Suite", SpecReports: reports}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadReportAndJudge(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	probeSpec := "[sig-node] Probing container should be restarted [NodeConformance]"
	writeReport(t, report, map[string]types.SpecState{
		hostIPSpec: types.SpecStatePassed,
		pullSpec:   types.SpecStateFailed,
		probeSpec:  types.SpecStateFailed,
		"[sig-node] Pods should be slow [NodeConformance]": types.SpecStateSkipped,
	})
	specs, err := ReadReport(report)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 4 {
		t.Fatalf("specs %+v: want the 4 [It] cases", specs)
	}
	if i := slices.IndexFunc(specs, func(s SpecResult) bool { return s.Name == pullSpec }); i < 0 || specs[i].Status != "failed" || specs[i].Message != "why "+pullSpec {
		t.Errorf("specs %+v: want %q failed, with its message, by its full name", specs, pullSpec)
	}
	known := []KnownFailure{
		{Spec: regexp.MustCompile(`should be able to pull image`), Reason: "no registry"},
		{Spec: regexp.MustCompile(`Probing container should be restarted`), Problem: ctxleak.ProblemProbeRegression, Reason: "kubernetes#140881"},
		{Spec: regexp.MustCompile(`Pods should get a host IP`), Problem: ctxleak.ProblemLeak, Reason: "made up: a stock failure that must be shown"},
	}
	for _, tc := range []struct {
		kubelet                         string
		problem                         ctxleak.Problem
		explained, unexplained, unshown []string
	}{
		// The probe spec fails as it must on stock of a probe-regression base.
		{"stock", ctxleak.ProblemProbeRegression, []string{pullSpec, probeSpec}, nil, nil},
		// On patched, the same failure is not explained.
		{"patched", ctxleak.ProblemProbeRegression, []string{pullSpec}, []string{probeSpec}, nil},
		// On stock of a leaking base, the host-IP spec had to fail and did not.
		{"stock", ctxleak.ProblemLeak, []string{pullSpec}, []string{probeSpec}, []string{hostIPSpec}},
	} {
		v := Judge(specs, known, tc.kubelet, tc.problem)
		if v.Passed != 1 || v.Skipped != 1 || !slices.Equal(v.Explained, tc.explained) || !slices.Equal(v.Unexplained, tc.unexplained) || !slices.Equal(v.Unshown, tc.unshown) {
			t.Errorf("%s on %s: %+v, want explained %v, unexplained %v, unshown %v", tc.kubelet, tc.problem, v, tc.explained, tc.unexplained, tc.unshown)
		}
	}
}

func TestReadKnownFailures(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tsv")
	if err := os.WriteFile(good, []byte("# comment\n\nshould pull image\tall\tno registry here\nProbing\tstock:probe-regression\tkubernetes#140881\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	known, err := ReadKnownFailures(good)
	if err != nil || len(known) != 2 || known[0].Reason != "no registry here" || known[0].Problem != "" || known[1].Problem != ctxleak.ProblemProbeRegression {
		t.Fatalf("known %+v, err %v", known, err)
	}
	for name, content := range map[string]string{
		"no-reason":   "spec\tall\n",
		"no-where":    "spec\treason\n",
		"bad-where":   "spec\tpatched\treason\n",
		"bad-problem": "spec\tstock:fixed\treason\n",
		"bad-regexp":  "spec(\tall\treason\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKnownFailures(path); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
