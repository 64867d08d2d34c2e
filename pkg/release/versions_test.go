package release

import (
	"os/exec"
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
	if got, want := v.RPM(), "1.36.5-150500.1.1.ctxfix.1"; got != want {
		t.Errorf("RPM() = %q, want %q", got, want)
	}
	if _, err := PackageVersionFor("1.36.5", 1); err == nil {
		t.Error("a base without v was accepted")
	}
	if _, err := PackageVersionFor("v1.36.5", 0); err == nil {
		t.Error("revision 0 was accepted")
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
	for _, c := range []struct{ lower, higher string }{
		{UpstreamDeb("v1.36.5"), r1.Deb()},
		{r1.Deb(), r2.Deb()},
		{r2.Deb(), UpstreamDeb("v1.36.6")},
		{UpstreamDeb("v1.36.6"), next.Deb()},
	} {
		if err := exec.Command(dpkg, "--compare-versions", c.lower, "lt", c.higher).Run(); err != nil {
			t.Errorf("dpkg does not sort %s below %s: %v", c.lower, c.higher, err)
		}
	}
}
