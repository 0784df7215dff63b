package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// Options describe one backup. The zero value (with Hostname) is a full
// backup.
type Options struct {
	Hostname string
	Client   string
	Tags     []string
	// Parent makes the backup incremental: files whose size, mtime,
	// ctime and inode match their node in Parent are not read; their
	// content is taken from it.
	Parent *snapshot.Snapshot
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Progress, if set, is called every ProgressInterval (default 1 s)
	// from another goroutine, and once at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// Workers is how many files are read at once; zero: GOMAXPROCS.
	Workers int

	// Exclude and Include are gitignore-like globs (see the package
	// doc) matched against each item's absolute path below the given
	// paths: an item is left out when an exclude pattern matches it and
	// no include pattern does. An excluded directory is not descended
	// into. Presets adds named exclusion sets (PresetSystem).
	Exclude, Include, Presets []string
	// Streams are byte streams (stdin) each backed up as one node of the
	// root tree.
	Streams []Stream
	// Images are paths of block devices or files backed up whole as
	// image streams (tree.Image nodes of the root tree, named by their
	// last element), cut into block-aligned chunks and with zero blocks
	// as holes.
	Images []string

	// imageChunking, a measurement seam, overrides how images are cut.
	imageChunking *imageChunking

	// beforeCommit, a test hook, runs after the trees are stored and
	// before the snapshot is committed; an error aborts the backup.
	beforeCommit func() error
	// chunkStored, a test hook, runs after each chunk a worker stored.
	chunkStored func()
	// openFile, a test seam, opens regular files for reading; nil:
	// openNoatime.
	openFile func(path string) (*os.File, error)
	// duringRead, a test hook, runs after a regular file is opened and
	// fstat'ed, before it is read.
	duringRead func(path string)
	// rereadBelow, a test seam, overrides the size up to which a file
	// that changed while read is read again (0: rereadBelow).
	rereadBelow int64
	// readMeta, a test hook, runs before an entry's xattrs (and a
	// symlink's target) are read rather than taken from the parent.
	readMeta func(path string)
}

// Progress is a running count.
type Progress struct {
	Files, Dirs int64
	BytesSeen   int64 // file sizes of the files seen
	BytesRead   int64 // bytes read from files
	BytesNew    int64 // plaintext stored
	Elapsed     time.Duration
	Rate        float64 // bytes seen per second
}

// Skipped is an item left out of (or incompletely in) the snapshot after
// an error on it alone.
type Skipped struct {
	Path   string
	Reason string
}

// Result is a committed backup.
type Result struct {
	Snapshot *snapshot.Snapshot
	Skipped  []Skipped
	// Excluded counts the items left out by Exclude and Presets (an
	// excluded directory counts once, its contents are not visited);
	// ExcludedBytes sums the sizes of excluded regular files;
	// ExcludedPaths lists the first MaxExcludedListed of them.
	Excluded      int64
	ExcludedBytes int64
	ExcludedPaths []string
}

// MaxExcludedListed caps Result.ExcludedPaths.
const MaxExcludedListed = 1000

// Stream is a byte stream backed up as a regular-file-like node: a File
// (or, with Image, an Image node cut as images are) named Name in the root
// tree, with the given mode bits (zero: 0600), mtime (zero: the backup's
// start) and owner (the process's). A read error skips it like an
// unreadable file.
type Stream struct {
	Name  string
	R     io.Reader
	Mode  uint32
	MTime time.Time
	Image bool
}

// Store is what a backup needs of the repository.
type Store interface {
	tree.Putter
	tree.Getter
	Has(t pack.BlobType, id fingerprint.ID) bool
	Cutter() (*chunker.Cutter, error)
	snapshot.Committer
}

var _ Store = (*repo.Repo)(nil)

// Run backs up paths (each becomes a node of the snapshot's root tree,
// named by its last element) into r and commits the snapshot. Errors on
// single items are recorded in Result.Skipped; an error from the
// repository or the context aborts the backup, leaving no snapshot.
func Run(ctx context.Context, r Store, paths []string, opts Options) (*Result, error) {
	a, err := newArchiver(r, opts)
	if err != nil {
		return nil, err
	}
	// The repository counts the exact stored bytes of what this backup
	// adds (bundled chunks are sealed after their Put returns).
	return a.run(repo.WithTally(ctx, &a.tally), paths)
}

type archiver struct {
	tally   repo.Tally // stored bytes, when the store is a repo.Repo
	store   Store
	opts    Options
	cutter  *chunker.Cutter
	saver   *tree.Saver
	sem     chan struct{}               // one token per file being read
	treeSem chan struct{}               // one token per tree being stored
	chunks  chan *chunkTask             // to the chunk workers
	bufs    [numBufClasses]chan *[]byte // free chunk copies by size class (getBuf)
	start   time.Time
	bufFree atomic.Int64          // bytes in bufs
	chunkrs chan *chunker.Chunker // free chunkers (getChunker)
	users   *owners

	c counters

	mu       sync.Mutex
	skipped  []Skipped
	fatal    error
	links    map[inodeKey]*fileJob // first name of each multiply linked file
	hasTrees bool
	excluded []string

	filter *filter
	image  imageChunking

	parents treePrefetch // parent trees read ahead (prefetch.go)
}

