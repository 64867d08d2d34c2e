package nodeproc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testSpec(t *testing.T, script string) Spec {
	t.Helper()
	dir := t.TempDir()
	return Spec{
		Name:      "test",
		Path:      "/bin/sh",
		Args:      []string{"-c", script},
		LogPath:   filepath.Join(dir, "test.log"),
		RecordDir: filepath.Join(dir, "records"),
	}
}

// waitLog waits for the process to write text.
func waitLog(t *testing.T, spec Spec, text string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if log, _ := os.ReadFile(spec.LogPath); bytes.Contains(log, []byte(text)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the process never wrote %q", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid names a process that has not been reaped.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestStartRecordsAndStopForgets(t *testing.T) {
	ctx := context.Background()
	spec := testSpec(t, "echo started; exec sleep 100")
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	pidFile, err := os.ReadFile(filepath.Join(spec.RecordDir, "test.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(pidFile)); got != strconv.Itoa(p.PID) {
		t.Errorf("recorded PID %s, started %d", got, p.PID)
	}
	recorded, err := os.ReadFile(filepath.Join(spec.RecordDir, "test.cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	// The record is what a cleanup compares /proc/PID/cmdline with.
	if want := "/bin/sh\x00-c\x00echo started; exec sleep 100\x00"; string(recorded) != want {
		t.Errorf("recorded cmdline %q, want %q", recorded, want)
	}
	waitLog(t, spec, "started")
	p.Stop(ctx)
	if alive(p.PID) {
		t.Errorf("pid %d alive after Stop", p.PID)
	}
	if exited, _ := p.Exited(); !exited {
		t.Error("Exited says the process runs after Stop")
	}
	if left, _ := filepath.Glob(filepath.Join(spec.RecordDir, "*")); len(left) != 0 {
		t.Errorf("records left after Stop: %v", left)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	defer func(g time.Duration) { stopGrace = g }(stopGrace)
	stopGrace = 500 * time.Millisecond
	ctx := context.Background()
	spec := testSpec(t, "trap '' TERM; echo trapped; while true; do sleep 0.1; done")
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The trap must be set before SIGTERM comes.
	waitLog(t, spec, "trapped")
	started := time.Now()
	p.Stop(ctx)
	if took := time.Since(started); took < stopGrace {
		t.Errorf("Stop returned after %v, before the grace of %v: the process did not ignore SIGTERM", took, stopGrace)
	}
	_, err = p.Exited()
	var exit interface{ Sys() any }
	if !errors.As(err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exit %v, want killed by SIGKILL", err)
	}
}

func TestKillIsSIGKILL(t *testing.T) {
	ctx := context.Background()
	// A process that would exit cleanly on SIGTERM.
	p, err := Start(ctx, testSpec(t, "trap 'exit 0' TERM; while true; do sleep 0.1; done"))
	if err != nil {
		t.Fatal(err)
	}
	p.Kill(ctx)
	_, err = p.Exited()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("exit %v, want killed", err)
	}
}

func TestStartFailures(t *testing.T) {
	ctx := context.Background()
	spec := testSpec(t, "true")
	spec.Path = filepath.Join(t.TempDir(), "no-such-binary")
	if _, err := Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "no-such-binary") {
		t.Errorf("missing binary: error %v, want one naming it", err)
	}
	if left, _ := filepath.Glob(filepath.Join(spec.RecordDir, "*")); len(left) != 0 {
		t.Errorf("a failed start left records: %v", left)
	}
	spec = testSpec(t, "true")
	spec.RecordDir = ""
	if _, err := Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "RecordDir") {
		t.Errorf("no record folder: error %v, want one naming RecordDir", err)
	}
}

// The shell's cleanup, for a harness that died before it could stop its
// processes, works from the records alone: ctxfix::stop_recorded stops the
// recorded process, and leaves alone a PID whose cmdline is not the
// recorded one, as after the number was reused.
func TestShellStopsFromRecords(t *testing.T) {
	ctx := context.Background()
	// No exec: that would change the process's cmdline.
	recorded := testSpec(t, "echo started; while true; do sleep 0.1; done")
	p, err := Start(ctx, recorded)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	other := testSpec(t, "exec sleep 101")
	bystander, err := Start(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Stop(ctx)
	// A record whose PID now names another process.
	if err := os.WriteFile(filepath.Join(recorded.RecordDir, "reused.pid"), []byte(strconv.Itoa(bystander.PID)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recorded.RecordDir, "reused.cmdline"), []byte("/usr/bin/etcd\x00--name\x00gone\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, recorded, "started")
	cmd := exec.CommandContext(ctx, "bash", "-c", `set -euo pipefail; source "$1"; ctxfix::stop_recorded "$2"`, "bash",
		filepath.Join("..", "..", "hack", "lib", "common.sh"), recorded.RecordDir)
	cmd.Env = append(os.Environ(), "CTXFIX_OUTPUT="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctxfix::stop_recorded: %v\n%s", err, out)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("pid %d runs after ctxfix::stop_recorded", p.PID)
	}
	if exited, _ := bystander.Exited(); exited {
		t.Errorf("ctxfix::stop_recorded stopped pid %d, whose cmdline is not the recorded one", bystander.PID)
	}
	if left, _ := filepath.Glob(filepath.Join(recorded.RecordDir, "*")); len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	// Busy for a while, then idle: CPU time grows, and memory is resident.
	spec := testSpec(t, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo busy; while true; do sleep 0.1; done")
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	waitLog(t, spec, "busy")
	usage, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if usage.CPU <= 0 || usage.RSSBytes <= 0 {
		t.Errorf("Usage() = %+v, want CPU time and resident memory above 0", usage)
	}
	p.Stop(ctx)
	if _, err := p.Usage(); err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("Usage() of an exited process: %v, want an error naming it", err)
	}
}
