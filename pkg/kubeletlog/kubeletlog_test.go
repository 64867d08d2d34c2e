package kubeletlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinesAfter(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	if err := os.WriteFile(log, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	offset, err := Offset(log)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("after\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lines, err := LinesAfter(log, offset)
	if err != nil || strings.Join(lines, "|") != "after|" {
		t.Errorf("LinesAfter = %q, %v; want only the line written after the offset", lines, err)
	}
	// A log started anew (a kubelet restarted into the same path) is not
	// the one the offset was taken of.
	if err := os.WriteFile(log, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LinesAfter(log, offset+100); err == nil || !strings.Contains(err.Error(), "is shorter than it was") {
		t.Errorf("LinesAfter of a shorter log: %v, want an error saying so", err)
	}
}
