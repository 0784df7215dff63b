package proc

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

var sink []byte

// TestSelf: this process's CPU time grows while it spins, its peak RSS
// covers a buffer it touched, and a reset brings the peak back down to the
// current RSS once the buffer is returned to the OS.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	before := CPU(pid)
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	if after := CPU(pid); after < before+0.1 {
		t.Errorf("CPU %.2f s after spinning 0.3 s, %.2f s before", after, before)
	}

	base := VmHWM(pid)
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = 1
	}
	peak := VmHWM(pid)
	if peak < base+60<<10 {
		t.Fatalf("VmHWM %d KiB after touching 64 MiB, %d KiB before", peak, base)
	}
	sink = nil
	runtime.GC()
	debugFree()
	if !ResetPeak(pid) {
		t.Fatal("clear_refs refused")
	}
	if got := VmHWM(pid); got > peak-32<<10 {
		t.Errorf("VmHWM %d KiB after the reset, peak was %d KiB", got, peak)
	}
	if CPU(-1) != 0 || VmHWM(-1) != 0 {
		t.Error("a missing process reads as nonzero")
	}
}

func debugFree() { debug.FreeOSMemory() }
