package repo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/index"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/seal"
)

// Defaults and limits.
const (
	// metaWindow is the metadata sealer's zstd window.
	metaWindow = 1 << 20
	// DefaultBundleBelow and DefaultBundleSize: data blobs under 256 KiB
	// (whole small files; every chunk of a disk image) go into 1 MiB
	// bundles. Measured on the benchmark's file-server tree: its blobs
	// under 256 KiB store 14 % smaller (4 % of the whole), and 4 MiB
	// bundles would save only 0.4 % more while every read of a member
	// opens the whole bundle.
	DefaultBundleBelow = 256 << 10
	DefaultBundleSize  = 1 << 20
	// DefaultPackSize is the size a pack grows to before it is written.
	DefaultPackSize = 16 << 20
	// MaxPackSize is the largest PackSize option accepted.
	MaxPackSize = 1 << 30
	// MaxTreeSize is the largest tree blob: the snapshot layer splits
	// larger metadata.
	MaxTreeSize = 16 << 20
	// defaultMaxIndexFiles: more small index files (under half of
	// index.MaxFileBlobs) than this are merged.
	defaultMaxIndexFiles = 16
	// defaultAutoIndexBlobs: packs written by Put with this many blobs
	// unlisted in any index file get an index file without waiting for
	// Flush, which bounds the memory held for them and the headers Open
	// must read after a crash.
	defaultAutoIndexBlobs = 1 << 16
)

// Options tune Init and Open. The zero value is the production setting.
type Options struct {
	// Logger receives the repository's messages; nil discards them.
	Logger hclog.Logger
	// Now is the clock (Init records the creation time); nil: time.Now.
	Now func() time.Time
	// Rand is the randomness for the repository ID and temporary names
	// (never for nonces: sealing always uses crypto/rand); nil:
	// crypto/rand.
	Rand io.Reader
	// Chunker are the chunk size bounds Init records in the config;
	// zero: chunker.FileParams.
	Chunker chunker.Params
	// PackSize is the target pack size; zero: DefaultPackSize.
	PackSize int
	// Packers is how many packs may be open for writing at once (Puts
	// beyond that wait); zero: max(2, GOMAXPROCS).
	Packers int
	// BundleBelow: data blobs smaller than this are sealed together in
	// bundles of about BundleSize bytes (engine/pack, bundle.go), which
	// compress better than alone; zero: DefaultBundleBelow and
	// DefaultBundleSize; negative: no bundles.
	BundleBelow, BundleSize int
	// ReadOnly (Open only) takes no lock and writes nothing: Put and Flush
	// fail with ErrReadOnly, and packs that no index file lists are
	// indexed in memory only.
	ReadOnly bool

	// Test knobs: how many small index files trigger a merge, and the
	// automatic index flush size.
	maxIndexFiles  int
	autoIndexBlobs int
}

func (o *Options) fill() error {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = randomReader()
	}
	if o.Chunker == (chunker.Params{}) {
		o.Chunker = chunker.FileParams()
	}
	if o.PackSize == 0 {
		o.PackSize = DefaultPackSize
	}
	if o.PackSize < 0 || o.PackSize > MaxPackSize {
		return fmt.Errorf("repo: pack size %d not in [1, %d]", o.PackSize, MaxPackSize)
	}
	if o.Packers == 0 {
		o.Packers = max(2, runtime.GOMAXPROCS(0))
	}
	if o.Packers < 0 {
		return fmt.Errorf("repo: %d packers", o.Packers)
	}
	if o.BundleBelow == 0 {
		o.BundleBelow = DefaultBundleBelow
	}
	if o.BundleSize == 0 {
		o.BundleSize = DefaultBundleSize
	}
	if o.BundleBelow > 0 && (o.BundleSize <= 0 || o.BundleSize+o.BundleBelow > pack.MaxBundleSize/2) {
		return fmt.Errorf("repo: bundle size %d for blobs below %d: want both positive, sum at most %d", o.BundleSize, o.BundleBelow, pack.MaxBundleSize/2)
	}
	if o.maxIndexFiles == 0 {
		o.maxIndexFiles = defaultMaxIndexFiles
	}
	if o.autoIndexBlobs == 0 {
		o.autoIndexBlobs = defaultAutoIndexBlobs
	}
	return nil
}

