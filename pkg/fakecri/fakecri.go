// Package fakecri runs the fake container runtime of k8s.io/cri-client (the
// one kubemark's hollow nodes use) on a unix socket, for a real kubelet to
// run pods against.
package fakecri

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/cri-client/pkg/fake"
)

// Runtime is a fake CRI runtime and image service serving one socket.
type Runtime struct {
	remote   *fake.RemoteRuntime
	socket   string
	execSync atomic.Int64
	stop     chan struct{}
	stopped  sync.WaitGroup
}

// Start serves a fake runtime at socket, with images present (each of
// imageSize bytes, so image garbage collection and stats see real sizes).
// The socket must not exist yet.
func Start(socket string, images []string, imageSize uint64) (*Runtime, error) {
	if _, err := os.Stat(socket); err == nil {
		return nil, fmt.Errorf("fake CRI: socket %s already exists", socket)
	}
	remote := fake.NewFakeRemoteRuntime()
	// The fake gives an image the size set when the image is added.
	remote.ImageService.SetFakeImageSize(imageSize)
	remote.ImageService.SetFakeImages(images)
	if err := remote.Start("unix://" + socket); err != nil {
		return nil, fmt.Errorf("fake CRI: %w", err)
	}
	r := &Runtime{remote: remote, socket: socket, stop: make(chan struct{})}
	r.stopped.Add(1)
	go r.drainCalls()
	return r, nil
}

// Endpoint is the CRI endpoint to give the kubelet.
func (r *Runtime) Endpoint() string { return "unix://" + r.socket }

// ExecSyncCalls returns how many ExecSync calls (exec probes and exec hooks)
// reached the runtime so far.
func (r *Runtime) ExecSyncCalls() int64 {
	r.countCalls()
	return r.execSync.Load()
}

// drainCalls keeps the fake's call log short: it records every call for
// tests, which over a long soak would grow without bound.
func (r *Runtime) drainCalls() {
	defer r.stopped.Done()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-ticker.C:
			r.countCalls()
		}
	}
}

func (r *Runtime) countCalls() {
	service := r.remote.RuntimeService
	service.Lock()
	defer service.Unlock()
	for _, call := range service.Called {
		if call == "ExecSync" {
			r.execSync.Add(1)
		}
	}
	service.Called = service.Called[:0]
}

// Stop stops serving and removes the socket.
func (r *Runtime) Stop(context.Context) {
	close(r.stop)
	r.stopped.Wait()
	r.remote.Stop()
	_ = os.Remove(r.socket)
}
