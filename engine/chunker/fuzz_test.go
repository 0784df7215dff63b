package chunker

import (
	"bytes"
	"fmt"
	"testing"
	"testing/iotest"
)

// FuzzChunker: for arbitrary data and parameters, New either rejects the
// parameters or the chunks tile the input within bounds, and streaming
// (with short reads) cuts exactly where Boundaries does.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("hello world"), uint16(64), uint8(8), uint16(1024), byte(0))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(100), uint8(9), uint16(700), byte(1))
	f.Add(bytes.Repeat([]byte("abcdefgh"), 2000), uint16(64), uint8(8), uint16(257), byte(2))
	f.Fuzz(func(t *testing.T, data []byte, minSize uint16, avgLog uint8, maxSize uint16, seed byte) {
		p := Params{Min: int(minSize), Avg: 1 << (avgLog % 20), Max: int(maxSize)}
		c, err := New(p, Seed{seed})
		if err != nil {
			if p.Validate() == nil {
				t.Fatalf("New(%v) failed but Validate passed: %v", p, err)
			}
			return
		}
		want := c.Boundaries(data)
		checkChunks(t, c, data, want)
		got, err := collect(t, c.NewChunker(iotest.HalfReader(bytes.NewReader(data))))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(lengths(got)) != fmt.Sprint(lengths(want)) {
			t.Fatalf("stream %v, Boundaries %v", lengths(got), lengths(want))
		}
	})
}
