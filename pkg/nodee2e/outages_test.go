package nodee2e

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

// The controller manager's Unknown, set when it heard nothing, is told
// apart from the kubelet's own report of a node not Ready.
func TestNotReadySpells(t *testing.T) {
	w := &nodeReadyWatch{spells: []notReadySpell{
		{status: v1.ConditionUnknown, from: 47, to: 82},
		{status: v1.ConditionFalse, from: 90},
	}}
	if got, want := w.notReadySpells(false), "at 47s-82s (Unknown), 90s (False)"; got != want {
		t.Errorf("all spells: %q, want %q", got, want)
	}
	if got, want := w.notReadySpells(true), "at 90s (False)"; got != want {
		t.Errorf("the kubelet's: %q, want %q", got, want)
	}
	w.spells = w.spells[:1]
	if got := w.notReadySpells(true); got != "never" {
		t.Errorf("only the controller manager's Unknown: %q, want never", got)
	}
}
