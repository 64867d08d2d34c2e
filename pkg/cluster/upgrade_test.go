package cluster

import (
	"context"
	"strings"
	"testing"
)

func TestAptPart(t *testing.T) {
	script := "apt-mark unhold kubeadm\napt-get install -y kubeadm=1.36.5-1.1+ctxfix.3\nkubeadm upgrade plan v1.36.5-ctxfix.3\nkubeadm upgrade apply v1.36.5-ctxfix.3 --yes\n"
	if got, want := aptPart(script), "apt-mark unhold kubeadm\napt-get install -y kubeadm=1.36.5-1.1+ctxfix.3\n"; got != want {
		t.Errorf("aptPart: got %q, want %q", got, want)
	}
}

// The documented commands must hold what the run checks kubeadm for: a
// run that would check nothing stops before the cluster is touched.
func TestUpgradeRefusesCommandsWithoutWhatItChecks(t *testing.T) {
	good := UpgradeCommands{
		ControlPlane: "kubeadm upgrade apply v1.36.5-ctxfix.3 --allow-experimental-upgrades --yes\n",
		Node:         "kubeadm upgrade node\n",
		ToUpstream:   "kubeadm upgrade apply v1.36.6 --yes\n",
		NextVersion:  "v1.36.6",
	}
	for name, tc := range map[string]struct {
		change func(*UpgradeCommands)
		want   string
	}{
		"no experimental flag": {func(u *UpgradeCommands) {
			u.ControlPlane = "kubeadm upgrade apply v1.36.5-ctxfix.3 --yes\n"
		}, "--allow-experimental-upgrades"},
		"another version": {func(u *UpgradeCommands) {
			u.ControlPlane = strings.ReplaceAll(u.ControlPlane, "ctxfix.3", "ctxfix.2")
		}, "kubeadm upgrade apply v1.36.5-ctxfix.3"},
		"no apply to the next release": {func(u *UpgradeCommands) { u.ToUpstream = "kubeadm upgrade plan\n" }, "kubeadm upgrade apply v1.36.6"},
	} {
		t.Run(name, func(t *testing.T) {
			cmds := good
			tc.change(&cmds)
			_, err := Upgrade(context.Background(), &Cluster{}, UpgradeOptions{StockVersion: "v1.36.5", PatchedVersion: "v1.36.5-ctxfix.3", Commands: cmds})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
