package ntp

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecode feeds the decoder what a server (or anyone on the path)
// may send: decoding never fails on 48 bytes or more, re-encodes to the
// same header, and the checks and measurement never panic.
func FuzzDecode(f *testing.F) {
	now := time.Unix(1800000000, 0)
	f.Add(serverReply(7, now, now).Encode())
	f.Add(make([]byte, 48))
	f.Add([]byte{0x24, 0, 0, 0})
	kod := serverReply(7, now, now)
	kod.Stratum, kod.RefID = 0, [4]byte{'R', 'S', 'T', 'R'}
	f.Add(kod.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if len(b) < PacketSize {
			if err == nil {
				t.Fatal("short packet decoded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Encode(), b[:PacketSize]) {
			t.Fatalf("re-encoding differs:\n% x\n% x", p.Encode(), b[:PacketSize])
		}
		if Check(p, 7) == nil {
			s := Measure("fuzz", p, now, now.Add(time.Millisecond))
			if s.Delay < 0 || s.RootDistance < 0 {
				t.Fatalf("negative delay or distance: %+v", s)
			}
		}
	})
}
