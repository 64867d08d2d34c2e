package soak

import (
	"errors"
	"fmt"
)

// SyncContextSlack is how many sync contexts a kubelet may hold above what
// its pods account for and still count as bounded.
const SyncContextSlack = 10

// GoroutineSlack is how many goroutines a kubelet may gain between the middle
// and the end of a run and still count as not growing.
const GoroutineSlack = 20

// SyncContextBound is the most live sync contexts a kubelet that does not
// leak holds: per pod, one for its latest sync (reachable through the pod's
// cancel function until the next sync replaces it) and one for a sync that
// has just ended but whose goroutines have not let go of its context yet;
// one per probed pod (its probe workers keep the values, and so a reference,
// of the sync that started them); plus SyncContextSlack. It does not grow
// with the number of syncs; a leaking kubelet passes it within seconds.
func SyncContextBound(r *Result) int64 {
	return int64(2*r.Pods + r.ProbedPods + SyncContextSlack)
}

// Check asserts what a soak run must show. Every kubelet named "patched"
// (or every kubelet, when leakFixed is false) must stay bounded: at most
// SyncContextBound sync contexts at every sample, no more at the end than at
// the peak of the first half (give or take the syncs in flight), no more
// goroutines gained over the second half of the run than the stock kubelet of
// the same run gained, and pod syncs going on. With leakFixed, the
// kubelet named "stock" must leak in the same run: gain at least one sync
// context per pod, and break the bound that the patched kubelet kept, which
// shows that the bound can catch the leak.
func Check(r *Result, leakFixed bool) error {
	var errs []error
	// A kubelet starts some goroutines a while after it starts, in stock
	// and patched alike: with a stock kubelet in the same run, goroutine
	// growth is measured against its growth.
	var baselineGoroutineGrowth int64
	for _, s := range r.Series {
		if s.Name == "stock" && leakFixed && len(s.Samples) >= 3 {
			baselineGoroutineGrowth = max(0, goroutineGrowth(s))
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
			if checkBounded(r, s, 0) == nil {
				errs = append(errs, fmt.Errorf("stock: stayed within %d sync contexts; the bound the patched kubelet is held to did not catch the leak", SyncContextBound(r)))
			}
			continue
		}
		errs = append(errs, checkBounded(r, s, baselineGoroutineGrowth))
	}
	return errors.Join(errs...)
}

// goroutineGrowth is how many goroutines a kubelet gained over the second
// half of its run.
func goroutineGrowth(s *Series) int64 {
	return s.Samples[len(s.Samples)-1].Goroutines - s.Samples[len(s.Samples)/2].Goroutines
}

// syncContextGrowthSlack is how far a kubelet's sync contexts may end above
// their peak in the first half of the run: syncs in flight come and go.
func syncContextGrowthSlack(pods int) int64 { return int64(SyncContextSlack + pods/2) }

// checkBounded checks that a kubelet neither leaks sync contexts nor
// goroutines (beyond baselineGoroutineGrowth, what a kubelet that does not
// leak gained over the same time), and kept syncing pods.
func checkBounded(r *Result, s *Series, baselineGoroutineGrowth int64) error {
	var errs []error
	bound := SyncContextBound(r)
	for _, sample := range s.Samples {
		if sample.SyncContexts() > bound {
			errs = append(errs, fmt.Errorf("%s: %d sync contexts live at %.0fs; want at most %d (2 x %d pods + %d probed + %d)",
				s.Name, sample.SyncContexts(), sample.ElapsedSeconds, bound, r.Pods, r.ProbedPods, SyncContextSlack))
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
	if goroutineGrowth(s) > baselineGoroutineGrowth+GoroutineSlack {
		errs = append(errs, fmt.Errorf("%s: goroutines grew from %d at %.0fs to %d at %.0fs (a kubelet that does not leak gained %d)",
			s.Name, middle.Goroutines, middle.ElapsedSeconds, last.Goroutines, last.ElapsedSeconds, baselineGoroutineGrowth))
	}
	if last.PodSyncs <= middle.PodSyncs {
		errs = append(errs, fmt.Errorf("%s: no pod syncs between %.0fs and %.0fs; the run did not exercise the pod workers",
			s.Name, middle.ElapsedSeconds, last.ElapsedSeconds))
	}
	return errors.Join(errs...)
}
