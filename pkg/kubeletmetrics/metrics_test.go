package kubeletmetrics

import (
	"os"
	"strings"
	"testing"
)

// testdata/kubelet-v1.36.2-ctxfix.3.txt holds four metric families of a
// real scrape of a patched v1.36.2 kubelet running 100 static pods, as the
// kubelet wrote them.
func readScrape(t *testing.T) Metrics {
	t.Helper()
	text, err := os.ReadFile("testdata/kubelet-v1.36.2-ctxfix.3.txt")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadsAKubeletScrape(t *testing.T) {
	m := readScrape(t)
	if got, err := m.Sum(WorkingPods); err != nil || got != 100 {
		t.Errorf("Sum(%s) = %v, %v; want 100", WorkingPods, got, err)
	}
	if got, err := m.Observations(PodWorkerDuration); err != nil || got != 100+867 {
		t.Errorf("Observations(%s) = %v, %v; want 967", PodWorkerDuration, got, err)
	}
	if got, err := m.Label(BuildInfo, "git_version"); err != nil || got != "v1.36.2-ctxfix.3" {
		t.Errorf("Label(%s, git_version) = %q, %v", BuildInfo, got, err)
	}
	if got, err := m.Sum("go_goroutines"); err != nil || got != 236 {
		t.Errorf("Sum(go_goroutines) = %v, %v; want 236", got, err)
	}
}

func TestNamesWhatIsMissingOrWrong(t *testing.T) {
	m := readScrape(t)
	for name, err := range map[string]error{
		"missing metric":          func() error { _, err := m.Sum("kubelet_no_such_metric"); return err }(),
		"histogram summed":        func() error { _, err := m.Sum(PodWorkerDuration); return err }(),
		"gauge as histogram":      func() error { _, err := m.Observations(WorkingPods); return err }(),
		"missing label":           func() error { _, err := m.Label(BuildInfo, "no_such_label"); return err }(),
		"missing labelled metric": func() error { _, err := m.Label("kubelet_no_such_metric", "x"); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "kubelet_") && !strings.Contains(err.Error(), "kubernetes_") {
			t.Errorf("%s: error %q does not name the metric", name, err)
		}
	}
	if _, err := Parse([]byte("kubelet_working_pods{config=\"desired\" 1\n")); err == nil {
		t.Error("a malformed scrape parsed")
	}
}
