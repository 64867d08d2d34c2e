package imagelayout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeimage"
)

// writeTarball writes a one-layer image for arch, tagged ref, whose
// content is the string body.
func writeTarball(t *testing.T, dir, file, ref, arch, body string) string {
	t.Helper()
	src := filepath.Join(dir, file+".bin")
	if err := os.WriteFile(src, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, file)
	if err := nodeimage.Write(out, nodeimage.Spec{
		Ref: ref, Arch: arch, Entrypoint: []string{"/bin"},
		Layers:  []nodeimage.Layer{{{Path: "/bin", Source: src}}},
		Created: time.Unix(1700000000, 0).UTC(),
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// releaseTarballs are a release's images for two architectures, as
// hack/release.sh names them: the control-plane ones with an arch suffix,
// the others as kubeadm names them.
func releaseTarballs(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		writeTarball(t, dir, "kube-proxy-amd64.tar", "registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.3", "amd64", "proxy amd64"),
		writeTarball(t, dir, "kube-proxy-arm64.tar", "registry.k8s.io/kube-proxy-arm64:v1.36.5-ctxfix.3", "arm64", "proxy arm64"),
		writeTarball(t, dir, "coredns-arm64.tar", "registry.k8s.io/coredns/coredns:v1.14.2", "arm64", "coredns arm64"),
		writeTarball(t, dir, "coredns-amd64.tar", "registry.k8s.io/coredns/coredns:v1.14.2", "amd64", "coredns amd64"),
	}
}

func TestWriteMakesOneOCIIndexPerNameOverItsArchitectures(t *testing.T) {
	files := releaseTarballs(t)
	dir := filepath.Join(t.TempDir(), "images")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	path, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := path.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, desc := range manifest.Manifests {
		names = append(names, desc.Annotations[RefNameAnnotation])
		if desc.MediaType != types.OCIImageIndex {
			t.Errorf("%s is a %s, want an OCI image index", desc.Annotations[RefNameAnnotation], desc.MediaType)
		}
		idx, err := top.ImageIndex(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		children, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var platforms []string
		for _, child := range children.Manifests {
			platforms = append(platforms, child.Platform.String())
			img, err := idx.Image(child.Digest)
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || m.Layers[0].MediaType != types.OCILayer {
				t.Errorf("%s %s: media types %s, %s, %s; want OCI's", desc.Annotations[RefNameAnnotation], child.Platform, m.MediaType, m.Config.MediaType, m.Layers[0].MediaType)
			}
		}
		if got := strings.Join(platforms, " "); got != "linux/amd64 linux/arm64" {
			t.Errorf("%s has platforms %s, want linux/amd64 linux/arm64", desc.Annotations[RefNameAnnotation], got)
		}
	}
	if got := strings.Join(names, " "); got != "registry.k8s.io/coredns/coredns:v1.14.2 registry.k8s.io/kube-proxy:v1.36.5-ctxfix.3" {
		t.Errorf("the layout names %s; want coredns as it is tagged and kube-proxy without its arch suffix", got)
	}
	if err := Check(dir, files); err != nil {
		t.Errorf("Check of the layout Write made: %v", err)
	}

	// The same tarballs, in another order, give the same bytes.
	again := filepath.Join(t.TempDir(), "images")
	reversed := []string{files[3], files[2], files[1], files[0]}
	if err := Write(again, reversed); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"index.json", "oci-layout"} {
		first, _ := os.ReadFile(filepath.Join(dir, file))
		second, _ := os.ReadFile(filepath.Join(again, file))
		if !bytes.Equal(first, second) {
			t.Errorf("%s differs between two writes of the same tarballs:\n%s\n%s", file, first, second)
		}
	}
}

func TestWriteRefusesAndLeavesNothing(t *testing.T) {
	files := releaseTarballs(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "images")
	other := writeTarball(t, t.TempDir(), "kube-proxy-amd64.tar", "registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.3", "amd64", "another proxy")
	err := Write(dir, append(files, other))
	if err == nil || !strings.Contains(err.Error(), "are both registry.k8s.io/kube-proxy:v1.36.5-ctxfix.3 for linux/amd64") {
		t.Errorf("two tarballs of one name and platform: %v, want an error naming both", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a refused Write left %v", entries)
	}
	// A folder named with a trailing slash is the same folder.
	if err := Write(dir+"/", files); err != nil {
		t.Fatalf("Write into images/: %v", err)
	}
	if err := Check(dir, files); err != nil {
		t.Errorf("Check of what Write wrote into images/: %v", err)
	}
	if err := Write(dir, files); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Write into an existing folder: %v, want it refused", err)
	}
}

func TestCheckFailsOnEachDamage(t *testing.T) {
	files := releaseTarballs(t)
	extra := writeTarball(t, t.TempDir(), "pause-amd64.tar", "registry.k8s.io/pause:3.10.2", "amd64", "pause")
	otherProxy := writeTarball(t, t.TempDir(), "kube-proxy-amd64.tar", "registry.k8s.io/kube-proxy-amd64:v1.36.5-ctxfix.3", "amd64", "another proxy")
	for _, tc := range []struct {
		name    string
		written []string
		checked []string
		damage  func(t *testing.T, dir string)
		want    string
	}{
		{name: "a tarball the layout lacks", written: files, checked: append(files[:4:4], extra),
			want: "has no registry.k8s.io/pause:3.10.2, which " + extra + " holds"},
		{name: "an image no tarball is", written: append(files[:4:4], extra), checked: files,
			want: "holds registry.k8s.io/pause:3.10.2, which no image tarball of the release is"},
		{name: "an architecture missing", written: files[1:], checked: files,
			want: "registry.k8s.io/kube-proxy:v1.36.5-ctxfix.3: no image for linux/amd64"},
		{name: "another image of the same name", written: append([]string{otherProxy}, files[1:]...), checked: files,
			want: "registry.k8s.io/kube-proxy:v1.36.5-ctxfix.3: linux/amd64 is not " + files[0]},
		{name: "a layer altered", written: files, checked: files, damage: alterBlob("layer"),
			want: "does not validate"},
		{name: "a config altered", written: files, checked: files, damage: alterBlob("config"),
			want: "does not validate"},
		{name: "an image manifest altered", written: files, checked: files, damage: alterBlob("manifest"),
			want: "does not validate"},
		{name: "an index altered", written: files, checked: files, damage: alterBlob("index"),
			want: "is not the index index.json names"},
		{name: "a blob nothing names", written: files, checked: files, damage: addBlob,
			want: "which no index or image of it names"},
		{name: "two tarballs of one name and platform", written: files, checked: append(files[:4:4], otherProxy),
			want: "are both registry.k8s.io/kube-proxy:v1.36.5-ctxfix.3 for linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "images")
			if err := Write(dir, tc.written); err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			err := Check(dir, tc.checked)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// addBlob adds a blob, named by its digest, that nothing in the layout
// names.
func addBlob(t *testing.T, dir string) {
	t.Helper()
	data := []byte("not part of any image")
	sum := sha256.Sum256(data)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", hex.EncodeToString(sum[:])), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// alterBlob returns a damage that changes one byte of the first blob of
// kind (layer, config, manifest or index) in a layout, keeping JSON valid.
func alterBlob(kind string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, blob := range blobs {
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			var is bool
			switch kind {
			case "layer":
				is = data[0] != '{'
			case "config":
				is = bytes.HasPrefix(data, []byte(`{"architecture"`))
			case "manifest":
				is = bytes.Contains(data, []byte(`"layers"`))
			case "index":
				is = bytes.Contains(data, []byte(`"manifests"`)) && bytes.Contains(data, []byte(`"platform"`))
			}
			if !is {
				continue
			}
			if kind == "layer" {
				data[len(data)/2] ^= 0xff
			} else {
				// A digit of a digest or size: still JSON, another content.
				at := bytes.LastIndexAny(data, "0123456789")
				data[at] = "1234567890"[data[at]-'0']
			}
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("no %s blob in %s", kind, dir)
	}
}

func TestMirrorNamesAreKubeadmsNames(t *testing.T) {
	for image, want := range map[string]string{
		"registry.k8s.io/kube-apiserver:v1.36.5-ctxfix.3": "127.0.0.1:5000/ctxfix/kube-apiserver:v1.36.5-ctxfix.3",
		"registry.k8s.io/coredns/coredns:v1.14.2":         "127.0.0.1:5000/ctxfix/coredns:v1.14.2 127.0.0.1:5000/ctxfix/coredns/coredns:v1.14.2",
		"registry.k8s.io/etcd:3.6.8-0":                    "127.0.0.1:5000/ctxfix/etcd:3.6.8-0",
	} {
		targets, err := MirrorNames(image, "127.0.0.1:5000/ctxfix/")
		var got []string
		for _, target := range targets {
			got = append(got, target.String())
		}
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("MirrorNames(%s) = %v, %v; want %s", image, got, err, want)
		}
	}
	if _, err := MirrorNames("registry.k8s.io/pause:3.10.2", "Not A Registry"); err == nil || !strings.Contains(err.Error(), `repository "Not A Registry"`) {
		t.Errorf("MirrorNames into a malformed repository: %v, want an error naming it", err)
	}
}

// tlsRegistry is go-containerregistry's in-memory registry behind TLS,
// and the file of its certificate.
func tlsRegistry(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	server := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(server.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})
	if err := os.WriteFile(ca, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return server, ca
}

func TestPushResolvesEveryPlatformThroughTheIndex(t *testing.T) {
	files := releaseTarballs(t)
	dir := filepath.Join(t.TempDir(), "images")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	server, ca := tlsRegistry(t)
	transport, err := HTTPSTransport(ca)
	if err != nil {
		t.Fatal(err)
	}
	repository := strings.TrimPrefix(server.URL, "https://") + "/ctxfix"
	pushed, err := Push(context.Background(), dir, repository, remote.WithTransport(transport))
	if err != nil {
		t.Fatal(err)
	}
	if len(pushed) != 3 {
		t.Fatalf("pushed %d names, want 3: kube-proxy, and CoreDNS under both of kubeadm's names", len(pushed))
	}
	for _, p := range pushed {
		if len(p.Platforms) != 2 {
			t.Errorf("%s resolves for %v, want linux/amd64 and linux/arm64", p.Target, p.Platforms)
		}
		for platform, digest := range p.Platforms {
			parsed, err := v1.ParsePlatform(platform)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(p.Target, remote.WithTransport(transport), remote.WithPlatform(*parsed))
			if err != nil {
				t.Fatal(err)
			}
			config, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := img.Digest(); got != digest || config.Architecture != parsed.Architecture {
				t.Errorf("%s for %s resolves to %s of %s, want %s", p.Target, platform, got, config.Architecture, digest)
			}
		}
	}
	if pushed[0].Target.String() != repository+"/coredns:v1.14.2" {
		t.Errorf("CoreDNS pushed as %s, want %s/coredns:v1.14.2, as kubeadm names it", pushed[0].Target, repository)
	}
}

func TestPushRefusesPlainHTTPAndAnUntrustedCertificate(t *testing.T) {
	files := releaseTarballs(t)
	dir := filepath.Join(t.TempDir(), "images")
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer plain.Close()
	transport, err := HTTPSTransport("")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Push(context.Background(), dir, strings.TrimPrefix(plain.URL, "http://")+"/ctxfix", remote.WithTransport(transport))
	if err == nil || !strings.Contains(err.Error(), "only HTTPS") {
		t.Errorf("push to a plain-HTTP registry: %v, want it refused as not HTTPS", err)
	}

	server, _ := tlsRegistry(t)
	_, err = Push(context.Background(), dir, strings.TrimPrefix(server.URL, "https://")+"/ctxfix", remote.WithTransport(transport))
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("push to a registry whose CA is not trusted: %v, want a certificate error", err)
	}
}
