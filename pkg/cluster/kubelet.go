package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/nodeproc"
	"github.com/kubelet-ctxfix/kubelet-ctxfix/pkg/systemdunit"
	"k8s.io/klog/v2"
)

// serviceEnvironment is what systemd gives every service before the unit's
// own environment (systemd.exec(5), "Environment Variables in Spawned
// Processes"), for a system service without User=.
var serviceEnvironment = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

// kubeletService runs a node's kubelet as systemd runs kubelet.service on a
// node built from our packages: the command and environment of the unit
// and its drop-ins as the node has them when it starts (the deb's unit,
// kubeadm's 10-kubeadm.conf with the flags file kubeadm writes, the node's
// /etc/default/kubelet), read again at every start, and started again
// RestartSec after it exits, as Restart=always does. A kubelet started
// before kubeadm has written its configuration exits at once, and is
// started again until kubeadm has.
type kubeletService struct {
	node *Node

	mu sync.Mutex
	// current is the running kubelet, if any.
	current *nodeproc.Process
	// starts counts the kubelet's starts.
	starts int
}

// restartRequest is the file by which systemctlShim asks for the
// kubelet's restart, in the node's own /run; supervise removes it once the
// new kubelet has started.
const restartRequest = "/run/kubelet-ctxfix/restart-kubelet"

// restartRequested reports whether systemctlShim asked for a restart.
func (s *kubeletService) restartRequested() bool {
	_, err := os.Stat(filepath.Join(s.node.View(), restartRequest))
	return err == nil
}

// systemctlShim is systemctl on a node, which has no systemd, for the
// operator's commands that make cluster-roll runs: `systemctl restart
// kubelet` asks the node's kubelet supervisor to restart it, as systemd
// would, and returns once it has; anything else fails.
const systemctlShim = `#!/bin/sh
# systemctl of a make cluster node (pkg/cluster): no systemd runs here.
set -eu
if [ "$*" != "restart kubelet" ]; then
  echo "systemctl: only 'systemctl restart kubelet' is served on this node, not 'systemctl $*'" >&2
  exit 1
fi
mkdir -p ` + "$(dirname " + restartRequest + ")" + `
touch ` + restartRequest + `
i=0
while [ -e ` + restartRequest + ` ]; do
  i=$((i + 1))
  if [ "$i" -gt 600 ]; then
    echo "systemctl: the kubelet was not restarted within 60 s" >&2
    exit 1
  fi
  sleep 0.1
done
`

// starts returns how many times the kubelet started, and the one running.
func (s *kubeletService) startsAndCurrent() (int, *nodeproc.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.current
}

// kubeletDropIn is the drop-in of kubelet.service that sets the
// environment an operator adds, in /etc, where an operator's drop-ins go.
const kubeletDropIn = "/etc/systemd/system/kubelet.service.d/90-kubelet-ctxfix-environment.conf"

// writeKubeletEnvironment writes kubeletDropIn with environment
// (NAME=VALUE), if any.
func (n *Node) writeKubeletEnvironment(environment []string) error {
	if len(environment) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("[Service]\n")
	for _, kv := range environment {
		fmt.Fprintf(&b, "Environment=%q\n", kv)
	}
	path := filepath.Join(n.upper("/etc"), strings.TrimPrefix(kubeletDropIn, "/etc/"))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// start starts the kubelet once, from the unit as the node has it now.
func (s *kubeletService) start(ctx context.Context) (*nodeproc.Process, error) {
	n := s.node
	unit, err := systemdunit.Load(n.View(), "kubelet.service")
	if err != nil {
		return nil, fmt.Errorf("kubelet.service on %s: %w", n.Name, err)
	}
	process, err := nodeproc.Start(ctx, nodeproc.Spec{
		Name: n.Name + "-kubelet", Path: unit.Path, Args: unit.Args,
		Environ: append(append([]string{}, serviceEnvironment...), unit.Env...),
		NetNS:   netnsPath(n.Namespace), MountNS: n.MountNS(),
		LogPath: filepath.Join(n.logs, "kubelet.log"), RecordDir: n.records, Detached: true,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.current, s.starts = process, s.starts+1
	s.mu.Unlock()
	return process, nil
}

// kubeadmWrites are the files kubeadm writes for the kubelet before it
// runs `systemctl restart kubelet`, which only warns here: a kubelet that
// started before they were both written is restarted, as that command
// would have, or it would run without the flags kubeadm gave it (join
// writes config.yaml before kubeadm-flags.env).
var kubeadmWrites = []string{"/var/lib/kubelet/config.yaml", "/var/lib/kubelet/kubeadm-flags.env"}

// writtenSince reports whether one of kubeadmWrites changed after t.
func (s *kubeletService) writtenSince(t time.Time) bool {
	for _, f := range kubeadmWrites {
		if info, err := os.Stat(filepath.Join(s.node.View(), f)); err == nil && info.ModTime().After(t) {
			return true
		}
	}
	return false
}

// supervise starts the kubelet and starts it again whenever it exits, as
// the unit's Restart= and RestartSec= say, and at once when kubeadm has
// written its files since it started, until ctx ends. The kubelet running
// then is left running: a cluster left up keeps its kubelets.
func (s *kubeletService) supervise(ctx context.Context) {
	logger := klog.FromContext(ctx).WithValues("node", s.node.Name)
	for {
		// Asked before this start: answered once it has started (or
		// failed to), and systemctl returns. A request made while it
		// starts waits for the next tick.
		requested := s.restartRequested()
		process, err := s.start(ctx)
		if requested {
			if err := os.Remove(filepath.Join(s.node.View(), restartRequest)); err != nil {
				logger.Error(err, "Could not answer systemctl restart kubelet")
			}
		}
		wait := 10 * time.Second
		if err != nil {
			logger.Error(err, "Could not start the kubelet")
		} else {
			restarted := false
			for exited := false; !exited && !restarted; {
				select {
				case <-ctx.Done():
					return
				case <-process.Done():
					exited = true
				case <-time.After(time.Second):
					switch {
					case s.restartRequested():
						logger.Info("systemctl restart kubelet: restarting it")
						process.Stop(ctx)
						restarted = true
					case s.writtenSince(process.Started):
						logger.Info("kubeadm wrote the kubelet's configuration; restarting it as systemctl restart would")
						process.Stop(ctx)
						restarted = true
					}
				}
			}
			if restarted {
				continue
			}
			_, exitErr := process.Exited()
			unit, err := systemdunit.Load(s.node.View(), "kubelet.service")
			if err != nil {
				logger.Error(err, "Could not read kubelet.service again")
			} else if unit.Restart != "always" {
				logger.Info("Kubelet exited and its unit does not restart it", "restart", unit.Restart, "err", exitErr)
				return
			} else {
				wait = unit.RestartSec
			}
			logger.V(2).Info("Kubelet exited, starting it again as Restart=always does", "err", exitErr, "after", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
