package nodeimage

import (
	"archive/tar"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
		User:       "65535:65535",
		Labels:     map[string]string{"org.opencontainers.image.version": "3.10.2"},
		Layers:     []Layer{{{Path: "/pause", Source: bin}, {Path: "/bin/sh", Link: "/pause"}, {Path: "/tmp", Dir: true}}},
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
	if config.Config.User != "65535:65535" || config.Config.Labels["org.opencontainers.image.version"] != "3.10.2" {
		t.Errorf("config user %q and labels %v, want 65535:65535 and the version label", config.Config.User, config.Config.Labels)
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
		{"relative path", Spec{Ref: "example.com/x:1", Layers: []Layer{{{Path: "bin/sh", Link: "/x"}}}}},
		{"missing source", Spec{Ref: "example.com/x:1", Layers: []Layer{{{Path: "/x", Source: filepath.Join(dir, "absent")}}}}},
		{"path given twice", Spec{Ref: "example.com/x:1", Layers: []Layer{{{Path: "/bin/busybox", Link: "/bin/busybox"}, {Path: "/bin/busybox", Link: "/x"}}}}},
		{"neither source nor link", Spec{Ref: "example.com/x:1", Layers: []Layer{{{Path: "/x"}}}}},
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

func TestWriteIsDockerSaveFormWithTreeBaseLayerShared(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"etc/ssl/certs", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/xtables-nft-multi"), []byte("#!x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("xtables-nft-multi", filepath.Join(root, "usr/sbin/iptables")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kube-proxy")
	if err := os.WriteFile(bin, []byte("#!kube-proxy"), 0o755); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0).UTC()
	write := func(ref, binary string) v1.Image {
		t.Helper()
		out := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
		spec := Spec{Ref: ref, Arch: "arm64", Entrypoint: []string{"/usr/local/bin/" + binary}, Created: created,
			Layers: []Layer{{{Path: "/", Tree: root}}, {{Path: "/usr/local/bin/" + binary, Source: bin}}}}
		if err := Write(out, spec); err != nil {
			t.Fatal(err)
		}
		names := tarNames(t, out)
		for _, want := range []string{"manifest.json", "repositories"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s has no %s, which docker save writes: %v", out, want, names)
			}
		}
		tag, _ := name.NewTag(ref)
		img, err := tarball.ImageFromPath(out, &tag)
		if err != nil {
			t.Fatalf("the tarball does not load as %s: %v", ref, err)
		}
		return img
	}
	proxy := write("registry.k8s.io/kube-proxy-arm64:v1.36.5-ctxfix.2", "kube-proxy")
	scheduler := write("registry.k8s.io/kube-scheduler-arm64:v1.36.5-ctxfix.2", "kube-scheduler")

	proxyLayers, _ := proxy.Layers()
	schedulerLayers, _ := scheduler.Layers()
	if len(proxyLayers) != 2 || len(schedulerLayers) != 2 {
		t.Fatalf("layers: %d and %d, want 2 each", len(proxyLayers), len(schedulerLayers))
	}
	a, _ := proxyLayers[0].DiffID()
	b, _ := schedulerLayers[0].DiffID()
	if a != b {
		t.Errorf("the base layers differ (%s, %s): the runtime would store the base twice", a, b)
	}
	files := layerFiles(t, proxyLayers[0])
	for path, want := range map[string]string{"etc/passwd": "file 644", "usr/sbin/iptables": "link xtables-nft-multi", "usr/sbin/xtables-nft-multi": "file 755", "etc/ssl/certs/": "dir 755"} {
		if files[path] != want {
			t.Errorf("base layer: %s is %q, want %q", path, files[path], want)
		}
	}
	if got := layerFiles(t, proxyLayers[1])["usr/local/bin/kube-proxy"]; got != "file 755" {
		t.Errorf("top layer: usr/local/bin/kube-proxy is %q, want an executable file", got)
	}
	config, _ := proxy.ConfigFile()
	if config.Architecture != "arm64" || !slices.Equal(config.Config.Entrypoint, []string{"/usr/local/bin/kube-proxy"}) {
		t.Errorf("config: %s with entrypoint %v, want arm64 with /usr/local/bin/kube-proxy", config.Architecture, config.Config.Entrypoint)
	}
}

func tarNames(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// layerFiles describes every entry of layer as "file MODE", "dir MODE" or
// "link TARGET".
func layerFiles(t *testing.T, layer v1.Layer) map[string]string {
	t.Helper()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s is owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			out[h.Name] = fmt.Sprintf("dir %o", h.Mode)
		case tar.TypeSymlink:
			out[h.Name] = "link " + h.Linkname
		default:
			out[h.Name] = fmt.Sprintf("file %o", h.Mode)
		}
	}
}

// TestWriteNetBindServiceIsWhatSetcapWrites checks the capability against the
// bytes `setcap cap_net_bind_service=+ep FILE` leaves in FILE's
// security.capability (libcap 2.66), read back with os.getxattr.
func TestWriteNetBindServiceIsWhatSetcapWrites(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	if err := os.WriteFile(bin, []byte("#!coredns"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Ref: "registry.k8s.io/coredns/coredns:v1.14.2", Arch: "amd64", Entrypoint: []string{"/coredns"},
		Layers: []Layer{{{Path: "/coredns", Source: bin, NetBindService: true}, {Path: "/etc/hosts", Source: bin}}}}
	out := filepath.Join(dir, "coredns.tar")
	if err := Write(out, spec); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(spec.Ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	const setcapWrites = "0100000200040000000000000000000000000000"
	found := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		header, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[header.Name] = hex.EncodeToString([]byte(header.PAXRecords["SCHILY.xattr.security.capability"]))
	}
	if found["coredns"] != setcapWrites {
		t.Errorf("/coredns has security.capability %q, want setcap's %s", found["coredns"], setcapWrites)
	}
	if found["etc/hosts"] != "" {
		t.Errorf("/etc/hosts has a capability it was not given: %s", found["etc/hosts"])
	}
	if err := Write(filepath.Join(dir, "bad.tar"), Spec{Ref: "example.com/x:1", Layers: []Layer{{{Path: "/x", Link: "/y", NetBindService: true}}}}); err == nil {
		t.Error("a link with a capability: no error")
	}
}
