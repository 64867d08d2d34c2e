// Package ctxleak tells whether a kubelet leaks pod sync contexts
// (kubernetes#139823), from a heap profile or from the kubelet version a node
// reports.
package ctxleak

import (
	"fmt"

	"github.com/google/pprof/profile"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/heapprofile"
)

// Verdict is what a heap profile says about the leak.
type Verdict string

const (
	// Leaking: more live sync contexts than the kubelet's pod workers can
	// account for.
	Leaking Verdict = "leaking"
	// Clean: no more live sync contexts than the pod workers account for.
	Clean Verdict = "clean"
	// Inconclusive: the profile is sampled too coarsely to tell.
	Inconclusive Verdict = "inconclusive"
)

const (
	// sampledLeakThreshold is the estimated number of live sync contexts
	// from which a sampled profile counts as leaking. At the default
	// sampling rate (one sample per 512 KiB allocated) one sampled context
	// stands for about ten thousand, so fewer cannot be told apart from
	// noise.
	sampledLeakThreshold = 50000
)

// Analysis is the verdict on one heap profile and its evidence.
type Analysis struct {
	Verdict Verdict `json:"verdict"`
	// SyncContexts are the live contexts created by pod syncs.
	SyncContexts int64 `json:"syncContexts"`
	// PodWorkers estimates the pod workers: each keeps the cancel function
	// of its latest sync.
	PodWorkers int64 `json:"podWorkers"`
	// Expected is heapprofile.SyncContextBound with every pod worker's pod
	// counted as probed: the profile tells pod workers apart, not which of
	// their pods have probes, so this is the bound's upper end.
	Expected int64 `json:"expected"`
	// LeakedEstimate is SyncContexts beyond Expected.
	LeakedEstimate int64 `json:"leakedEstimate"`
	// Exact is true when the profile recorded every allocation
	// (GODEBUG=memprofilerate=1); otherwise counts are estimates.
	Exact bool `json:"exact"`
	// SamplingRate is the profile's sampling period in bytes.
	SamplingRate int64 `json:"samplingRate"`
	// Sites are the live contexts and context package objects by site.
	Sites map[heapprofile.Site]heapprofile.SiteCounts `json:"sites"`
	// Evidence is the stacks that hold the most sync contexts.
	Evidence []string `json:"evidence,omitempty"`
	// Reason says in a sentence how the verdict was reached.
	Reason string `json:"reason"`
}

// Analyze reads the live contexts of a heap profile and gives a verdict.
func Analyze(p *profile.Profile) (Analysis, error) {
	counts, err := heapprofile.CountContexts(p)
	if err != nil {
		return Analysis{}, err
	}
	a := Analysis{
		SyncContexts: counts.Contexts(heapprofile.SitePodSync),
		PodWorkers:   podWorkers(p),
		Exact:        counts.Exact,
		SamplingRate: counts.SamplingRate,
		Sites:        counts.Sites,
		Evidence:     heapprofile.TopStacks(p, heapprofile.SitePodSync, 3, 6),
	}
	a.Expected = heapprofile.SyncContextBound(a.PodWorkers, a.PodWorkers)
	a.LeakedEstimate = max(0, a.SyncContexts-a.Expected)

	switch {
	case a.Exact && a.LeakedEstimate > 0:
		a.Verdict = Leaking
		a.Reason = fmt.Sprintf("%d live sync contexts where %d pod workers account for at most %d: about %d leaked", a.SyncContexts, a.PodWorkers, a.Expected, a.LeakedEstimate)
	case a.Exact:
		a.Verdict = Clean
		a.Reason = fmt.Sprintf("%d live sync contexts, within the %d that %d pod workers account for", a.SyncContexts, a.Expected, a.PodWorkers)
	case a.SyncContexts >= sampledLeakThreshold:
		a.Verdict = Leaking
		a.Reason = fmt.Sprintf("an estimated %d live sync contexts (profile sampled every %d bytes); a kubelet that does not leak holds at most six per pod", a.SyncContexts, a.SamplingRate)
	case a.SyncContexts == 0:
		a.Verdict = Clean
		a.Reason = fmt.Sprintf("no sampled sync context (profile sampled every %d bytes: fewer than about %d leaked contexts would not show; take the profile with GODEBUG=memprofilerate=1 for exact counts)", a.SamplingRate, sampledLeakThreshold)
	default:
		a.Verdict = Inconclusive
		a.Reason = fmt.Sprintf("an estimated %d live sync contexts in a profile sampled every %d bytes: too few to tell a leak from pods at this rate; take the profile later, or with GODEBUG=memprofilerate=1", a.SyncContexts, a.SamplingRate)
	}
	return a, nil
}

// podWorkers counts the cancel functions that pod workers keep of their
// latest sync: the in-use closures allocated by context.WithCancel itself
// under startPodSync. Each pod worker keeps exactly one, in leaking and fixed
// kubelets alike.
func podWorkers(p *profile.Profile) int64 {
	objectsIndex := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_objects" {
			objectsIndex = i
		}
	}
	var n int64
	for _, s := range p.Sample {
		if len(s.Location) == 0 || len(s.Location[0].Line) == 0 {
			continue
		}
		leaf := s.Location[0].Line[0].Function
		if leaf == nil || leaf.Name != "context.WithCancel" {
			continue
		}
		if heapprofile.SiteOfSample(s) == heapprofile.SitePodSync {
			n += s.Value[objectsIndex]
		}
	}
	return n
}
