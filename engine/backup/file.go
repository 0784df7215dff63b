package backup

import (
	"bytes"
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

// A file that changes while it is read (its size, mtime or ctime differ
// between an fstat right after the open and one after the last byte) is
// read again, up to maxRereads times if it is at most rereadBelow bytes;
// a larger one, or one still changing, is stored as read and reported as
// a skipped item ("incompletely in" the snapshot), and since its node
// keeps the times from before that read, the next backup reads it again.
// A file changed between the walk's lstat and the open is read once, its
// node taking the times of the open.
const (
	maxRereads  = 2
	rereadBelow = 64 << 20
)

// readFile reads, chunks and stores the regular file at path and returns
// its content. Holes of sparse files (fewer blocks than the size implies)
// are found with SEEK_DATA/SEEK_HOLE and recorded, not read. An error of
// the file (open, read) is returned for the caller to skip it; an error of
// the repository is recorded with fail and errAborted returned. When the
// file's metadata at the open differs from st (the walk's lstat), job.meta
// has the open's, which is what the content is of.
//
// release is called once the file is read and closed (see async).
func (a *archiver) readFile(ctx context.Context, path string, st *unix.Stat_t, job *fileJob, release func()) ([]tree.Extent, uint64, error) {
	latest := st.Size // the size the file was last seen with
	for attempt := 0; ; attempt++ {
		var before, after unix.Stat_t
		last := attempt == maxRereads || latest > a.opts.rereadBelow
		rel := release
		if !last {
			rel = nil // held until the content is final
		}
		content, size, err := a.readFileOnce(ctx, path, attempt == 0, &before, &after, rel)
		if err != nil {
			return nil, 0, err
		}
		if !sameContent(&before, st) {
			m := before
			job.meta = &m
		} else {
			job.meta = nil
		}
		if sameContent(&before, &after) {
			return content, size, nil
		}
		if last {
			times := ""
			if attempt > 0 {
				times = fmt.Sprintf(" each of the %d times", attempt+1)
			}
			a.skip(path, fmt.Errorf("changed while it was read%s: stored as read, possibly inconsistent; the next backup reads it again", times))
			return content, size, nil
		}
		latest = after.Size
	}
}

// sameContent reports whether two stats of a file say its content is the
// same: size, mtime and ctime.
func sameContent(x, y *unix.Stat_t) bool {
	return x.Size == y.Size && x.Mtim == y.Mtim && x.Ctim == y.Ctim && x.Ino == y.Ino
}

// fstat fills st with f's fstat, through SyscallConn: f.Fd would put a
// descriptor the runtime polls back into blocking mode.
func fstat(f *os.File, st *unix.Stat_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), st) }); err != nil {
		return err
	}
	return serr
}

// readFileOnce is one read of readFile (first: the first, which counts
// the file as read): it fills before and after with fstats of the open
// file taken before and after reading it.
func (a *archiver) readFileOnce(ctx context.Context, path string, first bool, before, after *unix.Stat_t, release func()) ([]tree.Extent, uint64, error) {
	f, err := a.opts.openFile(path)
	if err != nil {
		return nil, 0, err
	}
	if err := fstat(f, before); err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("fstat: %w", err)
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = f.Close()
		return nil, 0, fmt.Errorf("no longer a regular file (replaced since it was listed)")
	}
	if a.opts.duringRead != nil {
		a.opts.duringRead(path)
	}
	closeF := func() error {
		serr := fstat(f, after)
		_ = f.Close() // read only: nothing to lose
		if serr != nil {
			return fmt.Errorf("fstat: %w", serr)
		}
		return nil
	}
	regions, err := fileRegions(f, before)
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	if first {
		a.c.filesRead.Add(1)
	}
	b := &contentBuilder{a: a, release: release}
	if len(regions) == 1 && regions[0] == (region{0, -1}) && a.small(before.Size) {
		var more []byte
		more, err = b.readSmall(ctx, f, before.Size)
		if more == nil {
			if cerr := closeF(); err == nil {
				err = cerr
			}
			return b.finish(err)
		}
		// The file grew past one chunk: chunk what was read and the rest.
		ch := a.getChunker()
		err = b.cutCDC(ctx, ch, io.MultiReader(bytes.NewReader(more), f), false)
		a.putChunker(ch)
		if cerr := closeF(); err == nil {
			err = cerr
		}
		return b.finish(err)
	}
	ch := a.getChunker()
	err = b.regions(f, regions, before.Size, func(r io.Reader) error { return b.cutCDC(ctx, ch, r, false) })
	a.putChunker(ch)
	if cerr := closeF(); err == nil {
		err = cerr
	}
	return b.finish(err)
}

// small reports whether a file of size bytes is one chunk (the chunker
// never cuts below Min) that fits a recycled buffer.
func (a *archiver) small(size int64) bool {
	k, _ := bufClass(int(size) + 1)
	return size <= int64(a.cutter.Params().Min) && k >= 0
}

