package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

// Node is one machine of the cluster: a network namespace, and a mount
// namespace in which the node has /etc, /usr, /opt, /var/lib, /var/cache,
// /var/log, /run and /tmp of its own. The first six are the host's files
// (the node image's base system) with the node's writes over them, kept
// in the node's folder: its packages, installed on it with apt, its
// configuration, its state, its logs. Everything else (the build's output
// folder, with the run's folder, among it) is the host's, at the same paths.
type Node struct {
	// Name is the node's name, in the API and in its hosts file.
	Name string
	// Index numbers the nodes from 1; the first is the control plane.
	Index int
	// Namespace is its network namespace.
	Namespace string
	// Address is its address, the end of its link to the switch.
	Address netip.Addr
	// PodSubnet is where its pods' addresses come from.
	PodSubnet netip.Prefix
	// Dir holds what the node writes.
	Dir string
	// CgroupRoot is the kubelet's cgroupRoot: a cgroup of its own in every
	// hierarchy, so that the nodes' kubepods do not collide.
	CgroupRoot string
	// Imported are the images imported into its containerd, by name.
	Imported []string

	// holder keeps the mount namespace: a process that does nothing else.
	holder *nodeproc.Process
	// records holds the PID records of every process of the node.
	records string
	logs    string
}

// controlPlaneName is the first node's name.
const controlPlaneName = "ctxfix-control-plane"

// newNode places node i of a run in dir.
func newNode(dir string, i int) *Node {
	name := "ctxfix-worker-" + strconv.Itoa(i-1)
	if i == 1 {
		name = controlPlaneName
	}
	return &Node{
		Name:       name,
		Index:      i,
		Namespace:  "ctxfix-cluster-" + strconv.Itoa(i),
		Address:    nodeAddress(i),
		PodSubnet:  podSubnet(i),
		Dir:        filepath.Join(dir, "nodes", name),
		CgroupRoot: "/ctxfix-cluster-" + strconv.Itoa(i),
		records:    filepath.Join(dir, "records"),
		logs:       filepath.Join(dir, "logs", name),
	}
}

// MountNS is the node's mount namespace, for nsenter --mount.
func (n *Node) MountNS() string { return fmt.Sprintf("/proc/%d/ns/mnt", n.holder.PID) }

// View is the node's root folder as the node sees it, read from the host:
// its files through its mount namespace.
func (n *Node) View() string { return fmt.Sprintf("/proc/%d/root", n.holder.PID) }

// upper is where the node's writes to a folder of the host go.
func (n *Node) upper(folder string) string {
	return filepath.Join(n.Dir, "upper", strings.ReplaceAll(strings.TrimPrefix(folder, "/"), "/", "-"))
}

// overlays are the node's folders that lie over the host's: the host's
// files are the node image's base system, and what the node writes (its
// packages, its configuration, its logs) goes to its upper folder, in the
// node's folder of the run.
var overlays = []string{"/etc", "/usr", "/opt", "/var/lib", "/var/cache", "/var/log"}

// opaque are the folders that a node must not share with the host: the
// configuration of kubeadm, the CNI plugins, containerd and apt, the
// kubelet unit's drop-ins of the host's /etc, and apt's lists and cache.
// An opaque folder of the upper layer shows nothing of the host's.
var opaque = map[string][]string{
	"/etc":       {"kubernetes", "cni", "containerd", "apt", "systemd/system/kubelet.service.d"},
	"/var/lib":   {"apt"},
	"/var/cache": {"apt"},
}

// stateFolders are the node's folders that hold its state on the disk of
// the run, not in an overlay: containerd's overlay snapshots cannot have
// an overlay for their upper folder, and etcd and the kubelet keep theirs
// beside it.
var stateFolders = []string{"/var/lib/containerd", "/var/lib/kubelet", "/var/lib/etcd"}

// podResolvConf is the resolv.conf the kubelets give pods that take the
// node's name servers (dnsPolicy Default): CoreDNS, which forwards to them
// what it does not serve. The node's own names its loopback, which in a
// pod is the pod's: CoreDNS would forward to itself, and stop on the loop.
// This one names the switch, where nothing answers port 53: such a name
// fails at once, and the query stays in the run's namespaces.
const podResolvConf = "/etc/ctxfix-cluster/resolv.conf"

var podResolvConfText = fmt.Sprintf("# ctxfix cluster: CoreDNS's upstream, where nothing answers\nnameserver %s\n", repoAddress.Addr())

