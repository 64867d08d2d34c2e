// Package cluster builds a kubeadm cluster on this machine the way
// image-builder and Cluster API build one from a release: each node gets
// the release's packages from its signed apt repository, served on
// loopback, and its images imported under the names kubeadm asks for;
// kubeadm init runs on the first node and kubeadm join on the others. Each
// node is a network namespace and a mount namespace (Node), with a
// containerd of its own and a kubelet started as the packages' systemd
// unit says. The processes go through pkg/nodeproc, recorded, so that Down
// takes down what Up left running.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/release"
	"k8s.io/klog/v2"
)

// Tools are the binaries a node's runtime needs from the build.
type Tools struct {
	// Containerd and Ctr are containerd's daemon and client; the runc shim
	// is beside Containerd.
	Containerd, Ctr string
}

// Options describe the cluster to build.
type Options struct {
	// Release is the release folder (…/v1.36.5-ctxfix.3); its name is the
	// version kubeadm deploys.
	Release string
	// Arch is the nodes' architecture.
	Arch string
	// Nodes counts the nodes, the control plane among them.
	Nodes int
	// Dir is the run's folder, under _output/.
	Dir string
	// Packages are NAME=VERSION to install from the repository on every
	// node (kubelet, kubeadm, kubectl, kubernetes-cni), in package mode.
	Packages []string
	// HTTP, if set, installs the nodes from the release's http layout as
	// image-builder's http mode does, instead of Packages.
	HTTP *HTTPMode
	// AptPin is the pin of the README ("Add the repository"), with the release's version.
	AptPin string
	// Repositories are more signed flat apt repositories (each a folder
	// with Release.key) that every node lists beside the release's, by
	// name: upstream's stand-in, which holds the stock kubelet's package.
	Repositories map[string]string
	// KubeletVersion is the version the nodes' kubelets must report once
	// up: the release's, unless Packages install another kubelet.
	KubeletVersion string
	// KubernetesVersion is the control plane's version, which kubeadm init
	// deploys: the release's, unless set (to the stock version, whose
	// images Images must then hold).
	KubernetesVersion string
	// Images are more image tarballs to import on every node: the
	// workloads' images, since nothing can be pulled.
	Images []string
	// KubeletEnvironment is NAME=VALUE set for every kubelet by a drop-in
	// of kubelet.service, as an operator sets GODEBUG=memprofilerate=1
	// for exact heap profiles.
	KubeletEnvironment []string
	Tools              Tools
}

// state is what Up leaves in the run's folder for Down.
type state struct {
	Nodes int `json:"nodes"`
	// Host is the fingerprint of the host's own files that a node must
	// never touch, taken before anything started.
	Host map[string]string `json:"host"`
	// HostCgroups are the cgroups at the top of the host's hierarchies
	// before anything started.
	HostCgroups []string `json:"hostCgroups"`
}

