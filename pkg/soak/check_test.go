package soak

import (
	"strings"
	"testing"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

// series builds a kubelet's samples from its sync context and goroutine
// counts, one sample every 10s, with pod syncs going up.
func series(name string, syncContexts, goroutines []int64) *Series {
	s := &Series{Name: name, Version: "Kubernetes v1.36.2"}
	for i := range syncContexts {
		s.Samples = append(s.Samples, Sample{
			ElapsedSeconds: float64(10 * i),
			Contexts:       map[heapprofile.Site]heapprofile.SiteCounts{heapprofile.SitePodSync: {Contexts: syncContexts[i], Objects: syncContexts[i]}},
			Goroutines:     goroutines[i],
			PodSyncs:       int64(100 * (i + 1)),
		})
	}
	return s
}

func TestCheck(t *testing.T) {
	flatGoroutines := []int64{150, 200, 200, 201, 200}
	leaking := series("stock", []int64{35, 400, 800, 1200, 1700}, flatGoroutines)
	flat := series("patched", []int64{75, 76, 75, 77, 75}, flatGoroutines)
	result := func(s ...*Series) *Result { return &Result{Base: "v1.36.2", Pods: 50, ProbedPods: 25, Series: s} }

	for name, tc := range map[string]struct {
		result    *Result
		leakFixed bool
		wantErr   string
	}{
		"stock leaks, patched flat":   {result: result(leaking, flat), leakFixed: true},
		"both flat, no leak expected": {result: result(series("stock", []int64{50, 50, 50, 50, 50}, flatGoroutines), flat)},
		"stock does not grow": {
			result:    result(series("stock", []int64{50, 50, 50, 50, 50}, flatGoroutines), flat),
			leakFixed: true,
			wantErr:   "a leaking kubelet gains at least one per pod",
		},
		"stock grows within the bound": {
			result:    result(series("stock", []int64{10, 70, 70, 70, 70}, flatGoroutines), flat),
			leakFixed: true,
			wantErr:   "did not catch the leak",
		},
		"patched over the bound": {
			result:    result(leaking, series("patched", []int64{75, 76, 300, 77, 75}, flatGoroutines)),
			leakFixed: true,
			wantErr:   "300 sync contexts live at 20s; want at most 260 (2 x (2 x 50 pods + 25 probed) + 10)",
		},
		"patched growing within the bound": {
			result:    result(leaking, series("patched", []int64{40, 60, 80, 120, 160}, flatGoroutines)),
			leakFixed: true,
			wantErr:   "still growing: 160 at 40s, at most 80 in the first half",
		},
		"patched gains goroutines as stock does": {
			result:    result(series("stock", []int64{35, 400, 800, 1200, 1700}, []int64{150, 150, 150, 200, 200}), series("patched", []int64{0, 75, 75, 92, 75}, []int64{150, 150, 150, 203, 208})),
			leakFixed: true,
		},
		// The two kubelets cross the same start-up step on either side of
		// the middle sample.
		"patched gains goroutines a sample after stock": {
			result:    result(series("stock", []int64{35, 400, 800, 1200, 1700}, []int64{150, 150, 200, 200, 200}), series("patched", []int64{0, 75, 75, 92, 75}, []int64{150, 150, 150, 200, 205})),
			leakFixed: true,
		},
		"patched leaks goroutines": {
			result:    result(leaking, series("patched", []int64{75, 75, 75, 75, 75}, []int64{150, 200, 200, 300, 400})),
			leakFixed: true,
			wantErr:   "patched: 400 goroutines at 40s, 200 more than the stock kubelet of the same run (200 at 40s)",
		},
		"patched leaks goroutines, no stock": {
			result:  result(series("patched", []int64{75, 75, 75, 75, 75}, []int64{150, 200, 200, 300, 400})),
			wantErr: "patched: goroutines grew from 200 at 20s to 400 at 40s",
		},
		"patched ends with stock's goroutines, no stock": {
			result: result(series("patched", []int64{75, 75, 75, 75, 75}, []int64{150, 200, 200, 210, 205})),
		},
		"stock leaks but leak not expected": {
			result:  result(leaking, flat),
			wantErr: "stock: 400 sync contexts live",
		},
		"patched transient peak within the bound": {
			result:    result(leaking, series("patched", []int64{0, 207, 150, 160, 150}, flatGoroutines)),
			leakFixed: true,
		},
		"too short": {
			result:    result(series("stock", []int64{1}, []int64{1}), series("patched", []int64{1}, []int64{1})),
			leakFixed: true,
			wantErr:   "too short to tell",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := Check(tc.result, tc.leakFixed)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestReport(t *testing.T) {
	r := &Result{Base: "v1.36.2", Pods: 50, DurationSeconds: 40, IntervalSeconds: 10, Series: []*Series{
		series("stock", []int64{35, 400, 800, 1200, 1700}, []int64{1, 1, 1, 1, 1}),
		series("patched", []int64{75, 76, 75, 77, 75}, []int64{1, 1, 1, 1, 1}),
	}}
	table := Table(r)
	for _, want := range []string{"stock", "patched", "1700", "+2700.0"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	svg := SVG(r)
	if strings.Count(svg, "<polyline") != 2 || !strings.HasSuffix(svg, "</svg>\n") {
		t.Errorf("SVG does not have one line per kubelet:\n%s", svg)
	}
	dir := t.TempDir()
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
}

func TestStaticPods(t *testing.T) {
	opts := DefaultPodOptions
	if got := opts.ProbedPods(50); got != 25 {
		t.Errorf("ProbedPods(50) = %d, want 25", got)
	}
	probed, hooked := 0, 0
	for i := range 50 {
		pod := StaticPod(i, opts)
		c := pod.Spec.Containers[0]
		if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].EmptyDir == nil || len(c.VolumeMounts) != 1 {
			t.Fatalf("pod %d has no emptyDir volume", i)
		}
		if c.ReadinessProbe != nil {
			probed++
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			hooked++
		}
	}
	if probed != 25 || hooked != 17 {
		t.Errorf("probed %d, with preStop %d; want 25 and 17", probed, hooked)
	}
	if err := WriteStaticPods(t.TempDir(), 3, opts); err != nil {
		t.Fatal(err)
	}
}
