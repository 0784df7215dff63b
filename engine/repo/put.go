package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/seal"
)

// packer is a pack being written: a temporary file and its pack.Writer.
// Whoever holds its token (Repo.packers) owns it.
type packer struct {
	f   File
	tmp string
	w   *pack.Writer
}

// abort closes and removes the temporary file (best effort: the next Open
// removes what is left).
func (p *packer) abort(fsys FS) {
	_ = p.f.Close()
	_ = fsys.Remove(p.tmp)
}

// sealer returns the sealer of blobs of type t.
func (r *Repo) sealer(t pack.BlobType) *seal.Sealer {
	if t == pack.Data {
		return r.chunkSeal
	}
	return r.metaSeal
}

// limit returns the largest plaintext of a blob of type t.
func (r *Repo) limit(t pack.BlobType) int {
	if t == pack.Data {
		return r.cfg.Chunker.Max
	}
	return MaxTreeSize
}

// PutChunk is Put of a data blob.
func (r *Repo) PutChunk(ctx context.Context, id fingerprint.ID, data []byte) (bool, error) {
	return r.Put(ctx, pack.Data, id, data)
}

// Put stores data as the blob of type t and ID id, unless the repository
// has it already, and reports whether it stored it. id must be the
// fingerprint of data, which Put checks before storing (ErrIDMismatch);
// data is at most the type's limit (ErrTooLarge). Put is safe for concurrent use; concurrent
// Puts of one blob store it once. It may block to write a full pack.
//
// A nil error means the blob is accepted, not durable: it is durable once
// a later Flush returns nil. If its pack cannot be written, the Put that
// was writing it returns the error and the next Flush reports the loss.
func (r *Repo) Put(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (bool, error) {
	n, err := r.PutSize(ctx, t, id, data)
	return n > 0, err
}

// PutSize is Put, reporting instead the sealed (compressed and encrypted)
// size of the blob it stored, or 0 when the repository had it already, so
// callers can account compression.
func (r *Repo) PutSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (int, error) {
	return r.putSize(ctx, t, id, data, true, nil)
}

// PutVerifiedSize is PutSize for a caller that has checked that id is
// the fingerprint of data (Sum), as the vault does for every blob an agent
// sends: the blob is not hashed a second time.
func (r *Repo) PutVerifiedSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (int, error) {
	return r.putSize(ctx, t, id, data, false, nil)
}

// PutEncodedSize is PutVerifiedSize of a blob that arrived encoded: data
// is its plaintext, which the caller decoded from payload (encoded under
// codec by seal.Coder.Encode, at an agent) and checked against id. The
// payload is sealed as it is, not compressed again, unless it does not
// save enough to be worth storing (seal.Worth: then the plaintext is) or
// the blob is bundled (its bundle is compressed as a whole).
func (r *Repo) PutEncodedSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte, codec seal.Codec, payload []byte) (int, error) {
	if !seal.Worth(codec, len(payload), len(data)) {
		codec, payload = seal.CodecNone, data
	}
	return r.putSize(ctx, t, id, data, false, &encoded{codec, payload})
}

// Decode appends the plaintext of payload, a blob of type t and size
// bytes encoded under codec by its sender (seal.Coder.Encode), to dst, as
// PutEncodedSize wants it. size must be within the type's limit
// (ErrTooLarge); the decoder stops there, and a payload that does not
// decode to exactly size bytes is ErrCorrupt.
func (r *Repo) Decode(dst []byte, t pack.BlobType, codec seal.Codec, payload []byte, size int) ([]byte, error) {
	if !pack.ValidType(t) {
		return dst, fmt.Errorf("decode: %w: %v", ErrType, t)
	}
	if size < 0 || size > r.limit(t) {
		return dst, fmt.Errorf("decode %v: %w: %d bytes, limit %d", t, ErrTooLarge, size, r.limit(t))
	}
	out, err := r.sealer(t).Decode(dst, codec, payload, size)
	if err != nil {
		return dst, fmt.Errorf("decode %v: %w: %w", t, ErrCorrupt, err)
	}
	if len(out)-len(dst) != size {
		return dst, fmt.Errorf("decode %v: %w: %d bytes, declared %d", t, ErrCorrupt, len(out)-len(dst), size)
	}
	return out, nil
}

// BundleBelow is the size below which data blobs are bundled (Bundles).
func (r *Repo) BundleBelow() int { return max(r.opts.BundleBelow, 0) }

// encoded is a blob's payload encoded by its sender.
type encoded struct {
	codec   seal.Codec
	payload []byte
}

