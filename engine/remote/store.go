package remote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"keep/engine/agentproto"
	"keep/engine/backup"
	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/seal"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// perBlob is what a queued blob costs of MaxBuffered beyond its bytes.
const perBlob = 128

type blobKey struct {
	t  pack.BlobType
	id fingerprint.ID
}

// Job describes the job a Store or Reader runs.
type Job struct {
	// Kind: zero means full, or incremental when Parent is set.
	Kind     jobs.Kind
	Hostname string
	Paths    []string
	// Parent is the snapshot an incremental backup compares against.
	Parent fingerprint.ID
}

// StoreStats count a Store's traffic.
type StoreStats struct {
	Queued      int64 // blobs queued by PutSize
	KnownHits   int64 // PutSize/Has answered from the known set
	HaveQueries int64
	PutBlobs    int64 // blobs sent, alone or in bundles
	PutBundles  int64 // bundles sent
	BytesSent   int64 // payload bytes of the blobs sent (compressed)
	PlainSent   int64 // their plaintext
	HasQueries  int64 // Has calls that needed a round trip
}

// Store is a backup target over a Client: it implements backup.Store,
// so backup.Run does a source-side-dedup backup through it unchanged.
// See the package doc for the pipeline.
type Store struct {
	c      *Client
	ctx    context.Context // the Store's lifetime: batches run under it
	cancel context.CancelFunc
	jobID  string
	parent *snapshot.Snapshot
	mem    *semaphore

	mu       sync.Mutex
	known    map[blobKey]struct{} // present on the vault
	queued   map[blobKey]struct{} // in the pipeline
	intact   map[fingerprint.ID]struct{}
	batch    [3][]queuedBlob // by blob type
	timer    *time.Timer
	inflight int           // batches dispatched, not done
	idle     chan struct{} // closed when inflight drops to 0
	// sent is closed when the last batch dispatched has sent its blobs:
	// batches ask the vault concurrently but send in dispatch order, so
	// the vault bundles chunks in the order the backup put them.
	sent  chan struct{}
	err   error // first failure of the pipeline
	stats StoreStats
	ended bool

	bmu  sync.Mutex
	open *agentBundle // small data blobs the vault lacks, being bundled
}

// agentBundle is a bundle of small data blobs the agent forms and sends
// whole (PutBundle): its members, each still in the copy PutSize made,
// and the MaxBuffered bytes they hold. The bundle's plaintext is put
// together only when it is compressed, in the encoding slot's scratch,
// so a bundle waiting for a slot holds no second copy of its members.
type agentBundle struct {
	members []queuedBlob
	size    int // plaintext bytes of the members
	cost    int
}

type queuedBlob struct {
	id    fingerprint.ID
	data  []byte // the plaintext, or after encode its payload (in the same buffer)
	codec seal.Codec
	size  int // plaintext bytes
}

// encodeSlot is one of a Client's GOMAXPROCS encodings at once and the
// scratch it works in. A blob is compressed into out and its payload
// copied back over its plaintext (a payload kept is smaller, seal.Worth),
// so blobs waiting to be sent hold one buffer each, not a plaintext and a
// payload sized for it; a bundle's plaintext is assembled in bundle.
type encodeSlot struct {
	out    []byte
	filt   []byte // the x86-filtered copy of a plaintext (seal.Coder.EncodeWith)
	bundle pack.Bundler
}

// keepScratch: a slot's scratch is kept up to this capacity (a 4 MiB
// chunk's worst case fits), a larger one dropped after use.
const keepScratch = 5 << 20

func (sl *encodeSlot) trim() {
	if cap(sl.out) > keepScratch {
		sl.out = nil
	}
	if cap(sl.filt) > keepScratch {
		sl.filt = nil
	}
	sl.bundle.Reset() // at most a bundle: BundleSize and a member
}

// cost is what q holds of MaxBuffered.
func (q queuedBlob) cost() int { return q.size + perBlob }

var _ backup.Store = (*Store)(nil)

