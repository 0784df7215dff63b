package chunker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"keep/engine/internal/corpus"
)

// collect reads all chunks from ch, copying their data.
func collect(t testing.TB, ch *Chunker) ([]Chunk, error) {
	t.Helper()
	var out []Chunk
	for {
		c, err := ch.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		c.Data = bytes.Clone(c.Data)
		out = append(out, c)
	}
}

func TestStreamMatchesBoundaries(t *testing.T) {
	data := corpus.Text(7, 5<<20+17)
	c := mustNew(t, testParams, Seed{7})
	want := c.Boundaries(data)
	readers := map[string]func() io.Reader{
		"whole":     func() io.Reader { return bytes.NewReader(data) },
		"one byte":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:300<<10])) },
		"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"data+EOF":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
		"empty+nil": func() io.Reader { return &stutterReader{r: bytes.NewReader(data)} },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := mk()
			got, err := collect(t, c.NewChunker(r))
			if err != nil {
				t.Fatal(err)
			}
			in := data
			if name == "one byte" {
				in = data[:300<<10]
			}
			wantHere := c.Boundaries(in)
			if fmt.Sprint(lengths(got)) != fmt.Sprint(lengths(wantHere)) {
				t.Fatalf("stream lengths %v, want %v", lengths(got), lengths(wantHere))
			}
			checkChunks(t, c, in, got)
		})
	}
	_ = want
}

// stutterReader returns (0, nil) before every real read, and short reads.
type stutterReader struct {
	r    io.Reader
	flip bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.flip = !s.flip; s.flip {
		return 0, nil
	}
	return s.r.Read(p[:min(len(p), 4093)])
}

func TestResetReusesBuffer(t *testing.T) {
	c := mustNew(t, testParams, Seed{8})
	a, b := corpus.Random(8, 1<<20), corpus.Text(8, 1<<20)
	ch := c.NewChunker(bytes.NewReader(a))
	if _, err := collect(t, ch); err != nil {
		t.Fatal(err)
	}
	buf := &ch.buf[0]
	ch.Reset(bytes.NewReader(b))
	got, err := collect(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, b, got)
	if &ch.buf[0] != buf {
		t.Error("Reset reallocated the buffer")
	}
}

func TestReadErrorIsSticky(t *testing.T) {
	boom := errors.New("disk on fire")
	c := mustNew(t, testParams, Seed{9})
	r := io.MultiReader(bytes.NewReader(corpus.Random(9, 100)), iotest.ErrReader(boom))
	ch := c.NewChunker(r)
	for range 2 {
		if _, err := ch.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next() error = %v, want %v", err, boom)
		}
	}
}

func TestNoProgress(t *testing.T) {
	c := mustNew(t, testParams, Seed{10})
	ch := c.NewChunker(iotest.ErrReader(nil)) // always (0, nil)
	if _, err := ch.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("Next() error = %v, want io.ErrNoProgress", err)
	}
}

func TestEmptyStream(t *testing.T) {
	c := mustNew(t, testParams, Seed{11})
	ch := c.NewChunker(bytes.NewReader(nil))
	for range 2 {
		if _, err := ch.Next(); err != io.EOF {
			t.Fatalf("Next() error = %v, want io.EOF", err)
		}
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	c := mustNew(t, testParams, Seed{12})
	data := corpus.Random(12, 4<<20)
	r := bytes.NewReader(data)
	ch := c.NewChunker(r)
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(data)
		ch.Reset(r)
		for {
			if _, err := ch.Next(); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per stream, want 0", allocs)
	}
}
