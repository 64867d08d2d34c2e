package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTarGz(t *testing.T, path string) []*tar.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var headers []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers = append(headers, h)
	}
}

func TestNodeTarballLayoutIsReproducible(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	kubelet := write("kubelet", "binary")
	kubeadm := write("kubeadm", "binary")
	attribution := write("ATTRIBUTION.txt", "licenses")
	src := write("kubernetes-src.tar.gz", "source")
	write("LICENSES/LICENSE", "Apache")
	write("LICENSES/third_party/x/LICENSE", "MIT")
	mtime := time.Unix(1795792798, 0)

	entries, err := NodeTarball([]string{kubelet, kubeadm}, filepath.Join(dir, "LICENSES"), attribution, src, "v1.36.5-ctxfix.1")
	if err != nil {
		t.Fatal(err)
	}
	first, second := filepath.Join(dir, "a.tar.gz"), filepath.Join(dir, "b.tar.gz")
	if err := WriteTarGz(first, entries, mtime); err != nil {
		t.Fatal(err)
	}
	// The same entries in another order give the same bytes.
	reversed := append([]Entry(nil), entries...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	if err := WriteTarGz(second, reversed, mtime); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if !bytes.Equal(a, b) {
		t.Error("the same entries gave different archives")
	}

	var names []string
	for _, h := range readTarGz(t, first) {
		names = append(names, h.Name)
		if h.Uname != "root" || h.Uid != 0 || !h.ModTime.Equal(mtime) {
			t.Errorf("%s: owner %s/%d, mtime %v; want root/0, %v", h.Name, h.Uname, h.Uid, h.ModTime, mtime)
		}
		if strings.HasPrefix(h.Name, "kubernetes/node/bin/k") && h.Mode != 0o755 {
			t.Errorf("%s has mode %o, want 755", h.Name, h.Mode)
		}
	}
	want := []string{
		"kubernetes/",
		"kubernetes/ATTRIBUTION.txt",
		"kubernetes/LICENSES/",
		"kubernetes/LICENSES/LICENSE",
		"kubernetes/LICENSES/third_party/",
		"kubernetes/LICENSES/third_party/x/",
		"kubernetes/LICENSES/third_party/x/LICENSE",
		"kubernetes/kubernetes-src.tar.gz",
		"kubernetes/node/",
		"kubernetes/node/bin/",
		"kubernetes/node/bin/kubeadm",
		"kubernetes/node/bin/kubelet",
		"kubernetes/version",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("members:\n%q\nwant:\n%q", names, want)
	}
}

func TestWriteTarGzLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.tar.gz")
	err := WriteTarGz(out, []Entry{{Name: "missing", Source: filepath.Join(dir, "no-such-file"), Mode: 0o644}}, time.Unix(0, 0))
	if err == nil {
		t.Fatal("an entry with a missing source was archived")
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