// Repo is an open repository. Its methods are safe for concurrent use,
// except Close, which must be the last call.
type Repo struct {
	fs        FS
	opts      Options
	log       hclog.Logger
	cfg       Config
	keyID     []byte
	fp        *fingerprint.Hasher
	gear      chunker.Seed // the chunker's gear-table seed (Cutter)
	chunkSeal *seal.Sealer // data blobs
	metaSeal  *seal.Sealer // tree blobs, pack headers, index files, config
	lock      io.Closer    // nil when read-only
	idx       *index.Index
	bufs      sync.Pool // *[]byte: sealed blobs (Put, Get)
	bundles   bundleCache
	headers   headerCache // bundle listings of packs (BundleMembers)
	packFiles packFiles   // open for reading (get.go)

	// Bundled bytes sealed so far, plaintext and sealed: PutSize reports a
	// bundled blob's share at this ratio (its bundle is sealed later).
	bundleRaw, bundleSealed    atomic.Int64
	bundlesSealed, bundleOpens atomic.Int64 // since Open, for Stats

	// packers holds one token per pack that may be open: nil, or the
	// open packer. Whoever holds a token owns that packer.
	packers chan *packer

	mu         sync.Mutex
	pending    map[blobKey]struct{} // in open packs: accepted, not yet written
	unindexed  []packBlobs          // written, in no index file yet
	unindexedN int                  // blobs in unindexed
	lost       error                // first loss of accepted blobs since the last Flush
	missing    map[pack.ID]int      // indexed packs absent at Open → their blob count
	shards     [256]bool            // data/<xx> known to exist durably
	closed     bool

	// Bundling (stream.go): the Streams with open bundles, the Repo's
	// own, and the bundles detached and being sealed, by ticket.
	streams    map[*Stream]struct{}
	stream     *Stream
	sealTicket uint64
	sealing    map[uint64]struct{}
	sealed     *sync.Cond // on mu: a detached bundle is done

	// flushMu serializes index file writers (Flush, the automatic index
	// flush, compaction) and guards indexFiles.
	flushMu    sync.Mutex
	indexFiles []indexFileInfo
	nIndex     atomic.Int32 // len(indexFiles), for Stats
}

// indexFileInfo names an index file and says how many blobs it lists.
type indexFileInfo struct {
	name  string
	blobs int
}

type blobKey struct {
	t  pack.BlobType
	id fingerprint.ID
}

type packBlobs struct {
	id    pack.ID
	blobs []pack.Blob
}

// newRepo builds a Repo's keys and state; Init and Open do the I/O.
func newRepo(fsys FS, m *keys.Master, opts Options) (*Repo, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	keyID, err := hex.DecodeString(m.ID())
	if err != nil || len(keyID) != keyIDSize {
		return nil, fmt.Errorf("repo: master key ID %q", m.ID())
	}
	sub := m.Subkeys()
	r := &Repo{
		fs: fsys, opts: opts, log: opts.Logger, keyID: keyID,
		pending: map[blobKey]struct{}{}, missing: map[pack.ID]int{},
		packers: make(chan *packer, opts.Packers),
		streams: map[*Stream]struct{}{}, sealing: map[uint64]struct{}{},
	}
	r.sealed = sync.NewCond(&r.mu)
	r.stream = r.NewStream(0)
	r.gear = chunker.Seed(sub.Gear.Array())
	if r.fp, err = fingerprint.New(sub.Fingerprint.Bytes()); err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	// Nonces always come from crypto/rand, whatever Options.Rand is.
	if r.chunkSeal, err = seal.New(sub.Chunk.Bytes(), seal.Options{}); err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	// Metadata blobs are small (trees, headers, index files): a 1 MiB
	// window instead of 4 MiB saves 3 MiB per encoder.
	if r.metaSeal, err = seal.New(sub.Meta.Bytes(), seal.Options{Window: metaWindow}); err != nil {
		r.chunkSeal.Close()
		return nil, fmt.Errorf("repo: %w", err)
	}
	for range opts.Packers {
		r.packers <- nil
	}
	return r, nil
}

// release frees what newRepo and the lock hold.
func (r *Repo) release() {
	if r.lock != nil {
		_ = r.lock.Close()
		r.lock = nil
	}
	r.chunkSeal.Close()
	r.metaSeal.Close()
}

// Init creates a repository in the existing, empty or half-initialized
// directory of fsys for the master key m, and returns it open for
// writing. Options.Chunker is recorded in the config. The config is
// written last, so a crash during Init leaves no repository and Init can
// be run again.
func Init(ctx context.Context, fsys FS, m *keys.Master, opts Options) (*Repo, error) {
	r, err := newRepo(fsys, m, opts)
	if err != nil {
		return nil, err
	}
	if err := r.init(ctx); err != nil {
		r.release()
		return nil, fmt.Errorf("init repository: %w", err)
	}
	return r, nil
}

