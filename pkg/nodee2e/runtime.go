package nodee2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	internalapi "k8s.io/cri-api/pkg/apis"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

// Runtime is the node's container runtime, containerd, as hack/e2e.sh
// started and recorded it: its shims, and so the containers, outlive it.
type Runtime struct {
	// RecordDir holds containerd's record (pkg/nodeproc's format), named
	// Name.
	RecordDir, Name string
	// Socket is its CRI endpoint.
	Socket string
	// NetNS is the node's network namespace, which holds the CNI bridge.
	NetNS string
	// Root is containerd's root, which a disk keeps across a reboot, but
	// not the mounts below it.
	Root string
	// StateDirs are containerd's state and runc's root, under /run on a
	// real node: a reboot empties them.
	StateDirs []string
	// Cgroups hold containerd's shims and the pods' containers, which a
	// reboot kills (cgroup folders of one hierarchy).
	Cgroups []string
	// Bridge is the CNI bridge, which a reboot removes.
	Bridge string
	// IPAMDir is the CNI host-local plugin's data folder, which a disk
	// keeps: the addresses it holds must be given back as pods go.
	IPAMDir string
}

// Crash kills containerd with SIGKILL, not its shims, leaves it down for
// down, starts it again as it ran (argv, environment, output, network
// namespace and cgroup), and waits until it answers CRI again. It returns
// when containerd answered. The containerd started again is recorded in its
// place and, like the first, outlives the harness until hack/e2e.sh stops
// it by its record.
func (r Runtime) Crash(ctx context.Context, down time.Duration) (recovered time.Time, err error) {
	recorded, err := nodeproc.FindRecorded(r.RecordDir, r.Name)
	if err != nil {
		return time.Time{}, err
	}
	if err := recorded.Kill(ctx); err != nil {
		return time.Time{}, err
	}
	select {
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-time.After(down):
	}
	process, err := nodeproc.Start(ctx, recorded.Spec)
	if err != nil {
		return time.Time{}, err
	}
	klog.FromContext(ctx).Info("Started the runtime again", "pid", process.PID, "down", down)
	return r.waitAnswers(ctx, process)
}

// waitAnswers waits until containerd, just started, answers CRI, and says
// when it did.
func (r Runtime) waitAnswers(ctx context.Context, process *nodeproc.Process) (time.Time, error) {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if exited, _ := process.Exited(); exited {
			return false, process.ExitError()
		}
		// Serving first: the CRI client checks the runtime when it is
		// made, and one made too early would fail.
		conn, err := net.Dial("unix", r.Socket)
		if err != nil {
			last = err
			return false, nil
		}
		conn.Close()
		service, err := remote.NewRemoteRuntimeService(ctx, "unix://"+r.Socket, 5*time.Second, nil, false)
		if err != nil {
			last = err
			return false, nil
		}
		defer closeRuntime(ctx, service)
		_, last = service.Version(ctx, "v1")
		return last == nil, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%s started again did not answer CRI on %s in 30s (last: %v): %w", r.Name, r.Socket, last, err)
	}
	return time.Now(), nil
}

// PowerCycle does to the runtime side of the node what a reboot does, once
// the kubelet is dead: containerd, every shim and every container killed
// with SIGKILL; the mounts under mountRoots (the kubelet's root folder with
// the pods' volumes) and under containerd's state (root filesystems, network
// namespaces) undone; containerd's state and runc's root, which live under
// /run on a real node, emptied; the CNI bridge removed. What a disk keeps
// stays: containerd's root with its metadata, the kubelet's folders, the
// CNI plugin's IPAM folder. Then containerd is started again as it ran,
// even if a step before failed. Every field of r must be set.
func (r Runtime) PowerCycle(ctx context.Context, mountRoots ...string) error {
	if r.NetNS == "" || r.Root == "" || len(r.StateDirs) == 0 || len(r.Cgroups) == 0 || r.Bridge == "" {
		return fmt.Errorf("runtime %+v: NetNS, Root, StateDirs, Cgroups and Bridge are needed to power it off", r)
	}
	recorded, err := nodeproc.FindRecorded(r.RecordDir, r.Name)
	if err != nil {
		return err
	}
	if err := recorded.Kill(ctx); err != nil {
		return err
	}
	// containerd is started again whatever fails below: a node left
	// without a runtime would fail every scenario after this one.
	powerOffErr := r.powerOff(ctx, mountRoots)
	process, err := nodeproc.Start(ctx, recorded.Spec)
	if err != nil {
		return errors.Join(powerOffErr, err)
	}
	_, err = r.waitAnswers(ctx, process)
	return errors.Join(powerOffErr, err)
}

// powerOff does what a reboot does to what containerd leaves, once it is
// dead.
func (r Runtime) powerOff(ctx context.Context, mountRoots []string) error {
	for _, cgroup := range r.Cgroups {
		if err := nodeproc.KillCgroup(ctx, cgroup); err != nil {
			return err
		}
	}
	// UnmountUnder fails if a mount is left: only then are the state
	// folders removed, never through a mounted root filesystem or volume.
	unmounted, err := nodeproc.UnmountUnder(append(slices.Clone(mountRoots), append([]string{r.Root}, r.StateDirs...)...)...)
	if err != nil {
		return err
	}
	for _, dir := range r.StateDirs {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("emptying %s: %w", dir, err)
		}
	}
	// The bridge exists once a pod has had a network.
	args := []string{"--net=" + r.NetNS, "--", "ip", "link", "delete", r.Bridge}
	if out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
		return fmt.Errorf("nsenter %s: %w: %s", strings.Join(args, " "), err, out)
	}
	klog.FromContext(ctx).Info("Powered the runtime off", "unmounted", unmounted, "emptied", r.StateDirs, "bridge", r.Bridge)
	return nil
}

// runtimeClient is a CRI client of the node's runtime, for scenarios that
// look at containers and sandboxes the API no longer shows.
func (e *Env) runtimeClient(ctx context.Context) (internalapi.RuntimeService, error) {
	return remote.NewRemoteRuntimeService(ctx, "unix://"+e.CRISocket, 10*time.Second, nil, false)
}

// closeRuntime closes a CRI client made by runtimeClient or waitAnswers. An
// error is logged: nothing after it uses the connection.
func closeRuntime(ctx context.Context, runtime internalapi.RuntimeService) {
	if err := runtime.Close(ctx); err != nil {
		klog.FromContext(ctx).Error(err, "Closing a CRI client")
	}
}
