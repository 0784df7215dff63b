package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/tree"
)

// StreamPathPrefix marks a stream in Snapshot.Paths: a stream named N is
// recorded as StreamPathPrefix+N.
const StreamPathPrefix = "stream:"

// ImageAlign is the block image chunks are made of: the filesystem block,
// at which files inside an image start.
const ImageAlign = 4096

// imageChunking is how image streams are cut: content-defined chunks of
// whole ImageAlign blocks with bounds cdc (aligned, the default), fixed
// blocks of block bytes, or byte-wise content-defined chunks with bounds
// cdc (the alternatives the measurement compares).
type imageChunking struct {
	aligned bool
	block   int
	cdc     chunker.Params
	cutter  *chunker.Cutter
}

// defaultImageChunking resolves the measurement seam o (nil: aligned, with
// chunker.ImageParams) against the repository's cutter c.
func defaultImageChunking(c *chunker.Cutter, o *imageChunking) (imageChunking, error) {
	maxChunk := c.Params().Max
	if o == nil {
		o = &imageChunking{aligned: true, cdc: chunker.ImageParams()}
	}
	if o.aligned {
		p := o.cdc
		if p.Max > maxChunk { // a repository of small chunks: scale down
			p.Max = maxChunk / ImageAlign * ImageAlign
			p.Avg = min(p.Avg, 1<<(bits.Len(uint(p.Max/4))-1))
			p.Min = max(ImageAlign, min(p.Min, p.Avg/4))
		}
		if p.Avg/ImageAlign&(p.Avg/ImageAlign-1) != 0 || p.Min%ImageAlign != 0 || p.Avg%ImageAlign != 0 || p.Min < ImageAlign || p.Min >= p.Avg || p.Avg >= p.Max {
			return imageChunking{}, fmt.Errorf("backup: aligned image chunking %v: bounds must be multiples of %d, avg a power of two of them, min < avg < max", p, ImageAlign)
		}
		return imageChunking{aligned: true, cdc: p, cutter: c}, nil
	}
	if o.cdc != (chunker.Params{}) {
		p := o.cdc
		p.Max = min(p.Max, maxChunk)
		cut, err := c.WithParams(p)
		if err != nil {
			return imageChunking{}, fmt.Errorf("backup: image chunking: %w", err)
		}
		return imageChunking{cutter: cut}, nil
	}
	if o.block <= 0 || o.block > maxChunk {
		return imageChunking{}, fmt.Errorf("backup: image block of %d bytes", o.block)
	}
	return imageChunking{block: o.block}, nil
}

// cutImage cuts r (starting at content offset b.off) as an image.
func (a *archiver) cutImage(ctx context.Context, b *contentBuilder, r io.Reader, buf *[]byte) error {
	if a.image.aligned {
		return b.cutAligned(ctx, r, a.image, buf)
	}
	if a.image.cutter != nil {
		return b.cutCDC(ctx, a.image.cutter.NewChunker(nil), r, true)
	}
	if *buf == nil {
		*buf = make([]byte, a.image.block)
	}
	return b.cutBlocks(ctx, r, a.image.block, *buf)
}

// imageEntry adds the Image node of the block device or regular file at
// path (symlinks followed, as /dev/disk/by-id names are) to dl. A regular
// file whose size, times and inode match its Image node in the parent is
// not read; a device always is (its times say nothing of its content).
func (a *archiver) imageEntry(ctx context.Context, dl *dirList, name, path string, pn *tree.Node) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		a.skip(path, fmt.Errorf("stat: %w", err))
		return
	}
	node, err := a.nodeOf(name, path, &st, nil)
	if err != nil {
		a.skip(path, err)
		return
	}
	switch node.Type {
	case tree.File:
	case tree.BlockDev:
		node.Size = 0
	default:
		a.skip(path, fmt.Errorf("image: %v is neither a block device nor a regular file", node.Type))
		return
	}
	regular := node.Type == tree.File
	node.Type = tree.Image
	a.c.files.Add(1)
	job := &fileJob{path: path, rel: name, done: make(chan struct{})}
	dl.add(node, job, path)
	if regular && pn != nil && pn.Type == tree.Image && unchanged(pn, &node) && a.present(pn.Content) {
		a.c.filesUnchanged.Add(1)
		a.c.bytesSeen.Add(int64(pn.Size))
		job.content, job.size = pn.Content, pn.Size
		close(job.done)
		return
	}
	if pn != nil {
		a.c.filesChanged.Add(1)
	} else {
		a.c.filesNew.Add(1)
	}
	a.async(ctx, job, func(release func()) ([]tree.Extent, uint64, error) { return a.readImage(ctx, path, &st, release) })
}

// async runs read for job in another goroutine, at most Workers reading
// at once: read calls release (through contentBuilder.finish) when it has
// handed all its chunks to the chunk workers, so the next file is read
// while this one's chunks are still being stored. A reader that waited
// for its own chunks kept at most Workers small files in flight and left
// the cores idle between them.
func (a *archiver) async(ctx context.Context, job *fileJob, read func(release func()) ([]tree.Extent, uint64, error)) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		job.err = ctx.Err()
		a.fail(job.err)
		close(job.done)
		return
	}
	go func() {
		var once sync.Once
		release := func() { once.Do(func() { <-a.sem }) }
		defer release()
		job.content, job.size, job.err = read(release)
		close(job.done)
	}()
}

