package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Image is the image every soak pod runs; the fake runtime has it present.
const Image = "registry.k8s.io/pause:3.10"

// PodOptions says what the soak pods carry besides the emptyDir volume every
// one of them has (so that every sync goes through the volume manager).
type PodOptions struct {
	// ReadinessEvery gives every n-th pod an exec readiness probe.
	ReadinessEvery int
	// PreStopEvery gives every n-th pod a preStop sleep hook.
	PreStopEvery int
	// ProbePeriodSeconds is the exec probes' period.
	ProbePeriodSeconds int32
	// GracePeriodSeconds is the pods' termination grace period.
	GracePeriodSeconds int64
	// PreStopSleepSeconds is how long the preStop hooks sleep.
	PreStopSleepSeconds int64
}

// DefaultPodOptions is the mix the soak runs.
var DefaultPodOptions = PodOptions{
	ReadinessEvery:      2,
	PreStopEvery:        3,
	ProbePeriodSeconds:  1,
	GracePeriodSeconds:  30,
	PreStopSleepSeconds: 5,
}

// ProbedPods returns how many of n pods get a readiness probe.
func (o PodOptions) ProbedPods(n int) int {
	if o.ReadinessEvery <= 0 {
		return 0
	}
	return (n + o.ReadinessEvery - 1) / o.ReadinessEvery
}

// StaticPod returns the soak pod number i.
func StaticPod(i int, opts PodOptions) *v1.Pod {
	name := fmt.Sprintf("soak-%03d", i)
	grace := opts.GracePeriodSeconds
	container := v1.Container{
		Name:            "main",
		Image:           Image,
		ImagePullPolicy: v1.PullIfNotPresent,
		VolumeMounts:    []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
	}
	if opts.ReadinessEvery > 0 && i%opts.ReadinessEvery == 0 {
		container.ReadinessProbe = &v1.Probe{
			ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"/bin/true"}}},
			PeriodSeconds:    opts.ProbePeriodSeconds,
			TimeoutSeconds:   1,
			FailureThreshold: 1,
		}
	}
	if opts.PreStopEvery > 0 && i%opts.PreStopEvery == 0 {
		container.Lifecycle = &v1.Lifecycle{
			PreStop: &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: opts.PreStopSleepSeconds}},
		}
	}
	return &v1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{
			Containers:                    []v1.Container{container},
			Volumes:                       []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}},
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 v1.RestartPolicyAlways,
		},
	}
}

// ManifestPath is where WriteStaticPods puts pod i.
func ManifestPath(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("soak-%03d.json", i))
}

// WriteStaticPods writes pods 0..n-1 as static pod manifests into dir.
func WriteStaticPods(dir string, n int, opts PodOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		data, err := json.MarshalIndent(StaticPod(i, opts), "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(ManifestPath(dir, i), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
