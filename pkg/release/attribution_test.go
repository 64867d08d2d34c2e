package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ctxfix-build is a small Go binary of this module that links one other
// module, golang.org/x/mod: its build information names it, and the module
// cache it was built from holds its license. (A test binary's build
// information lists no modules.)
func attributionInputs(t *testing.T) AttributionOptions {
	t.Helper()
	self := filepath.Join(t.TempDir(), "ctxfix-build")
	build := exec.Command("go", "build", "-o", self, "./cmd/ctxfix-build")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ctxfix-build: %v\n%s", err, out)
	}
	modCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	mainDir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return AttributionOptions{
		Title:       "kubelet-ctxfix test",
		Binaries:    []string{self},
		ModCache:    strings.TrimSpace(string(modCache)),
		GoRoot:      runtime.GOROOT(),
		MainDir:     mainDir,
		MainVersion: "v0.0.0-test",
	}
}

func TestAttributionNamesEveryLinkedModuleWithItsLicense(t *testing.T) {
	opts := attributionInputs(t)
	text, err := Attribution(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := string(text)
	for _, want := range []string{
		"** github.com/kubelet-ctxfix/kubelet-ctxfix; version v0.0.0-test -- ",
		"** golang.org/x/mod; version ",
		"** Go standard library; version " + runtime.Version() + " -- ",
		"Apache License",
		"Copyright 2009 The Go Authors.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ATTRIBUTION.txt has no %q", want)
		}
	}
	again, err := Attribution(opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != got {
		t.Error("the same binaries gave two different ATTRIBUTION.txt")
	}
}

func TestAttributionFailsNamingAModuleWithoutLicense(t *testing.T) {
	opts := attributionInputs(t)
	// A module cache with every module's folder but one license removed:
	// golang.org/x/mod's.
	fake := t.TempDir()
	real := opts.ModCache
	opts.ModCache = fake
	entries, err := os.ReadDir(filepath.Join(real, "golang.org", "x"))
	if err != nil {
		t.Fatal(err)
	}
	linkAll := func(from, to string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(from, to); err != nil {
			t.Fatal(err)
		}
	}
	// Every top-level folder of the real cache is linked in, except
	// golang.org, which is rebuilt with x/mod's folder holding only go.mod.
	top, err := os.ReadDir(real)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if e.Name() != "golang.org" {
			linkAll(filepath.Join(real, e.Name()), filepath.Join(fake, e.Name()))
		}
	}
	for _, e := range entries {
		from, to := filepath.Join(real, "golang.org", "x", e.Name()), filepath.Join(fake, "golang.org", "x", e.Name())
		if !strings.HasPrefix(e.Name(), "mod@") {
			linkAll(from, to)
			continue
		}
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, "go.mod"), []byte("module golang.org/x/mod\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Attribution(opts)
	if err == nil {
		t.Fatal("a module without a license was attributed")
	}
	if !strings.Contains(err.Error(), "module golang.org/x/mod ") || !strings.Contains(err.Error(), "no LICENSE") {
		t.Errorf("error does not name golang.org/x/mod and its missing license: %v", err)
	}
}

// A module linked at two versions (k8s.io/client-go: v0.36.5 in the kubelet,
// v0.37.0 in crictl) comes out in the same place whatever order it was
// found in.
func TestAttributionOrdersAModuleLinkedAtTwoVersions(t *testing.T) {
	kubelets := &linkedModule{path: "k8s.io/client-go", version: "v0.36.5", binaries: []string{"kubelet"}}
	crictls := &linkedModule{path: "k8s.io/client-go", version: "v0.37.0", binaries: []string{"crictl"}}
	other := &linkedModule{path: "k8s.io/api", version: "v0.36.5", binaries: []string{"kubelet"}}
	var orders [][]string
	for _, found := range [][]*linkedModule{{kubelets, crictls, other}, {crictls, kubelets, other}} {
		sortModules(found)
		var order []string
		for _, m := range found {
			order = append(order, m.path+"@"+m.version)
		}
		orders = append(orders, order)
	}
	want := "k8s.io/api@v0.36.5 k8s.io/client-go@v0.36.5 k8s.io/client-go@v0.37.0"
	for _, order := range orders {
		if got := strings.Join(order, " "); got != want {
			t.Errorf("modules in the order %s, want %s", got, want)
		}
	}
}

// TestAttributionListsComponentsOfBinariesWithoutBuildInformation gives
// pause's two components: the tree, which a Go binary links at the same
// version, and a C library under its own license.
func TestAttributionListsComponentsOfBinariesWithoutBuildInformation(t *testing.T) {
	opts := attributionInputs(t)
	license := filepath.Join(t.TempDir(), "copyright")
	if err := os.WriteFile(license, []byte("GNU Lesser General Public License, test copy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Components = []Component{
		{Path: "github.com/kubelet-ctxfix/kubelet-ctxfix", Version: opts.MainVersion, Binary: "pause", LicenseFile: filepath.Join(opts.MainDir, "LICENSE")},
		{Path: "glibc", Version: "2.36-9+deb12u14", Binary: "pause", LicenseFile: license},
	}
	text, err := Attribution(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := string(text)
	for _, want := range []string{
		"The binaries of this release (ctxfix-build, pause) contain",
		"** github.com/kubelet-ctxfix/kubelet-ctxfix; version v0.0.0-test -- ctxfix-build, pause\n",
		"** glibc; version 2.36-9+deb12u14 -- pause\n\nGNU Lesser General Public License, test copy\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ATTRIBUTION.txt has no %q:\n%s", want, got[:min(len(got), 600)])
		}
	}
	opts.Components[1].LicenseFile = filepath.Join(t.TempDir(), "absent")
	if _, err := Attribution(opts); err == nil || !strings.Contains(err.Error(), "the license of glibc 2.36-9+deb12u14 (in pause)") {
		t.Errorf("a component without its license file: got %v, want an error naming it", err)
	}
}
