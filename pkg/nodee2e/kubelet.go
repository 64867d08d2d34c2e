// Package nodee2e runs a real kubelet, connected to a real API server and
// container runtime, inside a network namespace, and judges it by scenarios
// written with client-go: what our users see on their nodes, on the stock and
// the patched kubelet of one base.
package nodee2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/systemdunit"
)

// KubeletSpec is how to run one kubelet of the node.
type KubeletSpec struct {
	// Name tells the kubelets of a run apart: "stock", "patched".
	Name   string
	Binary string
	// NetNS is the network namespace the node lives in (/run/netns/...).
	NetNS string
	// Args are the kubelet's flags, other than its folders'.
	Args []string
	// RootDir is the kubelet's --root-dir; its --cert-dir is RootDir/pki.
	RootDir string
	// LogPath receives the kubelet's output; it is appended to across
	// restarts.
	LogPath string
	// RecordDir holds the kubelet's PID record while it runs (nodeproc).
	RecordDir string
	// Repeats names the kubelet of the run this one is a second run of, with
	// the same binary: it runs only the scenarios that measure performance,
	// to give their noise band, and must do what that kubelet does.
	Repeats string
	// Deb is the kubelet's deb, built from Binary, for kubelet-package-swap.
	Deb string
	// UnitRoot, when set, is the root folder of a node's files where the
	// kubelet was installed from its package: it starts as systemd would
	// start kubelet.service there (pkg/systemdunit): Binary and Args are not
	// used, and RootDir is the --root-dir the unit's flags give. The
	// executable is the one under UnitRoot; every other path the unit's
	// flags name is the node's own.
	UnitRoot string
}

// Flags are the kubelet's flags, its folders' included.
func (spec KubeletSpec) Flags() []string {
	return append(slices.Clone(spec.Args), "--root-dir="+spec.RootDir, "--cert-dir="+filepath.Join(spec.RootDir, "pki"))
}

// command gives the executable spec's kubelet starts as, its arguments, and
// the environment its service manager gives it.
func (spec KubeletSpec) command() (path string, args, env []string, err error) {
	if spec.UnitRoot == "" {
		return spec.Binary, spec.Flags(), nil, nil
	}
	c, err := systemdunit.Load(spec.UnitRoot, "kubelet.service")
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	// The scenarios look in RootDir for what the kubelet keeps: the last
	// value of each flag is the one the kubelet takes.
	for _, f := range []struct{ flag, want string }{{"--root-dir", spec.RootDir}, {"--cert-dir", filepath.Join(spec.RootDir, "pki")}} {
		flag, want := f.flag, f.want
		got := ""
		for _, arg := range c.Args {
			if arg == flag {
				return "", nil, nil, fmt.Errorf("%s kubelet: kubelet.service under %s gives %s with its value apart; write %s=VALUE", spec.Name, spec.UnitRoot, flag, flag)
			}
			if value, ok := strings.CutPrefix(arg, flag+"="); ok {
				got = value
			}
		}
		if got != want {
			return "", nil, nil, fmt.Errorf("%s kubelet: kubelet.service under %s gives %s=%q, want %s=%s", spec.Name, spec.UnitRoot, flag, got, flag, want)
		}
	}
	return filepath.Join(spec.UnitRoot, c.Path), c.Args, c.Env, nil
}

// Kubelet is a running kubelet.
type Kubelet struct {
	Spec    KubeletSpec
	Version string

	// Started is when the kubelet was started.
	Started time.Time

	process *nodeproc.Process
}

// StartKubelet starts spec's kubelet in the node's network namespace.
func StartKubelet(ctx context.Context, spec KubeletSpec) (*Kubelet, error) {
	path, args, env, err := spec.command()
	if err != nil {
		return nil, err
	}
	version, err := kubeletVersion(ctx, spec.Name, path)
	if err != nil {
		return nil, err
	}
	process, err := nodeproc.Start(ctx, nodeproc.Spec{
		// One record for whichever kubelet runs the node: two never run at
		// once.
		Name: "kubelet",
		Path: path,
		Args: args,
		// Every allocation sampled, so that heap profiles count sync
		// contexts exactly: with the default sampling, a few hundred small
		// contexts are seen as zero or as thousands.
		Env:       append(env, "GODEBUG=memprofilerate=1"),
		NetNS:     spec.NetNS,
		LogPath:   spec.LogPath,
		RecordDir: spec.RecordDir,
	})
	if err != nil {
		return nil, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	k := &Kubelet{Spec: spec, Version: version, Started: process.Started, process: process}
	klog.FromContext(ctx).Info("Started kubelet", "kubelet", spec.Name, "version", k.Version, "pid", process.PID)
	return k, nil
}

// kubeletVersion is the version the kubelet binary of the one called name
// reports, as the node shows it (v1.36.5-ctxfix.3).
func kubeletVersion(ctx context.Context, name, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s kubelet %s does not run: %w", name, binary, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes "), nil
}

// Exited reports whether the kubelet has exited, and how.
func (k *Kubelet) Exited() (bool, error) { return k.process.Exited() }

// Stop stops the kubelet as its service manager would (nodeproc's Stop).
func (k *Kubelet) Stop(ctx context.Context) { k.process.Stop(ctx) }

// Usage is the kubelet's CPU time and memory.
func (k *Kubelet) Usage() (nodeproc.Usage, error) { return k.process.Usage() }

// Kill kills the kubelet with SIGKILL, as a crash would.
func (k *Kubelet) Kill(ctx context.Context) { k.process.Kill(ctx) }

// WaitNodeReady waits until node is registered by this kubelet (its version)
// and Ready, as reported since the kubelet started: after a restart, the
// node is still Ready from before while the new kubelet is not serving yet.
func (k *Kubelet) WaitNodeReady(ctx context.Context, client kubernetes.Interface, node string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if exited, err := k.Exited(); exited {
			return false, fmt.Errorf("%s kubelet exited: %v (its log: %s)", k.Spec.Name, err, k.Spec.LogPath)
		}
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if n.Status.NodeInfo.KubeletVersion != k.Version {
			last = fmt.Sprintf("node reports kubelet %q", n.Status.NodeInfo.KubeletVersion)
			return false, nil
		}
		ready, why := readyHeartbeatSince(n, k.Started)
		last = why
		return ready, nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("node %s did not become Ready with the %s kubelet in %s (last: %s): %w", node, k.Spec.Name, timeout, last, err)
	}
	return err
}

// readyHeartbeatSince reports whether node reported itself Ready in a
// heartbeat sent at or after since, and what it last reported: a Ready
// condition from before since says nothing of the node after a restart or
// an outage.
func readyHeartbeatSince(node *v1.Node, since time.Time) (bool, string) {
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			// Heartbeats have a resolution of a second.
			fresh := !c.LastHeartbeatTime.Time.Before(since.Truncate(time.Second))
			return c.Status == v1.ConditionTrue && fresh, fmt.Sprintf("Ready=%s: %s (heartbeat %s)", c.Status, c.Message, c.LastHeartbeatTime.UTC())
		}
	}
	return false, "no Ready condition"
}
