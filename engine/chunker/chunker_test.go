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

// TestStreamMatchesBoundariesFileParams: with the default bounds the
// buffer holds one largest chunk and a read, so most chunks are cut from
// a partly filled buffer, before the refill that moves the start of the
// next one to the front; every cut must still be the one Boundaries
// makes over the whole stream, for whole and short reads.
func TestStreamMatchesBoundariesFileParams(t *testing.T) {
	data := corpus.Text(11, 24<<20+5)
	c := mustNew(t, FileParams(), Seed{11})
	want := lengths(c.Boundaries(data))
	if len(want) < 12 {
		t.Fatalf("only %d chunks: the test needs many refills", len(want))
	}
	for name, r := range map[string]io.Reader{
		"whole": bytes.NewReader(data),
		"half":  iotest.HalfReader(bytes.NewReader(data)),
		"short": &stutterReader{r: bytes.NewReader(data)},
	} {
		got, err := collect(t, c.NewChunker(r))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(lengths(got)) != fmt.Sprint(want) {
			t.Fatalf("%s: stream lengths %v, want %v", name, lengths(got), want)
		}
		checkChunks(t, c, data, got)
	}
}

// TestChunkEndingAtBufferEnd: a chunk whose cut falls exactly at the end
// of the bytes buffered (Cut then reports the buffer's length, which may
// or may not be a cut) is cut there after the refill, not later.
func TestChunkEndingAtBufferEnd(t *testing.T) {
	data := corpus.Text(5, 4<<20)
	c := mustNew(t, testParams, Seed{5})
	want := lengths(c.Boundaries(data))
	tried := 0
	sum := 0
	for _, n := range want {
		sum += n
		// A buffer of exactly sum bytes (more than one largest chunk, as
		// the Chunker needs) ends where this chunk's cut is.
		if sum <= c.p.Max || n >= c.p.Max || sum > 3*c.p.Max {
			continue
		}
		tried++
		ch := c.NewChunker(bytes.NewReader(data))
		ch.buf = make([]byte, sum)
		got, err := collect(t, ch)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(lengths(got)) != fmt.Sprint(want) {
			t.Fatalf("buffer of %d bytes: stream lengths %v, want %v", sum, lengths(got), want)
		}
	}
	if tried == 0 {
		t.Fatal("no chunk ends where a buffer could")
	}
}
