package upstream

import (
	"slices"
	"testing"
	"time"
)

func TestDistributionVersion(t *testing.T) {
	got, err := DistributionVersion("v1.36.5", 1)
	if err != nil || got != "v1.36.5-ctxfix.1" {
		t.Errorf("DistributionVersion = %q, %v", got, err)
	}
	if _, err := DistributionVersion("v1.36.5", 0); err == nil {
		t.Errorf("revision 0: no error")
	}
	if _, err := DistributionVersion("v1.36.x", 1); err == nil {
		t.Errorf("bad base: no error")
	}
}

func TestLDFlags(t *testing.T) {
	stamp := Stamp{
		GitVersion:   "v1.36.5-ctxfix.1",
		GitCommit:    "0123456789abcdef0123456789abcdef01234567",
		GitTreeState: "clean",
		BuildDate:    time.Unix(1764201600, 0),
	}
	flags, err := stamp.LDFlags()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, want := range []string{
			"gitVersion=v1.36.5-ctxfix.1",
			"gitCommit=0123456789abcdef0123456789abcdef01234567",
			"gitTreeState=clean",
			"buildDate=2025-11-27T00:00:00Z",
			"gitMajor=1",
			"gitMinor=36+",
		} {
			flag := "-X '" + pkg + "." + want + "'"
			if !slices.Contains(flags, flag) {
				t.Errorf("missing %s in %v", flag, flags)
			}
		}
	}

	plain := stamp
	plain.GitVersion = "v1.36.5"
	flags, err = plain.LDFlags()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(flags, "-X 'k8s.io/component-base/version.gitMinor=36'") {
		t.Errorf("a plain release must not get a + on its minor: %v", flags)
	}
}

func TestVersionVars(t *testing.T) {
	stamp := Stamp{
		GitVersion:   "v1.36.5-ctxfix.1",
		GitCommit:    "0123456789abcdef0123456789abcdef01234567",
		GitTreeState: "dirty",
		BuildDate:    time.Unix(1764201600, 0),
	}
	vars, err := stamp.VersionVars()
	if err != nil {
		t.Fatal(err)
	}
	want := `KUBE_GIT_VERSION='v1.36.5-ctxfix.1'
KUBE_GIT_COMMIT='0123456789abcdef0123456789abcdef01234567'
KUBE_GIT_TREE_STATE='dirty'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='36+'
SOURCE_DATE_EPOCH='1764201600'
`
	if vars != want {
		t.Errorf("VersionVars:\n%s\nwant:\n%s", vars, want)
	}
	stamp.GitCommit = "HEAD"
	if _, err := stamp.VersionVars(); err == nil {
		t.Error("a commit that is not a full id was accepted")
	}
}

func TestLDFlagsRejects(t *testing.T) {
	good := Stamp{GitVersion: "v1.36.5-ctxfix.1", GitCommit: "0123456789abcdef0123456789abcdef01234567", GitTreeState: "clean", BuildDate: time.Unix(1, 0)}
	for name, mutate := range map[string]func(*Stamp){
		"not semver":    func(s *Stamp) { s.GitVersion = "1.36.5" },
		"short commit":  func(s *Stamp) { s.GitCommit = "0123abc" },
		"tree state":    func(s *Stamp) { s.GitTreeState = "unknown" },
		"no build date": func(s *Stamp) { s.BuildDate = time.Time{} },
	} {
		t.Run(name, func(t *testing.T) {
			s := good
			mutate(&s)
			if _, err := s.LDFlags(); err == nil {
				t.Errorf("no error for %+v", s)
			}
		})
	}
}

func TestParseEpoch(t *testing.T) {
	got, err := ParseEpoch("1764201600\n")
	if err != nil || !got.Equal(time.Unix(1764201600, 0)) {
		t.Errorf("ParseEpoch = %v, %v", got, err)
	}
	for _, bad := range []string{"", "-1", "yesterday"} {
		if _, err := ParseEpoch(bad); err == nil {
			t.Errorf("ParseEpoch(%q): no error", bad)
		}
	}
}
