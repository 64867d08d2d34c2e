package soak

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKubelet writes a script that answers --version and otherwise runs body.
func fakeKubelet(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubelet")
	script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Kubernetes v1.36.2'; exit 0; fi\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// soakRoots lists the soak's temporary roots of kubelet name.
func soakRoots(t *testing.T, name string) []string {
	t.Helper()
	roots, err := filepath.Glob(filepath.Join(os.TempDir(), "ctxfix-soak-"+name+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

func TestStartKubeletFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		binary  func(t *testing.T) string
		wantErr []string
	}{
		"missing binary": {
			binary:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "no-kubelet") },
			wantErr: []string{"no-kubelet", "no such file"},
		},
		"binary that does not run": {
			binary:  func(t *testing.T) string { return fakeKubeletNoVersion(t) },
			wantErr: []string{"does not run"},
		},
		"kubelet that exits early": {
			binary: func(t *testing.T) string {
				return fakeKubelet(t, "echo 'E1127 failed to listen on 127.0.0.1: address already in use' >&2; exit 1")
			},
			wantErr: []string{"exited early", "address already in use"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			kubeletName := "test" + strings.ReplaceAll(name, " ", "")
			before := len(soakRoots(t, kubeletName))
			_, err := StartKubelet(context.Background(), KubeletSpec{
				Name:       kubeletName,
				Binary:     tc.binary(t),
				Pods:       2,
				PodOptions: DefaultPodOptions,
				LogDir:     t.TempDir(),
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if after := len(soakRoots(t, kubeletName)); after != before {
				t.Errorf("a failed start left its root behind: %v", soakRoots(t, kubeletName))
			}
		})
	}
}

func fakeKubeletNoVersion(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubelet")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
