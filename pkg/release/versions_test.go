package release

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestPackageVersionFor(t *testing.T) {
	v, err := PackageVersionFor("v1.36.5", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.Deb(), "1.36.5-1.1+ctxfix.1"; got != want {
		t.Errorf("Deb() = %q, want %q", got, want)
	}
	if got, want := v.RPM(), "1.36.5-150500.1.1.1"; got != want {
		t.Errorf("RPM() = %q, want %q", got, want)
	}
	if _, err := PackageVersionFor("1.36.5", 1); err == nil {
		t.Error("a base without v was accepted")
	}
	if _, err := PackageVersionFor("v1.36.5", 0); err == nil {
		t.Error("revision 0 was accepted")
	}
}

// cri-tools and kubernetes-cni are packaged at their own versions, with the
// revision of the Kubernetes base they ship with: kubernetes-cni v1.10.0 is
// not a Kubernetes minor and must not be looked up as one.
func TestComponentPackageVersionFor(t *testing.T) {
	v, err := ComponentPackageVersionFor("v1.36.5", "v1.10.0", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.Deb(), "1.10.0-1.1+ctxfix.2"; got != want {
		t.Errorf("Deb() = %q, want %q", got, want)
	}
	if got, want := v.RPM(), "1.10.0-150500.1.1.2"; got != want {
		t.Errorf("RPM() = %q, want %q", got, want)
	}
	if _, err := ComponentPackageVersionFor("v1.36.5", "1.10.0", 2); err == nil || !strings.Contains(err.Error(), `"1.10.0"`) {
		t.Errorf("a component version without v: got %v, want an error naming it", err)
	}
	if _, err := ComponentPackageVersionFor("v1.99.0", "v1.10.0", 2); err == nil || !strings.Contains(err.Error(), "v1.99") {
		t.Errorf("a base with no upstream packaging: got %v, want an error naming v1.99", err)
	}
}

// TestDebVersionsSort asks dpkg itself: ours above upstream's package of the
// same base and below the next base's, and a later revision above an earlier.
func TestDebVersionsSort(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed; hack/verify-release.sh checks the same on a release")
	}
	r1, _ := PackageVersionFor("v1.36.5", 1)
	r2, _ := PackageVersionFor("v1.36.5", 2)
	next, _ := PackageVersionFor("v1.36.6", 1)
	upstream5, _ := UpstreamDeb("v1.36.5")
	upstream6, _ := UpstreamDeb("v1.36.6")
	for _, c := range []struct{ lower, higher string }{
		{upstream5, r1.Deb()},
		{r1.Deb(), r2.Deb()},
		{r2.Deb(), upstream6},
		{upstream6, next.Deb()},
	} {
		if err := exec.Command(dpkg, "--compare-versions", c.lower, "lt", c.higher).Run(); err != nil {
			t.Errorf("dpkg does not sort %s below %s: %v", c.lower, c.higher, err)
		}
	}
}

// image-builder's goss (images/capi/packer/goss/goss-package.yaml) checks an
// installed package's version against this expression. Packer passes it
// kubernetes_deb_version whole, which any deb version passes, and
// kubernetes_rpm_version cut at its first "-", which leaves the release to
// the expression. Ours must pass it as upstream's do.
func TestVersionsPassImageBuildersGoss(t *testing.T) {
	gossVersion := func(version string) *regexp.Regexp {
		return regexp.MustCompile(`^\Q` + version + `\E(-\d+(\.\d+)*)*$`)
	}
	for _, c := range []struct{ base, component string }{{"v1.36.5", "v1.36.5"}, {"v1.36.5", "v1.10.0"}, {"v1.37.2", "v1.37.0"}} {
		v, err := ComponentPackageVersionFor(c.base, c.component, 3)
		if err != nil {
			t.Fatal(err)
		}
		if rpmVersion := strings.SplitN(v.RPM(), "-", 2)[0]; !gossVersion(rpmVersion).MatchString(v.RPM()) {
			t.Errorf("rpm %s fails image-builder's goss version check for %s", v.RPM(), rpmVersion)
		}
	}
}

// TestRPMVersionsSort asks rpm itself: ours above upstream's package of the
// same base, below its next build and the next base, above this project's
// earlier spelling (150500.1.1.ctxfix.N), and a later revision above an
// earlier.
func TestRPMVersionsSort(t *testing.T) {
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Skip("rpm is not installed; hack/verify-release.sh checks the same on a release")
	}
	r1, _ := PackageVersionFor("v1.36.5", 1)
	r2, _ := PackageVersionFor("v1.36.5", 2)
	upstream5, _ := UpstreamRPM("v1.36.5")
	upstream6, _ := UpstreamRPM("v1.36.6")
	for _, c := range []struct{ lower, higher string }{
		{upstream5, r1.RPM()},
		{"1.36.5-150500.1.1.ctxfix.2", r1.RPM()},
		{r1.RPM(), r2.RPM()},
		{r2.RPM(), "1.36.5-150500.1.2"},
		{r2.RPM(), upstream6},
	} {
		out, err := exec.Command(rpm, "--eval", fmt.Sprintf("%%{lua: print(rpm.vercmp('%s', '%s'))}", c.lower, c.higher)).Output()
		if err != nil {
			t.Fatalf("rpm --eval: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != "-1" {
			t.Errorf("rpm does not sort %s below %s: vercmp says %s", c.lower, c.higher, got)
		}
	}
}

// Every supported base (build/bases.tsv) has upstream's package versions to
// sort above; a minor with none is an error that names it.
func TestUpstreamPackagingCoversEverySupportedBase(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "build", "bases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	bases := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		base := strings.Fields(line)[0]
		bases++
		up, err := UpstreamPackagingFor(base)
		if err != nil {
			t.Error(err)
			continue
		}
		if up.DebRevision == "" || up.RPMRelease == "" || !strings.HasPrefix(up.Source, "https://pkgs.k8s.io/") {
			t.Errorf("%s: incomplete entry %+v", base, up)
		}
	}
	if bases == 0 {
		t.Fatal("build/bases.tsv names no base")
	}
	if _, err := UpstreamPackagingFor("v1.99.0"); err == nil || !strings.Contains(err.Error(), "v1.99") {
		t.Errorf("a minor without an entry gives %v, want an error naming it", err)
	}
	if _, err := PackageVersionFor("v1.99.0", 1); err == nil {
		t.Error("PackageVersionFor spelled a base whose upstream packages are unknown")
	}
}
