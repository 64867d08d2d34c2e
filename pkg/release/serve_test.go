package release

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestServeServesTheFolderOnLoopback(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "v1", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v1", "bin", "kubelet.sha256"), []byte("abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, dir, addrFile) }()
	// Serve must return once its context ends, and leave no goroutine
	// behind (TestMain checks with goleak).
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after its context ended, want nil", err)
		}
	}()
	var addr []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if addr, err = os.ReadFile(addrFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve wrote no address")
		}
	}
	resp, err := http.Get("http://" + string(addr) + "/v1/bin/kubelet.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "abc\n" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "abc\n")
	}
	missing, err := http.Get("http://" + string(addr) + "/v1/bin/kubeadm")
	if err != nil {
		t.Fatal(err)
	}
	missing.Body.Close()
	if missing.StatusCode != http.StatusNotFound {
		t.Errorf("a missing file gave %d, want 404", missing.StatusCode)
	}
}

func TestServeRefusesAMissingFolder(t *testing.T) {
	if err := Serve(context.Background(), filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "addr")); err == nil {
		t.Error("served a folder that does not exist")
	}
}