func (r *Repo) init(ctx context.Context) error {
	if err := r.opts.Chunker.Validate(); err != nil {
		return err
	}
	if err := r.takeLock(); err != nil {
		return err
	}
	if f, err := r.fs.Open(configName); err == nil {
		_ = f.Close()
		return ErrExists
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("look for config: %w", err)
	}
	// The directories become durable with the config (writeFile syncs
	// the repository directory), which is what makes a repository.
	for _, d := range []string{dataDir, indexDir, tmpDir} {
		if err := mkdir(r.fs, d); err != nil {
			return err
		}
	}
	if err := r.cleanTmp(ctx); err != nil {
		return err
	}
	var id [32]byte
	if _, err := io.ReadFull(r.opts.Rand, id[:]); err != nil {
		return fmt.Errorf("repository id: %w", err)
	}
	p := r.opts.Chunker
	r.cfg = Config{
		Version: Version, ID: hex.EncodeToString(id[:]),
		Chunker: ChunkerParams{Min: p.Min, Avg: p.Avg, Max: p.Max},
		Created: r.opts.Now().UTC().Round(time.Second),
	}
	b, err := encodeConfig(r.metaSeal, r.keyID, &r.cfg)
	if err != nil {
		return err
	}
	if err := writeFile(r.fs, r.opts.Rand, configName, ".", b); err != nil {
		return err
	}
	r.idx = index.New()
	r.log.Info("repository created", "id", r.cfg.ID, "chunker", p.String())
	return nil
}

// Open opens the repository in fsys with the master key m: for writing
// (taking the lock) unless opts.ReadOnly. It loads the index files, indexes
// packs no index file lists (after a crash, or when index files are lost or
// damaged: each is logged, and the rebuilt entries are written as a new
// index file), drops index entries of packs that are gone (logged, and
// reported by Check) and removes unfinished temporary files.
func Open(ctx context.Context, fsys FS, m *keys.Master, opts Options) (*Repo, error) {
	r, err := newRepo(fsys, m, opts)
	if err != nil {
		return nil, err
	}
	if err := r.open(ctx); err != nil {
		r.release()
		return nil, fmt.Errorf("open repository: %w", err)
	}
	return r, nil
}

func (r *Repo) open(ctx context.Context) error {
	if !r.opts.ReadOnly {
		if err := r.takeLock(); err != nil {
			return err
		}
	}
	b, err := readFile(r.fs, configName, maxConfigSize)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotRepo
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg, err := decodeConfig(r.metaSeal, r.keyID, b)
	if err != nil {
		return err
	}
	r.cfg = *cfg
	if !r.opts.ReadOnly {
		if err := r.cleanTmp(ctx); err != nil {
			return err
		}
	}
	return r.load(ctx)
}

func (r *Repo) takeLock() error {
	l, err := r.fs.Lock(lockName)
	if err != nil {
		return err
	}
	r.lock = l
	return nil
}

// cleanTmp removes what a crashed writer left in tmp/.
func (r *Repo) cleanTmp(ctx context.Context) error {
	names, err := readDir(r.fs, tmpDir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.fs.Remove(tmpDir + "/" + n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove unfinished %s: %w", n, err)
		}
	}
	r.log.Info("removed unfinished temporary files", "count", len(names))
	return nil
}

// Config returns the repository's config.
func (r *Repo) Config() Config { return r.cfg }

// Stats describe a repository's index and unflushed state.
type Stats struct {
	Blobs       int // indexed blobs
	Packs       int // packs numbered in the index
	IndexBytes  int // memory the index holds
	IndexFiles  int
	Pending     int // blobs accepted, in packs not yet written
	Unindexed   int // blobs in written packs no index file lists yet
	MissingPack int // indexed packs that were absent at Open
	// BundlesSealed and BundleOpens count, since Open, the bundles
	// written and the bundles read from disk and opened (cache misses):
	// reading a bundled file back opens each of its bundles about once
	// when bundling kept its chunks together.
	BundlesSealed, BundleOpens int64
}

// Stats returns the repository's current Stats.
func (r *Repo) Stats() Stats {
	s := Stats{Blobs: r.idx.Len(), Packs: r.idx.PackCount(), IndexBytes: r.idx.MemoryBytes()}
	r.mu.Lock()
	s.Pending, s.Unindexed, s.MissingPack = len(r.pending), r.unindexedN, len(r.missing)
	r.mu.Unlock()
	s.IndexFiles = int(r.nIndex.Load())
	s.BundlesSealed, s.BundleOpens = r.bundlesSealed.Load(), r.bundleOpens.Load()
	return s
}

// Close flushes (when open for writing), releases the lock and frees the
// Repo. It must not run concurrently with other calls; later calls fail
// with ErrClosed.
func (r *Repo) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.mu.Unlock()
	var err error
	if !r.opts.ReadOnly {
		err = r.Flush(ctx)
		// Whatever Flush could not write is abandoned with its
		// temporary files, which the next Open removes.
		for range r.opts.Packers {
			if p := <-r.packers; p != nil {
				p.abort(r.fs)
			}
		}
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.packFiles.closeAll()
	r.release()
	return err
}

func (r *Repo) checkOpen(write bool) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case write && r.opts.ReadOnly:
		return ErrReadOnly
	}
	return nil
}
