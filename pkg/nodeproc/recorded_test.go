package nodeproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRecorded starts sleep as hack/e2e.sh starts a component: not this
// package's child in spirit, its output in a file, recorded by hand, with an
// environment of its own. The returned channel gets its Wait's result.
func startRecorded(t *testing.T, dir string) (*exec.Cmd, <-chan error) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, "sleeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("sleep", "300")
	cmd.Env = append(os.Environ(), "NODEPROC_TEST=recorded")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err == nil {
			<-waited
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "sleeper.cmdline"), []byte("sleep\x00300\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sleeper.pid"), []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd, waited
}

func TestFindRecordedKillAndStartAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A cgroup of its own, as containerd's runtime cgroup, where this
	// machine lets the test make one; removed after the process (cleanups
	// run last first).
	var cgroup string
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/sys/fs/cgroup/pids"); err == nil {
			cgroup = fmt.Sprintf("/sys/fs/cgroup/pids/nodeproc-test-%d", os.Getpid())
			if err := os.Mkdir(cgroup, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := os.Remove(cgroup); err != nil {
					t.Errorf("removing %s: %v", cgroup, err)
				}
			})
		}
	}
	cmd, _ := startRecorded(t, dir)
	if cgroup != "" {
		if err := os.WriteFile(cgroup+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if cgroup == "" {
		t.Log("not root or no pids cgroup hierarchy: the cgroup is not checked")
	}

	recorded, err := FindRecorded(dir, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	spec := recorded.Spec
	if recorded.PID != cmd.Process.Pid || spec.Path != "sleep" || !slices.Equal(spec.Args, []string{"300"}) ||
		spec.LogPath != filepath.Join(dir, "sleeper.log") || spec.NetNS != "" || !spec.Detached {
		t.Fatalf("recorded %+v", recorded)
	}
	if !slices.Contains(spec.Environ, "NODEPROC_TEST=recorded") {
		t.Errorf("environment %v lacks the process's own", spec.Environ)
	}
	if cgroup != "" && !slices.Equal(spec.Cgroups, []string{cgroup}) {
		t.Errorf("cgroups %v, want [%s]", spec.Cgroups, cgroup)
	}

	// Kill only reports once the process is dead, and removes the record.
	// Its parent here is the test, which reaps it.
	if err := recorded.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sleeper.*id")); len(left) != 0 {
		t.Errorf("records left after Kill: %v", left)
	}
	if _, err := FindRecorded(dir, "sleeper"); err == nil || !strings.Contains(err.Error(), "no record of sleeper") {
		t.Errorf("FindRecorded after Kill: %v, want no record", err)
	}

	// Started again, it has its own environment, not the harness's.
	t.Setenv("NODEPROC_HARNESS_ONLY", "1")
	again, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop(ctx)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", again.PID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(environ), "NODEPROC_TEST=recorded") {
		t.Error("started again without its environment")
	}
	if strings.Contains(string(environ), "NODEPROC_HARNESS_ONLY") {
		t.Error("started again with the harness's environment")
	}
	if cgroup != "" {
		procs, err := os.ReadFile(cgroup + "/cgroup.procs")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(again.PID)) {
			t.Errorf("started again outside %s (it holds %q)", cgroup, procs)
		}
	}
	if found, err := FindRecorded(dir, "sleeper"); err != nil || found.PID != again.PID {
		t.Errorf("the process started again is not recorded: %+v, %v", found, err)
	}
}

func TestFindRecordedRefusesAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd, _ := startRecorded(t, dir)
	// The number is the recorded one, the program is not: what a PID
	// reused after the recorded process exited looks like.
	if err := os.WriteFile(filepath.Join(dir, "sleeper.cmdline"), []byte("containerd\x00--config\x00x\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindRecorded(dir, "sleeper"); err == nil || !strings.Contains(err.Error(), "no longer runs as recorded") {
		t.Errorf("FindRecorded: %v, want a refusal", err)
	}
	recorded := &Recorded{PID: cmd.Process.Pid, Spec: Spec{Name: "sleeper", RecordDir: dir}}
	if err := recorded.Kill(context.Background()); err == nil {
		t.Error("Kill signalled a process that is not the recorded one")
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Errorf("the other process was hurt: %v", err)
	}
}

func requireRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("not root: %s is not tried", what)
	}
}

func TestKillCgroupKillsItAndBelow(t *testing.T) {
	requireRoot(t, "a cgroup")
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err != nil {
		t.Skip("no pids cgroup hierarchy: a cgroup is not tried")
	}
	top := fmt.Sprintf("/sys/fs/cgroup/pids/nodeproc-kill-%d", os.Getpid())
	below := top + "/below"
	for _, dir := range []string{top, below} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, dir := range []string{below, top} {
			if err := os.Remove(dir); err != nil {
				t.Errorf("removing %s: %v", dir, err)
			}
		}
	})
	var cmds []*exec.Cmd
	waited := make(chan error, 3)
	for _, cgroup := range []string{top, below, ""} {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		go func() { waited <- cmd.Wait() }()
		if cgroup != "" {
			if err := os.WriteFile(cgroup+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	outside := cmds[2]
	defer outside.Process.Kill()
	if err := KillCgroup(context.Background(), top); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-waited:
			if err == nil {
				t.Error("a process of the cgroup exited cleanly: not killed")
			}
		case <-time.After(10 * time.Second):
			for _, cmd := range cmds {
				cmd.Process.Kill()
			}
			t.Fatal("a process of the cgroup still runs 10s after KillCgroup")
		}
	}
	if err := syscall.Kill(outside.Process.Pid, 0); err != nil {
		t.Errorf("a process outside the cgroup was killed: %v", err)
	}
}

func TestUnmountUnderUndoesOnlyWhatIsBelow(t *testing.T) {
	requireRoot(t, "mounting")
	dir := t.TempDir()
	inside, deeper, outside := filepath.Join(dir, "pods", "a volume"), filepath.Join(dir, "pods", "a volume", "deeper"), filepath.Join(dir, "kept")
	for _, path := range []string{inside, outside} {
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(path string) {
		t.Helper()
		if err := syscall.Mount("tmpfs", path, "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
		// Undone whatever the test finds (before t.TempDir's removal, which
		// runs after), so that a failure leaves no mount on the machine.
		// EINVAL or ENOENT: UnmountUnder has undone it, or the one above it.
		t.Cleanup(func() {
			if err := syscall.Unmount(path, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				t.Errorf("unmounting %s: %v", path, err)
			}
		})
	}
	mount(inside)
	if err := os.Mkdir(deeper, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(deeper)
	mount(outside)
	undone, err := UnmountUnder(filepath.Join(dir, "pods"))
	if err != nil {
		t.Fatal(err)
	}
	if undone != 2 {
		t.Errorf("undid %d mounts, want the 2 under pods/ (one with a space in its name)", undone)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mountinfo), filepath.Join(dir, "pods")) {
		t.Error("a mount under pods/ is left")
	}
	if !strings.Contains(string(mountinfo), outside) {
		t.Error("the mount outside pods/ was undone")
	}
}

func TestStopRecordedStopsOnlyWhatRunsAsRecorded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, waited := startRecorded(t, dir)
	// A record whose number another process now has (this test's own),
	// with another cmdline: left alone, its record removed.
	if err := os.WriteFile(filepath.Join(dir, "reused.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reused.cmdline"), []byte("kubelet\x00--v=2\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	stopped, err := StopRecorded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stopped, []string{"sleeper"}) {
		t.Errorf("stopped %v, want [sleeper]", stopped)
	}
	select {
	case err := <-waited:
		// SIGTERM, not SIGKILL: a service manager's stop.
		if status, ok := err.(*exec.ExitError); !ok || status.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("the recorded process ended with %v, want SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the recorded process still runs")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.pid")); len(left) > 0 {
		t.Errorf("records left: %v", left)
	}
}
