package release

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeKubeadmConstants(t *testing.T, body string) string {
	t.Helper()
	tree := t.TempDir()
	file := filepath.Join(tree, KubeadmConstants)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("package constants\n\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestReadKubeadmImages(t *testing.T) {
	// As v1.36.5 declares them: in const blocks, among other constants.
	tree := writeKubeadmConstants(t, `const (
	DefaultEtcdVersion = "3.6.8-0"
	Etcd = "etcd"
)

const (
	CoreDNSImageName = "coredns/coredns"
	CoreDNSVersion = "v1.14.2"
	PauseVersion = "3.10.2"
)
`)
	images, err := ReadKubeadmImages(tree)
	if err != nil {
		t.Fatal(err)
	}
	want := []KubeadmImage{
		{Name: "etcd", Ref: "registry.k8s.io/etcd:3.6.8-0", Version: "v3.6.8"},
		{Name: "coredns", Ref: "registry.k8s.io/coredns/coredns:v1.14.2", Version: "v1.14.2"},
		{Name: "pause", Ref: "registry.k8s.io/pause:3.10.2", Version: "v3.10.2"},
	}
	if !reflect.DeepEqual(images, want) {
		t.Errorf("got %+v, want %+v", images, want)
	}
}

func TestReadKubeadmImagesErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no pause", "const (\nDefaultEtcdVersion = \"3.6.8-0\"\nCoreDNSVersion = \"v1.14.2\"\n)\n", "no string constant PauseVersion"},
		{"etcd tag without revision", "const (\nDefaultEtcdVersion = \"3.6.8\"\nCoreDNSVersion = \"v1.14.2\"\nPauseVersion = \"3.10.2\"\n)\n", `DefaultEtcdVersion = "3.6.8" is not an etcd image tag`},
		{"a variable, not a constant", "var PauseVersion = \"3.10.2\"\nconst (\nDefaultEtcdVersion = \"3.6.8-0\"\nCoreDNSVersion = \"v1.14.2\"\n)\n", "no string constant PauseVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadKubeadmImages(writeKubeadmConstants(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := ReadKubeadmImages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "constants.go") {
		t.Errorf("a tree without kubeadm: got %v, want an error naming constants.go", err)
	}
}
