package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPRecipeValidate(t *testing.T) {
	good := HTTPRecipe{SourceType: "http", CNISourceType: "http", HTTPSource: "https://artifacts.example.com/kubelet-ctxfix",
		Semver: "v1.36.5-ctxfix.3", CNISemver: "v1.10.0", CrictlVersion: "1.37.0", LoadAdditionalImages: "true"}
	if err := good.validate(); err != nil {
		t.Fatalf("a complete http recipe: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*HTTPRecipe)
		want   string
	}{
		// image-builder's default kubernetes_cni_source_type is "pkg":
		// with it, neither url.yml nor debian.yml runs.
		"cni source left to the default": {func(r *HTTPRecipe) { r.CNISourceType = "" }, "installs no kubelet"},
		"package mode":                   {func(r *HTTPRecipe) { r.SourceType = "pkg" }, "installs no kubelet"},
		"no cni semver":                  {func(r *HTTPRecipe) { r.CNISemver = "" }, "kubernetes_cni_semver is not set"},
		"no crictl version":              {func(r *HTTPRecipe) { r.CrictlVersion = "" }, "crictl_version is not set"},
		"additional images not loaded":   {func(r *HTTPRecipe) { r.LoadAdditionalImages = "false" }, "kubeadm would pull them"},
	} {
		t.Run(name, func(t *testing.T) {
			r := good
			tc.change(&r)
			err := r.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFetchChecked(t *testing.T) {
	body := []byte("kubelet")
	sum := sha256.Sum256(body)
	files := map[string]string{
		"/alone/kubelet":           string(body),
		"/alone/kubelet.sha256":    hex.EncodeToString(sum[:]),
		"/named/crictl.tgz":        string(body),
		"/named/crictl.tgz.sha256": "0000  other.tgz\n" + hex.EncodeToString(sum[:]) + "  crictl.tgz\n",
		"/bad/kubelet":             "kubelet, altered",
		"/bad/kubelet.sha256":      hex.EncodeToString(sum[:]) + "\n",
		"/unnamed/a.tgz":           string(body),
		"/unnamed/a.tgz.sha256":    hex.EncodeToString(sum[:]) + "  b.tgz\n",
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(f))
	}))
	defer server.Close()
	ctx := context.Background()
	for _, ok := range []string{"/alone/kubelet", "/named/crictl.tgz"} {
		if got, err := fetchChecked(ctx, server.Client(), server.URL+ok); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: %q, %v", ok, got, err)
		}
	}
	for bad, want := range map[string]string{"/bad/kubelet": "but", "/unnamed/a.tgz": "no sum for a.tgz", "/missing": "404"} {
		if _, err := fetchChecked(ctx, server.Client(), server.URL+bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", bad, err, want)
		}
	}
}

func tarball(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(name)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(name))
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

func TestUnpack(t *testing.T) {
	dir := t.TempDir()
	if err := unpack(tarball(t, "./bridge", "crictl"), dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bridge", "crictl"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v", name, info, err)
		}
	}
	if err := unpack(tarball(t, "../escape"), filepath.Join(dir, "sub")); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a name outside the folder: got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Error("../escape was written")
	}
}
