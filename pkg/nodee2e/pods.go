package nodee2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
)

// BusyboxImage is the image upstream's e2e tests run shell commands in; the
// harness builds it from Debian's busybox-static, as there is no registry.
const BusyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"

// readyFile is what the pods' exec readiness probes look for.
const readyFile = "/tmp/ready"

// Cluster is the API server side of a run, and the node under test.
type Cluster struct {
	Client kubernetes.Interface
	Config *rest.Config
	Node   string
}

// probedPod is a pod that is Ready while readyFile exists. Its container
// creates the file, and exits at once on SIGTERM.
func probedPod(name string, periodSeconds int32) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers: []v1.Container{{
				Name:            "main",
				Image:           BusyboxImage,
				ImagePullPolicy: v1.PullNever,
				Command:         []string{"sh", "-c", "touch " + readyFile + "; trap 'exit 0' TERM; while true; do sleep 1; done"},
				ReadinessProbe: &v1.Probe{
					ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", readyFile}}},
					PeriodSeconds:    periodSeconds,
					FailureThreshold: 1,
				},
			}},
		},
	}
}

// createNamespace makes a namespace for one scenario on one kubelet, and
// waits for its default ServiceAccount, which pods need.
func (c *Cluster) createNamespace(ctx context.Context, prefix string) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return "", fmt.Errorf("namespace %s has no default ServiceAccount (is kube-controller-manager running?): %w", ns.Name, err)
	}
	return ns.Name, nil
}

// deleteNamespace force-deletes every pod of ns, waits until the kubelet has
// removed them, and deletes ns. Once the run is interrupted it does nothing:
// hack/e2e.sh takes the whole node down, and waiting here for a hundred pods
// to go would only delay that.
func (c *Cluster) deleteNamespace(ctx context.Context, ns string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	pods := c.Client.CoreV1().Pods(ns)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("pods of %s not gone: %w", ns, err)
	}
	return c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}

// deleteNamespaceInto deletes ns as deleteNamespace does, for a scenario's
// defer: a cleanup that fails joins the scenario's error, so that the
// result says so, rather than being dropped. An interrupted run skips it,
// as deleteNamespace does.
func (c *Cluster) deleteNamespaceInto(ctx context.Context, ns string, err *error) {
	if ctx.Err() != nil {
		return
	}
	if cleanupErr := c.deleteNamespace(ctx, ns); cleanupErr != nil {
		*err = errors.Join(*err, fmt.Errorf("cleaning up namespace %s: %w", ns, cleanupErr))
	}
}

// createPod creates pod bound to the node under test: the run has no
// scheduler, as upstream's node e2e has none.
func (c *Cluster) createPod(ctx context.Context, ns string, pod *v1.Pod) (*v1.Pod, error) {
	pod.Spec.NodeName = c.Node
	return c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
}

// waitPodsReady waits until every pod of ns is Ready.
func (c *Cluster) waitPodsReady(ctx context.Context, ns string, want int, timeout time.Duration) error {
	var ready int
	var notReady string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready = 0
		for i := range list.Items {
			if podReady(&list.Items[i]) {
				ready++
			} else {
				notReady = describePod(&list.Items[i])
			}
		}
		return ready == want, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d pods of %s Ready after %s (one not Ready: %s): %w", ready, want, ns, timeout, notReady, err)
	}
	return nil
}

// describePod says where a pod is stuck, for error messages.
func describePod(pod *v1.Pod) string {
	out := fmt.Sprintf("%s phase %s", pod.Name, pod.Status.Phase)
	for _, c := range pod.Status.Conditions {
		if c.Status != v1.ConditionTrue {
			out += fmt.Sprintf(", %s=%s %s", c.Type, c.Status, c.Message)
		}
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			out += fmt.Sprintf(", container %s waiting: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
		}
	}
	return out
}

func podReady(pod *v1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func containerRunning(pod *v1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.State.Running == nil {
			return false
		}
	}
	return len(pod.Status.ContainerStatuses) > 0
}

// exec runs command in pod's first container through the API server, as
// kubectl exec does.
func (c *Cluster) exec(ctx context.Context, ns, pod string, command ...string) (string, error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&v1.PodExecOptions{Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	executor, err := remotecommand.NewWebSocketExecutor(c.Config, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	out := strings.TrimSpace(stdout.String() + stderr.String())
	if err != nil {
		return out, fmt.Errorf("exec %v in %s/%s: %w (%s)", command, ns, pod, err, out)
	}
	return out, nil
}

// waitPodGone waits until pod no longer exists in the API.
func (c *Cluster) waitPodGone(ctx context.Context, ns, name string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
