package fakecri

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRuntimeServesAndCountsExecs(t *testing.T) {
	ctx := context.Background()
	socket := filepath.Join(t.TempDir(), "cri.sock")
	r, err := Start(socket, []string{"registry.k8s.io/pause:3.10"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)

	conn, err := grpc.NewClient(r.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	runtime := runtimeapi.NewRuntimeServiceClient(conn)
	images := runtimeapi.NewImageServiceClient(conn)

	status, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.10"}})
	if err != nil {
		t.Fatal(err)
	}
	if status.Image == nil || status.Image.GetSize() != 1<<20 {
		t.Fatalf("image status %v: want the image present with size 1MiB", status.Image)
	}
	for range 3 {
		if _, err := runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "c", Cmd: []string{"/bin/true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runtime.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := r.ExecSyncCalls(); got != 3 {
		t.Errorf("ExecSyncCalls = %d, want 3", got)
	}
}

func TestStartRefusesAnExistingSocket(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "cri.sock")
	if err := os.WriteFile(socket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(socket, nil, 0); err == nil {
		t.Fatal("no error for a socket path that exists")
	}
}
