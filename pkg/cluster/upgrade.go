package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// UpgradeCommands are the commands of docs/node-images.md's "kubeadm
// upgrades and the version suffix", as written there for the base.
type UpgradeCommands struct {
	// ControlPlane installs our kubeadm on the first control-plane node and
	// upgrades the control plane to ours; Node is what every other node
	// runs after the same apt commands (ControlPlane's up to its first
	// kubeadm command).
	ControlPlane, Node string
	// ToUpstream upgrades the control plane from ours to upstream's next
	// patch release, NextVersion, once upstream's kubeadm is installed.
	ToUpstream, NextVersion string
}

// UpgradeOptions describe make cluster-upgrade's run.
type UpgradeOptions struct {
	// StockVersion is upstream's version the cluster was initialised at
	// (v1.36.5); PatchedVersion ours (v1.36.5-ctxfix.3).
	StockVersion, PatchedVersion string
	// StockKubeadm is the package of upstream's kubeadm of StockVersion
	// (kubeadm=1.36.5-1.1) that the nodes start with, and that stands in for
	// the next release's.
	StockKubeadm string
	Commands     UpgradeCommands
	// Recipe is the README's: each kubelet to ours, and back.
	Recipe Recipe
	// OutDir gets transcript.md, every command's output.
	OutDir string
}

// UpgradeStep is one command of the run, and what it printed that says
// what kubeadm made of the version.
type UpgradeStep struct {
	Node, What string
	Took       time.Duration
	// Said are the lines of its output that the documentation quotes.
	Said []string
}

// UpgradeReport is what Upgrade saw.
type UpgradeReport struct {
	Steps []UpgradeStep
}

// experimentalFlag is the flag kubeadm wants for a pre-release target.
const experimentalFlag = " --allow-experimental-upgrades"

// quoted are the lines of kubeadm's output worth keeping in the report.
var quoted = regexp.MustCompile(`(?m)^.*(Target version|falling back to the local client version|is an unstable version|Downgrades|SUCCESS!|You can now apply|upgrade apply v|kubelet configuration for this node was successfully upgraded).*$`)

