// Command ctxfix-cluster builds a kubeadm cluster on this machine from a
// release, as a node-image pipeline and Cluster API would (pkg/cluster),
// and takes it down. hack/cluster.sh drives it.
//
//	ctxfix-cluster up -release DIR -arch A -nodes N -dir DIR -package NAME=VERSION... -apt-pin FILE -containerd FILE -ctr FILE [-cmd COMMAND]
//	ctxfix-cluster up -release DIR -arch A -nodes N -dir DIR -http-recipe FILE -kubelet-unit FILE -kubeadm-dropin FILE -containerd FILE -ctr FILE [-cmd COMMAND]
//	ctxfix-cluster roll (up's flags) -stock kubelet=V -patched kubelet=V -stock-version V -patched-version V -workload-image NAME -ctxleak FILE -recipe DIR [-requests N -interval D]
//	ctxfix-cluster conformance (up's flags) -stock kubelet=V -stock-version V -patched-version V -e2e-test FILE -ginkgo FILE -known-failures FILE -recipe DIR -out DIR [-specs FILE -procs N -timeout D -skip REGEXP]
//	ctxfix-cluster short (roll's flags, conformance's flags but -ctxleak)
//	ctxfix-cluster upgrade (up's flags) -kubernetes-version V -stock kubelet=V -stock-kubeadm kubeadm=V -stock-version V -patched-version V -recipe DIR -commands DIR -next-version V -out DIR
//	ctxfix-cluster down -dir DIR
//
// up installs the nodes from the release's apt repository (package mode),
// or with -http-recipe from its http layout (image-builder's http mode).
// It leaves the cluster running, unless -cmd is given: then it runs
// COMMAND on the control-plane node (in its namespaces, with KUBECONFIG
// its admin.conf), takes the cluster down, and exits with COMMAND's status.
// roll builds the cluster with the stock kubelet's package, replaces the
// kubelets node by node under a live workload and back (pkg/cluster's
// Roll), prints what it saw, and takes the cluster down. conformance builds
// it the same way, runs upstream's conformance specs (the named list of
// -specs, or all) with the stock kubelets, replaces them with ours, runs
// the specs again, and compares (pkg/cluster's Conformance). short is make
// test's form of both: on two nodes, the worker's kubelet replaced under
// the request loop, then a handful of specs on it. upgrade builds it with
// upstream's kubeadm and control plane too, and runs the kubeadm upgrade
// paths of docs/node-images.md (pkg/cluster's Upgrade).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/cluster"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/conformance"
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
		return errors.New("usage: ctxfix-cluster up|roll|conformance|short|upgrade|down [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "the run's folder")
	switch args[0] {
	case "up":
		_, finish := clusterFlags(fs)
		command := fs.String("cmd", "", "a command to run on the control-plane node, after which the cluster is taken down")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		options, err := finish(*dir)
		if err != nil {
			return err
		}
		return up(ctx, options, *command)
	case "roll", "conformance", "short", "upgrade":
		_, finish := clusterFlags(fs)
		var r cluster.RollOptions
		var c cluster.ConformanceOptions
		var u cluster.UpgradeOptions
		var commands *string
		if args[0] == "upgrade" {
			fs.StringVar(&u.StockKubeadm, "stock-kubeadm", "", "upstream's kubeadm package, kubeadm=VERSION, which -package installs first")
			fs.StringVar(&u.Commands.NextVersion, "next-version", "", "upstream's next patch release, as docs/node-images.md names it")
			commands = fs.String("commands", "", "a folder with docs/node-images.md's kubeadm upgrade commands: control-plane.sh, node.sh, to-upstream.sh")
			fs.StringVar(&u.OutDir, "out", "", "the folder for transcript.md")
		}
		fs.StringVar(&r.Stock, "stock", "", "the stock kubelet's package, kubelet=VERSION, which -package installs first")
		fs.StringVar(&r.StockVersion, "stock-version", "", "the version the stock kubelet reports")
		fs.StringVar(&r.PatchedVersion, "patched-version", "", "the version our kubelet reports")
		recipe := fs.String("recipe", "", "a folder with the operator's commands of the README: drain.sh, upgrade.sh, wait.sh, uncordon.sh, rollback.sh")
		if args[0] == "roll" || args[0] == "short" {
			fs.StringVar(&r.Patched, "patched", "", "our kubelet's package, kubelet=VERSION")
			fs.StringVar(&r.Image, "workload-image", "", "the workload's image, one of -image's")
			fs.IntVar(&r.Requests, "requests", 200, "requests each round's loop makes (three times as many with drain)")
			fs.DurationVar(&r.Interval, "interval", 200*time.Millisecond, "the pause between two requests")
			fs.StringVar(&r.Ctxleak, "ctxleak", "", "kubectl's ctxleak plugin (not used by short)")
		}
		var specs, known *string
		if args[0] == "conformance" || args[0] == "short" {
			fs.StringVar(&c.Suite.Binary, "e2e-test", "", "e2e.test of the base's patched tree")
			fs.StringVar(&c.Suite.Ginkgo, "ginkgo", "", "ginkgo of the same tree")
			fs.IntVar(&c.Suite.Procs, "procs", 4, "ginkgo's parallel processes")
			fs.DurationVar(&c.Suite.Timeout, "timeout", 60*time.Minute, "the time one run (stock, or ours) may take")
			fs.StringVar(&c.Suite.Skip, "skip", "", "a ginkgo skip: specs left out of the full run")
			specs = fs.String("specs", "", "the named list of specs, one full name a line; empty for every [Conformance] spec")
			known = fs.String("known-failures", "", "specs allowed to fail, with reasons (SPEC-REGEXP<TAB>WHERE<TAB>REASON)")
			fs.StringVar(&c.OutDir, "out", "", "the folder for the runs' reports and table.md")
		}
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if r.Stock == "" || r.StockVersion == "" || r.PatchedVersion == "" {
			return fmt.Errorf("%s: -stock, -stock-version and -patched-version are required", args[0])
		}
		for file, script := range map[string]*string{"drain.sh": &r.Recipe.Drain, "upgrade.sh": &r.Recipe.Upgrade, "wait.sh": &r.Recipe.Wait, "uncordon.sh": &r.Recipe.Uncordon, "rollback.sh": &r.Recipe.Rollback} {
			data, err := os.ReadFile(filepath.Join(*recipe, file))
			if err != nil {
				return fmt.Errorf("%s: the recipe: %w", args[0], err)
			}
			*script = string(data)
		}
		r.Short = args[0] == "short"
		if (args[0] == "roll" || args[0] == "short") && (r.Patched == "" || r.Image == "" || (r.Ctxleak == "" && !r.Short) || r.Requests < 1) {
			return fmt.Errorf("%s: -patched, -workload-image, -ctxleak (but for short) and a positive -requests are required", args[0])
		}
		if args[0] == "upgrade" {
			u.StockVersion, u.PatchedVersion, u.Recipe = r.StockVersion, r.PatchedVersion, r.Recipe
			if u.StockKubeadm == "" || u.Commands.NextVersion == "" || *commands == "" || u.OutDir == "" {
				return fmt.Errorf("upgrade: -stock-kubeadm, -next-version, -commands and -out are required")
			}
			for file, script := range map[string]*string{"control-plane.sh": &u.Commands.ControlPlane, "node.sh": &u.Commands.Node, "to-upstream.sh": &u.Commands.ToUpstream} {
				data, err := os.ReadFile(filepath.Join(*commands, file))
				if err != nil {
					return fmt.Errorf("upgrade: the commands: %w", err)
				}
				*script = string(data)
			}
		}
		if args[0] == "conformance" || args[0] == "short" {
			if c.Suite.Binary == "" || c.Suite.Ginkgo == "" || *known == "" || c.OutDir == "" {
				return fmt.Errorf("%s: -e2e-test, -ginkgo, -known-failures and -out are required", args[0])
			}
			var err error
			if *specs != "" {
				if c.Specs, err = conformance.ReadSpecList(*specs); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			}
			if c.KnownFailures, err = conformance.ReadKnownFailures(*known); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			c.StockVersion, c.PatchedVersion = r.StockVersion, r.PatchedVersion
			c.Recipe = r.Recipe
			c.PatchedOnly = r.Short
		}
		options, err := finish(*dir)
		if err != nil {
			return err
		}
		if options.HTTP != nil {
			return fmt.Errorf("%s: the kubelets are replaced by package, from upstream's stand-in to ours: -http-recipe is for up", args[0])
		}
		if !slices.Contains(options.Packages, r.Stock) {
			return fmt.Errorf("%s: the cluster starts with the stock kubelet: -package %s is missing", args[0], r.Stock)
		}
		options.KubeletVersion = r.StockVersion
		if args[0] == "upgrade" {
			if !slices.Contains(options.Packages, u.StockKubeadm) || options.KubernetesVersion != u.StockVersion {
				return fmt.Errorf("upgrade: the cluster starts with upstream's kubeadm and control plane: -package %s and -kubernetes-version %s are required", u.StockKubeadm, u.StockVersion)
			}
		}
		return standIn(ctx, options, args[0], r, c, u)
	case "down":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("down: -dir is required")
		}
		return cluster.Down(ctx, *dir)
	default:
		return fmt.Errorf("unknown command %q: want up, roll, conformance, short, upgrade or down", args[0])
	}
}

