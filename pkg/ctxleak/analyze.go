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

// Workload is what a kubelet runs, as the bound on its live sync contexts
// counts it (heapprofile.SyncContextBound).
type Workload struct {
	// PodWorkers is the pods the kubelet has a pod worker for, deleted ones
	// included until it has finished them and forgotten them.
	PodWorkers int64 `json:"podWorkers"`
	// ProbedPods is how many of them have probes.
	ProbedPods int64 `json:"probedPods"`
	// Source says where the counts come from.
	Source string `json:"source"`
}

// SourceProfile is the Source of a workload taken from the heap profile
// itself, for a profile judged without its kubelet.
const SourceProfile = "the profile's own pod-worker cancel functions, every pod counted as probed"

// Bound is the most live sync contexts the workload accounts for.
func (w Workload) Bound() int64 { return heapprofile.SyncContextBound(w.PodWorkers, w.ProbedPods) }

// Analysis is the verdict on one heap profile and its evidence.
type Analysis struct {
	Verdict Verdict `json:"verdict"`
	// SyncContexts are the live contexts created by pod syncs.
	SyncContexts int64 `json:"syncContexts"`
	// Workload is what the kubelet runs, which the bound is derived from.
	Workload Workload `json:"workload"`
	// ProfilePodWorkers counts the cancel functions of pod syncs that the
	// profile holds: one per pod worker, the latest sync's. It cross-checks
	// Workload and is never the bound when the kubelet was asked, since a
	// leak that also kept cancel functions would raise its own bound.
	ProfilePodWorkers int64 `json:"profilePodWorkers"`
	// Expected is Workload.Bound().
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

// Analyze reads the live contexts of a heap profile and judges them by what
// the kubelet runs. A nil workload takes it from the profile itself
// (SourceProfile), which is all a profile without its kubelet has.
func Analyze(p *profile.Profile, workload *Workload) (Analysis, error) {
	counts, err := heapprofile.CountContexts(p)
	if err != nil {
		return Analysis{}, err
	}
	a := Analysis{
		SyncContexts:      counts.Contexts(heapprofile.SitePodSync),
		ProfilePodWorkers: podWorkers(p),
		Exact:             counts.Exact,
		SamplingRate:      counts.SamplingRate,
		Sites:             counts.Sites,
		Evidence:          heapprofile.TopStacks(p, heapprofile.SitePodSync, 3, 6),
	}
	if workload != nil {
		a.Workload = *workload
	} else {
		a.Workload = Workload{PodWorkers: a.ProfilePodWorkers, ProbedPods: a.ProfilePodWorkers, Source: SourceProfile}
	}
	a.Expected = a.Workload.Bound()
	a.LeakedEstimate = max(0, a.SyncContexts-a.Expected)

	workers := fmt.Sprintf("%d pod workers (%d probed; from %s)", a.Workload.PodWorkers, a.Workload.ProbedPods, a.Workload.Source)
	switch {
	case a.Exact && a.LeakedEstimate > 0:
		a.Verdict = Leaking
		a.Reason = fmt.Sprintf("%d live sync contexts where %s account for at most %d: about %d leaked", a.SyncContexts, workers, a.Expected, a.LeakedEstimate)
	case a.Exact:
		a.Verdict = Clean
		a.Reason = fmt.Sprintf("%d live sync contexts, within the %d that %s account for", a.SyncContexts, a.Expected, workers)
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
	if a.Exact && workload != nil && a.ProfilePodWorkers > a.Workload.PodWorkers+heapprofile.SyncContextSlack {
		a.Reason += fmt.Sprintf("; the profile holds %d pod-sync cancel functions, more than one per pod worker", a.ProfilePodWorkers)
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
