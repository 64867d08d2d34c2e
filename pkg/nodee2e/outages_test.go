package nodee2e

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

// A spell begins when the node leaves Ready, says what it was (the
// kubelet's False, the controller manager's Unknown), and one still open
// at the end is listed as such.
func TestNodeReadyWatchSpells(t *testing.T) {
	w := &nodeReadyWatch{status: v1.ConditionTrue}
	if got := w.notReadySpells(); got != "never" {
		t.Errorf("before any change: %q, want never", got)
	}
	for _, seen := range []struct {
		status v1.ConditionStatus
		at     float64
	}{
		{v1.ConditionTrue, 1}, {v1.ConditionUnknown, 47}, {v1.ConditionUnknown, 48}, {v1.ConditionFalse, 60},
		{v1.ConditionTrue, 82}, {v1.ConditionTrue, 85}, {v1.ConditionFalse, 90},
	} {
		w.observe(seen.status, seen.at)
	}
	if got, want := w.notReadySpells(), "at 47s-60s (Unknown), 60s-82s (False), 90s (False)"; got != want {
		t.Errorf("spells: %q, want %q", got, want)
	}
}