// startNamespace starts the process that holds the node's mount namespace
// and mounts the node's folders in it. /etc gets the node's hosts file,
// with every node of the cluster, and a resolv.conf whose only name server
// is on the node's loopback, where nothing answers: no name is looked up
// anywhere but in the hosts file.
func (n *Node) startNamespace(ctx context.Context, hosts string) error {
	etc := n.upper("/etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("# ctxfix cluster node: names come from /etc/hosts only\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hostname"), []byte(n.Name+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(etc, filepath.Dir(strings.TrimPrefix(podResolvConf, "/etc/"))), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, strings.TrimPrefix(podResolvConf, "/etc/")), []byte(podResolvConfText), 0o644); err != nil {
		return err
	}
	for folder, dirs := range opaque {
		for _, d := range dirs {
			dir := filepath.Join(n.upper(folder), d)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := unix.Setxattr(dir, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return fmt.Errorf("making %s opaque: %w", dir, err)
			}
		}
	}
	// A process that does nothing but hold the namespace: Go's exec
	// unshares it, every mount private, before sleep runs.
	holder, err := nodeproc.Start(ctx, nodeproc.Spec{
		Name: n.Name + "-namespace", Path: "sleep", Args: []string{"infinity"}, NewMountNS: true,
		LogPath: filepath.Join(n.logs, "namespace.log"), RecordDir: n.records, Detached: true,
	})
	if err != nil {
		return err
	}
	n.holder = holder
	host, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	own, err := os.Readlink(n.MountNS())
	if err != nil {
		return err
	}
	if own == host {
		return fmt.Errorf("%s's namespace holder (pid %d) runs in the host's mount namespace", n.Name, holder.PID)
	}
	// Down looks for processes left in it by this name.
	if err := os.WriteFile(filepath.Join(n.Dir, "mount-namespace"), []byte(own), 0o644); err != nil {
		return err
	}
	// The build's output folder (the run's folder is <output>/cluster/run)
	// holds everything the node's processes are given: the state folders
	// below, the tools, the suites and their reports. It may lie under
	// /tmp or a folder overlaid below, which would hide it or keep the
	// node's writes: it is bound aside first, while the node still sees
	// the host's, and back at its own path after the node's mounts.
	output := filepath.Dir(filepath.Dir(filepath.Dir(n.records)))
	const aside = "/run/ctxfix-cluster-output"
	mounts := [][]string{
		{"mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"},
		{"mkdir", "-p", aside},
		{"mount", "--rbind", output, aside},
	}
	for _, folder := range overlays {
		upper, work := n.upper(folder), n.upper(folder)+".work"
		for _, dir := range []string{upper, work} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		options := "lowerdir=" + folder + ",upperdir=" + upper + ",workdir=" + work
		mounts = append(mounts, []string{"mount", "-t", "overlay", "-o", options, "overlay", folder})
	}
	mounts = append(mounts,
		[]string{"mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/tmp"},
		[]string{"mkdir", "-p", output},
		[]string{"mount", "--rbind", aside, output},
	)
	for _, folder := range stateFolders {
		state := filepath.Join(n.Dir, "state", filepath.Base(folder))
		if err := os.MkdirAll(state, 0o700); err != nil {
			return err
		}
		mounts = append(mounts, []string{"mkdir", "-p", folder}, []string{"mount", "--bind", state, folder})
	}
	for _, m := range mounts {
		if err := n.exec(ctx, m...); err != nil {
			return err
		}
	}
	klog.FromContext(ctx).Info("Node namespaces ready", "node", n.Name, "address", n.Address, "netns", n.Namespace, "mountHolder", holder.PID)
	return nil
}

// exec runs a command inside the node's namespaces and waits for it.
func (n *Node) exec(ctx context.Context, argv ...string) error {
	args := append([]string{"--net=" + netnsPath(n.Namespace), "--mount=" + n.MountNS(), "--"}, argv...)
	return run(ctx, "nsenter", args...)
}

// execLogged runs a command inside the node's namespaces with its output in
// the node's log NAME.log, and fails with the log's end.
func (n *Node) execLogged(ctx context.Context, name string, env []string, argv ...string) error {
	if err := os.MkdirAll(n.logs, 0o755); err != nil {
		return err
	}
	path := filepath.Join(n.logs, name+".log")
	log, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + netnsPath(n.Namespace), "--mount=" + n.MountNS(), "--"}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s on %s: %w; last lines of %s:\n%s", strings.Join(argv, " "), n.Name, err, path, nodeproc.Tail(path, 20))
	}
	return nil
}

// cgroupHierarchies lists this machine's cgroup v1 hierarchies, once each
// (cpu and cpuacct are links to one).
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 || !e.IsDir() {
			continue
		}
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name()))
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup v1 hierarchy under /sys/fs/cgroup")
	}
	return dirs, nil
}

// createCgroups makes the node's cgroupRoot in every hierarchy, and its
// runtime's cgroup in the pids one. cpuset needs cpus and mems before a
// process can join: the parent's are copied in.
func (n *Node) createCgroups() error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		dir := filepath.Join(h, n.CgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" {
			for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
				value, err := os.ReadFile(filepath.Join(h, file))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return os.Mkdir(n.runtimeCgroup(), 0o755)
}

// runtimeCgroup holds the node's containerd and, since they inherit it, its
// shims.
func (n *Node) runtimeCgroup() string {
	return filepath.Join("/sys/fs/cgroup/pids", n.CgroupRoot+"-runtime")
}

// nodeCgroups are every cgroup of the node, in every hierarchy.
func (n *Node) nodeCgroups() ([]string, error) {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, h := range hierarchies {
		dirs = append(dirs, filepath.Join(h, n.CgroupRoot))
	}
	return append(dirs, n.runtimeCgroup()), nil
}

// removeCgroups kills what is left in the node's cgroups (containers,
// shims) and removes them, the deepest first.
func (n *Node) removeCgroups(ctx context.Context) error {
	dirs, err := n.nodeCgroups()
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := nodeproc.KillCgroup(ctx, dir); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeCgroupTree(dir))
	}
	return joinErrors(errs)
}

// removeCgroupTree removes a cgroup folder and those below it.
func removeCgroupTree(dir string) error {
	var dirs []string
	if err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	}); err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func joinErrors(errs []error) error { return errors.Join(errs...) }
