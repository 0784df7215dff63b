package backup

import (
	"context"
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
	var regions []region
	if st.Size > 0 && st.Blocks*512 < st.Size {
		if regions, err = dataRegions(f, st.Size); err != nil {
			return nil, 0, err
		}
	} else {
		regions = []region{{0, -1}}
	}
	ch := a.chunkrs.Get().(*chunker.Chunker)
	defer a.chunkrs.Put(ch)
	a.c.filesRead.Add(1)
	// Chunks are hashed and stored by the chunk workers while this
	// goroutine reads on; pieces keeps their order.
	type piece struct {
		task *chunkTask
		hole uint64
	}
	var (
		pieces []piece
		wg     sync.WaitGroup
		off    int64
		rerr   error
	)
	for _, rg := range regions {
		if rg.off > off {
			pieces = append(pieces, piece{hole: uint64(rg.off - off)})
			a.c.holeBytes.Add(rg.off - off)
			off = rg.off
		}
		var r io.Reader = f
		if rg.n >= 0 {
			r = io.NewSectionReader(f, rg.off, rg.n)
		}
		ch.Reset(r)
		for rerr == nil {
			c, err := ch.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rerr = err
				break
			}
			t := &chunkTask{data: a.getBuf(c.Data), wg: &wg}
			wg.Add(1)
			select {
			case a.chunks <- t:
			case <-ctx.Done():
				wg.Done()
				rerr = ctx.Err()
			}
			pieces = append(pieces, piece{task: t})
			off += int64(c.Length)
		}
		if rerr != nil {
			break
		}
	}
	ch.Reset(nil)
	wg.Wait()
	if err := a.fatalErr(); err != nil {
		return nil, 0, errAborted
	}
	if rerr != nil {
		return nil, 0, rerr
	}
	if len(regions) > 0 && regions[len(regions)-1].n >= 0 && off < st.Size {
		pieces = append(pieces, piece{hole: uint64(st.Size - off)})
		a.c.holeBytes.Add(st.Size - off)
		off = st.Size
	}
	content := make([]tree.Extent, 0, len(pieces))
	for _, p := range pieces {
		if p.task == nil {
			content = appendHole(content, p.hole)
		} else {
			content = append(content, tree.Extent{ID: p.task.id, Length: uint64(p.task.n)})
		}
	}
	return content, uint64(off), nil
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
