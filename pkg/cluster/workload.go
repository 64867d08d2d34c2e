package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// The workload that has to stay available while the kubelets are
// replaced: a Deployment of webReplicas web servers on the workers, with a
// readiness probe and a preStop pause that keeps a server serving until
// kube-proxy has taken it out, a PodDisruptionBudget that lets one go at a
// time, and a Service in front of them.
const (
	workloadNamespace = "rolling"
	webName           = "web"
	webReplicas       = 6
	webPort           = 8080
)

// webServer serves the pod's name on webPort with busybox's httpd, and
// stops on SIGTERM: httpd as PID 1 would ignore it.
const webServer = `mkdir -p /www && hostname >/www/index.html
httpd -f -p ` + "8080" + ` -h /www &
pid=$!
trap 'kill $pid; wait $pid; exit 0' TERM
wait $pid`

// deployWorkload creates the workload in workloadNamespace and waits until
// every replica is Ready and behind the Service; it returns the Service's
// ClusterIP.
func deployWorkload(ctx context.Context, client kubernetes.Interface, image string) (string, error) {
	labels := map[string]string{"app": webName}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNamespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: webName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](webReplicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					// Spread over the workers, as a replicated service is.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname,
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
					}},
					Containers: []corev1.Container{{
						Name: webName, Image: image, ImagePullPolicy: corev1.PullNever,
						Command: []string{"sh", "-c", webServer},
						Ports:   []corev1.ContainerPort{{ContainerPort: webPort}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(webPort)}},
							PeriodSeconds: 2,
						},
						// Serving on while the endpoint's removal reaches
						// every node's kube-proxy.
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
							Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}},
						}},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(workloadNamespace).Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: webName},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(webReplicas - 1)),
			Selector:     &metav1.LabelSelector{MatchLabels: labels},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(workloadNamespace).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	service := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: webName},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(webPort)}},
		},
	}
	created, err := client.CoreV1().Services(workloadNamespace).Create(ctx, service, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	err = waitFor(ctx, fmt.Sprintf("%d Ready replicas of %s behind its Service", webReplicas, webName), func() (bool, error) {
		d, err := client.AppsV1().Deployments(workloadNamespace).Get(ctx, webName, metav1.GetOptions{})
		if err != nil || d.Status.ReadyReplicas != webReplicas {
			return false, err
		}
		ready, err := readyEndpoints(ctx, client)
		return ready == webReplicas, err
	})
	return created.Spec.ClusterIP, err
}

// readyEndpoints counts the Service's ready endpoints.
func readyEndpoints(ctx context.Context, client kubernetes.Interface) (int, error) {
	slices, err := client.DiscoveryV1().EndpointSlices(workloadNamespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + webName})
	if err != nil {
		return 0, err
	}
	ready := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			}
		}
	}
	return ready, nil
}

// requestLoop is the client that has to see the Service answer throughout
// a round: a fixed number of requests at a fixed interval, from a static
// pod on the control-plane node, which no drain evicts and which runs on
// through its kubelet's restart. Each failure is logged with its time.
type requestLoop struct {
	Name     string
	Requests int
	Interval time.Duration
	// ClusterIP and Port are the Service's; there is no cluster DNS.
	ClusterIP string
	Port      int
}

// script is the loop, for bash (the busybox image's /bin/sh) and
// busybox's nc: a request fails unless its answer's status is 200 within
// 2 s. (busybox's wget crashes on an address, built static against glibc.)
func (l requestLoop) script() string {
	return fmt.Sprintf(`failed=0 i=0
echo "start ${EPOCHREALTIME}"
while [ $i -lt %d ]; do
  i=$((i+1))
  out=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 %s %d 2>&1)
  if [ "${out#HTTP/1.? 200 }" = "$out" ]; then
    failed=$((failed+1))
    echo "failed ${EPOCHREALTIME} request $i: $(echo "$out" | head -n 1)"
  fi
  sleep %.3f
done
echo "end ${EPOCHREALTIME} requests $i failed $failed"
`, l.Requests, l.ClusterIP, l.Port, l.Interval.Seconds())
}