// clusterFlags registers the flags that describe the cluster; finish
// completes the options once they are parsed.
func clusterFlags(fs *flag.FlagSet) (*cluster.Options, func(dir string) (cluster.Options, error)) {
	o := &cluster.Options{Repositories: map[string]string{}}
	var packages, repositories, images, environment multi
	fs.StringVar(&o.Release, "release", "", "the release folder")
	fs.StringVar(&o.Arch, "arch", "", "the nodes' architecture")
	fs.IntVar(&o.Nodes, "nodes", 3, "nodes, the control plane among them")
	fs.Var(&packages, "package", "NAME=VERSION to install on every node (repeatable)")
	fs.Var(&repositories, "repository", "NAME=DIR, another signed flat apt repository for the nodes (repeatable)")
	fs.Var(&images, "image", "another image tarball to import on every node (repeatable)")
	fs.Var(&environment, "kubelet-env", "NAME=VALUE for every kubelet, set by a drop-in (repeatable)")
	fs.StringVar(&o.AptPin, "apt-pin", "", "the apt pin of the README (\"Add the repository\")")
	fs.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "the control plane's version for kubeadm init, if not the release's (its images among -image)")
	fs.StringVar(&o.Tools.Containerd, "containerd", "", "containerd")
	fs.StringVar(&o.Tools.Ctr, "ctr", "", "ctr")
	var http cluster.HTTPMode
	recipe := fs.String("http-recipe", "", "image-builder's http mode variables (json): install the nodes from the release's http layout, not -package")
	fs.StringVar(&http.KubeletUnit, "kubelet-unit", "", "with -http-recipe, kubelet.service as installed without a package manager")
	fs.StringVar(&http.KubeadmDropIn, "kubeadm-dropin", "", "with -http-recipe, 10-kubeadm.conf as installed without a package manager")
	return o, func(dir string) (cluster.Options, error) {
		o.Dir, o.Packages, o.Images, o.KubeletEnvironment = dir, packages, images, environment
		for _, r := range repositories {
			name, path, _ := strings.Cut(r, "=")
			o.Repositories[name] = path
		}
		if *recipe == "" && (http.KubeletUnit != "" || http.KubeadmDropIn != "") {
			return *o, errors.New("-kubelet-unit and -kubeadm-dropin are for -http-recipe")
		}
		if *recipe != "" {
			var err error
			if http.Recipe, err = cluster.ReadHTTPRecipe(*recipe); err != nil {
				return *o, err
			}
			o.HTTP = &http
		}
		return *o, nil
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
		if got, want := n.Status.NodeInfo.KubeletVersion, c.KubeletVersion; got != want {
			return fmt.Errorf("node %s reports kubelet %s, want %s", n.Name, got, want)
		}
	}
	images, err := c.SystemPodImages(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	// etcd and CoreDNS (kube-dns) run the release's images of their own
	// versions, which kubeadm names.
	for _, component := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "kube-dns"} {
		running := images[component]
		if len(running) == 0 {
			return fmt.Errorf("no %s runs", component)
		}
		want := "registry.k8s.io/" + component + ":" + c.Version
		for _, r := range running {
			fmt.Printf("%-24s %s\n", component, r)
			if component != "etcd" && component != "kube-dns" && !strings.HasSuffix(r, " "+want) {
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
	fmt.Println("Every node holds only the images imported: kubeadm and the kubelets pulled nothing.")
	return nil
}

// runOnControlPlane runs command in the control-plane node's namespaces, as
// on a shell of that machine.
func runOnControlPlane(ctx context.Context, c *cluster.Cluster, command string) error {
	cmd := c.ControlPlaneCommand(ctx, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// standIn builds the cluster with the stock kubelet and runs what command
// asks on it: roll, the rolling replacement (cluster.Roll); conformance,
// the conformance specs with stock kubelets and ours (cluster.Conformance);
// short, make test's form of both (one worker replaced, a handful of specs
// on it). It prints what it saw, and takes the cluster down.
func standIn(ctx context.Context, o cluster.Options, command string, r cluster.RollOptions, co cluster.ConformanceOptions, uo cluster.UpgradeOptions) error {
	start := time.Now()
	c, err := cluster.Up(ctx, o)
	if err != nil {
		return err
	}
	err = check(ctx, c, start)
	if err == nil && command == "upgrade" {
		var report *cluster.UpgradeReport
		report, err = cluster.Upgrade(ctx, c, uo)
		if report != nil {
			fmt.Print(report.String())
			fmt.Printf("The transcript: %s\n", filepath.Join(uo.OutDir, "transcript.md"))
		}
		// Back at upstream's version: the control plane's images, and
		// nothing pulled on the way.
		if err == nil {
			err = check(ctx, c, start)
		}
	}
	if err == nil && (command == "roll" || command == "short") {
		var report *cluster.RollReport
		report, err = cluster.Roll(ctx, c, r)
		if report != nil {
			fmt.Print(report.String())
			if len(report.Problems) > 0 {
				err = errors.Join(err, fmt.Errorf("the rolling replacement did not hold:\n  %s", strings.Join(report.Problems, "\n  ")))
			}
		}
	}
	if err == nil && (command == "conformance" || command == "short") {
		var report *cluster.ConformanceReport
		report, err = cluster.Conformance(ctx, c, co)
		if report != nil {
			fmt.Print(report.String())
			fmt.Printf("The table: %s\n", filepath.Join(co.OutDir, "table.md"))
			if len(report.Problems) > 0 {
				err = errors.Join(err, fmt.Errorf("conformance did not hold:\n  %s", strings.Join(report.Problems, "\n  ")))
			}
		}
	}
	err = errors.Join(err, c.Close())
	klog.FromContext(ctx).Info("Done; taking the cluster down", "command", command, "took", time.Since(start).Round(time.Second))
	return errors.Join(err, cluster.Down(context.WithoutCancel(ctx), o.Dir))
}
