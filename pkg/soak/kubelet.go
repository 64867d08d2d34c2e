// Package soak runs real kubelet binaries standalone against a fake
// container runtime under sustained pod sync, and samples what they hold.
package soak

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/fakecri"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/kubeletconfig"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
)

// KubeletSpec describes one kubelet of a soak run.
type KubeletSpec struct {
	// Name tells the kubelets of a run apart ("stock", "patched").
	Name string
	// Binary is the kubelet to run.
	Binary string
	// Pods is how many static pods it runs.
	Pods int
	// PodOptions shapes the pods.
	PodOptions PodOptions
	// LogDir receives the kubelet's log; it outlives the run.
	LogDir string
	// Verbosity is the kubelet's -v.
	Verbosity int
}

// Kubelet is a running kubelet with its own fake runtime and root folder.
type Kubelet struct {
	Spec    KubeletSpec
	Version string
	Root    string
	LogPath string

	cri     *fakecri.Runtime
	process *nodeproc.Process
	port    int
	healthz int
	client  *http.Client
	// lastHeap is the heap profile of the last sample.
	lastHeap []byte
}

// StartKubelet starts spec's kubelet and returns once it serves its port. On
// error nothing it started is left running or mounted.
func StartKubelet(ctx context.Context, spec KubeletSpec) (_ *Kubelet, err error) {
	logger := klog.FromContext(ctx).WithValues("kubelet", spec.Name)
	if _, err := os.Stat(spec.Binary); err != nil {
		return nil, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	version, err := exec.CommandContext(ctx, spec.Binary, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s kubelet %s does not run: %w", spec.Name, spec.Binary, err)
	}
	root, err := os.MkdirTemp("", "ctxfix-soak-"+spec.Name+"-")
	if err != nil {
		return nil, err
	}
	k := &Kubelet{
		Spec:    spec,
		Version: strings.TrimSpace(string(version)),
		Root:    root,
		LogPath: filepath.Join(spec.LogDir, spec.Name+"-kubelet.log"),
		client: &http.Client{
			// A heap profile of every allocation takes a while to write.
			Timeout: 2 * time.Minute,
			// The kubelet serves a self-signed certificate on loopback.
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback only
		},
	}
	defer func() {
		if err != nil {
			k.Stop(ctx)
		}
	}()

	k.cri, err = fakecri.Start(filepath.Join(root, "cri.sock"), []string{Image}, 1<<20)
	if err != nil {
		return nil, err
	}
	if err := WriteStaticPods(k.ManifestDir(), spec.Pods, spec.PodOptions); err != nil {
		return nil, err
	}
	if k.port, err = freePort(); err != nil {
		return nil, err
	}
	if k.healthz, err = freePort(); err != nil {
		return nil, err
	}
	config, err := kubeletconfig.Standalone(kubeletconfig.StandaloneOptions{
		RuntimeEndpoint: k.cri.Endpoint(), StaticPodPath: k.ManifestDir(), PodLogsDir: filepath.Join(k.Root, "pod-logs"),
		Port: int32(k.port), HealthzPort: int32(k.healthz),
	})
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(root, "kubelet-config.yaml")
	if err := kubeletconfig.Write(configPath, config); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.LogDir, 0o755); err != nil {
		return nil, err
	}
	// A new log per run: the process appends to it.
	if err := os.Remove(k.LogPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k.process, err = nodeproc.Start(ctx, nodeproc.Spec{
		Name: spec.Name + "-kubelet",
		Path: spec.Binary,
		Args: []string{
			"--config=" + configPath,
			"--root-dir=" + filepath.Join(root, "kubelet"),
			"--cert-dir=" + filepath.Join(root, "pki"),
			"--hostname-override=ctxfix-soak-" + spec.Name,
			"--v=" + strconv.Itoa(spec.Verbosity),
		},
		// Every allocation sampled: heap profile counts are exact.
		Env:       []string{"GODEBUG=memprofilerate=1"},
		LogPath:   k.LogPath,
		RecordDir: root,
	})
	if err != nil {
		return nil, fmt.Errorf("%s kubelet: %w", spec.Name, err)
	}
	logger.Info("Started kubelet", "version", k.Version, "pid", k.process.PID, "port", k.port, "root", root, "log", k.LogPath)
	if err := k.waitHealthy(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	return k, nil
}

// ManifestDir is the kubelet's static pod folder.
func (k *Kubelet) ManifestDir() string { return filepath.Join(k.Root, "manifests") }

// FakeRuntime is the runtime the kubelet runs its pods on.
func (k *Kubelet) FakeRuntime() *fakecri.Runtime { return k.cri }

// waitHealthy waits for the kubelet to answer on its port.
func (k *Kubelet) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := k.get(ctx, "/healthz"); err == nil {
			return nil
		}
		select {
		case <-k.process.Done():
			return fmt.Errorf("%s kubelet exited early: %w", k.Spec.Name, k.process.ExitError())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s kubelet did not serve https://127.0.0.1:%d within %v; last lines of %s:\n%s", k.Spec.Name, k.port, timeout, k.LogPath, nodeproc.Tail(k.LogPath, 15))
		}
	}
}

// Exited is closed when the kubelet process has exited.
func (k *Kubelet) Exited() <-chan struct{} { return k.process.Done() }

// ExitError says why the kubelet exited, with the end of its log.
func (k *Kubelet) ExitError() error {
	return fmt.Errorf("%s kubelet exited during the run: %w", k.Spec.Name, k.process.ExitError())
}

func (k *Kubelet) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", k.port, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// Stop stops the kubelet (nodeproc's Stop), its fake runtime, undoes every
// mount under its root and removes the root. It is safe to call on a kubelet
// that failed to start.
func (k *Kubelet) Stop(ctx context.Context) {
	logger := klog.FromContext(ctx).WithValues("kubelet", k.Spec.Name)
	if k.process != nil {
		k.process.Stop(ctx)
	}
	if k.cri != nil {
		k.cri.Stop(ctx)
	}
	if k.Root == "" {
		return
	}
	if err := unmountUnder(k.Root); err != nil {
		logger.Error(err, "Leaving the kubelet's root in place", "root", k.Root)
		return
	}
	if err := os.RemoveAll(k.Root); err != nil {
		logger.Error(err, "Could not remove the kubelet's root", "root", k.Root)
	}
}

// unmountUnder undoes every mount below dir, deepest first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		if mountPoint := fields[4]; mountPoint == dir || strings.HasPrefix(mountPoint, dir+"/") {
			mounts = append(mounts, mountPoint)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
