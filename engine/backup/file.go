package backup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/tree"
)

const dataBlob = pack.Data

// readFile reads, chunks and stores the regular file at path and returns
// its content. Holes of sparse files (fewer blocks than the size implies)
// are found with SEEK_DATA/SEEK_HOLE and recorded, not read. An error of
// the file (open, read) is returned for the caller to skip it; an error of
// the repository is recorded with fail and errAborted returned.
func (a *archiver) readFile(ctx context.Context, path string, st *unix.Stat_t) ([]tree.Extent, uint64, error) {
	f, err := a.opts.openFile(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	regions, err := fileRegions(f, st)
	if err != nil {
		return nil, 0, err
	}
	ch := a.chunkrs.Get().(*chunker.Chunker)
	defer a.chunkrs.Put(ch)
	a.c.filesRead.Add(1)
	b := &contentBuilder{a: a}
	err = b.regions(f, regions, st.Size, func(r io.Reader) error { return b.cutCDC(ctx, ch, r, false) })
	return b.finish(err)
}

// fileRegions returns the data regions of a regular file: all of it, or
// for a sparse one (fewer blocks than its size implies) those
// SEEK_DATA/SEEK_HOLE find.
func fileRegions(f *os.File, st *unix.Stat_t) ([]region, error) {
	if st.Size > 0 && st.Blocks*512 < st.Size {
		return dataRegions(f, st.Size)
	}
	return []region{{0, -1}}, nil
}

// contentBuilder collects a file's content: chunks are hashed and stored
// by the chunk workers while the reader goes on, pieces keeps their order.
type contentBuilder struct {
	a      *archiver
	pieces []piece
	wg     sync.WaitGroup
	off    int64 // bytes of content so far
}

type piece struct {
	task *chunkTask
	hole uint64
}

// hole records n bytes of a hole that was not read.
func (b *contentBuilder) hole(n int64) {
	b.pieces = append(b.pieces, piece{hole: uint64(n)})
	b.a.c.holeBytes.Add(n)
	b.off += n
}

// zeros records n bytes of zeros that were read (image streams) as a hole.
func (b *contentBuilder) zeros(n int64) {
	b.a.c.bytesRead.Add(n)
	b.hole(n)
}

// chunk hands a copy of data to the chunk workers.
func (b *contentBuilder) chunk(ctx context.Context, data []byte) error {
	t := &chunkTask{data: b.a.getBuf(data), wg: &b.wg}
	b.wg.Add(1)
	select {
	case b.a.chunks <- t:
	case <-ctx.Done():
		b.wg.Done()
		return ctx.Err()
	}
	b.pieces = append(b.pieces, piece{task: t})
	b.off += int64(len(data))
	return nil
}

// regions reads the data regions of f (size bytes) with cut, recording
// the gaps between them, and a missing end, as holes.
func (b *contentBuilder) regions(f *os.File, regions []region, size int64, cut func(io.Reader) error) error {
	for _, rg := range regions {
		if rg.off > b.off {
			b.hole(rg.off - b.off)
		}
		var r io.Reader = f
		if rg.n >= 0 {
			r = io.NewSectionReader(f, rg.off, rg.n)
		}
		if err := cut(r); err != nil {
			return err
		}
	}
	// Only a hole is left (a file of holes only has no data region).
	if (len(regions) == 0 || regions[len(regions)-1].n >= 0) && b.off < size {
		b.hole(size - b.off)
	}
	return nil
}

// cutCDC cuts r with the content-defined chunker ch; with zeroHoles,
// chunks of zeros only are recorded as holes.
func (b *contentBuilder) cutCDC(ctx context.Context, ch *chunker.Chunker, r io.Reader, zeroHoles bool) error {
	ch.Reset(r)
	defer ch.Reset(nil)
	for {
		c, err := ch.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if zeroHoles && allZero(c.Data) {
			b.zeros(int64(c.Length))
		} else if err := b.chunk(ctx, c.Data); err != nil {
			return err
		}
	}
}

// cutBlocks cuts r into blocks of block bytes aligned to content offsets
// (a block ends at a multiple of block), recording blocks of zeros as
// holes.
func (b *contentBuilder) cutBlocks(ctx context.Context, r io.Reader, block int, buf []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := block - int(b.off%int64(block))
		k, err := io.ReadFull(r, buf[:n])
		if k > 0 {
			if allZero(buf[:k]) {
				b.zeros(int64(k))
			} else if err := b.chunk(ctx, buf[:k]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// finish waits for the chunk workers and returns the content and its
// length; err is the reader's error.
func (b *contentBuilder) finish(err error) ([]tree.Extent, uint64, error) {
	b.wg.Wait()
	if b.a.fatalErr() != nil {
		return nil, 0, errAborted
	}
	if err != nil {
		return nil, 0, err
	}
	content := make([]tree.Extent, 0, len(b.pieces))
	for _, p := range b.pieces {
		if p.task == nil {
			content = appendHole(content, p.hole)
		} else {
			content = append(content, tree.Extent{ID: p.task.id, Length: uint64(p.task.n)})
		}
	}
	return content, uint64(b.off), nil
}

// allZero reports whether b holds zeros only.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.NativeEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// chunkTask is one chunk for a chunk worker: data (a pooled copy) in, its
// ID out; wg is done when it is stored.
type chunkTask struct {
	data *[]byte
	n    int
	id   fingerprint.ID
	wg   *sync.WaitGroup
}

func (a *archiver) getBuf(b []byte) *[]byte {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = append((*bp)[:0], b...)
	return bp
}

// startChunkWorkers starts Workers goroutines that fingerprint and store
// chunks; stop ends them (idempotent).
func (a *archiver) startChunkWorkers(ctx context.Context) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range a.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case t := <-a.chunks:
					a.storeChunk(ctx, t)
				case <-done:
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func (a *archiver) storeChunk(ctx context.Context, t *chunkTask) {
	defer t.wg.Done()
	data := *t.data
	t.n = len(data)
	if a.fatalErr() == nil {
		t.id = a.store.Sum(data)
		n, err := a.store.PutSize(ctx, dataBlob, t.id, data)
		if err != nil {
			a.fail(fmt.Errorf("store chunk: %w", err))
		} else {
			a.c.bytesRead.Add(int64(t.n))
			if n > 0 {
				a.c.chunksNew.Add(1)
				a.c.bytesNew.Add(int64(t.n))
				a.c.bytesStored.Add(int64(n))
			}
			if h := a.opts.chunkStored; h != nil {
				h()
			}
		}
	}
	a.bufs.Put(t.data)
	t.data = nil
}

func appendHole(es []tree.Extent, n uint64) []tree.Extent {
	if k := len(es); k > 0 && es[k-1].Hole {
		es[k-1].Length += n
		return es
	}
	return append(es, tree.Extent{Hole: true, Length: n})
}

func openNoatime(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) { // O_NOATIME needs ownership or CAP_FOWNER
		f, err = os.Open(path)
	}
	return f, err
}

// region is a data region of a sparse file; n < 0: to the end.
type region struct{ off, n int64 }

// dataRegions lists the data regions of f (size bytes) with SEEK_DATA and
// SEEK_HOLE. A filesystem without them reports the whole file as data.
func dataRegions(f *os.File, size int64) ([]region, error) {
	fd := int(f.Fd())
	var rs []region
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return []region{{0, -1}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("seek data: %w", err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seek hole: %w", err)
		}
		hole = min(hole, size)
		if hole > data {
			rs = append(rs, region{data, hole - data})
		}
		off = hole
	}
	return rs, nil
}
