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

// The two counters as a kubelet reports them: started_pods_total from the
// start, started_containers_total only once a container_type is counted.
func TestStarted(t *testing.T) {
	const pods = "# HELP kubelet_started_pods_total [ALPHA] Cumulative number of pods started\n# TYPE kubelet_started_pods_total counter\nkubelet_started_pods_total 3\n"
	const containers = "# HELP kubelet_started_containers_total [ALPHA] Cumulative number of containers started\n# TYPE kubelet_started_containers_total counter\nkubelet_started_containers_total{container_type=\"container\"} 4\nkubelet_started_containers_total{container_type=\"init_container\"} 1\n"
	for name, tc := range map[string]struct {
		scrape                string
		wantPods, wantStarted float64
		wantErr               string
	}{
		"both":                         {scrape: pods + containers, wantPods: 3, wantStarted: 5},
		"no container started yet":     {scrape: pods, wantPods: 3, wantStarted: 0},
		"a kubelet without the metric": {scrape: containers, wantErr: StartedPods},
	} {
		m, err := Parse([]byte(tc.scrape))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gotPods, gotContainers, err := m.Started()
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one naming %s", name, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || gotPods != tc.wantPods || gotContainers != tc.wantStarted):
			t.Errorf("%s: Started() = %v, %v, %v; want %v, %v", name, gotPods, gotContainers, err, tc.wantPods, tc.wantStarted)
		}
	}
}

func TestPodSyncs(t *testing.T) {
	if got, err := readScrape(t).PodSyncs(); err != nil || got != 100+867 {
		t.Errorf("PodSyncs() = %v, %v; want 967", got, err)
	}
	// A kubelet with no pod yet: kubelet_working_pods, no histogram.
	fresh, err := Parse([]byte("# TYPE kubelet_working_pods gauge\nkubelet_working_pods{config=\"desired\",lifecycle=\"sync\",static=\"\"} 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.PodSyncs(); err != nil || got != 0 {
		t.Errorf("PodSyncs() of a kubelet with no pod = %v, %v; want 0", got, err)
	}
	if _, err := (Metrics{}).PodSyncs(); err == nil || !strings.Contains(err.Error(), WorkingPods) {
		t.Errorf("PodSyncs() of a scrape that is not a kubelet's: %v, want an error naming %s", err, WorkingPods)
	}
}