// readImage reads the block device or regular file at path whole: a
// device's size is its BLKGETSIZE64, a file's holes are found as for
// files; data is cut as images are (zero blocks become holes).
func (a *archiver) readImage(ctx context.Context, path string, st *unix.Stat_t, release func()) ([]tree.Extent, uint64, error) {
	f, err := a.opts.openFile(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var (
		regions []region
		size    int64
	)
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		if size, err = deviceSize(f); err != nil {
			return nil, 0, err
		}
		regions = []region{{0, size}}
	} else {
		size = st.Size
		if regions, err = fileRegions(f, st); err != nil {
			return nil, 0, err
		}
	}
	a.c.bytesSeen.Add(size)
	a.c.filesRead.Add(1)
	b := &contentBuilder{a: a, release: release}
	var buf []byte
	err = b.regions(f, regions, size, func(r io.Reader) error { return a.cutImage(ctx, b, r, &buf) })
	return b.finish(err)
}

// deviceSize returns a block device's size in bytes (ioctl BLKGETSIZE64).
func deviceSize(f *os.File) (int64, error) {
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return 0, fmt.Errorf("BLKGETSIZE64: %w", e)
	}
	return int64(size), nil
}

// checkStream validates a Stream's name, reader and mode.
func checkStream(s Stream) error {
	if s.Name == "" || s.Name == "." || s.Name == ".." || len(s.Name) > tree.MaxName || strings.ContainsAny(s.Name, "/\x00") {
		return fmt.Errorf("backup: invalid stream name %q", s.Name)
	}
	if s.R == nil {
		return fmt.Errorf("backup: stream %q has no reader", s.Name)
	}
	if s.Mode&^0o7777 != 0 {
		return fmt.Errorf("backup: stream %q: mode %o has bits outside 07777", s.Name, s.Mode)
	}
	return nil
}

// streamEntry adds the node of stream s to dl, read by another goroutine.
func (a *archiver) streamEntry(ctx context.Context, dl *dirList, s Stream) {
	mode := s.Mode
	if mode == 0 {
		mode = 0o600
	}
	mt := s.MTime
	if mt.IsZero() {
		mt = a.start
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	node := tree.Node{
		Name: s.Name, Type: tree.File, Mode: mode, UID: uid, GID: gid,
		User: a.users.user(uid), Group: a.users.group(gid),
		MTime: mt.UnixNano(), CTime: mt.UnixNano(), ATime: mt.UnixNano(), Links: 1,
	}
	if s.Image {
		node.Type = tree.Image
	}
	path := StreamPathPrefix + s.Name
	a.c.files.Add(1)
	a.c.filesNew.Add(1)
	job := &fileJob{path: path, rel: s.Name, done: make(chan struct{})}
	dl.add(node, job, path)
	a.async(ctx, job, func(release func()) ([]tree.Extent, uint64, error) {
		a.c.filesRead.Add(1)
		b := &contentBuilder{a: a, release: release}
		var err error
		if s.Image {
			var buf []byte
			err = a.cutImage(ctx, b, s.R, &buf)
		} else {
			ch := a.getChunker()
			err = b.cutCDC(ctx, ch, s.R, false)
			a.putChunker(ch)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("read stream: %w", err)
		}
		content, size, err := b.finish(err)
		a.c.bytesSeen.Add(int64(size))
		return content, size, err
	})
}

// cutAligned cuts r into content-defined chunks of whole ImageAlign blocks
// (aligned to content offsets): a chunk ends after a block whose keyed
// BlockHash has its top log2(Avg/ImageAlign) bits zero, once it holds Min
// bytes, or at Max. Blocks of zeros are holes and end the chunk before
// them. A file inside an image starts at a block, so copies of it dedupe
// wherever they lie (fixed 64 KiB blocks deduped only copies at the same
// offset modulo 64 KiB), and an in-place write dirties the chunks holding
// its blocks, plus a neighbour when it changes a cut decision.
func (b *contentBuilder) cutAligned(ctx context.Context, r io.Reader, ic imageChunking, buf *[]byte) error {
	p := ic.cdc
	if len(*buf) < p.Max {
		*buf = make([]byte, p.Max)
	}
	c, n := (*buf)[:p.Max], 0
	shift := 64 - (bits.Len(uint(p.Avg/ImageAlign)) - 1)
	emit := func() error {
		if n == 0 {
			return nil
		}
		err := b.chunk(ctx, c[:n])
		n = 0
		return err
	}
	br := bufio.NewReaderSize(r, 1<<20) // whole-block reads without a syscall each
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := ImageAlign - int((b.off+int64(n))%ImageAlign)
		k, err := io.ReadFull(br, c[n:n+want])
		if k > 0 {
			if blk := c[n : n+k]; allZero(blk) {
				if err := emit(); err != nil {
					return err
				}
				b.zeros(int64(k))
			} else {
				n += k
				if n+ImageAlign > p.Max || (n >= p.Min && k == ImageAlign && ic.cutter.BlockHash(blk)>>shift == 0) {
					if err := emit(); err != nil {
						return err
					}
				}
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return emit()
		}
		if err != nil {
			return err
		}
	}
}
