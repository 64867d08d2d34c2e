package nodeproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Recorded is a running process that another program started and recorded
// in a RecordDir, as this package records (hack/e2e.sh's control plane and
// runtime): enough to kill it as a crash would and to start it again as it
// ran.
type Recorded struct {
	PID int
	// Spec starts the process again: its argv, environment, output file,
	// network namespace and cgroups, read from /proc while it ran. Detached
	// is set: the process started again must outlive the harness as the
	// first one did, and is stopped by its record.
	Spec Spec
}

// FindRecorded reads the record NAME in recordDir and what /proc says of the
// process it names. It fails if the process no longer runs, or if its
// cmdline is not the one recorded (another process with the same number).
func FindRecorded(recordDir, name string) (*Recorded, error) {
	base := filepath.Join(recordDir, name)
	pidText, err := os.ReadFile(base + ".pid")
	if err != nil {
		return nil, fmt.Errorf("no record of %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return nil, fmt.Errorf("record %s.pid: %w", base, err)
	}
	cmdline, err := os.ReadFile(base + ".cmdline")
	if err != nil {
		return nil, fmt.Errorf("no record of %s: %w", name, err)
	}
	if !runsAsRecorded(pid, cmdline) {
		return nil, fmt.Errorf("%s (pid %d) no longer runs as recorded in %s.cmdline", name, pid, base)
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	env := []string{}
	if len(environ) > 0 {
		env = strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00")
	}
	logPath, err := os.Readlink(proc + "/fd/1")
	if err != nil {
		return nil, fmt.Errorf("%s: its output: %w", name, err)
	}
	if !filepath.IsAbs(logPath) {
		return nil, fmt.Errorf("%s writes its output to %s, not to a file: it could not be started again with the same output", name, logPath)
	}
	netns, err := netnsOf(pid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cgroups, err := ownCgroups(pid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Recorded{PID: pid, Spec: Spec{
		Name: name, Path: argv[0], Args: argv[1:], Environ: env, NetNS: netns,
		LogPath: logPath, RecordDir: recordDir, Cgroups: cgroups, Detached: true,
	}}, nil
}

// runsAsRecorded reports whether pid runs with the recorded cmdline. A
// zombie's cmdline is empty.
func runsAsRecorded(pid int, cmdline []byte) bool {
	current, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Equal(current, cmdline)
}

// Kill kills the process with SIGKILL, only it and not its process group
// (a shell's background jobs share the shell's), as a crash would, waits
// until it no longer runs and removes its record.
func (r *Recorded) Kill(ctx context.Context) error {
	base := filepath.Join(r.Spec.RecordDir, r.Spec.Name)
	cmdline, err := os.ReadFile(base + ".cmdline")
	if err != nil {
		return err
	}
	if !runsAsRecorded(r.PID, cmdline) {
		return fmt.Errorf("%s (pid %d) no longer runs as recorded", r.Spec.Name, r.PID)
	}
	if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
		return fmt.Errorf("%s (pid %d): %w", r.Spec.Name, r.PID, err)
	}
	// Not this program's child: it is gone once its parent reaps it, or
	// dead as a zombie with an empty cmdline until then.
	for deadline := time.Now().Add(10 * time.Second); runsAsRecorded(r.PID, cmdline); {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) still runs 10s after SIGKILL", r.Spec.Name, r.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	klog.FromContext(ctx).Info("Killed recorded process", "process", r.Spec.Name, "pid", r.PID)
	return errors.Join(removeIfExists(base+".pid"), removeIfExists(base+".cmdline"))
}

// netnsOf names the network namespace pid runs in: empty for this
// program's, or the /run/netns entry that holds it.
func netnsOf(pid int) (string, error) {
	same := func(a, b string) (bool, error) {
		var sa, sb syscall.Stat_t
		if err := syscall.Stat(a, &sa); err != nil {
			return false, err
		}
		if err := syscall.Stat(b, &sb); err != nil {
			return false, err
		}
		return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
	}
	ns := fmt.Sprintf("/proc/%d/ns/net", pid)
	if ok, err := same(ns, "/proc/self/ns/net"); err != nil || ok {
		return "", err
	}
	named, err := filepath.Glob("/run/netns/*")
	if err != nil {
		return "", err
	}
	for _, path := range named {
		if ok, err := same(ns, path); err == nil && ok {
			return path, nil
		}
	}
	return "", fmt.Errorf("pid %d runs in a network namespace that is neither this program's nor one under /run/netns", pid)
}

// ownCgroups lists the cgroup folders pid was put in, beyond those it
// shares with this program: the ones to join again when it is started
// again.
func ownCgroups(pid int) ([]string, error) {
	mine, err := cgroupsOf("self")
	if err != nil {
		return nil, err
	}
	theirs, err := cgroupsOf(strconv.Itoa(pid))
	if err != nil {
		return nil, err
	}
	var own []string
	for hierarchy, path := range theirs {
		if mine[hierarchy] == path {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", hierarchy, path)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("pid %d is in cgroup %s:%s, which is not at %s: %w", pid, hierarchy, path, dir, err)
		}
		own = append(own, dir)
	}
	return own, nil
}

// cgroupsOf maps each cgroup hierarchy of /proc/PID/cgroup, by the folder it
// is mounted at under /sys/fs/cgroup, to the process's cgroup in it.
func cgroupsOf(pid string) (map[string]string, error) {
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return nil, err
	}
	cgroups := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// ID:CONTROLLERS:PATH; "0::PATH" is the unified hierarchy, and
		// "name=systemd" is mounted as "systemd".
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			return nil, fmt.Errorf("/proc/%s/cgroup: line %q", pid, line)
		}
		hierarchy := strings.TrimPrefix(fields[1], "name=")
		if hierarchy == "" {
			// Beside v1 hierarchies, v2 is mounted at unified; alone, at
			// the top.
			if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
				hierarchy = "unified"
			}
		}
		cgroups[hierarchy] = fields[2]
	}
	return cgroups, nil
}

