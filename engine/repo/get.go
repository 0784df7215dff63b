package repo

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/index"
	"keep/engine/pack"
	"keep/engine/seal"
)

// Has reports whether the repository has the blob of type t and ID id:
// indexed, or accepted by a Put and waiting in an open pack (durable after
// the next Flush).
func (r *Repo) Has(t pack.BlobType, id fingerprint.ID) bool {
	// Pending first: a pack's blobs enter the index before they leave
	// the pending set, so a blob moving between them is never missed.
	r.mu.Lock()
	_, ok := r.pending[blobKey{t, id}]
	r.mu.Unlock()
	return ok || r.idx.Has(t, id)
}

// Get reads the blob of type t and ID id, authenticates and decompresses
// it, checks that its plaintext hashes to id, and appends the plaintext to
// dst. A blob not in the repository is ErrNotFound, one still in an open
// pack ErrPending, and damaged or missing data ErrCorrupt; on error dst is
// returned unchanged.
func (r *Repo) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	_, b, err := r.get(ctx, t, id, dst, getChecked)
	return b, err
}

// GetUnchecked is Get without the check that the plaintext hashes to id,
// for a reader that checks it itself: the vault serving an agent, which
// has the fingerprint key and checks every blob it receives (that check
// was 8 % of the vault's CPU serving a restore). The seal still
// authenticates the bytes as what this repository stored under id (a
// blob's ID is bound into its seal, a member's into its bundle's table).
func (r *Repo) GetUnchecked(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	_, b, err := r.get(ctx, t, id, dst, getUnchecked)
	return b, err
}

// GetEncoded is GetUnchecked returning the blob's payload as stored
// instead of its plaintext: its codec and the compressed bytes
// (seal.OpenEncoded), which the vault sends an agent to decode and check
// against id, so a restore's bytes cross the network compressed and the
// vault does not decompress them. A member of a bundle comes back decoded
// (seal.CodecNone): its bundle is compressed as a whole.
func (r *Repo) GetEncoded(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) (seal.Codec, []byte, error) {
	return r.get(ctx, t, id, dst, getEncoded)
}

// How get returns a blob.
type getMode uint8

const (
	getChecked   getMode = iota // plaintext, checked against its ID
	getUnchecked                // plaintext
	getEncoded                  // the payload as stored
)

func (r *Repo) get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte, mode getMode) (seal.Codec, []byte, error) {
	if err := r.checkOpen(false); err != nil {
		return 0, dst, err
	}
	if err := ctx.Err(); err != nil {
		return 0, dst, err
	}
	if !pack.ValidType(t) {
		return 0, dst, fmt.Errorf("get %s: %w: %v", id.Short(), ErrType, t)
	}
	loc, ok := r.idx.Lookup(t, id)
	if !ok {
		if r.Has(t, id) {
			return 0, dst, fmt.Errorf("get %v %s: %w", t, id.Short(), ErrPending)
		}
		return 0, dst, fmt.Errorf("get %v %s: %w", t, id.Short(), ErrNotFound)
	}
	if loc.Length&pack.Bundled != 0 {
		b, err := r.bundles.get(bundleKey{loc.Pack, loc.Offset}, func() (*openedBundle, error) { return r.readBundle(loc) })
		if err != nil {
			return 0, dst, fmt.Errorf("get %v %s: %w", t, id.Short(), err)
		}
		out, err := r.member(dst, t, id, b, mode == getChecked)
		return seal.CodecNone, out, err
	}
	if int64(loc.Length) > int64(r.limit(t))+seal.Overhead {
		return 0, dst, fmt.Errorf("get %v %s: %w: indexed length %d exceeds the type's limit", t, id.Short(), ErrCorrupt, loc.Length)
	}
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	sealed, err := r.readBlob(*bp, loc)
	*bp = sealed[:0]
	if err != nil {
		return 0, dst, fmt.Errorf("get %v %s: %w", t, id.Short(), err)
	}
	if mode == getEncoded {
		codec, out, err := r.sealer(t).OpenEncoded(dst, t, id, sealed)
		if err != nil {
			return 0, dst, fmt.Errorf("get %v %s: %w: %w", t, id.Short(), ErrCorrupt, err)
		}
		return codec, out, nil
	}
	out, err := r.openBlob(dst, t, id, sealed, mode == getChecked)
	return seal.CodecNone, out, err
}

