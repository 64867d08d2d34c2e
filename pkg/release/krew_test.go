package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestKrewManifest(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, PluginArchiveName("linux", "amd64"))
	if err := os.WriteFile(archive, []byte("archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := KrewManifest("v1.36.5-ctxfix.2", "https://example.com/home", "https://example.com/r/v1.36.5-ctxfix.2/",
		[]PluginPlatform{{OS: "linux", Arch: "amd64", Archive: archive}})
	if err != nil {
		t.Fatal(err)
	}
	var got krewPlugin
	if err := yaml.UnmarshalStrict(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Name != "ctxleak" || got.Spec.Version != "v1.36.5-ctxfix.2" || len(got.Spec.Platforms) != 1 {
		t.Fatalf("manifest:\n%s", data)
	}
	p := got.Spec.Platforms[0]
	// sha256 of "archive".
	if p.Sha256 != "0eb3e36bfb24dcd9bb1d1bece1531216b59539a8fde17ee80224af0653c92aa3" {
		t.Errorf("sha256 %q", p.Sha256)
	}
	if want := "https://example.com/r/v1.36.5-ctxfix.2/kubectl-ctxleak_linux_amd64.tar.gz"; p.URI != want {
		t.Errorf("uri %q, want %q", p.URI, want)
	}
	if p.Bin != "kubectl-ctxleak" || p.Selector.MatchLabels["os"] != "linux" || p.Selector.MatchLabels["arch"] != "amd64" {
		t.Errorf("platform %+v", p)
	}
}

func TestKrewManifestRejects(t *testing.T) {
	for _, tc := range []struct {
		version, url, want string
		platforms          []PluginPlatform
	}{
		{"1.36.5", "https://x", "not a semantic version", []PluginPlatform{{}}},
		{"v1.36.5-ctxfix.2", "ftp://x", "not an http(s) URL", []PluginPlatform{{}}},
		{"v1.36.5-ctxfix.2", "https://x", "no plugin archives", nil},
		{"v1.36.5-ctxfix.2", "https://x", "no-such-archive", []PluginPlatform{{OS: "linux", Arch: "amd64", Archive: "no-such-archive"}}},
	} {
		_, err := KrewManifest(tc.version, "https://home", tc.url, tc.platforms)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("KrewManifest(%q, %q): error %v, want one saying %q", tc.version, tc.url, err, tc.want)
		}
	}
}