// readSmall reads a file of size bytes that is one chunk straight into
// the chunk's buffer: no chunker, no copy (most files of a file server are
// this small). It reads one byte more than size to see the end; if the
// file has grown past Min since its lstat, it returns what it read, for
// the caller to chunk with the rest, and has recorded nothing.
func (b *contentBuilder) readSmall(ctx context.Context, f *os.File, size int64) (more []byte, err error) {
	bp := b.a.newBuf(int(size) + 1)
	buf := (*bp)[:size+1]
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		// Full: the file has grown and may go on; not one chunk
		// necessarily. (buf is not recycled: the caller reads it.)
		return buf[:n], nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// n bytes, at most Min: the one chunk the chunker would cut.
		if n == 0 {
			b.a.putBuf(bp)
			return nil, nil
		}
		*bp = buf[:n]
		return nil, b.submit(ctx, bp)
	default:
		b.a.putBuf(bp)
		return nil, err
	}
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
	a       *archiver
	pieces  []piece
	wg      sync.WaitGroup
	off     int64  // bytes of content so far
	release func() // if set, called by finish before it waits
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
	return b.submit(ctx, b.a.getBuf(data))
}

// submit hands the chunk *bp (a buffer from getBuf or newBuf, theirs from
// now on) to the chunk workers.
func (b *contentBuilder) submit(ctx context.Context, bp *[]byte) error {
	n := len(*bp)
	t := &chunkTask{data: bp, wg: &b.wg}
	b.wg.Add(1)
	select {
	case b.a.chunks <- t:
	case <-ctx.Done():
		b.wg.Done()
		b.a.putBuf(bp)
		return ctx.Err()
	}
	b.pieces = append(b.pieces, piece{task: t})
	b.off += int64(n)
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
	if b.release != nil {
		b.release()
	}
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

// Chunk copies are recycled by size class (16 KiB·2^k and 24 KiB·2^k):
// with one pool, every buffer grew to the largest chunk it ever held, and
// the chunks in flight (up to about 4×Workers) each pinned a Max-sized
// buffer, small files included. Half steps waste at most a third of a
// buffer instead of half (a 1.1 MiB chunk takes 1.5 MiB, not 2).
const (
	minBufClass   = 14 // 16 KiB
	numBufClasses = 17 // up to 4 MiB (the default Max); larger ones are not recycled
)

// bufClass returns the class of a buffer for n bytes and its capacity, or
// -1 for a length no class holds.
func bufClass(n int) (int, int) {
	for k := range numBufClasses {
		c := 1 << (minBufClass + k/2) // even k
		if k%2 == 1 {
			c += c / 2
		}
		if n <= c {
			return k, c
		}
	}
	return -1, n
}

func (a *archiver) getBuf(b []byte) *[]byte {
	bp := a.newBuf(len(b))
	*bp = append((*bp)[:0], b...)
	return bp
}

// newBuf returns an empty buffer for at least n bytes.
func (a *archiver) newBuf(n int) *[]byte {
	k, c := bufClass(n)
	var bp *[]byte
	if k >= 0 {
		select {
		case bp = <-a.bufs[k]:
			a.bufFree.Add(-int64(cap(*bp)))
		default:
		}
	}
	if bp == nil {
		bp = new([]byte)
		*bp = make([]byte, 0, c)
	}
	*bp = (*bp)[:0]
	return bp
}

func (a *archiver) putBuf(bp *[]byte) {
	k, c := bufClass(cap(*bp))
	if k < 0 || c != cap(*bp) {
		return
	}
	// The free lists hold at most bufFreeMax bytes in all.
	if a.bufFree.Add(int64(c)) > bufFreeMax {
		a.bufFree.Add(-int64(c))
		return
	}
	select {
	case a.bufs[k] <- bp:
	default:
		a.bufFree.Add(-int64(c))
	}
}

// bufFreeMax bounds the bytes of free chunk copies kept for reuse: about
// what the chunks in flight need with 1 MiB average chunks.
const bufFreeMax = 8 << 20

// getChunker and putChunker recycle chunkers (each holds a buffer of the
// largest chunk and a 1 MiB read).
func (a *archiver) getChunker() *chunker.Chunker {
	select {
	case ch := <-a.chunkrs:
		return ch
	default:
		return a.cutter.NewChunker(nil)
	}
}

func (a *archiver) putChunker(ch *chunker.Chunker) {
	select {
	case a.chunkrs <- ch:
	default:
	}
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
		var (
			n   int
			err error
		)
		if sp, ok := a.store.(sumPutter); ok {
			t.id, n, err = sp.SumPut(ctx, dataBlob, data)
		} else {
			t.id = a.store.Sum(data)
			n, err = a.store.PutSize(ctx, dataBlob, t.id, data)
		}
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
	a.putBuf(t.data)
	t.data = nil
}

// sumPutter is a Store that fingerprints and stores in one call, hashing
// each new chunk once (engine/repo's Repo; the agent's remote store is
// not one).
type sumPutter interface {
	SumPut(ctx context.Context, t pack.BlobType, data []byte) (fingerprint.ID, int, error)
}

func appendHole(es []tree.Extent, n uint64) []tree.Extent {
	if k := len(es); k > 0 && es[k-1].Hole {
		es[k-1].Length += n
		return es
	}
	return append(es, tree.Extent{Hole: true, Length: n})
}

// openNoatime opens path for reading without updating its atime. It
// calls open(2) itself and wraps the descriptor with os.NewFile, which
// costs one fcntl: os.OpenFile tries to register every regular file with
// the runtime's poller, an epoll_ctl that fails and four fcntl calls per
// file (330k needless system calls for the benchmark's 61k files).
func openNoatime(path string) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOATIME
	for {
		fd, err := unix.Open(path, flags, 0)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case err == unix.EINTR:
		case err == unix.EPERM && flags&unix.O_NOATIME != 0:
			flags &^= unix.O_NOATIME // it needs ownership or CAP_FOWNER
		default:
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
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