// Upgrade runs the documented kubeadm upgrade paths on a cluster that
// kubeadm initialised at o.StockVersion with upstream's kubeadm and
// kubelet packages: first the apply without --allow-experimental-upgrades,
// which must be refused for the pre-release; then the control plane and
// every node to ours with the documented commands, each kubelet by the
// README's recipe; then on to upstream's next patch release, simulated by
// upstream's kubeadm and version of the same base, which sort above ours as
// the next release's do, and each kubelet back by the README's rollback.
// After each, the API server, the control plane's static pods and
// kube-proxy must run the version.
func Upgrade(ctx context.Context, c *Cluster, o UpgradeOptions) (*UpgradeReport, error) {
	logger := klog.FromContext(ctx)
	cmds := o.Commands
	if !strings.Contains(cmds.ControlPlane, experimentalFlag) || !strings.Contains(cmds.ControlPlane, "kubeadm upgrade apply "+o.PatchedVersion) {
		return nil, fmt.Errorf("the documented control-plane commands do not run kubeadm upgrade apply %s with%s:\n%s", o.PatchedVersion, experimentalFlag, cmds.ControlPlane)
	}
	if !strings.Contains(cmds.ToUpstream, "kubeadm upgrade apply "+cmds.NextVersion) {
		return nil, fmt.Errorf("the documented commands to upstream's next release do not run kubeadm upgrade apply %s:\n%s", cmds.NextVersion, cmds.ToUpstream)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	client, _, err := c.Client()
	if err != nil {
		return nil, err
	}
	if err := waitControlPlane(ctx, client, o.StockVersion); err != nil {
		return nil, err
	}
	report := &UpgradeReport{}
	cp := c.Nodes[0]
	run := func(n *Node, what, script string, mustFail string) error {
		start := time.Now()
		out, err := c.runRecipe(ctx, n, what, script, nil)
		if mustFail != "" {
			if err == nil {
				return fmt.Errorf("%s on %s succeeded; it must be refused with %q", what, n.Name, mustFail)
			}
			out = err.Error()
			if !strings.Contains(out, mustFail) || strings.Contains(out, "Downgrades") {
				return fmt.Errorf("%s on %s was refused, but not only as the documentation says (%q):\n%s", what, n.Name, mustFail, out)
			}
		} else if err != nil {
			return err
		}
		// kubeadm writes the kubelet's configuration anew from the
		// cluster's: the node's own patch must still be in it.
		if err := n.checkKubeletCgroupRoot(); err != nil {
			return fmt.Errorf("after %s: %w", what, err)
		}
		step := UpgradeStep{Node: n.Name, What: what, Took: time.Since(start), Said: quoted.FindAllString(out, -1)}
		report.Steps = append(report.Steps, step)
		logger.Info("Upgrade step done", "node", n.Name, "step", what, "took", step.Took.Round(time.Second))
		return appendFile(filepath.Join(o.OutDir, "transcript.md"),
			[]byte(fmt.Sprintf("## %s on %s (%s)\n\n```\n$ %s\n%s\n```\n\n", what, n.Name, step.Took.Round(time.Second), strings.TrimSpace(script), stripColour(out))))
	}

	// The pre-release needs its flag: without it, kubeadm refuses.
	refused := strings.ReplaceAll(cmds.ControlPlane, experimentalFlag, "")
	if err := run(cp, "apply without"+experimentalFlag, refused, "is an unstable version"); err != nil {
		return report, err
	}
	if err := run(cp, "control plane to ours", cmds.ControlPlane, ""); err != nil {
		return report, err
	}
	if err := waitControlPlane(ctx, client, o.PatchedVersion); err != nil {
		return report, err
	}
	nodeCommands := aptPart(cmds.ControlPlane) + cmds.Node
	for i, n := range c.Nodes {
		if i > 0 {
			if err := run(n, "node to ours", nodeCommands, ""); err != nil {
				return report, err
			}
		}
		if _, err := c.replaceKubelet(ctx, client, i, o.Recipe.Upgrade, o.Recipe.Wait, o.PatchedVersion); err != nil {
			return report, err
		}
	}
	// What kubeadm proposes on a cluster that runs ours.
	if err := run(cp, "plan on ours", "kubeadm upgrade plan", ""); err != nil {
		return report, err
	}

	// On to the next release, simulated by upstream's of the same base:
	// its kubeadm package, then the documented commands with its version.
	install := fmt.Sprintf("apt-mark unhold kubeadm\napt-get install -y --allow-downgrades %s\napt-mark hold kubeadm\n", o.StockKubeadm)
	toUpstream := strings.ReplaceAll(cmds.ToUpstream, cmds.NextVersion, o.StockVersion)
	if err := run(cp, "control plane to upstream's next release", install+toUpstream, ""); err != nil {
		return report, err
	}
	if err := waitControlPlane(ctx, client, o.StockVersion); err != nil {
		return report, err
	}
	for i, n := range c.Nodes {
		if i > 0 {
			if err := run(n, "node to upstream's next release", install+cmds.Node, ""); err != nil {
				return report, err
			}
		}
		if _, err := c.replaceKubelet(ctx, client, i, o.Recipe.Rollback, o.Recipe.Wait, o.StockVersion); err != nil {
			return report, err
		}
	}
	return report, nil
}

// aptPart is the commands before the first kubeadm command: the install of
// kubeadm that every node runs.
func aptPart(script string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.HasPrefix(line, "kubeadm ") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// kubeadmShim is kubeadm for the recipe's commands (runRecipe): the
// node's own kubeadm, for upgrade apply and upgrade node with what init and
// join are given here: the one preflight error this machine has
// (SystemVerification, cgroup v1) ignored, and the node's patches
// (CTXFIX_KUBEADM_PATCHES), which hold its cgroupRoot. Without them
// kubeadm writes the kubelet's configuration from the cluster's alone, and
// the restarted kubelet puts its pods at the top of the host's cgroups.
const kubeadmShim = `#!/bin/sh
# kubeadm of a make cluster node (pkg/cluster): the node's own, with the
# preflight error of this machine's cgroup v1 ignored and the node's
# patches, as for init and join.
case "$1 $2" in
  "upgrade apply" | "upgrade node")
    exec /usr/bin/kubeadm "$@" --ignore-preflight-errors=SystemVerification --patches "$CTXFIX_KUBEADM_PATCHES" ;;
  *) exec /usr/bin/kubeadm "$@" ;;
esac
`

// checkKubeletCgroupRoot fails unless the kubelet's configuration on the
// node has the node's cgroupRoot.
func (n *Node) checkKubeletCgroupRoot() error {
	data, err := os.ReadFile(filepath.Join(n.View(), "var/lib/kubelet/config.yaml"))
	if err != nil {
		return err
	}
	var config struct {
		CgroupRoot string `json:"cgroupRoot"`
	}
	if err := yaml.Unmarshal(data, &config); err != nil {
		return fmt.Errorf("the kubelet's configuration on %s: %w", n.Name, err)
	}
	if config.CgroupRoot != n.CgroupRoot {
		return fmt.Errorf("the kubelet's configuration on %s has cgroupRoot %q, want the node's %q: its patch was lost", n.Name, config.CgroupRoot, n.CgroupRoot)
	}
	return nil
}

// stripColour takes the terminal colours out of kubeadm's preflight output.
func stripColour(s string) string {
	return regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(s, "")
}

// controlPlaneComponents are the static pods kubeadm upgrades to the
// control plane's version.
var controlPlaneComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// waitControlPlane waits until the API server reports version, and the
// control plane's static pods and every kube-proxy run its images, ready.
func waitControlPlane(ctx context.Context, client kubernetes.Interface, version string) error {
	return waitFor(ctx, "the control plane and kube-proxy at "+version, func() (bool, error) {
		info, err := client.Discovery().ServerVersion()
		if err != nil || info.GitVersion != version {
			return false, nil
		}
		pods, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		// Each component seen, and every pod of it running the version,
		// ready.
		want := map[string]bool{}
		for _, component := range append(controlPlaneComponents, "kube-proxy") {
			want[component] = false
		}
		for _, p := range pods.Items {
			component := p.Labels["component"]
			if component == "" {
				component = p.Labels["k8s-app"]
			}
			if _, ok := want[component]; !ok {
				continue
			}
			if len(p.Status.ContainerStatuses) == 0 || p.DeletionTimestamp != nil {
				return false, nil
			}
			image := "registry.k8s.io/" + component + ":" + version
			for _, s := range p.Status.ContainerStatuses {
				if s.Image != image || !s.Ready {
					return false, nil
				}
			}
			want[component] = true
		}
		for _, seen := range want {
			if !seen {
				return false, nil
			}
		}
		return true, nil
	})
}

// String is the report: each step, and what kubeadm said.
func (r *UpgradeReport) String() string {
	var b strings.Builder
	b.WriteString("\nkubeadm upgrade paths:\n")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "  %s on %s (%s)\n", s.What, s.Node, s.Took.Round(time.Second))
		for _, line := range s.Said {
			fmt.Fprintf(&b, "      %s\n", strings.TrimSpace(stripColour(line)))
		}
	}
	return b.String()
}
