// Package kubeletmetrics reads what a kubelet reports on its /metrics
// endpoint, in Prometheus' text exposition format, with Prometheus' own
// parser.
package kubeletmetrics

import (
	"bytes"
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the project reads.
const (
	// BuildInfo is kubernetes_build_info, whose git_version label is the
	// kubelet's version.
	BuildInfo = "kubernetes_build_info"
	// WorkingPods is kubelet_working_pods: the kubelet's pod workers by
	// lifecycle phase and config state, as of its latest housekeeping.
	WorkingPods = "kubelet_working_pods"
	// PodWorkerDuration is kubelet_pod_worker_duration_seconds, a histogram
	// with one observation per pod sync.
	PodWorkerDuration = "kubelet_pod_worker_duration_seconds"
	// StartedPods is kubelet_started_pods_total, a counter of the pod
	// sandboxes the kubelet started since it started.
	StartedPods = "kubelet_started_pods_total"
	// StartedContainers is kubelet_started_containers_total, the containers
	// it started, by container_type.
	StartedContainers = "kubelet_started_containers_total"
)

// Started gives how many pod sandboxes and containers the kubelet has
// started since it started. kubelet_started_pods_total must be there: it is
// a plain counter, reported from the start. kubelet_started_containers_total
// is a counter vector, which reports nothing until its first container_type
// is counted: its absence means no container was started.
func (m Metrics) Started() (pods, containers float64, err error) {
	pods, err = m.Sum(StartedPods)
	if err != nil {
		return 0, 0, err
	}
	if _, ok := m[StartedContainers]; !ok {
		return pods, 0, nil
	}
	containers, err = m.Sum(StartedContainers)
	return pods, containers, err
}

// Metrics are the metric families of one scrape, by name.
type Metrics map[string]*dto.MetricFamily

// Parse reads a scrape in the text exposition format.
func Parse(text []byte) (Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return Metrics(families), nil
}

// Sum adds up every series of the gauge, counter or untyped metric name. It
// is an error if the scrape has no such metric: a kubelet that does not
// report it cannot be judged by it.
func (m Metrics) Sum(name string) (float64, error) {
	family, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("no %s in the kubelet's metrics", name)
	}
	var total float64
	for _, metric := range family.GetMetric() {
		switch family.GetType() {
		case dto.MetricType_GAUGE:
			total += metric.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			total += metric.GetCounter().GetValue()
		case dto.MetricType_UNTYPED:
			total += metric.GetUntyped().GetValue()
		default:
			return 0, fmt.Errorf("%s is a %s, not a gauge or counter", name, family.GetType())
		}
	}
	return total, nil
}

// PodSyncs gives how many pod syncs the kubelet has done since it started:
// the observations of kubelet_pod_worker_duration_seconds. The kubelet must
// report kubelet_working_pods, which it does from the start; the histogram,
// a vector by operation_type, reports nothing until the first sync, and its
// absence then means no sync yet.
func (m Metrics) PodSyncs() (uint64, error) {
	if _, ok := m[WorkingPods]; !ok {
		return 0, fmt.Errorf("no %s in the kubelet's metrics", WorkingPods)
	}
	if _, ok := m[PodWorkerDuration]; !ok {
		return 0, nil
	}
	return m.Observations(PodWorkerDuration)
}

// Observations adds up the observation counts of every series of the
// histogram name.
func (m Metrics) Observations(name string) (uint64, error) {
	family, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("no %s in the kubelet's metrics", name)
	}
	if family.GetType() != dto.MetricType_HISTOGRAM {
		return 0, fmt.Errorf("%s is a %s, not a histogram", name, family.GetType())
	}
	var total uint64
	for _, metric := range family.GetMetric() {
		total += metric.GetHistogram().GetSampleCount()
	}
	return total, nil
}

// Label returns the value of label on the first series of name.
func (m Metrics) Label(name, label string) (string, error) {
	family, ok := m[name]
	if !ok || len(family.GetMetric()) == 0 {
		return "", fmt.Errorf("no %s in the kubelet's metrics", name)
	}
	for _, pair := range family.GetMetric()[0].GetLabel() {
		if pair.GetName() == label {
			return pair.GetValue(), nil
		}
	}
	return "", fmt.Errorf("%s has no label %s", name, label)
}
