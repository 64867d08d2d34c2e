package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

// Summary condenses one kubelet's samples.
type Summary struct {
	Name               string
	Version            string
	FirstSyncContexts  int64
	LastSyncContexts   int64
	MaxSyncContexts    int64
	SyncContextsPerMin float64
	FirstGoroutines    int64
	LastGoroutines     int64
	FirstRSSMiB        float64
	LastRSSMiB         float64
	PodSyncs           int64
	LastSyncObjects    int64
	LastOtherContexts  int64
	LastVolumeContexts int64
	LastProberContexts int64
	ElapsedSeconds     float64
}

// Summarize condenses a series.
func Summarize(s *Series) Summary {
	sum := Summary{Name: s.Name, Version: s.Version}
	if len(s.Samples) == 0 {
		return sum
	}
	first, last := s.Samples[0], s.Samples[len(s.Samples)-1]
	sum.FirstSyncContexts, sum.LastSyncContexts = first.SyncContexts(), last.SyncContexts()
	for _, sample := range s.Samples {
		sum.MaxSyncContexts = max(sum.MaxSyncContexts, sample.SyncContexts())
	}
	// The rate over the second half of the run, once every pod has started.
	middle := s.Samples[len(s.Samples)/2]
	if minutes := (last.ElapsedSeconds - middle.ElapsedSeconds) / 60; minutes > 0 {
		sum.SyncContextsPerMin = float64(last.SyncContexts()-middle.SyncContexts()) / minutes
	}
	sum.FirstGoroutines, sum.LastGoroutines = first.Goroutines, last.Goroutines
	sum.FirstRSSMiB, sum.LastRSSMiB = float64(first.RSSBytes)/(1<<20), float64(last.RSSBytes)/(1<<20)
	sum.PodSyncs = last.PodSyncs
	sum.LastSyncObjects = last.Contexts[heapprofile.SitePodSync].Objects
	sum.LastVolumeContexts = last.Contexts[heapprofile.SiteVolumeManager].Contexts
	sum.LastProberContexts = last.Contexts[heapprofile.SiteProber].Contexts
	sum.LastOtherContexts = last.Contexts[heapprofile.SiteOther].Contexts
	sum.ElapsedSeconds = last.ElapsedSeconds
	return sum
}

// Table renders the side-by-side summary.
func Table(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak of %s: %d static pods per kubelet, %.0fs, a sample every %.0fs\n\n", r.Base, r.Pods, r.DurationSeconds, r.IntervalSeconds)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "kubelet\tversion\tpod syncs\tsync ctx first\tsync ctx last\tsync ctx max\tsync ctx /min (2nd half)\tsync objects\tvolume ctx\tprober ctx\tother ctx\tgoroutines\tRSS MiB\t")
	for _, s := range r.Series {
		sum := Summarize(s)
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%+.1f\t%d\t%d\t%d\t%d\t%d→%d\t%.0f→%.0f\t\n",
			sum.Name, sum.Version, sum.PodSyncs, sum.FirstSyncContexts, sum.LastSyncContexts, sum.MaxSyncContexts, sum.SyncContextsPerMin,
			sum.LastSyncObjects, sum.LastVolumeContexts, sum.LastProberContexts, sum.LastOtherContexts,
			sum.FirstGoroutines, sum.LastGoroutines, sum.FirstRSSMiB, sum.LastRSSMiB)
	}
	w.Flush()
	b.WriteString("\nsync ctx: live contexts created under (*podWorkers).startPodSync; sync objects: every object the context package\n" +
		"allocated there (contexts, and the parent's map of children, which keeps its largest size); volume/prober/other ctx:\n" +
		"live contexts created elsewhere. Counts are exact: the kubelets run with GODEBUG=memprofilerate=1.\n")
	return b.String()
}

// WriteReport writes result.json, table.txt and sync-contexts.svg into dir.
func WriteReport(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "table.txt"), []byte(Table(r)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sync-contexts.svg"), []byte(SVG(r)), 0o644)
}

// SVG plots live sync contexts over time, one line per kubelet.
func SVG(r *Result) string {
	const (
		width, height = 720, 400
		left, right   = 70, 160
		top, bottom   = 40, 50
	)
	colors := []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"}
	var maxX, maxY float64 = 1, 1
	for _, s := range r.Series {
		for _, sample := range s.Samples {
			maxX = max(maxX, sample.ElapsedSeconds)
			maxY = max(maxY, float64(sample.SyncContexts()))
		}
	}
	maxY = niceCeil(maxY)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	x := func(v float64) float64 { return float64(left) + v/maxX*plotW }
	y := func(v float64) float64 { return float64(top) + plotH - v/maxY*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">Live pod sync contexts, %s, %d static pods</text>`+"\n", left, r.Base, r.Pods)
	// axes and grid
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), width-right, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left-6, y(v)+4, v)
	}
	for i := 0; i <= 4; i++ {
		v := maxX * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0fs</text>`+"\n", x(v), height-bottom+18, v)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, height-bottom, width-right, height-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, height-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">time since start</text>`+"\n", left+int(plotW/2), height-10)
	for i, s := range r.Series {
		color := colors[i%len(colors)]
		var points []string
		for _, sample := range s.Samples {
			points = append(points, fmt.Sprintf("%.1f,%.1f", x(sample.ElapsedSeconds), y(float64(sample.SyncContexts()))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(points, " "))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", width-right+12, top+i*22, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", width-right+30, top+i*22+11, s.Name)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#555">%s</text>`+"\n", width-right+30, top+i*22+24, strings.TrimPrefix(s.Version, "Kubernetes "))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	step := 1.0
	for step*10 <= v {
		step *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*step >= v {
			return m * step
		}
	}
	return 10 * step
}
