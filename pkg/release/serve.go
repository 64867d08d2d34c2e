package release

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// Serve serves dir over HTTP on a free loopback port, as a web server would
// serve a published release folder to image-builder, apt or dnf, and writes
// "127.0.0.1:PORT" to addrFile once it listens. It serves until ctx ends,
// then closes the listener and every connection and returns nil.
func Serve(ctx context.Context, dir, addrFile string) error {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Errorf("%s is not a folder to serve", dir)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer listener.Close()
	// Written aside and renamed, so that a reader never sees half an address.
	tmp := addrFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(listener.Addr().String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Clean(addrFile)); err != nil {
		return err
	}
	return ServeOn(ctx, dir, listener)
}

// ServeOn serves dir over HTTP on listener, which it closes, until ctx
// ends, then closes every connection and returns nil: a release folder
// served where a caller listens (in a network namespace of a test's own).
func ServeOn(ctx context.Context, dir string, listener net.Listener) error {
	defer listener.Close()
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Errorf("%s is not a folder to serve", dir)
	}
	server := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	stopped := context.AfterFunc(ctx, func() { server.Close() })
	defer stopped()
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