func (o Options) validate() error {
	var problems []string
	if o.Nodes < 1 || o.Nodes > 9 {
		problems = append(problems, fmt.Sprintf("NODES=%d: want 1 to 9", o.Nodes))
	}
	if info, err := os.Stat(o.Release); err != nil || !info.IsDir() {
		problems = append(problems, fmt.Sprintf("release folder %q: not a folder", o.Release))
	}
	files := map[string]string{"containerd": o.Tools.Containerd, "ctr": o.Tools.Ctr}
	if o.HTTP == nil {
		files["apt pin"] = o.AptPin
	}
	for name, path := range files {
		if _, err := os.Stat(path); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q: %v", name, path, err))
		}
	}
	switch {
	case o.HTTP == nil && len(o.Packages) == 0:
		problems = append(problems, "no packages to install")
	case o.HTTP != nil && len(o.Packages) > 0:
		problems = append(problems, fmt.Sprintf("packages %v to install in http mode, which installs no package", o.Packages))
	case o.HTTP != nil:
		if err := o.HTTP.Recipe.validate(); err != nil {
			problems = append(problems, err.Error())
		}
		if version := filepath.Base(o.Release); o.HTTP.Recipe.Semver != version {
			problems = append(problems, fmt.Sprintf("the http recipe's kubernetes_semver is %q, but the release is %s", o.HTTP.Recipe.Semver, version))
		}
		for _, file := range []string{o.HTTP.KubeletUnit, o.HTTP.KubeadmDropIn} {
			if _, err := os.Stat(file); err != nil {
				problems = append(problems, fmt.Sprintf("unit file %q: %v", file, err))
			}
		}
	}
	for name, dir := range o.Repositories {
		if _, err := os.Stat(filepath.Join(dir, "Release.key")); err != nil || name == releaseSource || !validName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("repository %s (%q): want a name other than %q of letters, digits and '-', and a signed flat repository with its Release.key", name, dir, releaseSource))
		}
	}
	for _, image := range o.Images {
		if _, err := os.Stat(image); err != nil {
			problems = append(problems, fmt.Sprintf("image %q: %v", image, err))
		}
	}
	for _, kv := range o.KubeletEnvironment {
		if name, _, ok := strings.Cut(kv, "="); !ok || !validName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("kubelet environment %q: want NAME=VALUE", kv))
		}
	}
	if !filepath.IsAbs(o.Dir) || o.Arch == "" {
		problems = append(problems, fmt.Sprintf("the run's folder (%q) must be an absolute path, and the architecture (%q) is required: nodes see paths from their own working folder", o.Dir, o.Arch))
	}
	if len(problems) > 0 {
		return fmt.Errorf("cluster: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Cluster is a cluster that Up built.
type Cluster struct {
	Options Options
	Nodes   []*Node
	// Version is the Kubernetes version kubeadm init deployed.
	Version string
	// KubeletVersion is what the kubelets report once the cluster is up.
	KubeletVersion string

	kubelets []*kubeletService
	// stopSupervising ends the kubelets' supervision; they keep running.
	stopSupervising context.CancelFunc
	supervising     sync.WaitGroup
	// stopServing stops the release's web server.
	stopServing func() error
}

// Up builds the cluster. On failure it takes down what it started.
func Up(ctx context.Context, o Options) (_ *Cluster, err error) {
	logger := klog.FromContext(ctx)
	if err := o.validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "cluster.json")); err == nil {
		return nil, fmt.Errorf("%s holds a cluster: take it down first (make cluster-down)", o.Dir)
	}
	releaseVersion := filepath.Base(o.Release)
	c := &Cluster{Options: o, Version: o.KubernetesVersion, KubeletVersion: o.KubeletVersion}
	if c.Version == "" {
		c.Version = releaseVersion
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = releaseVersion
	}
	for i := 1; i <= o.Nodes; i++ {
		c.Nodes = append(c.Nodes, newNode(o.Dir, i))
	}
	// Before anything is made, and before a failure would take down what
	// is there: another cluster's namespaces and cgroups are not this
	// one's.
	if err := nothingInTheWay(c.Nodes); err != nil {
		return nil, err
	}
	host, err := hostFingerprint()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	cgroups, err := topCgroups()
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(state{Nodes: o.Nodes, Host: host, HostCgroups: cgroups})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "cluster.json"), s, 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			logger.Error(err, "Cluster did not come up; taking it down")
			err = errors.Join(err, c.Close())
			if downErr := Down(context.WithoutCancel(ctx), o.Dir); downErr != nil {
				err = errors.Join(err, fmt.Errorf("and taking it down: %w", downErr))
			}
		}
	}()

	if err := createNetwork(ctx, c.Nodes); err != nil {
		return nil, err
	}
	// The release folder, and the other repositories, as a web server
	// publishes them, on the switch.
	serve := maps.Clone(o.Repositories)
	if o.HTTP != nil {
		standIns, err := makeUpstreamStandIns(ctx, filepath.Join(o.Dir, "upstream-stand-ins"), o.Release, o.Arch, o.HTTP.Recipe)
		if err != nil {
			return nil, err
		}
		maps.Copy(serve, standIns)
	}
	served, err := servedTree(o.Dir, o.Release, serve)
	if err != nil {
		return nil, err
	}
	listener, err := listenIn(netnsPath(switchNamespace), repoAddress.String())
	if err != nil {
		return nil, fmt.Errorf("serving the release on the switch: %w", err)
	}
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	serveErr := make(chan error, 1)
	go func() { serveErr <- release.ServeOn(serveCtx, served, listener) }()
	c.stopServing = func() error {
		stopServing()
		if err := <-serveErr; err != nil {
			return fmt.Errorf("the release's web server: %w", err)
		}
		return nil
	}
	sources := []AptSource{aptSource(releaseSource, releaseVersion+"/deb")}
	for _, name := range slices.Sorted(maps.Keys(o.Repositories)) {
		sources = append(sources, aptSource(name, name))
	}
	repoClient := &http.Client{Transport: &http.Transport{DialContext: dialIn(netnsPath(switchNamespace))}}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
	for _, n := range c.Nodes {
		fmt.Fprintf(&hosts, "%s %s\n", n.Address, n.Name)
	}
	images, err := filepath.Glob(filepath.Join(o.Release, "bin", "linux", o.Arch, "*.tar"))
	if err != nil || len(images) == 0 {
		return nil, fmt.Errorf("no image tarballs in %s/bin/linux/%s", o.Release, o.Arch)
	}
	pause, err := pauseImage(images)
	images = append(images, o.Images...)
	if err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		start := time.Now()
		if err := n.createCgroups(); err != nil {
			return nil, err
		}
		if err := n.writePatches(); err != nil {
			return nil, err
		}
		if o.HTTP == nil {
			if err := n.prepareApt(ctx, repoClient, sources, o.AptPin); err != nil {
				return nil, err
			}
		}
		if err := n.writeKubeletEnvironment(o.KubeletEnvironment); err != nil {
			return nil, err
		}
		if err := n.startNamespace(ctx, hosts.String()); err != nil {
			return nil, err
		}
		nodeImages := images
		if o.HTTP == nil {
			if err := n.installPackages(ctx, o.Packages); err != nil {
				return nil, err
			}
		} else {
			// Downloaded by the node, from its own namespace, as
			// image-builder's http mode downloads on the machine it builds.
			client := &http.Client{Timeout: downloadTimeout, Transport: &http.Transport{DialContext: dialIn(netnsPath(n.Namespace))}}
			downloaded, err := n.installFromHTTP(ctx, client, *o.HTTP, o.Arch, filepath.Join(n.Dir, "downloaded-images"))
			if err != nil {
				return nil, err
			}
			nodeImages = append(downloaded, o.Images...)
		}
		if err := n.startRuntime(ctx, o.Tools, pause); err != nil {
			return nil, err
		}
		if _, err := n.importImages(ctx, o.Tools, nodeImages, o.Arch); err != nil {
			return nil, err
		}
		logger.Info("Node prepared", "node", n.Name, "took", time.Since(start).Round(time.Second))
	}

	superviseCtx, stop := context.WithCancel(ctx)
	c.stopSupervising = stop
	for _, n := range c.Nodes {
		k := &kubeletService{node: n}
		c.kubelets = append(c.kubelets, k)
		c.supervising.Add(1)
		go func() {
			defer c.supervising.Done()
			k.supervise(superviseCtx)
		}()
	}

	token, err := bootstrapToken()
	if err != nil {
		return nil, err
	}
	cp := c.Nodes[0]
	config, err := initConfig(cp, c.Version, token)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cp.kubeadm(ctx, config, "init"); err != nil {
		return nil, err
	}
	logger.Info("kubeadm init done", "node", cp.Name, "took", time.Since(start).Round(time.Second))
	ca, err := os.ReadFile(filepath.Join(cp.View(), "etc/kubernetes/pki/ca.crt"))
	if err != nil {
		return nil, err
	}
	hash, err := caCertHash(ca)
	if err != nil {
		return nil, fmt.Errorf("the cluster's CA: %w", err)
	}
	endpoint := fmt.Sprintf("%s:%d", cp.Address, apiServerPort)
	for _, n := range c.Nodes[1:] {
		config, err := joinConfig(n, endpoint, token, hash)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := n.kubeadm(ctx, config, "join"); err != nil {
			return nil, err
		}
		logger.Info("kubeadm join done", "node", n.Name, "took", time.Since(start).Round(time.Second))
	}
	return c, nil
}

