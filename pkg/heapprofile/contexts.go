// Package heapprofile reads Go heap profiles of a kubelet and counts the
// context objects in use by where they were created, which is how a leak of
// pod sync contexts (kubernetes#139823) shows in a profile.
package heapprofile

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Site is where a context object was created.
type Site string

const (
	// SitePodSync is a context created for a pod sync, under
	// (*podWorkers).startPodSync: one a sync iteration that is never
	// released is the leak.
	SitePodSync Site = "pod-worker sync"
	// SiteVolumeManager is a context derived in the volume manager's waits,
	// where heap profiles of leaking nodes show much of the growth.
	SiteVolumeManager Site = "volume manager"
	// SiteProber is a context derived by a probe worker.
	SiteProber Site = "prober"
	// SiteOther is any other context.
	SiteOther Site = "other"
)

// Sites lists every site in report order.
var Sites = []Site{SitePodSync, SiteVolumeManager, SiteProber, SiteOther}

// siteFrames maps a function name fragment found in an allocation's stack to
// the site it stands for. The first site whose fragment appears anywhere in
// the stack wins, in this order.
var siteFrames = []struct {
	site     Site
	fragment string
}{
	{SitePodSync, "k8s.io/kubernetes/pkg/kubelet.(*podWorkers).startPodSync"},
	{SiteVolumeManager, "(*volumeManager).WaitForAttachAndMount"},
	{SiteVolumeManager, "(*volumeManager).WaitForUnmount"},
	{SiteProber, "k8s.io/kubernetes/pkg/kubelet/prober."},
}

// SiteCounts are the in-use objects the context package allocated for one
// site.
type SiteCounts struct {
	// Contexts are the context values themselves (cancelCtx, timerCtx,
	// valueCtx, ...): one per WithCancel, WithValue... call whose result is
	// still reachable (a WithTimeout also counts its timer).
	Contexts int64 `json:"contexts"`
	// Objects are all objects the context package allocated: the contexts,
	// their done channels, and the maps in which parents register their
	// children (which keep the size of their largest population).
	Objects int64 `json:"objects"`
	// Bytes are the bytes of Objects.
	Bytes int64 `json:"bytes"`
}

// ContextCounts is what a heap profile says about the context objects in use.
type ContextCounts struct {
	// Sites has the counts of each site that has any. They are exact when
	// Exact is set, estimates otherwise.
	Sites map[Site]SiteCounts
	// SamplingRate is the profile's sampling period in bytes (the
	// process's runtime.MemProfileRate): 1 means every allocation was
	// recorded.
	SamplingRate int64
	// Exact is true when every allocation was recorded, so that counts are
	// counts, not estimates.
	Exact bool
}

// Contexts returns the in-use contexts created at site.
func (c ContextCounts) Contexts(site Site) int64 { return c.Sites[site].Contexts }

// TotalContexts returns the in-use contexts of all sites.
func (c ContextCounts) TotalContexts() int64 {
	var total int64
	for _, n := range c.Sites {
		total += n.Contexts
	}
	return total
}

// Parse reads a heap profile in the pprof format, gzipped or not, as served
// at /debug/pprof/heap.
func Parse(r io.Reader) (*profile.Profile, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("not a pprof profile: %w", err)
	}
	return p, nil
}

// CountContexts counts the in-use objects of p that the context package
// allocated (the contexts themselves, their done channels and the
// registrations of their children), by the site that created them.
func CountContexts(p *profile.Profile) (ContextCounts, error) {
	objectsIndex, bytesIndex := -1, -1
	for i, st := range p.SampleType {
		switch st.Type {
		case "inuse_objects":
			objectsIndex = i
		case "inuse_space":
			bytesIndex = i
		}
	}
	if objectsIndex < 0 || bytesIndex < 0 {
		types := make([]string, 0, len(p.SampleType))
		for _, st := range p.SampleType {
			types = append(types, st.Type)
		}
		return ContextCounts{}, fmt.Errorf("not a heap profile: no inuse_objects and inuse_space samples (has %s)", strings.Join(types, ", "))
	}
	counts := ContextCounts{
		Sites:        map[Site]SiteCounts{},
		SamplingRate: p.Period,
		Exact:        p.Period == 1,
	}
	for _, s := range p.Sample {
		functions := stackFunctions(s)
		allocator := contextAllocator(functions)
		if allocator == "" {
			continue
		}
		site := siteOf(functions)
		c := counts.Sites[site]
		if isContextConstructor(allocator) {
			c.Contexts += s.Value[objectsIndex]
		}
		c.Objects += s.Value[objectsIndex]
		c.Bytes += s.Value[bytesIndex]
		counts.Sites[site] = c
	}
	return counts, nil
}

// stackFunctions returns the function names of a sample's stack, leaf first,
// inlined frames included.
func stackFunctions(s *profile.Sample) []string {
	var functions []string
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				functions = append(functions, line.Function.Name)
			}
		}
	}
	return functions
}

