package upstream

import (
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// releaseGoMod has the shape of a k8s.io/kubernetes release go.mod: staging
// modules required at v0.0.0 and replaced with ./staging, one staging module
// that is replaced but not required.
const releaseGoMod = `module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/google/go-cmp v0.7.0
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
`

func TestStagingModfile(t *testing.T) {
	out, err := StagingModfile([]byte(releaseGoMod), "v0.36.5")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("out.mod", out, nil)
	if err != nil {
		t.Fatalf("result does not parse: %v\n%s", err, out)
	}
	if f.Go == nil || f.Go.Version != "1.26.0" {
		t.Errorf("go line not kept: %s", out)
	}
	if len(f.Godebug) != 1 || f.Godebug[0].Key != "default" {
		t.Errorf("godebug line not kept: %s", out)
	}
	requires := map[string]string{}
	for _, r := range f.Require {
		requires[r.Mod.Path] = r.Mod.Version
	}
	for path, want := range map[string]string{
		"k8s.io/api":               "v0.36.5",
		"k8s.io/client-go":         "v0.36.5",
		"github.com/google/go-cmp": "v0.7.0",
	} {
		if requires[path] != want {
			t.Errorf("require %s = %q, want %q", path, requires[path], want)
		}
	}
	replaces := map[string]string{}
	for _, r := range f.Replace {
		replaces[r.Old.Path] = r.New.Path + "@" + r.New.Version
	}
	if len(replaces) != 2 || replaces["k8s.io/api"] != "k8s.io/api@v0.36.5" || replaces["k8s.io/client-go"] != "k8s.io/client-go@v0.36.5" {
		t.Errorf("replaces = %v, want the two required staging modules pinned to v0.36.5", replaces)
	}
	if strings.Contains(string(out), "./staging") {
		t.Errorf("result still points at ./staging:\n%s", out)
	}
}

func TestStagingModfileRejects(t *testing.T) {
	for name, tc := range map[string]struct{ goMod, version string }{
		"not kubernetes":      {"module example.com/x\n\ngo 1.26\n", "v0.36.5"},
		"no staging replaces": {"module k8s.io/kubernetes\n\ngo 1.26\n", "v0.36.5"},
		"bad version":         {releaseGoMod, "0.36.5"},
		"unparsable":          {"module k8s.io/kubernetes\nrequire (\n", "v0.36.5"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := StagingModfile([]byte(tc.goMod), tc.version); err == nil {
				t.Errorf("no error")
			}
		})
	}
}

func TestStagingVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.36.5": "v0.36.5", "v1.36.0": "v0.36.0", "v1.37.12": "v0.37.12"} {
		got, err := StagingVersion(in)
		if err != nil || got != want {
			t.Errorf("StagingVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.36.5", "v1.36", "v1.36.5-ctxfix.1", "v2.0.0", "latest"} {
		if _, err := StagingVersion(in); err == nil {
			t.Errorf("StagingVersion(%q): no error", in)
		}
	}
}
