// Package nodeproc runs the processes of a node on this machine: how they are
// started (in the node's network namespace, their PID recorded), stopped
// and killed. The soak's kubelets, the real node's kubelets, the faults
// done to them and the kubeadm cluster's nodes (pkg/cluster) all go
// through it.
//
// Every process leaves a record in its RecordDir while it runs: NAME.pid,
// its PID in decimal, and NAME.cmdline, its argv as /proc/PID/cmdline reads
// (each argument followed by a NUL). hack/e2e.sh's cleanup stops what the
// records of its run still name when test/e2e could not stop it
// (ctxfix::stop_recorded in hack/lib/common.sh): a PID whose cmdline still
// matches is the process that was started, not another that reused its
// number. So a process started here must not exec another program.
package nodeproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// StopGrace is how long Stop waits after SIGTERM before SIGKILL: what a
// kubelet gets from its service manager here, for every process alike.
const StopGrace = 30 * time.Second

// stopGrace is StopGrace, shortened by tests.
var stopGrace = StopGrace

// Spec is how to run one process of a node.
type Spec struct {
	// Name names the process in logs and its record; unique within
	// RecordDir.
	Name string
	// Path is the binary; Args its arguments.
	Path string
	Args []string
	// Env is added to the harness's environment.
	Env []string
	// Environ, when set, is the whole environment instead: that of a
	// process started again as it ran (FindRecorded).
	Environ []string
	// NetNS is the network namespace to run in (/run/netns/NAME); empty for
	// the harness's own. Only the network namespace is entered: a kubelet
	// and its runtime must share the mount namespace, or the runtime would
	// not see the volumes the kubelet mounts.
	NetNS string
	// MountNS, when set, is a mount namespace to run in as well
	// (/proc/PID/ns/mnt of a process that holds it): a node of a cluster
	// has its own /etc, /var/lib and /run, and its kubelet, runtime and
	// kubeadm all see the same. Paths in Path and Args are read there.
	MountNS string
	// NewMountNS starts the process in a new mount namespace, every mount
	// in it private (Go's exec does that before the program runs, as
	// unshare(1) does): a process that holds a node's namespace.
	NewMountNS bool
	// LogPath receives the process's output, appended to across restarts.
	LogPath string
	// RecordDir holds the process's record while it runs.
	RecordDir string
	// Cgroups are cgroup folders the process is moved into as soon as it
	// has started, so that the children it starts from then on inherit
	// them (containerd's shims its runtime cgroup). On cgroup v1 a process
	// cannot be started inside one: for the moment between its start and
	// the move it is in the harness's. containerd starts a shim only when
	// asked for a container, which nothing can ask before it serves.
	Cgroups []string
	// Detached processes are not killed when the harness dies: one that
	// stands for a process the harness did not start (FindRecorded) lives
	// as long as it did, until its record is stopped.
	Detached bool
}

// Process is a started process of a node.
type Process struct {
	Spec Spec
	// PID is the process's ID, recorded in Spec.RecordDir.
	PID int
	// Started is when it was started.
	Started time.Time

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// Start starts spec's process and records its PID. The process gets a process
// group of its own, and is killed if the harness dies without stopping it
// unless it is Detached.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.Name == "" || spec.Path == "" || spec.LogPath == "" || spec.RecordDir == "" {
		return nil, fmt.Errorf("process spec %+v: Name, Path, LogPath and RecordDir are required", spec)
	}
	if err := os.MkdirAll(spec.RecordDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	argv := append([]string{spec.Path}, spec.Args...)
	cmd := exec.Command(spec.Path, spec.Args...)
	if spec.NetNS != "" || spec.MountNS != "" {
		// nsenter execs the binary in place: the process started is the
		// binary itself, with the PID recorded.
		cmd = exec.Command("nsenter", append(spec.nsenterArgs(), argv...)...)
	}
	cmd.Env = append(os.Environ(), spec.Env...)
	if spec.Environ != nil {
		cmd.Env = append(slices.Clone(spec.Environ), spec.Env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.NewMountNS {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	if !spec.Detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	p := &Process{Spec: spec, PID: cmd.Process.Pid, Started: time.Now(), cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	for _, cgroup := range spec.Cgroups {
		if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(p.PID)), 0o644); err != nil {
			p.Kill(ctx)
			return nil, fmt.Errorf("%s: moving it into cgroup %s: %w", spec.Name, cgroup, err)
		}
	}
	if err := p.record(argv); err != nil {
		p.Kill(ctx)
		return nil, fmt.Errorf("%s: recording its PID: %w", spec.Name, err)
	}
	klog.FromContext(ctx).Info("Started process", "process", spec.Name, "pid", p.PID, "netns", spec.NetNS, "log", spec.LogPath)
	return p, nil
}

// nsenterArgs are nsenter's arguments that enter spec's namespaces, up to
// and with "--".
func (spec Spec) nsenterArgs() []string {
	var args []string
	if spec.NetNS != "" {
		args = append(args, "--net="+spec.NetNS)
	}
	if spec.MountNS != "" {
		// nsenter opens every namespace before it enters any: the network
		// namespace's path is the harness's, not the node's.
		args = append(args, "--mount="+spec.MountNS)
	}
	return append(args, "--")
}

func (p *Process) record(argv []string) error {
	var cmdline bytes.Buffer
	for _, arg := range argv {
		cmdline.WriteString(arg)
		cmdline.WriteByte(0)
	}
	base := filepath.Join(p.Spec.RecordDir, p.Spec.Name)
	if err := os.WriteFile(base+".cmdline", cmdline.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".pid", []byte(strconv.Itoa(p.PID)+"\n"), 0o644)
}

// forget removes the process's record once it has exited.
func (p *Process) forget() error {
	base := filepath.Join(p.Spec.RecordDir, p.Spec.Name)
	return errors.Join(removeIfExists(base+".pid"), removeIfExists(base+".cmdline"))
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.exited }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.exitErr
	default:
		return false, nil
	}
}