// releaseSource names the release's repository on the nodes, as
// docs/node-images.md names it.
const releaseSource = "kubernetes"

// validName is what a repository's name or an environment variable's may
// be.
var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// servedTree makes the folder the switch's web server serves, in the
// run's folder dir: the release folder under its version, as the
// release's own layout publishes it, and each other folder of others
// under its path, as links.
func servedTree(dir, release string, others map[string]string) (string, error) {
	served := filepath.Join(dir, "served")
	if err := os.MkdirAll(served, 0o755); err != nil {
		return "", err
	}
	links := map[string]string{filepath.Base(release): release}
	maps.Copy(links, others)
	for name, target := range links {
		abs, err := filepath.Abs(target)
		if err != nil {
			return "", err
		}
		if err := os.Symlink(abs, filepath.Join(served, name)); err != nil {
			return "", err
		}
	}
	return served, nil
}

// aptSource is the source of the repository served under path.
func aptSource(name, path string) AptSource {
	repo := fmt.Sprintf("http://%s/%s/", repoAddress, path)
	return AptSource{Name: name, Repo: repo, KeyURL: repo + "Release.key"}
}

// pauseImage is the sandbox image containerd pins: the release's pause.
func pauseImage(tarballs []string) (string, error) {
	for _, t := range tarballs {
		if filepath.Base(t) == "pause.tar" {
			tags, err := tarballTags(t)
			if err != nil {
				return "", err
			}
			if len(tags) != 1 {
				return "", fmt.Errorf("%s names %d images, want 1: %v", t, len(tags), tags)
			}
			return tags[0], nil
		}
	}
	return "", fmt.Errorf("the release has no pause.tar beside %v", tarballs)
}

