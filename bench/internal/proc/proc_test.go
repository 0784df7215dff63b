package proc

import (
	"io"
	"net"
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

// TestLoopbackBytes: the loopback's receive counter is parsed from
// /proc/net/dev and grows by what crosses 127.0.0.1.
func TestLoopbackBytes(t *testing.T) {
	text := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 271816460028 21125498    0    0    0     0          0         0 271816460028 21125498    0    0    0     0       0          0
  eth0:   12345      10    0    0    0     0          0         0    999       9    0    0    0     0       0          0
`
	if got := netDevRx(text, "lo"); got != 271816460028 {
		t.Errorf("lo: %d", got)
	}
	if got := netDevRx(text, "eth0"); got != 12345 {
		t.Errorf("eth0: %d", got)
	}
	if got := netDevRx(text, "wan"); got != 0 {
		t.Errorf("absent interface: %d", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before := LoopbackBytes()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Write(make([]byte, 1<<20))
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, c)
	if after := LoopbackBytes(); n != 1<<20 || after-before < 1<<20 {
		t.Errorf("received %d bytes over 127.0.0.1; the loopback counter grew by %d", n, after-before)
	}
}
