package repo

import (
	"fmt"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/index"
	"keep/engine/pack"
	"keep/engine/seal"
)

// Reading bundled blobs: a member is read by opening its whole bundle
// (authenticate, decompress, parse the table), so the Repo keeps the last
// few bundles it opened. A restore asks for the members of one bundle one
// after another (small files in tree order), and its workers ask for the
// same bundle at about the same time: one opens it, the others wait for
// that.

// bundleCacheSize is how many opened bundles the Repo keeps: 8 of about
// 1.3 MiB, enough for the restore workers and the packers' interleaving.
const bundleCacheSize = 8

type bundleKey struct {
	pack pack.ID
	off  uint32
}

// openedBundle is a bundle's plaintext and its members by ID.
type openedBundle struct {
	plain   []byte
	table   []pack.Member    // in table order (Check compares it with the header)
	members pack.BundleIndex // by ID
}

type bundleCall struct {
	done chan struct{}
	b    *openedBundle
	err  error
}

type bundleCache struct {
	mu      sync.Mutex
	recent  []bundleKey // least recently used first
	open    map[bundleKey]*openedBundle
	loading map[bundleKey]*bundleCall
}

// get returns the bundle k, from the cache, from a load in progress, or
// by calling load. Failures are not cached.
func (c *bundleCache) get(k bundleKey, load func() (*openedBundle, error)) (*openedBundle, error) {
	c.mu.Lock()
	if b, ok := c.open[k]; ok {
		c.touch(k)
		c.mu.Unlock()
		return b, nil
	}
	if call, ok := c.loading[k]; ok {
		c.mu.Unlock()
		<-call.done
		return call.b, call.err
	}
	if c.loading == nil {
		c.loading = map[bundleKey]*bundleCall{}
		c.open = map[bundleKey]*openedBundle{}
	}
	call := &bundleCall{done: make(chan struct{})}
	c.loading[k] = call
	c.mu.Unlock()

	call.b, call.err = load()

	c.mu.Lock()
	delete(c.loading, k)
	if call.err == nil {
		c.open[k] = call.b
		c.recent = append(c.recent, k)
		if len(c.recent) > bundleCacheSize {
			delete(c.open, c.recent[0])
			c.recent = append(c.recent[:0], c.recent[1:]...)
		}
	}
	c.mu.Unlock()
	close(call.done)
	return call.b, call.err
}

// drop forgets every opened bundle. A load in progress is kept when it
// finishes: it reads the disk after drop's caller began.
func (c *bundleCache) drop() {
	c.mu.Lock()
	c.recent, c.open = nil, map[bundleKey]*openedBundle{}
	c.mu.Unlock()
}

// touch moves k to the most recently used end.
func (c *bundleCache) touch(k bundleKey) {
	for i, r := range c.recent {
		if r == k {
			copy(c.recent[i:], c.recent[i+1:])
			c.recent[len(c.recent)-1] = k
			return
		}
	}
}

// DropCache forgets the bundles the Repo keeps open, so that the next
// reads of their members come from the disk (a verify starts with it).
func (r *Repo) DropCache() { r.bundles.drop() }

// bundleLocation returns where the bundle of a member indexed at loc is,
// checking its length.
func bundleLocation(loc index.Location) (index.Location, error) {
	loc.Length &^= pack.Bundled
	if loc.Length > pack.MaxBundleSize+seal.Overhead {
		return loc, fmt.Errorf("%w: pack %s at %d: a bundle of %d bytes", ErrCorrupt, loc.Pack.Short(), loc.Offset, loc.Length)
	}
	return loc, nil
}

// openBundle authenticates, decompresses and parses a sealed bundle.
func (r *Repo) openBundle(sealed []byte) (*openedBundle, error) {
	r.bundleOpens.Add(1)
	plain, err := r.chunkSeal.Open(nil, pack.TypeDataBundle, fingerprint.ID{}, sealed, pack.MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrCorrupt, err)
	}
	ms, err := pack.ParseBundle(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &openedBundle{plain: plain, table: ms, members: pack.NewBundleIndex(ms)}, nil
}

// readBundle reads and opens the bundle at loc (a member's location).
func (r *Repo) readBundle(loc index.Location) (*openedBundle, error) {
	loc, err := bundleLocation(loc)
	if err != nil {
		return nil, err
	}
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	sealed, err := r.readBlob(*bp, loc)
	*bp = sealed[:0]
	if err != nil {
		return nil, err
	}
	return r.openBundle(sealed)
}

// member appends the plaintext of member id of b to dst, checking its
// fingerprint if check.
func (r *Repo) member(dst []byte, t pack.BlobType, id fingerprint.ID, b *openedBundle, check bool) ([]byte, error) {
	m, ok := b.members.Find(id)
	if !ok {
		return dst, fmt.Errorf("get %v %s: %w: not in the bundle its index entry names", t, id.Short(), ErrCorrupt)
	}
	data := b.plain[m.Offset : m.Offset+m.Len]
	if t != pack.Data || len(data) > r.limit(t) {
		return dst, fmt.Errorf("get %v %s: %w: a bundled %v blob of %d bytes", t, id.Short(), ErrCorrupt, t, len(data))
	}
	if check && r.fp.Sum(data) != id {
		return dst, fmt.Errorf("get %v %s: %w: plaintext does not match its fingerprint", t, id.Short(), ErrCorrupt)
	}
	return append(dst, data...), nil
}
