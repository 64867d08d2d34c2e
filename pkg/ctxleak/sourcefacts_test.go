package ctxleak

import (
	"strings"
	"testing"
)

// The shapes of startPodSync and AddPod in upstream's releases, cut down to
// what FactsFromSource reads. hack/verify-version-facts.sh checks the real
// sources.
const (
	perSyncChild = `package kubelet
func (p *podWorkers) startPodSync(parentCtx context.Context, podUID types.UID) (ctx context.Context) {
	status := p.podSyncStatuses[podUID]
	ctx, status.cancelFn = context.WithCancel(parentCtx)
	return ctx
}`
	reusedDetached = `package kubelet
func (p *podWorkers) startPodSync(parentCtx context.Context, podUID types.UID) (ctx context.Context) {
	status := p.podSyncStatuses[podUID]
	if status.ctx == nil || status.ctx.Err() != nil {
		status.ctx, status.cancelFn = context.WithCancel(context.WithoutCancel(parentCtx))
	}
	return status.ctx
}`
	ctxfixIteration = `package kubelet
func (p *podWorkers) startPodSync(parentCtx context.Context, podUID types.UID) (ctx context.Context, cancel context.CancelFunc) {
	status := p.podSyncStatuses[podUID]
	return status.newSyncContext(parentCtx)
}`
	unknownPerSync = `package kubelet
func (p *podWorkers) startPodSync(parentCtx context.Context, podUID types.UID) (ctx context.Context) {
	status := p.podSyncStatuses[podUID]
	ctx, status.cancelFn = context.WithCancel(context.Background())
	return ctx
}`
	proberAttached = `package prober
func (m *manager) AddPod(ctx context.Context, pod *v1.Pod) {
	go w.run(ctx)
}`
	proberDetached = `package prober
func (m *manager) AddPod(ctx context.Context, pod *v1.Pod) {
	logger := klog.FromContext(ctx)
	ctx = context.WithoutCancel(ctx)
	go w.run(ctx)
}`
)

func TestFactsFromSource(t *testing.T) {
	for name, tc := range map[string]struct {
		podWorkers, prober string
		want               SourceFacts
		wantErr            string
	}{
		"v1.36.0-v1.36.2: a child of the parent per sync": {
			podWorkers: perSyncChild, prober: proberAttached,
			want: SourceFacts{Leak: true, SyncContext: "ctx, status.cancelFn = context.WithCancel(parentCtx)"},
		},
		"v1.36.3-v1.36.5: reused per pod, probes attached": {
			podWorkers: reusedDetached, prober: proberAttached,
			want: SourceFacts{ProbeRegression: true, SyncContext: "status.ctx, status.cancelFn = context.WithCancel(context.WithoutCancel(parentCtx))"},
		},
		"v1.37: reused per pod, probes detached": {
			podWorkers: reusedDetached, prober: proberDetached,
			want: SourceFacts{SyncContext: "status.ctx, status.cancelFn = context.WithCancel(context.WithoutCancel(parentCtx))", ProbeContext: "ctx = context.WithoutCancel(ctx)"},
		},
		"a shape it does not know is an error, not a guess": {
			podWorkers: ctxfixIteration, prober: proberDetached,
			wantErr: "assigns status.cancelFn from no context.WithCancel call",
		},
		"a per-sync context from elsewhere is an error": {
			podWorkers: unknownPerSync, prober: proberAttached,
			wantErr: "in a way this tool does not know",
		},
		"no AddPod": {
			podWorkers: reusedDetached, prober: "package prober\n",
			wantErr: "no (*manager).AddPod",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := FactsFromSource([]byte(tc.podWorkers), []byte(tc.prober))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.ProbeContext == "" {
				tc.want.ProbeContext = "probe workers start with AddPod's ctx"
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestVersionFactsTable(t *testing.T) {
	facts, err := VersionFacts()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, fact := range facts {
		if seen[fact.Version] {
			t.Errorf("%s is listed twice", fact.Version)
		}
		seen[fact.Version] = true
	}
	for _, version := range []string{"v1.35.0", "v1.36.0", "v1.36.5", "v1.37.0", "v1.37.2"} {
		if !seen[version] {
			t.Errorf("no facts for %s", version)
		}
	}
	if _, err := parseVersionFacts("v1.36.2-eks-1\tleak\tx\ty\n"); err == nil {
		t.Error("a vendor version in the table was accepted")
	}
	if _, err := parseVersionFacts("v1.36.2\tleaky\tx\ty\n"); err == nil {
		t.Error("an unknown problem was accepted")
	}
}