// ExitError says why the process exited, with the end of its log.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.Spec.Name, p.exitErr, p.Spec.LogPath, Tail(p.Spec.LogPath, 15))
}

// Stop stops the process as a service manager would, SIGTERM and SIGKILL
// after StopGrace, waits for it to exit and removes its record. It does
// nothing to a process that has exited but remove the record.
func (p *Process) Stop(ctx context.Context) {
	p.stop(ctx, syscall.SIGTERM)
}

// Kill kills the process with SIGKILL, as a crash or the OOM killer would,
// waits for it to exit and removes its record.
func (p *Process) Kill(ctx context.Context) {
	p.stop(ctx, syscall.SIGKILL)
}

func (p *Process) stop(ctx context.Context, sig syscall.Signal) {
	logger := klog.FromContext(ctx).WithValues("process", p.Spec.Name, "pid", p.PID)
	if exited, _ := p.Exited(); !exited {
		// An error here is a process that exited since: it is waited for
		// all the same, and the record goes only once it has.
		if err := syscall.Kill(-p.PID, sig); err != nil {
			logger.V(2).Info("Could not signal the process", "signal", sig, "err", err)
		}
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			logger.Info("Process did not exit on signal, killing it", "signal", sig, "after", stopGrace)
			if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil {
				logger.Error(err, "Could not kill the process")
			}
			<-p.exited
		}
		logger.V(2).Info("Process exited", "signal", sig, "err", p.exitErr)
	}
	if err := p.forget(); err != nil {
		logger.Error(err, "Could not remove the process's record")
	}
}

// Tail returns the last n lines of a file, or why it cannot.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Usage is what a process has used of the machine.
type Usage struct {
	// CPU is its user and system time so far.
	CPU time.Duration
	// RSSBytes is its resident set size now.
	RSSBytes int64
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// 100 on every Linux architecture Go runs on.
const clockTicks = 100

// Usage reads the process's CPU time and resident set size from /proc.
func (p *Process) Usage() (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %w", p.Spec.Name, err)
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// its closing parenthesis. utime and stime are fields 14 and 15.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return Usage{}, fmt.Errorf("%s: /proc/%d/stat has %d fields after the command", p.Spec.Name, p.PID, len(fields))
	}
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	if err != nil {
		return Usage{}, fmt.Errorf("%s: utime in /proc/%d/stat: %w", p.Spec.Name, p.PID, err)
	}
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	if err != nil {
		return Usage{}, fmt.Errorf("%s: stime in /proc/%d/stat: %w", p.Spec.Name, p.PID, err)
	}
	usage := Usage{CPU: time.Duration(utime+stime) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %w", p.Spec.Name, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return Usage{}, fmt.Errorf("%s: VmRSS in /proc/%d/status: %w", p.Spec.Name, p.PID, err)
			}
			usage.RSSBytes = kb * 1024
			return usage, nil
		}
	}
	return Usage{}, fmt.Errorf("%s: no VmRSS in /proc/%d/status", p.Spec.Name, p.PID)
}