// KillCgroup kills every process in cgroup, a cgroup folder, and in the
// cgroups below it, with SIGKILL, and waits until none is left: what a power
// cut does to the processes a runtime started.
func KillCgroup(ctx context.Context, cgroup string) error {
	for deadline := time.Now().Add(10 * time.Second); ; {
		pids, err := CgroupPIDs(cgroup)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still holds %d processes 10s after SIGKILL", cgroup, len(pids))
		}
		for _, pid := range pids {
			// A process that exited since it was listed is what is wanted.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("killing pid %d of cgroup %s: %w", pid, cgroup, err)
			}
		}
		klog.FromContext(ctx).V(2).Info("Killed a cgroup's processes", "cgroup", cgroup, "pids", len(pids))
		time.Sleep(50 * time.Millisecond)
	}
}

// CgroupPIDs lists the processes of cgroup and of the cgroups below it. A
// cgroup that goes away while it is read held nothing more.
func CgroupPIDs(cgroup string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(cgroup, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, field := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

// MountsUnder lists the mounts at or below the folders roots, the deepest
// first.
func MountsUnder(roots ...string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces and the like escaped as
		// octal.
		point := unescapeMountPoint(fields[4])
		for _, root := range roots {
			if point == root || strings.HasPrefix(point, strings.TrimSuffix(root, "/")+"/") {
				points = append(points, point)
				break
			}
		}
	}
	// Deepest first: a mount below another goes before it.
	slices.SortStableFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return points, nil
}

// UnmountUnder undoes every mount at or below the folders roots, the
// deepest first, as a reboot does: lazily, as a busy mount is what a crash
// leaves. It returns how many it undid, and fails if any is left.
func UnmountUnder(roots ...string) (int, error) {
	points, err := MountsUnder(roots...)
	if err != nil {
		return 0, err
	}
	undone := 0
	for _, point := range points {
		if err := syscall.Unmount(point, syscall.MNT_DETACH); err != nil {
			// A mount below one already detached went with it.
			if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOENT) {
				continue
			}
			return undone, fmt.Errorf("unmounting %s: %w", point, err)
		}
		undone++
	}
	left, err := MountsUnder(roots...)
	if err != nil {
		return undone, err
	}
	if len(left) > 0 {
		return undone, fmt.Errorf("%d mounts still under %v after unmounting, the first %s", len(left), roots, left[0])
	}
	return undone, nil
}

// unescapeMountPoint undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPoint(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// StopRecorded stops every process recorded in recordDir, the newest record
// first, as Stop stops its own: SIGTERM, SIGKILL after StopGrace. It is how
// a harness takes down what another run of it started and left running (a
// cluster left up). Only a process whose cmdline is still the recorded one
// is signalled, and only it; every record is removed. It returns the names
// it stopped.
func StopRecorded(ctx context.Context, recordDir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(recordDir, "*.pid"))
	if err != nil {
		return nil, err
	}
	type record struct {
		name    string
		modTime time.Time
	}
	var records []record
	for _, m := range matches {
		info, err := os.Stat(m)
		if err != nil {
			return nil, err
		}
		records = append(records, record{strings.TrimSuffix(filepath.Base(m), ".pid"), info.ModTime()})
	}
	slices.SortStableFunc(records, func(a, b record) int { return b.modTime.Compare(a.modTime) })
	var stopped []string
	var errs []error
	for _, r := range records {
		base := filepath.Join(recordDir, r.name)
		pidText, err := os.ReadFile(base + ".pid")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
		if err != nil {
			errs = append(errs, fmt.Errorf("record %s.pid: %w", base, err))
			continue
		}
		cmdline, err := os.ReadFile(base + ".cmdline")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if runsAsRecorded(pid, cmdline) {
			if err := stopPID(ctx, r.name, pid, cmdline); err != nil {
				errs = append(errs, err)
				continue
			}
			stopped = append(stopped, r.name)
		}
		errs = append(errs, removeIfExists(base+".pid"), removeIfExists(base+".cmdline"))
	}
	return stopped, errors.Join(errs...)
}

// stopPID sends SIGTERM to pid, and SIGKILL after StopGrace, and waits until
// it no longer runs as recorded.
func stopPID(ctx context.Context, name string, pid int, cmdline []byte) error {
	logger := klog.FromContext(ctx).WithValues("process", name, "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s (pid %d): %w", name, pid, err)
	}
	deadline := time.Now().Add(stopGrace)
	for runsAsRecorded(pid, cmdline) {
		if time.Now().After(deadline) {
			logger.Info("Process did not exit on SIGTERM, killing it", "after", stopGrace)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("%s (pid %d): %w", name, pid, err)
			}
			deadline = time.Now().Add(10 * time.Second)
			for runsAsRecorded(pid, cmdline) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s (pid %d) still runs 10s after SIGKILL", name, pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	logger.Info("Stopped recorded process")
	return nil
}
