package nodee2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// errNoPackages is returned when a run selects kubelet-package-swap without
// a deb for both kubelets.
var errNoPackages = errors.New("the kubelet-package-swap scenario needs the stock and the patched kubelet's debs (test/e2e -kubelet-deb)")

// nodeDropIn is the node's own drop-in for kubelet.service: its bootstrap
// gives the kubelet its flags in /etc/default/kubelet, as nodes without
// kubeadm do (kubeadm's 10-kubeadm.conf reads the same file).
const nodeDropIn = `[Service]
EnvironmentFile=/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_EXTRA_ARGS
`

// kubeletPackageSwap is kubeletSwap as a platform team does it with
// packages. The node's files are a root folder where dpkg first installed
// the stock kubelet's deb, a stand-in for upstream's package at upstream's
// version (1.36.5-1.1, made by our packaging, since none can be downloaded
// here). The node's bootstrap then gave the kubelet its flags in
// /etc/default/kubelet, read by a drop-in. Each kubelet starts as systemd
// would start kubelet.service there. The upgrade installs our deb while the
// stock kubelet runs, as `apt-get install kubelet=<version>` does, then
// restarts the kubelet; the rollback installs the stand-in again, a
// downgrade, and restarts it.
func kubeletPackageSwap(ctx context.Context, env *Env, stock, patched KubeletSpec) (upgrade, rollback SwapOutcome, err error) {
	if stock.Deb == "" || patched.Deb == "" {
		return upgrade, rollback, errNoPackages
	}
	dir := filepath.Dir(stock.RootDir)
	node := filepath.Join(dir, "package-node")
	root := filepath.Join(dir, "kubelet-package-swap")
	stock.RootDir, patched.RootDir = root, root
	// dpkg's database, empty: the node's files are only what the scenario
	// installs.
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(node, d), 0o755); err != nil {
			return upgrade, rollback, err
		}
	}
	if err := os.WriteFile(filepath.Join(node, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		return upgrade, rollback, err
	}
	bootstrapped := false
	install := func(ctx context.Context, spec KubeletSpec) (KubeletSpec, string, error) {
		before, err := installedVersion(ctx, node, "kubelet")
		if err != nil {
			return spec, "", err
		}
		version, err := dpkgInstall(ctx, node, spec.Deb)
		if err != nil {
			return spec, "", fmt.Errorf("%s kubelet's deb: %w", spec.Name, err)
		}
		// The file dpkg installed is the binary the deb was made from.
		if err := sameFile(filepath.Join(node, "usr/bin/kubelet"), spec.Binary); err != nil {
			return spec, "", fmt.Errorf("after dpkg installed %s: %w", spec.Deb, err)
		}
		if !bootstrapped {
			if err := bootstrapNode(node, stock.Flags()); err != nil {
				return spec, "", err
			}
			bootstrapped = true
		}
		spec.UnitRoot = node
		did := fmt.Sprintf("dpkg installed kubelet %s", version)
		if before != "" {
			did += " over " + before
		}
		return spec, did + ", ", nil
	}
	return swapKubelets(ctx, env, stock, patched, install)
}

// bootstrapNode writes what a node's bootstrap writes for its kubelet: its
// flags in /etc/default/kubelet, the deb's configuration file, and the
// drop-in that reads them.
func bootstrapNode(node string, flags []string) error {
	for _, f := range flags {
		if strings.ContainsAny(f, " \t\n\"'$\\") {
			return fmt.Errorf("kubelet flag %q cannot be written to /etc/default/kubelet unquoted", f)
		}
	}
	dropIn := filepath.Join(node, "etc/systemd/system/kubelet.service.d/10-node.conf")
	if err := os.MkdirAll(filepath.Dir(dropIn), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dropIn, []byte(nodeDropIn), 0o644); err != nil {
		return err
	}
	environment := filepath.Join(node, "etc/default/kubelet")
	if err := os.MkdirAll(filepath.Dir(environment), 0o755); err != nil {
		return err
	}
	return os.WriteFile(environment, []byte(fmt.Sprintf("KUBELET_EXTRA_ARGS=\"%s\"\n", strings.Join(flags, " "))), 0o644)
}

// dpkgInstall installs deb into the node's files under root, as apt-get
// install would on the node, and gives the version dpkg then reports.
//   - --force-script-chrootless: the maintainer scripts run with DPKG_ROOT
//     set, which our scripts honour by doing nothing: the host is left alone.
//   - --ignore-depends on the deb's three dependencies: the node's dpkg
//     database has only what the scenario installs; its mount and
//     util-linux are the host's, and its CNI plugins are Debian's, not the
//     kubernetes-cni package.
//   - --force-confold: /etc/default/kubelet, which the bootstrap changed,
//     is kept, as apt-get -o Dpkg::Options::=--force-confold keeps it.
func dpkgInstall(ctx context.Context, root, deb string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg", "--root="+root, "--log=/dev/null", "--force-script-chrootless",
		"--ignore-depends=kubernetes-cni,mount,util-linux", "--force-confold", "--install", deb).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("dpkg --install %s: %w: %s", deb, err, out)
	}
	want, err := exec.CommandContext(ctx, "dpkg-deb", "--field", deb, "Version").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb --field %s Version: %w", deb, err)
	}
	version, err := installedVersion(ctx, root, "kubelet")
	if err != nil {
		return "", err
	}
	if version != strings.TrimSpace(string(want)) {
		return "", fmt.Errorf("after installing %s, dpkg reports kubelet %q installed, want %s", deb, version, want)
	}
	return version, nil
}

// installedVersion is the version of package installed under root, or ""
// if dpkg knows of none.
func installedVersion(ctx context.Context, root, pkg string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "--show", "--showformat=${db:Status-Abbrev}${Version}", pkg)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && strings.Contains(stderr.String(), "no packages found") {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("dpkg-query %s under %s: %w: %s", pkg, root, err, stderr.String())
	}
	status, version, _ := strings.Cut(string(out), " ")
	if status != "ii" {
		return "", fmt.Errorf("dpkg under %s reports %s in state %q, want ii (installed)", root, pkg, status)
	}
	return strings.TrimSpace(version), nil
}

// sameFile fails unless a and b have the same content.
func sameFile(a, b string) error {
	sum := func(path string) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, err
		}
		return h.Sum(nil), nil
	}
	sa, err := sum(a)
	if err != nil {
		return err
	}
	sb, err := sum(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(sa, sb) {
		return fmt.Errorf("%s is not %s (sha256 %x, want %x)", a, b, sa, sb)
	}
	return nil
}