// getBuf returns a buffer from the pool of sealed-blob buffers.
func (r *Repo) getBuf() *[]byte {
	if bp, ok := r.bufs.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// readBlob reads the sealed blob at loc into buf (grown as needed). A
// missing or short pack is ErrCorrupt.
func (r *Repo) readBlob(buf []byte, loc index.Location) ([]byte, error) {
	pf, err := r.packFiles.get(r.fs, loc.Pack)
	if err != nil {
		return buf, fmt.Errorf("%w: pack %s: %w", ErrCorrupt, loc.Pack.Short(), err)
	}
	defer r.packFiles.release(pf)
	buf = slices.Grow(buf[:0], int(loc.Length))[:loc.Length]
	if _, err := pf.f.ReadAt(buf, int64(loc.Offset)); err != nil {
		return buf, fmt.Errorf("%w: pack %s at %d+%d: %w", ErrCorrupt, loc.Pack.Short(), loc.Offset, loc.Length, err)
	}
	return buf, nil
}

// openPacks is how many pack files readBlob keeps open: opening the pack
// for every read was 7 % of the vault's CPU answering an incremental
// backup's tree reads. Packs are immutable, so an open one stays valid.
const openPacks = 32

// packFiles are the pack files read last, open, least recent first.
type packFiles struct {
	mu    sync.Mutex
	files []*packFile
}

type packFile struct {
	id      pack.ID
	f       File
	refs    int  // readers using f; under packFiles.mu
	evicted bool // close when refs drops to 0
}

// get returns the open pack id, opening it if needed; release it after.
func (c *packFiles) get(fsys FS, id pack.ID) (*packFile, error) {
	c.mu.Lock()
	for i, pf := range c.files {
		if pf.id == id {
			copy(c.files[i:], c.files[i+1:])
			c.files[len(c.files)-1] = pf
			pf.refs++
			c.mu.Unlock()
			return pf, nil
		}
	}
	c.mu.Unlock()
	f, err := fsys.Open(packPath(id))
	if err != nil {
		return nil, err
	}
	pf := &packFile{id: id, f: f, refs: 1}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files = append(c.files, pf)
	if len(c.files) > openPacks {
		old := c.files[0]
		c.files = append(c.files[:0], c.files[1:]...)
		old.evicted = true
		if old.refs == 0 {
			_ = old.f.Close()
		}
	}
	return pf, nil
}

// release ends a reader's use of pf.
func (c *packFiles) release(pf *packFile) {
	c.mu.Lock()
	pf.refs--
	if pf.evicted && pf.refs == 0 {
		_ = pf.f.Close()
	}
	c.mu.Unlock()
}

// closeAll closes every pack file (Close; no reader may be running).
func (c *packFiles) closeAll() {
	c.mu.Lock()
	for _, pf := range c.files {
		_ = pf.f.Close()
	}
	c.files = nil
	c.mu.Unlock()
}

// openBlob authenticates and decompresses a sealed blob and checks its
// fingerprint, appending the plaintext to dst.
func (r *Repo) openBlob(dst []byte, t pack.BlobType, id fingerprint.ID, sealed []byte, check bool) ([]byte, error) {
	out, err := r.sealer(t).Open(dst, t, id, sealed, r.limit(t))
	if err != nil {
		return dst, fmt.Errorf("get %v %s: %w: %w", t, id.Short(), ErrCorrupt, err)
	}
	if check && r.fp.Sum(out[len(dst):]) != id {
		return dst, fmt.Errorf("get %v %s: %w: plaintext does not match its fingerprint", t, id.Short(), ErrCorrupt)
	}
	return out, nil
}