type counters struct {
	files, dirs, bytesSeen, filesNew, filesChanged, filesUnchanged atomic.Int64
	filesRead, bytesRead, holeBytes, chunksNew, bytesNew           atomic.Int64
	bytesStored, skipped, excluded, excludedBytes                  atomic.Int64
}

type inodeKey struct{ dev, ino uint64 }

func newArchiver(r Store, opts Options) (*archiver, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.openFile == nil {
		opts.openFile = openNoatime
	}
	if opts.rereadBelow == 0 {
		opts.rereadBelow = rereadBelow
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}
	c, err := r.Cutter()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	a := &archiver{
		store: r, opts: opts, cutter: c, saver: &tree.Saver{Store: r},
		sem: make(chan struct{}, opts.Workers), treeSem: make(chan struct{}, opts.Workers), chunks: make(chan *chunkTask, opts.Workers),
		links: map[inodeKey]*fileJob{},
		users: newOwners(),
	}
	// Free lists, not sync.Pools: the garbage collector empties a pool
	// at every cycle, and reallocating these multi-MiB buffers made
	// garbage that raised the peak RSS by far more than they hold.
	a.chunkrs = make(chan *chunker.Chunker, opts.Workers+1)
	for k := range a.bufs {
		a.bufs[k] = make(chan *[]byte, 4*opts.Workers+2)
	}
	if a.filter, err = newFilter(opts.Exclude, opts.Include, opts.Presets); err != nil {
		return nil, err
	}
	if a.image, err = defaultImageChunking(c, opts.imageChunking); err != nil {
		return nil, err
	}
	return a, nil
}

// exclude records an item left out by the patterns.
func (a *archiver) exclude(path string, st *unix.Stat_t) {
	a.c.excluded.Add(1)
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		a.c.excludedBytes.Add(st.Size)
	}
	a.mu.Lock()
	if len(a.excluded) < MaxExcludedListed {
		a.excluded = append(a.excluded, path)
	}
	a.mu.Unlock()
}

func (a *archiver) skip(path string, err error) {
	a.c.skipped.Add(1)
	a.mu.Lock()
	a.skipped = append(a.skipped, Skipped{Path: path, Reason: err.Error()})
	a.mu.Unlock()
}

// fail records a fatal error (the first wins).
func (a *archiver) fail(err error) {
	a.mu.Lock()
	if a.fatal == nil {
		a.fatal = err
	}
	a.mu.Unlock()
}

func (a *archiver) fatalErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

