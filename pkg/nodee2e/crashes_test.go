package nodee2e

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fixedRuntime lists the same containers and one Ready sandbox for any
// filter.
type fixedRuntime struct{ containers []*criv1.Container }

func (r fixedRuntime) ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error) {
	return r.containers, nil
}

func (r fixedRuntime) ListPodSandbox(context.Context, *criv1.PodSandboxFilter) ([]*criv1.PodSandbox, error) {
	return []*criv1.PodSandbox{{Id: "sandbox"}}, nil
}

// A container created before the restart and never started, which a
// kubelet killed between CreateContainer and StartContainer leaves, is
// reported, not judged, if the running one is its next attempt; one that
// ran, one created after the restart or a third container is wrong.
func TestOneOfEach(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fresh-07", UID: "uid"}}
	restarted := time.Unix(1000, 0)
	before, after := restarted.Add(-time.Second).UnixNano(), restarted.Add(time.Second).UnixNano()
	container := func(state criv1.ContainerState, created int64, attempt uint32) *criv1.Container {
		return &criv1.Container{State: state, CreatedAt: created, Metadata: &criv1.ContainerMetadata{Name: "c", Attempt: attempt}}
	}
	const (
		created = criv1.ContainerState_CONTAINER_CREATED
		running = criv1.ContainerState_CONTAINER_RUNNING
		exited  = criv1.ContainerState_CONTAINER_EXITED
	)
	for name, tc := range map[string]struct {
		containers   []*criv1.Container
		wrong        bool
		neverStarted []string
	}{
		"one running":                            {containers: []*criv1.Container{container(running, before, 0)}},
		"left by the kill, and its next attempt": {containers: []*criv1.Container{container(created, before, 0), container(running, after, 1)}, neverStarted: []string{"fresh-07"}},
		"left by the kill, the running one is 0": {containers: []*criv1.Container{container(created, before, 0), container(running, after, 0)}, wrong: true},
		"created after the restart":              {containers: []*criv1.Container{container(created, after, 0), container(running, after, 1)}, wrong: true},
		"two left":                               {containers: []*criv1.Container{container(created, before, 0), container(created, before, 1), container(running, after, 2)}, wrong: true},
		"one that ran":                           {containers: []*criv1.Container{container(exited, before, 0), container(running, after, 1)}, wrong: true},
		"none running":                           {containers: []*criv1.Container{container(created, before, 0)}, wrong: true},
		"two running":                            {containers: []*criv1.Container{container(running, before, 0), container(running, after, 1)}, wrong: true},
	} {
		wrong, neverStarted := oneOfEach(context.Background(), fixedRuntime{tc.containers}, pod, restarted)
		if (len(wrong) > 0) != tc.wrong {
			t.Errorf("%s: wrong %q, want wrong=%v", name, wrong, tc.wrong)
		}
		if !slices.Equal(neverStarted, tc.neverStarted) {
			t.Errorf("%s: never started %q, want %q", name, neverStarted, tc.neverStarted)
		}
	}
}