// nothingInTheWay fails if a namespace or cgroup the nodes would make is
// there already: what Down's leftBehind looks for.
func nothingInTheWay(nodes []*Node) error {
	if there := leftBehind(nodes); len(there) > 0 {
		return fmt.Errorf("a cluster is up, or a run was killed (make cluster-down, or remove them): %w", errors.Join(there...))
	}
	return nil
}

// Close ends what Up runs in this process: the kubelets' supervision (they
// keep running, as a cluster left up keeps its kubelets) and the release's
// web server.
func (c *Cluster) Close() error {
	if c.stopSupervising != nil {
		c.stopSupervising()
		c.supervising.Wait()
		c.stopSupervising = nil
	}
	if c.stopServing != nil {
		err := c.stopServing()
		c.stopServing = nil
		return err
	}
	return nil
}

// Down takes down the cluster whose run folder is dir, whatever state Up
// left it in, and checks that nothing is left: no process of the run, no
// process that still sees one of its mounts, no cgroup or network
// namespace of its nodes, and the host's own files as they were. It then
// removes dir.
func Down(ctx context.Context, dir string) error {
	logger := klog.FromContext(ctx)
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return fmt.Errorf("no cluster in %s: %w", dir, err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s/cluster.json: %w", dir, err)
	}
	var nodes []*Node
	for i := 1; i <= s.Nodes; i++ {
		nodes = append(nodes, newNode(dir, i))
	}
	var errs []error
	// The packets the switch dropped, before the switch goes.
	if _, err := os.Stat(netnsPath(switchNamespace)); err == nil {
		dropped, err := droppedPackets(ctx)
		switch {
		case err != nil:
			errs = append(errs, err)
		case dropped > 0:
			errs = append(errs, fmt.Errorf("the switch dropped %d packets bound outside the run's namespaces", dropped))
		default:
			logger.Info("No packet was bound outside the run's namespaces (the switch's drop rule counted 0)")
		}
	}
	if with, err := defaultRoutes(ctx, existing(nodes)); err != nil {
		errs = append(errs, err)
	} else if len(with) > 0 {
		errs = append(errs, fmt.Errorf("nodes have a default route: %v", with))
	}
	var namespaces []string
	for _, n := range nodes {
		if ns, err := os.ReadFile(filepath.Join(n.Dir, "mount-namespace")); err == nil {
			namespaces = append(namespaces, string(ns))
		}
	}
	stopped, err := nodeproc.StopRecorded(ctx, filepath.Join(dir, "records"))
	errs = append(errs, err)
	logger.Info("Stopped the recorded processes", "processes", stopped)
	for _, n := range nodes {
		errs = append(errs, n.removeCgroups(ctx))
	}
	// A kubelet that lost its node's cgroupRoot puts its pods at the top
	// of the host's hierarchies: they are the run's, and go with it.
	errs = append(errs, removeAppearedCgroups(ctx, s.HostCgroups, dir, namespaces))
	if left, err := processesSeeing(dir, namespaces); err != nil {
		errs = append(errs, err)
	} else if len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes still see mounts of %s: %v", dir, left))
	}
	errs = append(errs, deleteNetwork(ctx, nodes))
	host, err := hostFingerprint()
	if err != nil {
		errs = append(errs, err)
	} else {
		for path, before := range s.Host {
			if host[path] != before {
				errs = append(errs, fmt.Errorf("the host's %s changed while the cluster ran", path))
			}
		}
	}
	errs = append(errs, leftBehind(nodes)...)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	logger.Info("Cluster down; nothing left behind (processes, mounts, cgroups, network namespaces, host files)")
	return nil
}

// leftBehind names what of the nodes is still there.
func leftBehind(nodes []*Node) []error {
	var errs []error
	for _, n := range nodes {
		if _, err := os.Stat(netnsPath(n.Namespace)); err == nil {
			errs = append(errs, fmt.Errorf("network namespace %s is left", n.Namespace))
		}
		dirs, err := n.nodeCgroups()
		if err != nil {
			errs = append(errs, err)
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				errs = append(errs, fmt.Errorf("cgroup %s is left", d))
			}
		}
	}
	if _, err := os.Stat(netnsPath(switchNamespace)); err == nil {
		errs = append(errs, fmt.Errorf("network namespace %s is left", switchNamespace))
	}
	return errs
}

