package upstream

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

// commitFolder makes dir a git repository with one commit of all its files,
// with no configuration of the machine's in play.
func commitFolder(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q", "--template=", "-b", "main"},
		{"add", "-A", "-f"},
		{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "tree"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var moduleFiles = map[string]string{
	"go.mod":                  "module k8s.io/kubernetes\n",
	"pkg/kubelet/kubelet.go":  "package kubelet\n",
	"pkg/kubelet/empty.txt":   "",
	"hack/lib/version.sh":     "#!/usr/bin/env bash\n",
	"docs/with space.md":      "a file name with a space\n",
	"pkg/kubelet/no-newline":  "no trailing newline",
	"pkg/kubelet/crlf.txt":    "line\r\nline\r\n",
	"third_party/binary.data": "\x00\x01\x02\xff",
}

func TestHashGitRevisionMatchesGoModuleHash(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, moduleFiles)
	// What the go command would compute for the extracted module folder.
	want, err := dirhash.HashDir(dir, "k8s.io/kubernetes@v1.36.5", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	commitFolder(t, dir)
	got, err := HashGitRevision(context.Background(), dir, "HEAD", "k8s.io/kubernetes@v1.36.5")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("HashGitRevision = %s, the go command's hash of the folder is %s", got, want)
	}
}

func TestHashGitRevisionSeesChanges(t *testing.T) {
	pristine := t.TempDir()
	writeFiles(t, pristine, moduleFiles)
	want, err := dirhash.HashDir(pristine, "k8s.io/kubernetes@v1.36.5", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
	}{
		{"a file changed", map[string]string{"pkg/kubelet/kubelet.go": "package kubelet // changed\n"}},
		{"a file added", map[string]string{"pkg/kubelet/leftover_test.go": "package kubelet\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, moduleFiles)
			writeFiles(t, dir, tc.change)
			commitFolder(t, dir)
			got, err := HashGitRevision(context.Background(), dir, "HEAD", "k8s.io/kubernetes@v1.36.5")
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				t.Errorf("HashGitRevision = %s, the pristine module's hash, after %s", got, tc.name)
			}
		})
	}
	t.Run("another module version", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, moduleFiles)
		commitFolder(t, dir)
		got, err := HashGitRevision(context.Background(), dir, "HEAD", "k8s.io/kubernetes@v1.36.4")
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			t.Errorf("the same files as another version hash the same: %s", got)
		}
	})
}

func TestHashGitRevisionErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, moduleFiles)
	if err := os.Symlink("go.mod", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	commitFolder(t, dir)
	if _, err := HashGitRevision(context.Background(), dir, "HEAD", "k8s.io/kubernetes@v1.36.5"); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("a symlink in the tree: err = %v, want one naming it", err)
	}
	if _, err := HashGitRevision(context.Background(), dir, "no-such-rev", "k8s.io/kubernetes@v1.36.5"); err == nil || !strings.Contains(err.Error(), "no-such-rev") {
		t.Errorf("an unknown revision: err = %v, want one naming it", err)
	}
}