// NewStore begins a backup job on the vault and returns its Store. With
// job.Parent, the vault checks that the parent snapshot is intact (every
// blob present); if it is, every chunk the parent's trees list counts as
// present as soon as backup.Run reads that tree, so Has costs no round
// trip for unchanged files.
func (c *Client) NewStore(ctx context.Context, job Job) (*Store, error) {
	st := &Store{c: c, mem: newSemaphore(c.opts.MaxBuffered), known: map[blobKey]struct{}{},
		queued: map[blobKey]struct{}{}, intact: map[fingerprint.ID]struct{}{}}
	if job.Kind == "" {
		job.Kind = jobs.Full
		if !job.Parent.IsZero() {
			job.Kind = jobs.Incremental
		}
	}
	if !job.Parent.IsZero() {
		p, intact, err := c.openSnapshot(ctx, job.Parent, true)
		if err != nil {
			return nil, fmt.Errorf("remote: parent snapshot: %w", err)
		}
		st.parent = p
		if intact {
			st.intact[p.Tree] = struct{}{}
		} else {
			c.opts.Log.Warn("parent snapshot is incomplete on the vault: unchanged files are checked chunk by chunk", "parent", job.Parent.Short())
		}
	}
	r, err := reply[*agentproto.JobStarted](c.call(ctx, &agentproto.BeginJob{Kind: string(job.Kind), Hostname: job.Hostname, Parent: job.Parent, Paths: job.Paths}))
	if err != nil {
		return nil, fmt.Errorf("remote: begin job: %w", err)
	}
	st.jobID = r.JobID
	st.ctx, st.cancel = context.WithCancel(context.Background())
	return st, nil
}

// JobID is the vault's ID of the job.
func (st *Store) JobID() string { return st.jobID }

// Parent returns the parent snapshot (nil without one): pass it as
// backup.Options.Parent.
func (st *Store) Parent() *snapshot.Snapshot { return st.parent }

// Stats returns the Store's counts so far.
func (st *Store) Stats() StoreStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stats
}

// Sum is the vault's keyed fingerprint.
func (st *Store) Sum(data []byte) fingerprint.ID { return st.c.fp.Sum(data) }

// Cutter is the vault's chunker (bounds and gear seed from Hello).
func (st *Store) Cutter() (*chunker.Cutter, error) { return st.c.cutter, nil }

func (st *Store) setErr(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
}

func (st *Store) failed() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// PutSize queues data for the vault and returns without a round trip:
// len(data) when the blob is not known to be on the vault (an estimate;
// the vault records what it really stored), 0 when it is known or
// already queued. Errors of earlier blobs are returned here, and by
// Flush. It waits only while MaxBuffered bytes are queued.
func (st *Store) PutSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (int, error) {
	if t != pack.Data && t != pack.Tree {
		return 0, fmt.Errorf("remote: put %s: %w: %v", id.Short(), repo.ErrType, t)
	}
	if len(data) > st.c.info.MaxPayload-64 {
		return 0, fmt.Errorf("remote: put %s: %w: %d bytes", id.Short(), repo.ErrTooLarge, len(data))
	}
	k := blobKey{t, id}
	st.mu.Lock()
	if st.err != nil {
		err := st.err
		st.mu.Unlock()
		return 0, err
	}
	if _, ok := st.known[k]; ok {
		st.stats.KnownHits++
		st.mu.Unlock()
		return 0, nil
	}
	if _, ok := st.queued[k]; ok {
		st.mu.Unlock()
		return 0, nil
	}
	st.queued[k] = struct{}{}
	st.stats.Queued++
	st.mu.Unlock()
	if err := st.mem.acquire(ctx, len(data)+perBlob); err != nil {
		st.mu.Lock()
		delete(st.queued, k)
		st.mu.Unlock()
		return 0, fmt.Errorf("remote: put %s: %w", id.Short(), err)
	}
	st.enqueue(t, queuedBlob{id: id, data: slices.Clone(data), size: len(data)})
	return len(data), nil
}

