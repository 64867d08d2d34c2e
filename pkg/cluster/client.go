package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// dialIn dials from inside the network namespace at netns: the API server
// listens on a node's address, which only the run's namespaces reach.
func dialIn(netns string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		err := inNamespace(netns, func() error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, address)
			return err
		})
		return conn, err
	}
}

// inNamespace runs f on a goroutine locked to a thread that entered the
// network namespace at netns; the goroutine ends locked, and the runtime
// ends the thread with it.
func inNamespace(netns string, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(netns)
		if err != nil {
			done <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering %s: %w", netns, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// listenIn listens on address inside the network namespace at netns; the
// socket stays there, served from any goroutine.
func listenIn(netns, address string) (net.Listener, error) {
	var listener net.Listener
	err := inNamespace(netns, func() error {
		var err error
		listener, err = net.Listen("tcp", address)
		return err
	})
	return listener, err
}

// Client is a cluster admin's client: the control-plane node's admin.conf,
// dialled from its network namespace.
func (c *Cluster) Client() (kubernetes.Interface, *rest.Config, error) {
	cp := c.Nodes[0]
	kubeconfig, err := os.ReadFile(filepath.Join(cp.View(), "etc/kubernetes/admin.conf"))
	if err != nil {
		return nil, nil, err
	}
	config, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("admin.conf of %s: %w", cp.Name, err)
	}
	config.Dial = dialIn(netnsPath(cp.Namespace))
	client, err := kubernetes.NewForConfig(config)
	return client, config, err
}

// WaitReady waits until every node is registered and Ready, and reports
// each node's kubelet version.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) ([]corev1.Node, error) {
	client, _, err := c.Client()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		var notReady []string
		if err == nil {
			for _, n := range c.Nodes {
				i := slices.IndexFunc(list.Items, func(node corev1.Node) bool { return node.Name == n.Name })
				if i < 0 || !nodeReady(&list.Items[i]) {
					notReady = append(notReady, n.Name)
				}
			}
			if len(notReady) == 0 {
				return list.Items, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nodes not Ready %v after %v (last error: %v)", notReady, timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// systemComponents are the pods kubeadm runs in kube-system on every
// cluster: the control plane's static pods, and kube-proxy.
var systemComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-proxy"}

// SystemPodImages waits until every container of every pod in kube-system
// runs, each of systemComponents among them (kube-proxy on every node), and
// lists their images by component, each as "NODE IMAGE".
func (c *Cluster) SystemPodImages(ctx context.Context, timeout time.Duration) (map[string][]string, error) {
	client, _, err := c.Client()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		pods, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		var waiting []string
		images := map[string][]string{}
		if err == nil {
			for _, p := range pods.Items {
				component := p.Labels["component"]
				if component == "" {
					component = p.Labels["k8s-app"]
				}
				if len(p.Status.ContainerStatuses) == 0 {
					waiting = append(waiting, p.Name)
				}
				for _, s := range p.Status.ContainerStatuses {
					if s.State.Running == nil {
						waiting = append(waiting, p.Name+"/"+s.Name)
					}
					images[component] = append(images[component], p.Spec.NodeName+" "+s.Image)
				}
			}
			// A static pod runs before its mirror pod is in the API: on a
			// single node, kube-system can be all running without it.
			for _, component := range systemComponents {
				if len(images[component]) == 0 {
					waiting = append(waiting, component)
				}
			}
			if len(waiting) == 0 {
				return images, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kube-system's containers not running after %v: %v (last error: %v)", timeout, waiting, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Report prints the nodes as kubectl get nodes -o wide would, the parts
// that say what runs.
func Report(nodes []corev1.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-7s %-16s %-22s %s\n", "NAME", "STATUS", "INTERNAL-IP", "VERSION", "CONTAINER-RUNTIME")
	for _, n := range nodes {
		status := "NotReady"
		if nodeReady(&n) {
			status = "Ready"
		}
		ip := ""
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
			}
		}
		fmt.Fprintf(&b, "%-24s %-7s %-16s %-22s %s\n", n.Name, status, ip, n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion)
	}
	return b.String()
}
