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

// Reading a bundle whole, as stored: the vault sends an agent a bundle's
// payload (compressed) instead of its members' plaintexts one by one, so a
// restore of small files crosses the network compressed and the vault does
// not decompress it. A bundle may hold blobs of other snapshots (of other
// clients, when the vault formed it), so the vault first asks which blobs
// it holds: BundleMembers answers from the pack's header, which lists
// every member at its bundle's offset, without opening the bundle.

// BundleRef names a stored bundle: its pack, its offset there and its
// sealed length.
type BundleRef struct {
	Pack           pack.ID
	Offset, Length uint32
}

// BundleOf reports the bundle the blob of type t and ID id is stored in;
// false for a blob stored alone, pending or absent.
func (r *Repo) BundleOf(t pack.BlobType, id fingerprint.ID) (BundleRef, bool) {
	loc, ok := r.idx.Lookup(t, id)
	if !ok || loc.Length&pack.Bundled == 0 {
		return BundleRef{}, false
	}
	return BundleRef{Pack: loc.Pack, Offset: loc.Offset, Length: loc.Length &^ pack.Bundled}, true
}

// BundleMembers returns the IDs of the members of bundle ref, as its
// pack's header lists them (the headers of the last few packs asked
// about are kept); ErrNotFound if the pack lists no bundle of ref's
// length at ref's offset. The slice is shared: do not modify it.
func (r *Repo) BundleMembers(ref BundleRef) ([]fingerprint.ID, error) {
	if err := r.checkOpen(false); err != nil {
		return nil, err
	}
	h, err := r.headers.get(ref.Pack, func() (map[uint32]bundleListing, error) {
		blobs, err := r.readPackHeader(ref.Pack)
		if err != nil {
			return nil, fmt.Errorf("%w: pack %s header: %w", ErrCorrupt, ref.Pack.Short(), err)
		}
		m := map[uint32]bundleListing{}
		for _, b := range blobs {
			if b.InBundle() {
				l := m[b.Offset]
				l.length, l.ids = b.Sealed(), append(l.ids, b.ID)
				m[b.Offset] = l
			}
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	l, ok := h[ref.Offset]
	if !ok || l.length != ref.Length {
		return nil, fmt.Errorf("%w: pack %s has no bundle of %d bytes at %d", ErrNotFound, ref.Pack.Short(), ref.Length, ref.Offset)
	}
	return l.ids, nil
}

// bundleListing is a bundle as its pack's header lists it.
type bundleListing struct {
	length uint32 // sealed
	ids    []fingerprint.ID
}

// GetEncodedBundle authenticates bundle ref and appends its payload as
// stored to dst: its codec and the encoded plaintext (members and table),
// which the reader decodes (seal.Coder, at most pack.MaxBundleSize) and
// parses (pack.ParseBundle), checking each member it takes against its
// ID. Damaged or missing data is ErrCorrupt.
func (r *Repo) GetEncodedBundle(ctx context.Context, ref BundleRef, dst []byte) (seal.Codec, []byte, error) {
	if err := r.checkOpen(false); err != nil {
		return 0, dst, err
	}
	if err := ctx.Err(); err != nil {
		return 0, dst, err
	}
	if ref.Length > pack.MaxBundleSize+seal.Overhead {
		return 0, dst, fmt.Errorf("bundle in pack %s at %d: %w: a bundle of %d bytes", ref.Pack.Short(), ref.Offset, ErrCorrupt, ref.Length)
	}
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	sealed, err := r.readBlob(*bp, index.Location{Pack: ref.Pack, Offset: ref.Offset, Length: ref.Length})
	*bp = sealed[:0]
	if err != nil {
		return 0, dst, fmt.Errorf("bundle in pack %s at %d: %w", ref.Pack.Short(), ref.Offset, err)
	}
	codec, out, err := r.chunkSeal.OpenEncoded(dst, pack.TypeDataBundle, fingerprint.ID{}, sealed)
	if err != nil {
		return 0, dst, fmt.Errorf("bundle in pack %s at %d: %w: %w", ref.Pack.Short(), ref.Offset, ErrCorrupt, err)
	}
	return codec, out, nil
}

// headerCacheSize is how many packs' bundle listings the Repo keeps: a
// restore reads packs about in order, so a few suffice.
const headerCacheSize = 4

// headerCache keeps the bundle listings (offset → member IDs) of the last
// packs read, least recently used first.
type headerCache struct {
	mu      sync.Mutex
	recent  []pack.ID
	entries map[pack.ID]map[uint32]bundleListing
}

// get returns pack id's listing, from the cache or by calling load.
// Failures are not cached; two loads of one pack may race, harmlessly.
func (c *headerCache) get(id pack.ID, load func() (map[uint32]bundleListing, error)) (map[uint32]bundleListing, error) {
	c.mu.Lock()
	if h, ok := c.entries[id]; ok {
		if i := slices.Index(c.recent, id); i >= 0 {
			c.recent = append(slices.Delete(c.recent, i, i+1), id)
		}
		c.mu.Unlock()
		return h, nil
	}
	c.mu.Unlock()
	h, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[pack.ID]map[uint32]bundleListing{}
	}
	if _, ok := c.entries[id]; !ok {
		c.entries[id] = h
		c.recent = append(c.recent, id)
		if len(c.recent) > headerCacheSize {
			delete(c.entries, c.recent[0])
			c.recent = slices.Delete(c.recent, 0, 1)
		}
	}
	return h, nil
}