func (st *Store) enqueue(t pack.BlobType, b queuedBlob) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.batch[t] = append(st.batch[t], b)
	if len(st.batch[t]) >= st.c.opts.BatchIDs {
		st.dispatchLocked(t)
		return
	}
	if st.timer == nil {
		st.timer = time.AfterFunc(st.c.opts.BatchDelay, st.dispatchAll)
	}
}

func (st *Store) dispatchAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	st.dispatchLocked(pack.Data)
	st.dispatchLocked(pack.Tree)
}

func (st *Store) dispatchLocked(t pack.BlobType) {
	b := st.batch[t]
	if len(b) == 0 {
		return
	}
	st.batch[t] = nil
	if st.inflight == 0 {
		st.idle = make(chan struct{})
	}
	st.inflight++
	st.stats.HaveQueries++
	prev, sent := st.sent, make(chan struct{})
	st.sent = sent
	go st.runBatch(t, b, prev, sent)
}

// runBatch asks which of b the vault lacks and sends those, after the
// batch before it (prev closed) has sent its own; it closes sent when it
// has sent (or failed).
func (st *Store) runBatch(t pack.BlobType, b []queuedBlob, prev <-chan struct{}, sent chan struct{}) {
	sentOnce := sync.OnceFunc(func() { close(sent) })
	defer sentOnce()
	defer func() {
		st.mu.Lock()
		st.inflight--
		if st.inflight == 0 {
			close(st.idle)
		}
		st.mu.Unlock()
	}()
	release := func(q queuedBlob, known bool) {
		st.mem.release(q.cost())
		st.mu.Lock()
		delete(st.queued, blobKey{t, q.id})
		if known {
			st.known[blobKey{t, q.id}] = struct{}{}
		}
		st.mu.Unlock()
	}
	ids := make([]fingerprint.ID, len(b))
	for i := range b {
		ids[i] = b[i].id
	}
	r, err := reply[*agentproto.HaveReply](st.c.call(st.ctx, &agentproto.HaveQuery{BlobType: uint8(t), IDs: ids}))
	if err == nil && len(r.Present) != len(ids) {
		err = fmt.Errorf("vault answered %d of %d IDs", len(r.Present), len(ids))
	}
	if err != nil {
		st.setErr(fmt.Errorf("remote: ask the vault for %d blobs: %w", len(b), err))
		for _, q := range b {
			release(q, false)
		}
		return
	}
	type sending struct {
		q  queuedBlob
		ch chan result
	}
	var out []sending
	st.encode(t, b, r.Present)
	if prev != nil {
		select {
		case <-prev:
		case <-st.ctx.Done():
		}
	}
	for i, q := range b {
		if r.Present[i] {
			release(q, true)
			continue
		}
		if t == pack.Data && st.bundling() && q.size < st.c.info.BundleBelow {
			st.bundle(q) // its budget and queued entry go with the bundle
			continue
		}
		ch, err := st.c.start(&agentproto.PutBlob{BlobType: uint8(t), ID: q.id, Codec: uint8(q.codec), Size: uint32(q.size), Data: q.data}, true)
		if err != nil {
			st.setErr(fmt.Errorf("remote: send blob %s: %w", q.id.Short(), err))
			release(q, false)
			continue
		}
		st.mu.Lock()
		st.stats.PutBlobs++
		st.stats.BytesSent += int64(len(q.data))
		st.stats.PlainSent += int64(q.size)
		st.mu.Unlock()
		// Written: the buffer is no longer needed, only the answer.
		st.mem.release(q.cost())
		q.data = nil
		out = append(out, sending{q, ch})
	}
	sentOnce()
	for _, s := range out {
		_, err := reply[*agentproto.PutOK](wait(st.ctx, s.ch))
		st.mu.Lock()
		delete(st.queued, blobKey{t, s.q.id})
		if err == nil {
			st.known[blobKey{t, s.q.id}] = struct{}{}
		}
		st.mu.Unlock()
		if err != nil {
			st.setErr(fmt.Errorf("remote: store blob %s: %w", s.q.id.Short(), err))
		}
	}
}

