package soak

import (
	"errors"
	"fmt"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

// GoroutineSlack is how many goroutines a kubelet may hold above the stock
// kubelet of the same run at its end, or gain between the middle and the end
// of a run without one, and still count as not growing.
const GoroutineSlack = 20

// SyncContextBound is heapprofile.SyncContextBound for the run's pods and
// probed pods.
func SyncContextBound(r *Result) int64 {
	return heapprofile.SyncContextBound(int64(r.Pods), int64(r.ProbedPods))
}

// Check asserts what a soak run must show. Every kubelet named "patched"
// (or every kubelet, when leakFixed is false) must stay bounded: at most
// SyncContextBound sync contexts at every sample, no more at the end than at
// the peak of the first half (give or take the syncs in flight), no
// goroutines growing, and pod syncs going on. With leakFixed, the kubelet
// named "stock" must leak in the same run: gain at least one sync context per
// pod, and break the bound that the patched kubelet kept, which shows that
// the bound can catch the leak.
func Check(r *Result, leakFixed bool) error {
	var errs []error
	var stock *Series
	for _, s := range r.Series {
		if s.Name == "stock" && leakFixed && len(s.Samples) >= 3 {
			stock = s
		}
	}
	for _, s := range r.Series {
		if len(s.Samples) < 3 {
			errs = append(errs, fmt.Errorf("%s: only %d samples; the run is too short to tell", s.Name, len(s.Samples)))
			continue
		}
		if s.Name == "stock" && leakFixed {
			sum := Summarize(s)
			if growth := sum.LastSyncContexts - sum.FirstSyncContexts; growth < int64(r.Pods) {
				errs = append(errs, fmt.Errorf("stock: sync contexts went from %d to %d over %.0fs; a leaking kubelet gains at least one per pod (%d)",
					sum.FirstSyncContexts, sum.LastSyncContexts, sum.ElapsedSeconds, r.Pods))
			}
			if checkBounded(r, s, nil) == nil {
				errs = append(errs, fmt.Errorf("stock: stayed within %d sync contexts; the bound the patched kubelet is held to did not catch the leak", SyncContextBound(r)))
			}
			continue
		}
		errs = append(errs, checkBounded(r, s, stock))
	}
	return errors.Join(errs...)
}

// checkGoroutines checks that a kubelet does not leak goroutines. A kubelet
// starts some goroutines on timers, in stock and patched alike: about a
// minute after start, one volume stats calculator per pod
// (fsResourceAnalyzer, volumeStatsAggPeriod). Two kubelets of one run start
// seconds apart and cross such a step seconds apart, so their growth over
// the same window can differ by a whole step. With a stock kubelet of the
// same run (same pods, same duration), which does not leak goroutines, the
// reference is where it ends; without one, what the kubelet gained over the
// second half of its run, which a long enough run puts after the steps.
func checkGoroutines(s, stock *Series) error {
	middle, last := s.Samples[len(s.Samples)/2], s.Samples[len(s.Samples)-1]
	if stock != nil {
		stockLast := stock.Samples[len(stock.Samples)-1]
		if last.Goroutines > stockLast.Goroutines+GoroutineSlack {
			return fmt.Errorf("%s: %d goroutines at %.0fs, %d more than the stock kubelet of the same run (%d at %.0fs)",
				s.Name, last.Goroutines, last.ElapsedSeconds, last.Goroutines-stockLast.Goroutines, stockLast.Goroutines, stockLast.ElapsedSeconds)
		}
		return nil
	}
	if last.Goroutines > middle.Goroutines+GoroutineSlack {
		return fmt.Errorf("%s: goroutines grew from %d at %.0fs to %d at %.0fs",
			s.Name, middle.Goroutines, middle.ElapsedSeconds, last.Goroutines, last.ElapsedSeconds)
	}
	return nil
}

// syncContextGrowthSlack is how far a kubelet's sync contexts may end above
// their peak in the first half of the run: syncs in flight come and go.
func syncContextGrowthSlack(pods int) int64 {
	return int64(heapprofile.SyncContextSlack + heapprofile.ValuesPerSyncContext*pods/2)
}

// checkBounded checks that a kubelet neither leaks sync contexts nor
// goroutines (against stock, the stock kubelet of the same run, when there
// is one: see checkGoroutines), and kept syncing pods.
func checkBounded(r *Result, s, stock *Series) error {
	var errs []error
	bound := SyncContextBound(r)
	for _, sample := range s.Samples {
		if sample.SyncContexts() > bound {
			errs = append(errs, fmt.Errorf("%s: %d sync contexts live at %.0fs; want at most %d (%d x (2 x %d pods + %d probed) + %d)",
				s.Name, sample.SyncContexts(), sample.ElapsedSeconds, bound, heapprofile.ValuesPerSyncContext, r.Pods, r.ProbedPods, heapprofile.SyncContextSlack))
			break
		}
	}
	middle, last := s.Samples[len(s.Samples)/2], s.Samples[len(s.Samples)-1]
	var firstHalfMax int64
	for _, sample := range s.Samples[:len(s.Samples)/2+1] {
		firstHalfMax = max(firstHalfMax, sample.SyncContexts())
	}
	if last.SyncContexts() > firstHalfMax+syncContextGrowthSlack(r.Pods) {
		errs = append(errs, fmt.Errorf("%s: sync contexts still growing: %d at %.0fs, at most %d in the first half of the run",
			s.Name, last.SyncContexts(), last.ElapsedSeconds, firstHalfMax))
	}
	errs = append(errs, checkGoroutines(s, stock))
	if last.PodSyncs <= middle.PodSyncs {
		errs = append(errs, fmt.Errorf("%s: no pod syncs between %.0fs and %.0fs; the run did not exercise the pod workers",
			s.Name, middle.ElapsedSeconds, last.ElapsedSeconds))
	}
	return errors.Join(errs...)
}
