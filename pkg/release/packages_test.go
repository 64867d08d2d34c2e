package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func packageOptions(t *testing.T, format string) PackageOptions {
	t.Helper()
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	version, err := PackageVersionFor("v1.36.5", 1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return PackageOptions{
		Format: format,
		Config: "../../build/packaging/kubelet.nfpm.yaml",
		Vars: map[string]string{
			"KUBELET_BINARY": file("kubelet", "#!/bin/sh\necho Kubernetes v1.36.5-ctxfix.1\n"),
			"KUBELET_UNIT":   file("kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n"),
			"KUBELET_ENV":    file("kubelet.env", "KUBELET_EXTRA_ARGS=\n"),
			"LICENSE":        file("LICENSE", "Apache-2.0\n"),
			"KUBE_BASE":      "v1.36.5",
		},
		Arch:    "amd64",
		Version: version,
		MTime:   time.Unix(1795792798, 0),
		OutDir:  out,
	}
}

func TestBuildPackageIsReproducible(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			opts := packageOptions(t, format)
			first, err := BuildPackage(opts)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(first)
			if err := os.Remove(first); err != nil {
				t.Fatal(err)
			}
			second, err := BuildPackage(opts)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(second)
			if first != second || string(a) != string(b) {
				t.Errorf("the same inputs gave different packages (%s, %s)", first, second)
			}
			wantName := map[string]string{
				"deb": "kubelet_1.36.5-1.1+ctxfix.1_amd64.deb",
				"rpm": "kubelet-1.36.5-150500.1.1.1.x86_64.rpm",
			}[format]
			if filepath.Base(first) != wantName {
				t.Errorf("package is named %s, want %s", filepath.Base(first), wantName)
			}
		})
	}
}

func TestBuildPackageDebFields(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Skip("dpkg-deb is not installed; hack/verify-release.sh checks the same on a release")
	}
	deb, err := BuildPackage(packageOptions(t, "deb"))
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"Package":    "kubelet",
		"Version":    "1.36.5-1.1+ctxfix.1",
		"Depends":    "kubernetes-cni (>= 1.2.0), mount, util-linux",
		"Recommends": "iptables (>= 1.8.4)",
	} {
		got, err := exec.Command(dpkgDeb, "--field", deb, field).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s: %q, want %q", field, strings.TrimSpace(string(got)), want)
		}
	}
}

// A stand-in for upstream's package has upstream's name and version, so
// that a node rolls back to it as to upstream's, and says in its
// description that it is not upstream's.
func TestBuildPackageUpstreamStandIn(t *testing.T) {
	dpkgDeb, err := exec.LookPath("dpkg-deb")
	if err != nil {
		t.Skip("dpkg-deb is not installed; the node e2e's kubelet-package-swap installs the same")
	}
	opts := packageOptions(t, "deb")
	if opts.Version, err = UpstreamPackageVersionFor("v1.36.5"); err != nil {
		t.Fatal(err)
	}
	opts.Description = StandInDescription("v1.36.5")
	deb, err := BuildPackage(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(deb), "kubelet_1.36.5-1.1_amd64.deb"; got != want {
		t.Errorf("package is named %s, want upstream's %s", got, want)
	}
	description, err := exec.Command(dpkgDeb, "--field", deb, "Description").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(description), "TEST STAND-IN for upstream's package") || strings.Contains(string(description), "kubelet-ctxfix patch series") {
		t.Errorf("description %q does not say it is a test stand-in, or claims the series", description)
	}
}

func TestBuildPackageErrors(t *testing.T) {
	opts := packageOptions(t, "deb")
	delete(opts.Vars, "KUBELET_UNIT")
	if _, err := BuildPackage(opts); err == nil || !strings.Contains(err.Error(), "KUBELET_UNIT") {
		t.Errorf("unset variable: error %v, want one naming KUBELET_UNIT", err)
	}

	opts = packageOptions(t, "deb")
	opts.Vars["KUBELET_BINARY"] = filepath.Join(t.TempDir(), "no-such-kubelet")
	if _, err := BuildPackage(opts); err == nil || !strings.Contains(err.Error(), "no-such-kubelet") {
		t.Errorf("missing binary: error %v, want one naming it", err)
	}
	if left, _ := os.ReadDir(opts.OutDir); len(left) != 0 {
		t.Errorf("a failed package left %v behind", left)
	}

	opts = packageOptions(t, "apk")
	if _, err := BuildPackage(opts); err == nil || !strings.Contains(err.Error(), "apk") {
		t.Errorf("unknown format: error %v, want one naming it", err)
	}
}
