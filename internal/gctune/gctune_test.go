package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	Apply()
	if got := debug.SetGCPercent(100); got != Percent {
		t.Fatalf("GC percent %d after Apply, want %d", got, Percent)
	}
	t.Setenv("GOGC", "100") // the runtime read it at start; Apply leaves it be
	Apply()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d after Apply with GOGC set, want it untouched (100)", got)
	}
}