// manifest is the loop's static pod.
func (l requestLoop) manifest(image string) ([]byte, error) {
	return yaml.Marshal(&corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: l.Name, Namespace: workloadNamespace},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "requests", Image: image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", l.script()},
			}},
		},
	})
}

// manifestPath is where the control-plane node's kubelet reads it.
func (l requestLoop) manifestPath(cp *Node) string {
	return filepath.Join(cp.View(), "etc/kubernetes/manifests", l.Name+".yaml")
}

// start writes the loop's manifest on the control-plane node and waits
// until its first request has been made.
func (l requestLoop) start(ctx context.Context, client kubernetes.Interface, cp *Node, image string) error {
	manifest, err := l.manifest(image)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.manifestPath(cp), manifest, 0o644); err != nil {
		return err
	}
	return waitFor(ctx, "the request loop "+l.Name+" to start", func() (bool, error) {
		pod, err := client.CoreV1().Pods(workloadNamespace).Get(ctx, l.mirrorName(cp), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded, nil
	})
}

// mirrorName is the name of the static pod's mirror pod.
func (l requestLoop) mirrorName(cp *Node) string { return l.Name + "-" + cp.Name }

// loopResult is what the loop reported.
type loopResult struct {
	Requests, Failed int
	Started, Ended   time.Time
	// Failures are the loop's lines for its failed requests.
	Failures []string
}

var loopEnd = regexp.MustCompile(`(?m)^end ([0-9.]+) requests ([0-9]+) failed ([0-9]+)$`)
var loopStart = regexp.MustCompile(`(?m)^start ([0-9.]+)$`)

// wait waits for the loop to end, reads its report from its log, and
// removes its manifest.
func (l requestLoop) wait(ctx context.Context, client kubernetes.Interface, cp *Node) (loopResult, error) {
	var r loopResult
	name := l.mirrorName(cp)
	// The loop's own length, and a minute more.
	deadline := time.Now().Add(time.Duration(l.Requests)*(l.Interval+2*time.Second) + time.Minute)
	for {
		pod, err := client.CoreV1().Pods(workloadNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return r, err
		}
		if pod.Status.Phase == corev1.PodFailed {
			return r, fmt.Errorf("the request loop %s failed: %s", name, pod.Status.Message)
		}
		if pod.Status.Phase == corev1.PodSucceeded {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("the request loop %s has not ended by %s", name, deadline.Format(time.TimeOnly))
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	log, err := client.CoreV1().Pods(workloadNamespace).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return r, fmt.Errorf("the log of %s: %w", name, err)
	}
	r, err = parseLoopLog(log)
	if err != nil {
		return r, fmt.Errorf("the request loop %s: %w", name, err)
	}
	if err := os.Remove(l.manifestPath(cp)); err != nil {
		return r, err
	}
	return r, waitFor(ctx, "the mirror pod "+name+" to go", func() (bool, error) {
		_, err := client.CoreV1().Pods(workloadNamespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// parseLoopLog reads the loop's report from its log.
func parseLoopLog(log []byte) (loopResult, error) {
	var r loopResult
	end, start := loopEnd.FindStringSubmatch(string(log)), loopStart.FindStringSubmatch(string(log))
	if end == nil || start == nil {
		return r, fmt.Errorf("no start or end line in its log:\n%s", log)
	}
	r.Started, r.Ended = epoch(start[1]), epoch(end[1])
	r.Requests, _ = strconv.Atoi(end[2])
	r.Failed, _ = strconv.Atoi(end[3])
	for _, line := range strings.Split(string(log), "\n") {
		if strings.HasPrefix(line, "failed ") {
			r.Failures = append(r.Failures, line)
		}
	}
	if len(r.Failures) != r.Failed {
		return r, fmt.Errorf("it counted %d failures and logged %d", r.Failed, len(r.Failures))
	}
	return r, nil
}

// epoch reads bash's EPOCHREALTIME.
func epoch(s string) time.Time {
	f, _ := strconv.ParseFloat(s, 64)
	return time.UnixMicro(int64(f * 1e6))
}
