package nodee2e

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fixedRuntime lists the same containers and one Ready sandbox for any
// filter; a container's Id is its start time in nanoseconds, 0 for one that
// never started.
type fixedRuntime struct{ containers []*criv1.Container }

func (r fixedRuntime) ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error) {
	return r.containers, nil
}

func (r fixedRuntime) ContainerStatus(_ context.Context, id string, _ bool) (*criv1.ContainerStatusResponse, error) {
	startedAt, err := strconv.ParseInt(id, 10, 64)
	return &criv1.ContainerStatusResponse{Status: &criv1.ContainerStatus{Id: id, StartedAt: startedAt}}, err
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
		startedAt := created
		if state == criv1.ContainerState_CONTAINER_CREATED {
			startedAt = 0
		}
		return &criv1.Container{Id: strconv.FormatInt(startedAt, 10), State: state, CreatedAt: created, Metadata: &criv1.ContainerMetadata{Name: "c", Attempt: attempt}}
	}
	startFailed := &criv1.Container{Id: "0", State: criv1.ContainerState_CONTAINER_EXITED, CreatedAt: before, Metadata: &criv1.ContainerMetadata{Name: "c"}}
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
		"its start cut off by the kill":          {containers: []*criv1.Container{startFailed, container(running, after, 1)}, neverStarted: []string{"fresh-07"}},
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