// encode compresses the blobs of b the vault lacks (present false), in
// place, before they are sent: trees, and data blobs the vault does not
// bundle (small ones are compressed in the bundles the agent forms). Up to
// GOMAXPROCS blobs are encoded at once, across all batches: a batch holds
// few large chunks under the memory budget, so one goroutine per batch
// would compress on one core.
func (st *Store) encode(t pack.BlobType, b []queuedBlob, present []bool) {
	if st.c.opts.NoCompression {
		return
	}
	var wg sync.WaitGroup
	for i := range b {
		if present[i] || t == pack.Data && len(b[i].data) < st.c.info.BundleBelow {
			continue
		}
		var sl *encodeSlot
		select {
		case sl = <-st.c.slots:
		case <-st.ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(q *queuedBlob) {
			defer wg.Done()
			defer func() { sl.trim(); st.c.slots <- sl }()
			codec, payload := st.c.coder.EncodeWith(sl.out[:0], q.data, &sl.filt)
			sl.out = payload[:0]
			if codec == seal.CodecNone || len(payload) > len(q.data) {
				return
			}
			q.codec, q.data = codec, append(q.data[:0], payload...)
		}(&b[i])
	}
	wg.Wait()
}

// bundling reports whether small data blobs go in bundles the agent
// forms (PutBundle): when the vault bundles them and the agent
// compresses (with NoCompression the vault does both).
func (st *Store) bundling() bool {
	return !st.c.opts.NoCompression && st.c.info.BundleBelow > 0 && st.c.info.BundleSize > 0
}

// bundle adds q, a small data blob the vault lacks, to the open bundle,
// in the order batches send (the vault keeps the bundle as it is, so its
// members are what the backup put one after another), and sends the
// bundle once it is full.
func (st *Store) bundle(q queuedBlob) {
	st.bmu.Lock()
	if st.open == nil {
		st.open = new(agentBundle)
	}
	st.open.members = append(st.open.members, q)
	st.open.size += q.size
	st.open.cost += q.cost()
	var full *agentBundle
	if st.open.size >= st.c.info.BundleSize || len(st.open.members) >= pack.MaxBundleMembers {
		full, st.open = st.open, nil
	}
	st.bmu.Unlock()
	if full != nil {
		st.sendBundle(full)
	}
}

// sendBundle compresses b and sends it in a goroutine of its own (counted
// with the batches in flight), then records its members as known, or
// the failure. The plaintext is assembled and compressed in an encoding
// slot's scratch, which the goroutine keeps until the frame is written.
func (st *Store) sendBundle(b *agentBundle) {
	st.mu.Lock()
	if st.inflight == 0 {
		st.idle = make(chan struct{})
	}
	st.inflight++
	st.mu.Unlock()
	go func() {
		defer func() {
			st.mu.Lock()
			for _, m := range b.members {
				delete(st.queued, blobKey{pack.Data, m.id})
			}
			st.inflight--
			if st.inflight == 0 {
				close(st.idle)
			}
			st.mu.Unlock()
		}()
		var sl *encodeSlot
		select {
		case sl = <-st.c.slots:
		case <-st.ctx.Done():
			st.mem.release(b.cost)
			return
		}
		sl.bundle.Grow(b.size + 64*len(b.members) + 16)
		for _, m := range b.members {
			sl.bundle.Add(m.id, m.data)
		}
		plain := sl.bundle.Plaintext()
		codec, payload := st.c.coder.EncodeWith(sl.out[:0], plain, &sl.filt)
		sl.out = payload[:0]
		ch, err := st.c.start(&agentproto.PutBundle{Codec: uint8(codec), Size: uint32(len(plain)), Data: payload}, true)
		sl.trim()
		st.c.slots <- sl
		st.mem.release(b.cost)
		if err != nil {
			st.setErr(fmt.Errorf("remote: send a bundle of %d blobs: %w", len(b.members), err))
			return
		}
		st.mu.Lock()
		st.stats.PutBundles++
		st.stats.PutBlobs += int64(len(b.members))
		st.stats.BytesSent += int64(len(payload))
		st.stats.PlainSent += int64(b.size)
		st.mu.Unlock()
		for i := range b.members {
			b.members[i].data = nil // sent: only the IDs are needed now
		}
		if _, err := reply[*agentproto.PutOK](wait(st.ctx, ch)); err != nil {
			st.setErr(fmt.Errorf("remote: store a bundle of %d blobs: %w", len(b.members), err))
			return
		}
		st.mu.Lock()
		for _, m := range b.members {
			st.known[blobKey{pack.Data, m.id}] = struct{}{}
		}
		st.mu.Unlock()
	}()
}

// drain sends what is queued, and the open bundle, and waits until the
// vault has answered for every blob; it returns the pipeline's first
// error.
func (st *Store) drain(ctx context.Context) error {
	for {
		st.dispatchAll()
		st.mu.Lock()
		idle, n := st.idle, st.inflight
		st.mu.Unlock()
		if n > 0 {
			select {
			case <-idle:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st.bmu.Lock()
		b := st.open
		st.open = nil
		st.bmu.Unlock()
		if b == nil || len(b.members) == 0 {
			return st.failed()
		}
		st.sendBundle(b)
	}
}

// Flush makes every blob queued before it durable on the vault.
func (st *Store) Flush(ctx context.Context) error {
	if err := st.drain(ctx); err != nil {
		return err
	}
	if _, err := reply[*agentproto.FlushOK](st.c.call(ctx, &agentproto.Flush{})); err != nil {
		return fmt.Errorf("remote: flush: %w", err)
	}
	return nil
}

// WriteFile commits a snapshot (the only area a Store writes): the vault
// checks that its tree is complete, records it under the authenticated
// client name and returns its ID.
func (st *Store) WriteFile(ctx context.Context, a repo.Area, data []byte) (fingerprint.ID, error) {
	if a != repo.Snapshots {
		return fingerprint.ID{}, fmt.Errorf("remote: write %s file: only snapshots are written through the agent", a)
	}
	if err := st.drain(ctx); err != nil {
		return fingerprint.ID{}, err
	}
	r, err := reply[*agentproto.Committed](st.c.call(ctx, &agentproto.Commit{Snapshot: data}))
	if err != nil {
		return fingerprint.ID{}, fmt.Errorf("remote: commit: %w", err)
	}
	return r.ID, nil
}

// Has reports whether the vault has the blob: from the known set (blobs
// the vault confirmed or took, and the chunks of an intact parent's trees
// read so far), else by one HaveQuery round trip.
func (st *Store) Has(t pack.BlobType, id fingerprint.ID) bool {
	k := blobKey{t, id}
	st.mu.Lock()
	_, ok := st.known[k]
	if ok {
		st.stats.KnownHits++
	} else {
		st.stats.HasQueries++
	}
	st.mu.Unlock()
	if ok {
		return true
	}
	r, err := reply[*agentproto.HaveReply](st.c.call(st.ctx, &agentproto.HaveQuery{BlobType: uint8(t), IDs: []fingerprint.ID{id}}))
	if err != nil || len(r.Present) != 1 {
		return false // the backup reads the file; a broken connection fails its PutSize
	}
	if r.Present[0] {
		st.mu.Lock()
		st.known[k] = struct{}{}
		st.mu.Unlock()
	}
	return r.Present[0]
}

// Get reads a blob (backup.Run reads the parent's trees). A tree of the
// intact parent marks what it lists as present.
func (st *Store) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	b, err := st.c.getBlob(ctx, t, id, dst)
	if err != nil || t != pack.Tree {
		return b, err
	}
	st.mu.Lock()
	_, intact := st.intact[id]
	st.mu.Unlock()
	if !intact {
		return b, nil
	}
	blob, derr := tree.Decode(b[len(dst):])
	if derr != nil {
		return b, nil // tree.Load reports it
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	mark := func(es []tree.Extent) {
		for _, e := range es {
			if !e.Hole {
				st.known[blobKey{pack.Data, e.ID}] = struct{}{}
			}
		}
	}
	switch blob.Kind {
	case tree.KindNodes:
		for i := range blob.Nodes {
			n := &blob.Nodes[i]
			if !n.Subtree.IsZero() {
				st.intact[n.Subtree] = struct{}{}
			}
			for _, cid := range n.ContentBlobs {
				st.intact[cid] = struct{}{}
			}
			mark(n.Content)
		}
	case tree.KindParts:
		for _, pid := range blob.Parts {
			st.intact[pid] = struct{}{}
		}
	case tree.KindExtents:
		mark(blob.Extents)
	}
	return b, nil
}

// getBlob reads a blob and checks it against its ID.
func (c *Client) getBlob(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	r, err := reply[*agentproto.Blob](c.call(ctx, &agentproto.GetBlob{BlobType: uint8(t), ID: id}))
	if err != nil {
		if errors.Is(err, &agentproto.Error{Code: agentproto.CodeNotFound}) {
			err = fmt.Errorf("%w: %w", repo.ErrNotFound, err)
		}
		return dst, fmt.Errorf("remote: get %v %s: %w", t, id.Short(), err)
	}
	return c.decode(dst, t, id, r.Codec, r.Data)
}

// Progress reports backup progress to the vault's job record without
// waiting for an answer; use it as backup.Options.Progress.
func (st *Store) Progress(p backup.Progress) {
	_, _ = st.c.start(&agentproto.Progress{Files: uint64(p.Files), Dirs: uint64(p.Dirs), BytesSeen: uint64(p.BytesSeen),
		BytesRead: uint64(p.BytesRead), BytesNew: uint64(p.BytesNew), ElapsedNS: uint64(p.Elapsed)}, false)
}

// Finish ends the job: after backup.Run returned res (the job committed;
// its skipped items are added to the record) or runErr (the job failed
// with that reason). It also stops the Store's pipeline.
func (st *Store) Finish(ctx context.Context, res *backup.Result, runErr error) error {
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return nil
	}
	st.ended = true
	st.mu.Unlock()
	defer st.cancel()
	if runErr != nil {
		_, err := reply[*agentproto.Ack](st.c.call(ctx, &agentproto.EndJob{Failed: true, Reason: agentproto.Truncate(runErr.Error())}))
		return err
	}
	if res != nil {
		items := make([]agentproto.SkippedItem, 0, len(res.Skipped))
		for _, s := range res.Skipped {
			items = append(items, agentproto.SkippedItem{Path: s.Path, Reason: s.Reason})
		}
		for len(items) > 0 {
			n := min(len(items), agentproto.MaxSkipped)
			if _, err := reply[*agentproto.Ack](st.c.call(ctx, &agentproto.Skipped{Items: items[:n]})); err != nil {
				return fmt.Errorf("remote: report skipped items: %w", err)
			}
			items = items[n:]
		}
	}
	_, err := reply[*agentproto.Ack](st.c.call(ctx, &agentproto.EndJob{}))
	return err
}

// Reader reads one of the client's snapshots from the vault: a
// tree.Getter for engine/restore (and restore.Verify). Concurrent Gets
// are pipelined on the connection.
type Reader struct {
	c     *Client
	snap  *snapshot.Snapshot
	jobID string

	learnStop context.CancelFunc // LearnTrees, if started
	learnDone chan struct{}
}

// OpenRestore opens snapshot id for a restore job (kind jobs.Restore or
// jobs.Verify; zero: restore).
func (c *Client) OpenRestore(ctx context.Context, id fingerprint.ID, kind jobs.Kind, hostname string) (*Reader, error) {
	if kind == "" {
		kind = jobs.Restore
	}
	s, _, err := c.openSnapshot(ctx, id, false)
	if err != nil {
		return nil, fmt.Errorf("remote: open snapshot %s: %w", id.Short(), err)
	}
	r, err := reply[*agentproto.JobStarted](c.call(ctx, &agentproto.BeginJob{Kind: string(kind), Hostname: hostname, Parent: id, Paths: s.Paths}))
	if err != nil {
		return nil, fmt.Errorf("remote: begin job: %w", err)
	}
	return &Reader{c: c, snap: s, jobID: r.JobID}, nil
}

// Snapshot is the snapshot being read.
func (r *Reader) Snapshot() *snapshot.Snapshot { return r.snap }

// JobID is the vault's ID of the job.
func (r *Reader) JobID() string { return r.jobID }

// Get reads a blob of the snapshot, checked against its ID.
func (r *Reader) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	return r.c.getBlob(ctx, t, id, dst)
}

// GetBatch reads data blobs of the snapshot with GetBlobs requests (at
// most MaxGetIDs each), checks each against its ID and calls each for it
// in order (restore.BatchGetter). A blob the vault left out of a full
// reply is asked for alone.
func (r *Reader) GetBatch(ctx context.Context, ids []fingerprint.ID, each func(i int, data []byte, err error) error) error {
	c := r.c
	for base := 0; base < len(ids); base += agentproto.MaxGetIDs {
		part := ids[base:min(len(ids), base+agentproto.MaxGetIDs)]
		rep, err := reply[*agentproto.Blobs](c.call(ctx, &agentproto.GetBlobs{BlobType: uint8(pack.Data), IDs: part}))
		if err == nil && len(rep.Items) != len(part) {
			err = fmt.Errorf("vault answered %d of %d blobs", len(rep.Items), len(part))
		}
		if err != nil {
			return fmt.Errorf("remote: get %d blobs: %w", len(part), err)
		}
		var buf []byte
		for k, it := range rep.Items {
			id := part[k]
			var data []byte
			var err error
			switch {
			case it.Bundle != 0:
				data, err = c.bundleMember(ctx, rep.Bundles[it.Bundle-1], id)
			case it.Code == agentproto.CodeTooLarge:
				buf, err = c.getBlob(ctx, pack.Data, id, buf[:0])
				data = buf
			case it.Code != 0:
				err = &agentproto.Error{Code: it.Code, Message: it.Message}
				if it.Code == agentproto.CodeNotFound {
					err = fmt.Errorf("%w: %w", repo.ErrNotFound, err)
				}
				err = fmt.Errorf("remote: get %v %s: %w", pack.Data, id.Short(), err)
			default:
				buf, err = c.decode(buf[:0], pack.Data, id, it.Codec, it.Data)
				data = buf
			}
			if err := each(base+k, data, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// Finish ends the restore job: failed with runErr's reason, or done with
// the items that failed (a restore's Result.Failed).
func (r *Reader) Finish(ctx context.Context, failed []agentproto.SkippedItem, runErr error) error {
	r.stopLearning()
	if runErr != nil {
		_, err := reply[*agentproto.Ack](r.c.call(ctx, &agentproto.EndJob{Failed: true, Reason: agentproto.Truncate(runErr.Error())}))
		return err
	}
	for len(failed) > 0 {
		n := min(len(failed), agentproto.MaxSkipped)
		if _, err := reply[*agentproto.Ack](r.c.call(ctx, &agentproto.Skipped{Items: failed[:n]})); err != nil {
			return fmt.Errorf("remote: report failed items: %w", err)
		}
		failed = failed[n:]
	}
	_, err := reply[*agentproto.Ack](r.c.call(ctx, &agentproto.EndJob{}))
	return err
}

// semaphore is a byte budget whose waits honour a context.
type semaphore struct {
	mu    sync.Mutex
	avail int
	max   int
	wake  chan struct{}
}

func newSemaphore(n int) *semaphore { return &semaphore{avail: n, max: n, wake: make(chan struct{})} }

func (s *semaphore) acquire(ctx context.Context, n int) error {
	n = min(n, s.max) // a blob larger than the budget takes all of it
	for {
		s.mu.Lock()
		if s.avail >= n {
			s.avail -= n
			s.mu.Unlock()
			return nil
		}
		ch := s.wake
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *semaphore) release(n int) {
	n = min(n, s.max)
	s.mu.Lock()
	s.avail += n
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
