package release

import (
	"debug/buildinfo"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSeries(t *testing.T) {
	series, err := ReadSeries("../../patches/from-v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) < 2 {
		t.Fatalf("read %d patches, want the whole series", len(series))
	}
	var backports []string
	var fix *Patch
	for i, p := range series {
		switch {
		case p.Backport:
			backports = append(backports, p.Subject)
		case !strings.HasPrefix(p.Subject, "UPSTREAM: <carry>:"):
			t.Errorf("%s: subject %q is neither a backport nor a carry", p.File, p.Subject)
		}
		if strings.Contains(p.Diff, "pkg/kubelet/pod_workers.go") && strings.Contains(p.Subject, "context") {
			fix = &series[i]
		}
	}
	if len(backports) != 1 || !strings.HasPrefix(backports[0], "UPSTREAM: 140882:") {
		t.Errorf("backports %q; want exactly the backport of 140882", backports)
	}
	if fix == nil {
		t.Fatal("no patch changes the sync context in pod_workers.go")
	}
	if want := "UPSTREAM: <carry>: kubelet: give each pod sync its own context"; fix.Subject != want {
		t.Errorf("%s: subject %q, want the folded subject joined: %q", fix.File, fix.Subject, want)
	}
	if !strings.Contains(strings.Join(fix.References, " "), "kubernetes#139823") {
		t.Errorf("%s references %v, want kubernetes#139823 among them", fix.File, fix.References)
	}
}

func TestAddPedigree(t *testing.T) {
	sbom := []byte(`{"bomFormat":"CycloneDX","metadata":{"component":{"name":"k8s.io/kubernetes","version":"v1.36.5-ctxfix.1"}},"components":[]}`)
	series := []Patch{
		{Subject: "UPSTREAM: 140882: x", Backport: true, References: []string{"kubernetes#140881"}, Diff: "diff a"},
		{Subject: "UPSTREAM: <carry>: y", Diff: "diff b"},
	}
	out, err := AddPedigree(sbom, "v1.36.5", series)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metadata struct {
			Component struct {
				Pedigree struct {
					Ancestors []struct{ Name, Version, Purl string }
					Patches   []struct {
						Type     string
						Resolves []struct{ ID string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Metadata.Component.Pedigree
	if len(p.Ancestors) != 1 || p.Ancestors[0].Version != "v1.36.5" || p.Ancestors[0].Purl != "pkg:golang/k8s.io/kubernetes@v1.36.5?type=module" {
		t.Errorf("ancestors %+v", p.Ancestors)
	}
	if len(p.Patches) != 2 || p.Patches[0].Type != "backport" || p.Patches[1].Type != "unofficial" {
		t.Errorf("patches %+v", p.Patches)
	}
	if len(p.Patches[0].Resolves) != 1 || p.Patches[0].Resolves[0].ID != "kubernetes#140881" {
		t.Errorf("resolves %+v", p.Patches[0].Resolves)
	}

	if _, err := AddPedigree([]byte(`{"metadata":{"component":{"name":"example.com/other"}}}`), "v1.36.5", series); err == nil {
		t.Error("an SBOM of another component was accepted")
	}
	if _, err := AddPedigree([]byte(`not json`), "v1.36.5", series); err == nil {
		t.Error("a non-JSON SBOM was accepted")
	}
}

// TestCheckSBOM checks SBOMs made from the build info of a binary of this
// module (test binaries record no modules): complete, then naming another
// base or fewer patches, then with modules left out or a wrong version.
func TestCheckSBOM(t *testing.T) {
	self := filepath.Join(t.TempDir(), "ctxfix-build")
	if out, err := exec.Command("go", "build", "-mod=readonly", "-o", self, "../../cmd/ctxfix-build").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := buildinfo.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Deps) == 0 {
		t.Fatal("the test binary has no dependencies to check")
	}
	type component struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	build := func(edit func([]component) []component) []byte {
		components := []component{{Name: "std", Version: info.GoVersion}}
		for _, dep := range info.Deps {
			version := dep.Version
			if dep.Replace != nil {
				version = dep.Replace.Version
			}
			components = append(components, component{dep.Path, version})
		}
		doc := map[string]any{
			"metadata": map[string]any{"component": map[string]any{
				"name": "k8s.io/kubernetes",
				"pedigree": map[string]any{
					"ancestors": []any{map[string]any{"name": "k8s.io/kubernetes", "version": "v1.36.5"}},
					"patches":   []any{map[string]any{"type": "backport"}},
				},
			}},
			"components": edit(components),
		}
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if err := CheckSBOM(build(func(c []component) []component { return c }), self, "v1.36.5", 1); err != nil {
		t.Errorf("complete SBOM: %v", err)
	}
	if err := CheckSBOM(build(func(c []component) []component { return c }), self, "v1.36.4", 1); err == nil {
		t.Error("an SBOM naming another base was accepted")
	}
	if err := CheckSBOM(build(func(c []component) []component { return c }), self, "v1.36.5", 4); err == nil {
		t.Error("an SBOM with fewer patches than the series was accepted")
	}
	missing := info.Deps[0].Path
	err = CheckSBOM(build(func(c []component) []component { return c[:1] }), self, "v1.36.5", 1)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("SBOM without modules: error %v, want one naming %s", err, missing)
	}
	err = CheckSBOM(build(func(c []component) []component { c[1].Version = "v0.0.0-wrong"; return c }), self, "v1.36.5", 1)
	if err == nil || !strings.Contains(err.Error(), "v0.0.0-wrong") {
		t.Errorf("SBOM with a wrong version: error %v, want one naming it", err)
	}
}