// contextAllocator returns the function of package context that made the
// allocation, or "" if the context package did not make it: past the
// runtime's own frames (malloc, makechan, map growth), the first frame is in
// package context.
func contextAllocator(functions []string) string {
	for _, fn := range functions {
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/") {
			continue
		}
		if strings.HasPrefix(fn, "context.") {
			return fn
		}
		return ""
	}
	return ""
}

// contextValueAllocators are the functions of package context that allocate
// a context value itself: withCancel the cancelCtx of WithCancel and
// WithCancelCause, WithDeadlineCause the timerCtx of WithDeadline and
// WithTimeout (with its timer), WithValue, WithoutCancel and AfterFunc their
// own. Their other allocations (cancel functions, done channels, a parent's
// map of children) are bookkeeping.
var contextValueAllocators = map[string]bool{
	"context.withCancel":        true,
	"context.WithDeadlineCause": true,
	"context.WithValue":         true,
	"context.WithoutCancel":     true,
	"context.AfterFunc":         true,
}

// ValuesPerSyncContext is the most context values the context of one pod sync
// is made of: context.WithCancel(context.WithoutCancel(parentCtx)), as
// v1.36.3 and later and -ctxfix builds derive it, allocates the WithoutCancel
// wrapper and the cancelCtx under it; v1.36.0-v1.36.2 allocate only the
// cancelCtx. Bounds on live sync contexts are in context values.
const ValuesPerSyncContext = 2

// SyncContextSlack is how many live sync contexts above what the pods
// account for a kubelet may show without counting as leaking: syncs in
// flight when the profile was taken.
const SyncContextSlack = 10

// SyncContextBound is the most live sync contexts, in context values, that a
// kubelet which does not leak holds while it runs pods pods, probedPods of
// them with probes. Per pod: the context of its latest sync (reachable
// through the pod worker's cancel function until the next sync replaces
// it), and that of a sync that has just ended but whose goroutines have not
// let go of it yet; per probed pod, the context of the sync that started its
// probe workers, whose values they keep. Each is up to ValuesPerSyncContext
// context values; plus SyncContextSlack. The bound does not grow with the
// number of syncs, so a kubelet that leaks one context per sync passes it
// within seconds. The soak, the real node and ctxleak all judge by it.
func SyncContextBound(pods, probedPods int64) int64 {
	return ValuesPerSyncContext*(2*pods+probedPods) + SyncContextSlack
}

// isContextConstructor reports whether fn allocates context values.
func isContextConstructor(fn string) bool { return contextValueAllocators[fn] }

func siteOf(functions []string) Site {
	for _, sf := range siteFrames {
		for _, fn := range functions {
			if strings.Contains(fn, sf.fragment) {
				return sf.site
			}
		}
	}
	return SiteOther
}

// TopStacks returns up to n stacks of in-use context objects of a site with
// the most objects, each as "count: leaf;...;root" of at most depth frames, so
// that a report can show its evidence.
func TopStacks(p *profile.Profile, site Site, n, depth int) []string {
	objectsIndex := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_objects" {
			objectsIndex = i
		}
	}
	if objectsIndex < 0 {
		return nil
	}
	byStack := map[string]int64{}
	for _, s := range p.Sample {
		functions := stackFunctions(s)
		if contextAllocator(functions) == "" || siteOf(functions) != site || s.Value[objectsIndex] == 0 {
			continue
		}
		if len(functions) > depth {
			functions = functions[:depth]
		}
		byStack[strings.Join(functions, " < ")] += s.Value[objectsIndex]
	}
	stacks := make([]string, 0, len(byStack))
	for stack := range byStack {
		stacks = append(stacks, stack)
	}
	sort.Slice(stacks, func(i, j int) bool { return byStack[stacks[i]] > byStack[stacks[j]] })
	if len(stacks) > n {
		stacks = stacks[:n]
	}
	for i, stack := range stacks {
		stacks[i] = fmt.Sprintf("%d: %s", byStack[stack], stack)
	}
	return stacks
}

// ReduceToContexts returns a copy of p with only the samples of objects the
// context package allocated that are still in use: a profile small enough
// to keep, which CountContexts reads the same as p.
func ReduceToContexts(p *profile.Profile) (*profile.Profile, error) {
	objectsIndex := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_objects" {
			objectsIndex = i
		}
	}
	if objectsIndex < 0 {
		return nil, fmt.Errorf("not a heap profile: no inuse_objects samples")
	}
	reduced := p.Copy()
	kept := reduced.Sample[:0]
	for _, s := range reduced.Sample {
		if s.Value[objectsIndex] != 0 && contextAllocator(stackFunctions(s)) != "" {
			kept = append(kept, s)
		}
	}
	reduced.Sample = kept
	return reduced.Compact(), nil
}

// SiteOfSample returns the site of a sample's allocation.
func SiteOfSample(s *profile.Sample) Site { return siteOf(stackFunctions(s)) }