// putSize is PutSize, checking that data hashes to id if verify, and
// sealing enc's payload instead of compressing data if enc is set.
func (r *Repo) putSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte, verify bool, enc *encoded) (int, error) {
	if err := r.checkPut(t, id, data); err != nil {
		return 0, err
	}
	// Known blobs cost a lookup, not a hash. A blob is verified before
	// it becomes pending: a concurrent Put of the same ID that sees it
	// pending reports it present, so it must be the right data.
	if r.Has(t, id) {
		return 0, nil
	}
	if verify && r.fp.Sum(data) != id {
		return 0, fmt.Errorf("put %v %s: %w", t, id.Short(), ErrIDMismatch)
	}
	return r.putVerified(ctx, t, id, data, enc)
}

// Bundles reports whether a blob of type t and size bytes is bundled
// (put through a Stream, stream.go) rather than sealed alone.
func (r *Repo) Bundles(t pack.BlobType, size int) bool {
	return t == pack.Data && size < r.opts.BundleBelow
}

// SumPut is PutSize for a caller that has not computed the ID: it
// fingerprints data once, where Sum followed by PutSize hashes every new
// blob twice (PutSize checks the caller's ID), and returns the ID with the
// sealed size (0: present already).
func (r *Repo) SumPut(ctx context.Context, t pack.BlobType, data []byte) (fingerprint.ID, int, error) {
	id := r.fp.Sum(data)
	n, err := r.putSize(ctx, t, id, data, false, nil)
	return id, n, err
}

// checkPut checks what putSize accepts.
func (r *Repo) checkPut(t pack.BlobType, id fingerprint.ID, data []byte) error {
	if err := r.checkOpen(true); err != nil {
		return err
	}
	if !pack.ValidType(t) {
		return fmt.Errorf("put %s: %w: %v", id.Short(), ErrType, t)
	}
	if len(data) > r.limit(t) {
		return fmt.Errorf("put %v %s: %w: %d bytes, limit %d", t, id.Short(), ErrTooLarge, len(data), r.limit(t))
	}
	return nil
}

// putVerified stores data, whose fingerprint id is (checked or computed
// by the caller), unless it is pending or indexed.
func (r *Repo) putVerified(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte, enc *encoded) (int, error) {
	k := blobKey{t, id}
	r.mu.Lock()
	_, pending := r.pending[k]
	if pending || r.idx.Has(t, id) {
		r.mu.Unlock()
		return 0, nil
	}
	r.pending[k] = struct{}{}
	r.mu.Unlock()

	n, err := r.put(ctx, t, id, data, enc)
	if err != nil {
		r.mu.Lock()
		delete(r.pending, k)
		r.mu.Unlock()
		return 0, fmt.Errorf("put %v %s: %w", t, id.Short(), err)
	}
	return n, nil
}

// put seals the blob and appends it to a pack; on error the blob is not
// in any pack. It returns the sealed size. A small data blob goes into the
// bundle of its Stream instead (putBundled). With enc, its payload is
// sealed as it came.
func (r *Repo) put(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte, enc *encoded) (int, error) {
	if r.Bundles(t, len(data)) {
		return r.putBundled(ctx, id, data)
	}
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	var sealed []byte
	var err error
	if enc != nil {
		sealed, err = r.sealer(t).SealEncoded((*bp)[:0], t, id, enc.codec, enc.payload)
	} else {
		sealed, err = r.sealer(t).Seal((*bp)[:0], t, id, data)
	}
	*bp = sealed[:0]
	if err != nil {
		return 0, err
	}
	p, err := r.takePacker(ctx)
	if err != nil {
		return 0, err
	}
	if err := p.w.Add(t, id, sealed, len(data)); err != nil {
		// The file may hold part of the blob: the pack is lost. Record
		// the loss before giving the token back, so a Flush that takes
		// the tokens next reports it.
		r.discard(p, err)
		r.packers <- nil
		return 0, err
	}
	tallyOf(ctx).add(int64(len(sealed)))
	return len(sealed), r.givePacker(p)
}

// putBundled adds a small data blob to the bundle of ctx's Stream
// (stream.go). The size it returns is the blob's share at the compression
// ratio of the bundles sealed so far (an estimate: its own bundle is
// sealed later; a Tally gets the exact share then).
func (r *Repo) putBundled(ctx context.Context, id fingerprint.ID, data []byte) (int, error) {
	if err := r.streamOf(ctx).add(ctx, id, data); err != nil {
		return 0, err
	}
	n := len(data)
	if raw := r.bundleRaw.Load(); raw > 0 {
		n = int(int64(n) * r.bundleSealed.Load() / raw)
	}
	return max(n, 1), nil // 0 would mean "present already"
}