// processesSeeing lists the processes left in a node's mount namespace
// (namespaces, as /proc/PID/ns/mnt names them), or whose mount table holds
// a mount of dir.
func processesSeeing(dir string, namespaces []string) ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var left []string
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") != "" {
			continue
		}
		if seesRun(e.Name(), dir, namespaces) {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			left = append(left, e.Name()+" "+strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		}
	}
	return left, nil
}

// seesRun reports whether process pid is in one of the nodes' mount
// namespaces, or sees a mount of the run's folder dir (a container whose
// root is a snapshot of a node's containerd). A process gone since it was
// listed sees nothing.
func seesRun(pid, dir string, namespaces []string) bool {
	ns, nsErr := os.Readlink(filepath.Join("/proc", pid, "ns/mnt"))
	mounts, err := os.ReadFile(filepath.Join("/proc", pid, "mountinfo"))
	if err != nil || nsErr != nil {
		return false
	}
	return slices.Contains(namespaces, ns) || strings.Contains(string(mounts), " "+dir+"/") || strings.Contains(string(mounts), "="+dir+"/")
}

// topCgroups lists the cgroups at the top of the host's hierarchies.
func topCgroups() ([]string, error) {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	var cgroups []string
	for _, h := range hierarchies {
		entries, err := os.ReadDir(h)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				cgroups = append(cgroups, filepath.Join(h, e.Name()))
			}
		}
	}
	return cgroups, nil
}

// removeAppearedCgroups fails naming the kubepods cgroups at the top of
// the host's hierarchies that were not there before the run (before): a
// kubelet of the run makes them when it has lost its node's cgroupRoot.
// Those whose every process sees the run's mounts (dir, namespaces) are
// the run's pods: their processes are killed, and they are removed. Any
// other (make e2e's kubelet runs its pods there) is left alone.
func removeAppearedCgroups(ctx context.Context, before []string, dir string, namespaces []string) error {
	if before == nil {
		// A run folder of an earlier version of this package.
		return nil
	}
	now, err := topCgroups()
	if err != nil {
		return err
	}
	var appeared []string
	var errs []error
	for _, cgroup := range now {
		if slices.Contains(before, cgroup) || !strings.HasPrefix(filepath.Base(cgroup), "kubepods") {
			continue
		}
		appeared = append(appeared, cgroup)
		pids, err := nodeproc.CgroupPIDs(cgroup)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i := slices.IndexFunc(pids, func(pid int) bool { return !seesRun(strconv.Itoa(pid), dir, namespaces) }); i >= 0 {
			errs = append(errs, fmt.Errorf("%s holds process %d, which is not the run's: left alone", cgroup, pids[i]))
			continue
		}
		if err := nodeproc.KillCgroup(ctx, cgroup); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeCgroupTree(cgroup))
	}
	if len(appeared) > 0 {
		errs = append(errs, fmt.Errorf("a kubelet ran pods outside its node's cgroupRoot: %v appeared while the cluster ran (those of the run's pods killed and removed)", appeared))
	}
	return errors.Join(errs...)
}

// existing are the nodes whose network namespace is there.
func existing(nodes []*Node) []*Node {
	var there []*Node
	for _, n := range nodes {
		if _, err := os.Stat(netnsPath(n.Namespace)); err == nil {
			there = append(there, n)
		}
	}
	return there
}

// hostPaths are the host's own files that a node has at the same paths,
// in its own namespace: the run must leave them as they were.
var hostPaths = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/kubernetes", "/var/lib/kubelet", "/etc/cni/net.d", "/var/lib/etcd"}

// hostFingerprint hashes each of hostPaths: the names, modes and contents
// of the files below it, or "absent".
func hostFingerprint() (map[string]string, error) {
	fingerprint := map[string]string{}
	for _, root := range hostPaths {
		h := sha256.New()
		seen := false
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			seen = true
			info, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %v\n", path, info.Mode())
			if info.Mode()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(path)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %s\n", target)
			}
			if info.Mode().IsRegular() || info.Mode()&fs.ModeSymlink != 0 {
				data, err := os.ReadFile(path)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				h.Write(data)
			}
			return nil
		})
		switch {
		case errors.Is(err, fs.ErrNotExist) && !seen:
			fingerprint[root] = "absent"
		case err != nil:
			return nil, fmt.Errorf("fingerprint of the host's %s: %w", root, err)
		default:
			fingerprint[root] = hex.EncodeToString(h.Sum(nil))
		}
	}
	return fingerprint, nil
}

// waitFor polls done every half second until it is true, fails, or two
// minutes pass.
func waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not there after 2 minutes", what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
