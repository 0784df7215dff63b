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
	ApplyPercent(AgentPercent)
	if got := debug.SetGCPercent(100); got != AgentPercent {
		t.Fatalf("GC percent %d after ApplyPercent, want %d", got, AgentPercent)
	}
	t.Setenv("GOGC", "100") // the runtime read it at start; Apply leaves it be
	Apply()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d after Apply with GOGC set, want it untouched (100)", got)
	}
}

func TestSetLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	if !SetLimit(VaultLimit(10<<20, 1, 0)) {
		t.Fatal("SetLimit did nothing without GOMEMLIMIT")
	}
	if got := debug.SetMemoryLimit(-1); got != VaultFloor+20<<20 {
		t.Fatalf("limit %d, want %d", got, VaultFloor+20<<20)
	}
	if VaultLimit(0, 0, 0) != VaultFloor || VaultLimit(0, 3, 0) != VaultFloor+2*VaultPerSession || VaultLimit(0, 3, 2) != VaultFloor+2*VaultPerSession+2*VaultPerReader {
		t.Fatalf("limits %d (no session), %d (three), %d (three, two restoring), floor %d", VaultLimit(0, 0, 0), VaultLimit(0, 3, 0), VaultLimit(0, 3, 2), VaultFloor)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	if SetLimit(1<<20) || debug.SetMemoryLimit(-1) != before {
		t.Fatal("SetLimit overrode $GOMEMLIMIT")
	}
}
