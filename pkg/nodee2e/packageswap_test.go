package nodee2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildKubeletDeb makes a deb named kubelet at version, holding binary as
// /usr/bin/kubelet, a unit that starts it, and the environment file, as
// the release's kubelet deb lays them out.
func buildKubeletDeb(t *testing.T, version, binary string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		// The release's dependencies, which the node's dpkg database lacks.
		"DEBIAN/control":                         fmt.Sprintf("Package: kubelet\nVersion: %s\nArchitecture: all\nDepends: kubernetes-cni (>= 1.2.0), mount, util-linux\nMaintainer: test <test@example.invalid>\nDescription: test kubelet\n", version),
		"DEBIAN/conffiles":                       "/etc/default/kubelet\n",
		"usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
		// Different in each version, so that dpkg would ask what to do with
		// the one the bootstrap changed.
		"etc/default/kubelet": "# " + version + "\nKUBELET_EXTRA_ARGS=\n",
		"usr/bin/kubelet":     binary,
	}
	for path, content := range files {
		full := filepath.Join(dir, "root", path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, "kubelet_"+version+".deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", filepath.Join(dir, "root"), deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	return deb
}

// The package path of kubelet-package-swap, without a node: dpkg installs
// the stand-in into an empty root, the bootstrap gives the kubelet its
// flags, our deb upgrades it and the stand-in downgrades it again; each
// time the kubelet starts as the unit says, with the node's flags, from the
// binary the deb holds.
func TestPackageInstallAndUnit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg installs as root only, even into a root folder of its own; the node e2e, which runs as root, does the same")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed; the node e2e's kubelet-package-swap does the same", tool)
		}
	}
	ctx := context.Background()
	dir := t.TempDir()
	stockBinary, patchedBinary := filepath.Join(dir, "stock"), filepath.Join(dir, "patched")
	if err := os.WriteFile(stockBinary, []byte("stock kubelet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(patchedBinary, []byte("patched kubelet"), 0o755); err != nil {
		t.Fatal(err)
	}
	stockDeb := buildKubeletDeb(t, "1.36.5-1.1", "stock kubelet")
	patchedDeb := buildKubeletDeb(t, "1.36.5-1.1+ctxfix.3", "patched kubelet")

	node := filepath.Join(dir, "node")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(node, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(node, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := installedVersion(ctx, node, "kubelet"); err != nil || v != "" {
		t.Fatalf("before any install: %q, %v; want no version", v, err)
	}
	flags := []string{"--config=/run/kubelet-config.yaml", "--v=2", "--root-dir=/run/kubelet", "--cert-dir=/run/kubelet/pki"}
	for i, step := range []struct{ deb, binary, version string }{
		{stockDeb, stockBinary, "1.36.5-1.1"},
		{patchedDeb, patchedBinary, "1.36.5-1.1+ctxfix.3"},
		{stockDeb, stockBinary, "1.36.5-1.1"},
	} {
		version, err := dpkgInstall(ctx, node, step.deb)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if version != step.version {
			t.Errorf("step %d: dpkg reports %s, want %s", i, version, step.version)
		}
		if err := sameFile(filepath.Join(node, "usr/bin/kubelet"), step.binary); err != nil {
			t.Errorf("step %d: %v", i, err)
		}
		if i == 0 {
			if err := bootstrapNode(node, flags); err != nil {
				t.Fatal(err)
			}
		}
		path, args, env, err := KubeletSpec{Name: "test", UnitRoot: node, RootDir: "/run/kubelet"}.command()
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if path != filepath.Join(node, "usr/bin/kubelet") || !slices.Equal(args, flags) {
			t.Errorf("step %d: starts %s %q, want %s %q", i, path, args, filepath.Join(node, "usr/bin/kubelet"), flags)
		}
		if want := "KUBELET_EXTRA_ARGS=" + strings.Join(flags, " "); !slices.Equal(env, []string{want}) {
			t.Errorf("step %d: environment %q, want [%q]", i, env, want)
		}
	}
	if err := sameFile(stockBinary, patchedBinary); err == nil || !strings.Contains(err.Error(), "is not") {
		t.Errorf("two different binaries: %v, want an error", err)
	}
}

func TestUnitMustGiveTheRootDir(t *testing.T) {
	node := t.TempDir()
	writeUnit := filepath.Join(node, "usr/lib/systemd/system/kubelet.service")
	if err := os.MkdirAll(filepath.Dir(writeUnit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(writeUnit, []byte("[Service]\nExecStart=/usr/bin/kubelet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bootstrapNode(node, []string{"--root-dir=/var/lib/kubelet", "--cert-dir=/var/lib/kubelet/pki"}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := KubeletSpec{Name: "test", UnitRoot: node, RootDir: "/run/kubelet"}.command()
	if err == nil || !strings.Contains(err.Error(), `gives --root-dir="/var/lib/kubelet", want --root-dir=/run/kubelet`) {
		t.Errorf("a unit with another root folder: %v, want it refused", err)
	}
	// The last value is the one the kubelet takes.
	if err := bootstrapNode(node, []string{"--root-dir=/run/kubelet", "--cert-dir=/run/kubelet/pki", "--root-dir=/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = KubeletSpec{Name: "test", UnitRoot: node, RootDir: "/run/kubelet"}.command()
	if err == nil || !strings.Contains(err.Error(), `gives --root-dir="/elsewhere"`) {
		t.Errorf("a root folder given again later: %v, want it refused", err)
	}
}

func TestBootstrapNodeRefusesFlagsItCannotWrite(t *testing.T) {
	err := bootstrapNode(t.TempDir(), []string{"--node-labels=a=b c"})
	if err == nil || !strings.Contains(err.Error(), `"--node-labels=a=b c"`) {
		t.Errorf("a flag with a space: %v, want an error naming it", err)
	}
}
