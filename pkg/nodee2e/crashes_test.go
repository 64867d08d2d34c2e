package nodee2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	criv1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fixedRuntime lists the same containers and one Ready sandbox for any
// filter.
type fixedRuntime struct{ states []criv1.ContainerState }

func (r fixedRuntime) ListContainers(context.Context, *criv1.ContainerFilter) ([]*criv1.Container, error) {
	var containers []*criv1.Container
	for _, s := range r.states {
		containers = append(containers, &criv1.Container{State: s})
	}
	return containers, nil
}

func (r fixedRuntime) ListPodSandbox(context.Context, *criv1.PodSandboxFilter) ([]*criv1.PodSandbox, error) {
	return []*criv1.PodSandbox{{Id: "sandbox"}}, nil
}

// A container created and never started, which a kubelet killed between
// CreateContainer and StartContainer leaves, is reported, not judged; one
// that ran beside the running one is a restart.
func TestOneOfEach(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fresh-07", UID: "uid"}}
	const (
		created = criv1.ContainerState_CONTAINER_CREATED
		running = criv1.ContainerState_CONTAINER_RUNNING
		exited  = criv1.ContainerState_CONTAINER_EXITED
	)
	for _, tc := range []struct {
		states       []criv1.ContainerState
		wrong        string
		neverStarted []string
	}{
		{states: []criv1.ContainerState{running}},
		{states: []criv1.ContainerState{created, running}, neverStarted: []string{"fresh-07"}},
		{states: []criv1.ContainerState{exited, running}, wrong: "want one running and none that ran before"},
		{states: []criv1.ContainerState{created}, wrong: "want one running", neverStarted: []string{"fresh-07"}},
		{states: []criv1.ContainerState{running, running}, wrong: "want one running"},
	} {
		wrong, neverStarted := oneOfEach(context.Background(), fixedRuntime{tc.states}, pod)
		if got := strings.Join(wrong, "; "); (tc.wrong == "") != (got == "") || !strings.Contains(got, tc.wrong) {
			t.Errorf("%v: wrong %q, want %q", tc.states, got, tc.wrong)
		}
		if !slices.Equal(neverStarted, tc.neverStarted) {
			t.Errorf("%v: never started %q, want %q", tc.states, neverStarted, tc.neverStarted)
		}
	}
}
