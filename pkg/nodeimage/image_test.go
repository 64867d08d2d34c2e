package nodeimage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestWriteLoadsBackWithNameConfigAndFiles(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, []byte("#!pause"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Ref:        "registry.k8s.io/pause:3.10.2",
		Arch:       "amd64",
		Entrypoint: []string{"/pause"},
		Cmd:        []string{"-v"},
		Entries:    []Entry{{Path: "/pause", Source: bin}, {Path: "/bin/sh", Link: "/pause"}, {Path: "/tmp", Dir: true}},
		Created:    time.Unix(1700000000, 0).UTC(),
	}
	out := filepath.Join(dir, "pause.tar")
	if err := Write(out, spec); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(spec.Ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the tarball does not load as %s: %v", spec.Ref, err)
	}
	config, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if config.Architecture != "amd64" || config.OS != "linux" || len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != "/pause" || len(config.Config.Cmd) != 1 || config.Config.Cmd[0] != "-v" {
		t.Errorf("config = %+v, want linux/amd64 with entrypoint /pause and cmd -v", config)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}

	// The same inputs give the same bytes.
	again := filepath.Join(dir, "again.tar")
	if err := Write(again, spec); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Error("two writes of the same spec differ")
	}
}

func TestWriteRejectsBadInputAndLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"digest instead of tag", Spec{Ref: "registry.k8s.io/pause@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"}},
		{"relative path", Spec{Ref: "example.com/x:1", Entries: []Entry{{Path: "bin/sh", Link: "/x"}}}},
		{"missing source", Spec{Ref: "example.com/x:1", Entries: []Entry{{Path: "/x", Source: filepath.Join(dir, "absent")}}}},
		{"path given twice", Spec{Ref: "example.com/x:1", Entries: []Entry{{Path: "/bin/busybox", Link: "/bin/busybox"}, {Path: "/bin/busybox", Link: "/x"}}}},
		{"neither source nor link", Spec{Ref: "example.com/x:1", Entries: []Entry{{Path: "/x"}}}},
	} {
		out := filepath.Join(dir, "out.tar")
		if err := Write(out, tc.spec); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: left %s behind", tc.name, out)
		}
	}
}