// takePacker takes a packer token, opening a pack if it held none.
func (r *Repo) takePacker(ctx context.Context) (*packer, error) {
	var p *packer
	select {
	case p = <-r.packers:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p == nil {
		var err error
		if p, err = r.newPacker(); err != nil {
			r.packers <- nil
			return nil, err
		}
	}
	return p, nil
}

// givePacker gives p's token back, first writing p's pack if it is full.
func (r *Repo) givePacker(p *packer) error {
	if p.w.Size() < int64(r.opts.PackSize) && p.w.Len() < pack.MaxBlobs {
		r.packers <- p
		return nil
	}
	err := r.finishPack(p)
	r.packers <- nil
	if err != nil {
		return err
	}
	r.maybeWriteIndex()
	return nil
}

func (r *Repo) newPacker() (*packer, error) {
	tmp, err := tmpPath(r.opts.Rand, "pack")
	if err != nil {
		return nil, err
	}
	f, err := r.fs.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create pack: %w", err)
	}
	return &packer{f: f, tmp: tmp, w: pack.NewWriter(f)}, nil
}

// finishPack writes p's header, makes the pack durable under its name and
// indexes its blobs in memory; they go into an index file with the next
// index write. On error p's blobs are lost (and reported by the next
// Flush). The caller holds p's token.
func (r *Repo) finishPack(p *packer) error {
	id, err := r.writePack(p)
	if err != nil {
		r.discard(p, err)
		return err
	}
	blobs := p.w.Blobs()
	if _, err := r.idx.Add(id, blobs); err != nil {
		// Durable, but not indexed in memory: the next Open finds it.
		r.log.Error("cannot index a written pack", "pack", id.String(), "error", err)
	}
	r.mu.Lock()
	r.unindexed = append(r.unindexed, packBlobs{id, blobs})
	r.unindexedN += len(blobs)
	for _, b := range blobs {
		delete(r.pending, blobKey{b.Type, b.ID})
	}
	r.mu.Unlock()
	return nil
}

// writePack finishes p's file and makes it durable: header, fsync, close,
// rename into its shard directory, fsync of that directory.
func (r *Repo) writePack(p *packer) (pack.ID, error) {
	id, err := p.w.Finish(r.metaSeal)
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.fs.Remove(p.tmp)
		return pack.ID{}, fmt.Errorf("write pack: %w", err)
	}
	if err := r.ensureShard(id); err != nil {
		_ = r.fs.Remove(p.tmp)
		return pack.ID{}, err
	}
	if err := r.fs.Rename(p.tmp, packPath(id)); err != nil {
		_ = r.fs.Remove(p.tmp)
		return pack.ID{}, fmt.Errorf("write pack %s: %w", id.Short(), err)
	}
	if err := r.fs.SyncDir(shardDir(id)); err != nil {
		return pack.ID{}, fmt.Errorf("write pack %s: %w", id.Short(), err)
	}
	return id, nil
}

// ensureShard creates the pack's shard directory durably the first time.
func (r *Repo) ensureShard(id pack.ID) error {
	r.mu.Lock()
	ok := r.shards[id[0]]
	r.mu.Unlock()
	if ok {
		return nil
	}
	d := shardDir(id)
	if err := r.fs.Mkdir(d); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", d, err)
	}
	if err := r.fs.SyncDir(dataDir); err != nil {
		return fmt.Errorf("create %s: %w", d, err)
	}
	r.mu.Lock()
	r.shards[id[0]] = true
	r.mu.Unlock()
	return nil
}

// discard gives up pack p after err: its blobs are no longer pending and
// the loss is recorded for the next Flush.
func (r *Repo) discard(p *packer, err error) {
	p.abort(r.fs)
	blobs := p.w.Blobs()
	n := len(blobs)
	r.mu.Lock()
	for _, b := range blobs {
		delete(r.pending, blobKey{b.Type, b.ID})
	}
	if r.lost == nil && n > 0 {
		r.lost = fmt.Errorf("%d accepted blobs were lost with their pack: %w", n, err)
	}
	r.mu.Unlock()
	r.log.Error("pack lost", "blobs", n, "error", err)
}

// maybeWriteIndex writes an index file for the written packs when enough
// blobs are waiting for one, unless another index write is running.
func (r *Repo) maybeWriteIndex() {
	r.mu.Lock()
	n := r.unindexedN
	r.mu.Unlock()
	if n < r.opts.autoIndexBlobs || !r.flushMu.TryLock() {
		return
	}
	defer r.flushMu.Unlock()
	if err := r.writeIndex(); err != nil {
		r.log.Warn("index write failed; Flush retries it", "error", err)
	}
}
