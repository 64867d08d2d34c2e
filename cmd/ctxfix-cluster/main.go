// Command ctxfix-cluster builds a kubeadm cluster on this machine from a
// release, as a node-image pipeline and Cluster API would (pkg/cluster),
// and takes it down. hack/cluster.sh drives it.
//
//	ctxfix-cluster up -release DIR -arch A -nodes N -dir DIR -package NAME=VERSION... -apt-pin FILE -containerd FILE -ctr FILE [-cmd COMMAND]
//	ctxfix-cluster down -dir DIR
//
// up leaves the cluster running, unless -cmd is given: then it runs
// COMMAND on the control-plane node (in its namespaces, with KUBECONFIG
// its admin.conf), takes the cluster down, and exits with COMMAND's status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/cluster"
)

func main() {
	klog.InitFlags(nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	interrupted := ctx.Err() != nil
	stop()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "ctxfix-cluster: %v\n", err)
	var exit *exec.ExitError
	switch {
	case interrupted:
		os.Exit(130)
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		// -cmd's status.
		os.Exit(exit.ExitCode())
	default:
		os.Exit(2)
	}
}

// multi collects a repeated flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ctxfix-cluster up|down [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "the run's folder")
	switch args[0] {
	case "up":
		var o cluster.Options
		var packages multi
		fs.StringVar(&o.Release, "release", "", "the release folder")
		fs.StringVar(&o.Arch, "arch", "", "the nodes' architecture")
		fs.IntVar(&o.Nodes, "nodes", 3, "nodes, the control plane among them")
		fs.Var(&packages, "package", "NAME=VERSION to install on every node (repeatable)")
		fs.StringVar(&o.AptPin, "apt-pin", "", "the apt pin of docs/node-images.md")
		fs.StringVar(&o.Tools.Containerd, "containerd", "", "containerd")
		fs.StringVar(&o.Tools.Ctr, "ctr", "", "ctr")
		command := fs.String("cmd", "", "a command to run on the control-plane node, after which the cluster is taken down")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		o.Dir, o.Packages = *dir, packages
		return up(ctx, o, *command)
	case "down":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("down: -dir is required")
		}
		return cluster.Down(ctx, *dir)
	default:
		return fmt.Errorf("unknown command %q: want up or down", args[0])
	}
}

func up(ctx context.Context, o cluster.Options, command string) error {
	logger := klog.FromContext(ctx)
	start := time.Now()
	c, err := cluster.Up(ctx, o)
	if err != nil {
		return err
	}
	// From here on the cluster is up: a failure takes it down with -cmd,
	// and leaves it for make cluster-down without.
	err = check(ctx, c, start)
	if command != "" && err == nil {
		err = runOnControlPlane(ctx, c, command)
	}
	err = errors.Join(err, c.Close())
	if command == "" {
		if err != nil {
			logger.Error(err, "The cluster is up but does not hold; it is left for inspection")
			return err
		}
		cp := c.Nodes[0]
		fmt.Printf("\nThe cluster is up. On its control-plane node:\n  nsenter --net=/run/netns/%s --mount=%s -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes\nTake it down with make cluster-down.\n", cp.Namespace, cp.MountNS())
		return nil
	}
	return errors.Join(err, cluster.Down(context.WithoutCancel(ctx), o.Dir))
}

// check waits for every node Ready and says what runs: the nodes' versions,
// the control plane's images, and that the nodes hold only the images the
// release gave them.
func check(ctx context.Context, c *cluster.Cluster, start time.Time) error {
	nodes, err := c.WaitReady(ctx, 5*time.Minute)
	if err != nil {
		return err
	}
	klog.FromContext(ctx).Info("Every node Ready", "nodes", len(nodes), "took", time.Since(start).Round(time.Second))
	fmt.Print(cluster.Report(nodes))
	for _, n := range nodes {
		if got, want := n.Status.NodeInfo.KubeletVersion, c.Version; got != want {
			return fmt.Errorf("node %s reports kubelet %s, want %s", n.Name, got, want)
		}
	}
	images, err := c.SystemPodImages(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	for _, component := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd"} {
		running := images[component]
		if len(running) == 0 {
			return fmt.Errorf("no %s runs", component)
		}
		want := "registry.k8s.io/" + component + ":" + c.Version
		for _, r := range running {
			fmt.Printf("%-24s %s\n", component, r)
			if component != "etcd" && !strings.HasSuffix(r, " "+want) {
				return fmt.Errorf("%s runs %s, want the release's %s", component, r, want)
			}
		}
	}
	for _, n := range c.Nodes {
		names, err := n.ImageNames(ctx, c.Options.Tools)
		if err != nil {
			return err
		}
		if extra := slices.DeleteFunc(names, func(name string) bool { return slices.Contains(n.Imported, name) }); len(extra) > 0 {
			return fmt.Errorf("node %s holds images the release did not give it: %v", n.Name, extra)
		}
	}
	fmt.Println("Every node holds only the images imported from the release: kubeadm and the kubelets pulled nothing.")
	return nil
}

// runOnControlPlane runs command in the control-plane node's namespaces, as
// on a shell of that machine.
func runOnControlPlane(ctx context.Context, c *cluster.Cluster, command string) error {
	cp := c.Nodes[0]
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+cp.Namespace, "--mount="+cp.MountNS(), "--", "/bin/sh", "-c", command)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/etc/kubernetes/admin.conf")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
