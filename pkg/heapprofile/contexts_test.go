package heapprofile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// heapProfile builds a heap profile whose samples have the given stacks
// (leaf first) and in-use object counts, every allocation 64 bytes.
func heapProfile(period int64, stacks map[string]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"},
		},
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:     period,
	}
	functions := map[string]*profile.Function{}
	var nextID uint64 = 1
	for stack, count := range stacks {
		var locations []*profile.Location
		for _, name := range strings.Split(stack, ";") {
			fn, ok := functions[name]
			if !ok {
				fn = &profile.Function{ID: nextID, Name: name}
				functions[name] = fn
				p.Function = append(p.Function, fn)
			}
			loc := &profile.Location{ID: nextID, Line: []profile.Line{{Function: fn}}}
			nextID++
			p.Location = append(p.Location, loc)
			locations = append(locations, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locations, Value: []int64{count, 64 * count, count, 64 * count}})
	}
	return p
}

const (
	syncStack   = "k8s.io/kubernetes/pkg/kubelet.(*podWorkers).startPodSync;k8s.io/kubernetes/pkg/kubelet.(*podWorkers).podWorkerLoop"
	volumeStack = "k8s.io/apimachinery/pkg/util/wait.PollUntilContextTimeout;k8s.io/kubernetes/pkg/kubelet/volumemanager.(*volumeManager).WaitForAttachAndMount;k8s.io/kubernetes/pkg/kubelet.(*Kubelet).SyncPod"
	proberStack = "k8s.io/kubernetes/pkg/kubelet/prober.(*worker).doProbe;k8s.io/kubernetes/pkg/kubelet/prober.(*worker).run"
)

func TestCountContexts(t *testing.T) {
	p := heapProfile(1, map[string]int64{
		"context.withCancel;context.WithCancel;" + syncStack:                   1700, // leaked sync contexts
		"context.WithCancel;" + syncStack:                                      50,   // their cancel functions
		"context.(*cancelCtx).propagateCancel;context.withCancel;" + syncStack: 30,   // the parent's map of children
		"context.WithDeadlineCause;context.WithTimeout;" + volumeStack:         2,
		"context.WithoutCancel;" + proberStack:                                 25,
		"runtime.makechan;context.(*cancelCtx).Done;" + proberStack:            25, // done channels are not contexts
		"context.WithValue;k8s.io/klog/v2.NewContext":                          7,
		"k8s.io/kubernetes/pkg/kubelet.(*podWorkers).UpdatePod;" + syncStack:   99, // not the context package's
	})
	counts, err := CountContexts(p)
	if err != nil {
		t.Fatal(err)
	}
	if !counts.Exact || counts.SamplingRate != 1 {
		t.Errorf("exact = %v, rate %d; want exact at rate 1", counts.Exact, counts.SamplingRate)
	}
	want := map[Site]SiteCounts{
		SitePodSync:       {Contexts: 1700, Objects: 1780, Bytes: 1780 * 64},
		SiteVolumeManager: {Contexts: 2, Objects: 2, Bytes: 128},
		SiteProber:        {Contexts: 25, Objects: 50, Bytes: 50 * 64},
		SiteOther:         {Contexts: 7, Objects: 7, Bytes: 7 * 64},
	}
	for site, w := range want {
		if got := counts.Sites[site]; got != w {
			t.Errorf("%s: got %+v, want %+v", site, got, w)
		}
	}
	if got := counts.TotalContexts(); got != 1734 {
		t.Errorf("TotalContexts = %d, want 1734", got)
	}

	stacks := TopStacks(p, SitePodSync, 1, 3)
	if len(stacks) != 1 || !strings.HasPrefix(stacks[0], "1700: context.withCancel < context.WithCancel < k8s.io/kubernetes/pkg/kubelet.(*podWorkers).startPodSync") {
		t.Errorf("TopStacks = %q", stacks)
	}
}

func TestCountContextsSampled(t *testing.T) {
	counts, err := CountContexts(heapProfile(512*1024, map[string]int64{"context.withCancel;" + syncStack: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if counts.Exact || counts.SamplingRate != 512*1024 {
		t.Errorf("a profile sampled every 512 KiB: exact = %v, rate %d", counts.Exact, counts.SamplingRate)
	}
}

func TestCountContextsRejectsOtherProfiles(t *testing.T) {
	cpu := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	if _, err := CountContexts(cpu); err == nil || !strings.Contains(err.Error(), "not a heap profile") {
		t.Errorf("CPU profile: err = %v", err)
	}
	if _, err := Parse(strings.NewReader("not a profile")); err == nil {
		t.Error("Parse of garbage: no error")
	}
}

func TestReduceToContextsKeepsCounts(t *testing.T) {
	p := heapProfile(1, map[string]int64{
		"context.withCancel;context.WithCancel;" + syncStack:                 40,
		"k8s.io/kubernetes/pkg/kubelet.(*podWorkers).UpdatePod;" + syncStack: 99,
		"runtime.makechan;context.(*cancelCtx).Done;" + proberStack:          5,
	})
	reduced, err := ReduceToContexts(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(reduced.Sample) != 2 {
		t.Errorf("reduced profile has %d samples, want the 2 of the context package", len(reduced.Sample))
	}
	var buf bytes.Buffer
	if err := reduced.Write(&buf); err != nil {
		t.Fatal(err)
	}
	read, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := CountContexts(p)
	after, _ := CountContexts(read)
	for _, site := range Sites {
		if before.Sites[site] != after.Sites[site] {
			t.Errorf("%s: %+v before reducing, %+v after", site, before.Sites[site], after.Sites[site])
		}
	}
}