func (a *archiver) run(ctx context.Context, paths []string) (*Result, error) {
	a.start = a.opts.Now()
	if len(paths) == 0 && len(a.opts.Streams) == 0 && len(a.opts.Images) == 0 {
		return nil, errors.New("backup: no paths, streams or images")
	}
	stop := a.startProgress()
	stopWorkers := a.startChunkWorkers(ctx)
	defer stopWorkers()
	defer a.parents.wait()
	var parentNodes map[string]*tree.Node
	if p := a.opts.Parent; p != nil {
		parentNodes = a.parentDir(ctx, p.Tree, "")
		a.parents.start(ctx, a.store, subtrees(parentNodes))
	}
	abs := make([]string, len(paths))
	names := map[string]bool{}
	for i, p := range paths {
		ap, err := filepath.Abs(p)
		if err != nil {
			stop()
			return nil, fmt.Errorf("backup: %w", err)
		}
		abs[i] = ap
		name := rootName(ap)
		if names[name] {
			stop()
			return nil, fmt.Errorf("backup: two paths named %q", name)
		}
		names[name] = true
	}
	images := make([]string, len(a.opts.Images))
	for i, p := range a.opts.Images {
		ap, err := filepath.Abs(p)
		if err != nil {
			stop()
			return nil, fmt.Errorf("backup: %w", err)
		}
		images[i] = ap
		if name := rootName(ap); names[name] {
			stop()
			return nil, fmt.Errorf("backup: two paths named %q", name)
		} else {
			names[name] = true
		}
	}
	for _, st := range a.opts.Streams {
		if err := checkStream(st); err != nil {
			stop()
			return nil, err
		}
		if names[st.Name] {
			stop()
			return nil, fmt.Errorf("backup: two paths named %q", st.Name)
		}
		names[st.Name] = true
	}
	// Walk in the root tree's order (by name), as restore does, so the
	// first name of a hard link is the first one restored.
	given := slices.Clone(abs)
	slices.SortFunc(abs, func(x, y string) int { return strings.Compare(rootName(x), rootName(y)) })
	dl := &dirList{}
	for _, ap := range abs {
		name := rootName(ap)
		a.entry(ctx, dl, name, ap, name, parentNodes[name])
	}
	for _, ap := range images {
		name := rootName(ap)
		a.imageEntry(ctx, dl, name, ap, parentNodes[name])
	}
	for _, st := range a.opts.Streams {
		a.streamEntry(ctx, dl, st)
	}
	rootID, err := a.finishDir(ctx, dl)
	stopWorkers()
	stop()
	if err != nil {
		return nil, err
	}
	if h := a.opts.beforeCommit; h != nil {
		if err := h(); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	given = append(given, images...)
	for _, st := range a.opts.Streams {
		given = append(given, StreamPathPrefix+st.Name)
	}
	// Flushed first, so the stored bytes in the summary are exact.
	if err := a.store.Flush(ctx); err != nil {
		return nil, fmt.Errorf("backup: flush: %w", err)
	}
	s := a.snapshot(given, rootID)
	if err := snapshot.Save(ctx, a.store, s); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	a.report()
	a.mu.Lock()
	res := &Result{Snapshot: s, Skipped: slices.Clone(a.skipped), ExcludedPaths: slices.Clone(a.excluded),
		Excluded: a.c.excluded.Load(), ExcludedBytes: a.c.excludedBytes.Load()}
	a.mu.Unlock()
	return res, nil
}

// rootName is the name of an absolute path's node in the root tree.
func rootName(abs string) string {
	if abs == "/" {
		return "root"
	}
	return filepath.Base(abs)
}

func (a *archiver) snapshot(paths []string, root fingerprint.ID) *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		Version: snapshot.Version, Time: a.start.UTC(), End: a.opts.Now().UTC(),
		Hostname: a.opts.Hostname, Client: a.opts.Client, Paths: paths, Tags: a.opts.Tags,
		Tree: root, Job: snapshot.Full,
	}
	if p := a.opts.Parent; p != nil {
		s.Parent, s.Job = p.ID, snapshot.Incremental
	}
	trees, tStored, tRaw := a.saver.Stats()
	c := &a.c
	sum := snapshot.Summary{
		FilesSeen: c.files.Load(), DirsSeen: c.dirs.Load(), BytesSeen: c.bytesSeen.Load(),
		FilesNew: c.filesNew.Load(), FilesChanged: c.filesChanged.Load(), FilesUnchanged: c.filesUnchanged.Load(),
		FilesRead: c.filesRead.Load(), BytesRead: c.bytesRead.Load(), HoleBytes: c.holeBytes.Load(),
		ChunksNew: c.chunksNew.Load(), BytesNew: c.bytesNew.Load() + tRaw,
		BytesStored: c.bytesStored.Load() + tStored, TreesNew: trees, Skipped: c.skipped.Load(),
		Excluded: c.excluded.Load(),
	}
	if t := a.tally.Bytes(); t > 0 {
		sum.BytesStored = t // exact; PutSize's figures estimate bundled chunks
	}
	if sum.BytesNew > 0 {
		sum.DedupRatio = float64(sum.BytesSeen) / float64(sum.BytesNew)
	}
	if sum.BytesStored > 0 {
		sum.Compression = float64(sum.BytesNew) / float64(sum.BytesStored)
	}
	s.Summary = sum
	return s
}

// parentDir loads a directory of the parent snapshot by name; a parent
// tree that cannot be read only makes the backup read more.
func (a *archiver) parentDir(ctx context.Context, id fingerprint.ID, path string) map[string]*tree.Node {
	if id.IsZero() {
		return nil
	}
	nodes, err := a.parents.load(ctx, a.store, id)
	if err != nil {
		a.skip(path, fmt.Errorf("parent tree unreadable, reading everything below: %w", err))
		return nil
	}
	m := make(map[string]*tree.Node, len(nodes))
	for i := range nodes {
		m[nodes[i].Name] = &nodes[i]
	}
	return m
}

func (a *archiver) startProgress() (stop func()) {
	if a.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.report()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (a *archiver) report() {
	if a.opts.Progress == nil {
		return
	}
	p := Progress{
		Files: a.c.files.Load(), Dirs: a.c.dirs.Load(), BytesSeen: a.c.bytesSeen.Load(),
		BytesRead: a.c.bytesRead.Load(), BytesNew: a.c.bytesNew.Load(), Elapsed: a.opts.Now().Sub(a.start),
	}
	if s := p.Elapsed.Seconds(); s > 0 {
		p.Rate = float64(p.BytesSeen) / s
	}
	a.opts.Progress(p)
}

// errAborted stands in for results of a backup that is failing.
var errAborted = errors.New("backup aborted")
