package repo

import (
	"context"
	"fmt"
	"sync"

	"keep/engine/fingerprint"
	"keep/engine/pack"
)

// Bundling order. Small data blobs are bundled by a Stream, in the order
// they reach it: the members of one bundle are what was put one after
// another, so reading a file back (whose chunks were put in file order)
// opens each of its bundles about once. A Put without a Stream uses the
// Repo's own. A full bundle is detached from its Stream and sealed
// (compressed, encrypted) outside the Stream's lock and without holding a
// packer, then appended to whichever pack is free: sealing runs in parallel
// while the Stream takes the next blobs in order.
//
// The vault gives each agent session its own Stream and puts the session's
// small data blobs from its reader, in the order they came off the wire.
// Before Streams, bundles were filled by whichever of up to 256 request
// handlers and 2 packers got there first: a 48 MiB image put through the
// vault was read back opening each bundle 2.4 times (TestImageBundleLocality).

// A Stream bundles the small data blobs put through it (WithStream) in
// call order. It is safe for concurrent use, but the order is only
// meaningful from one goroutine. Close it when done; Flush seals its open
// bundle meanwhile.
type Stream struct {
	r       *Repo
	sealers chan struct{} // nil: the Put that fills a bundle seals it
	mu      sync.Mutex
	b       *openBundle
	closed  bool
}

// openBundle is a bundle being filled, or detached and being sealed.
type openBundle struct {
	pack.Bundler
	tallies []*Tally // of the members (nil entries: none)
	ticket  uint64   // while detached: its place in Repo.sealing
}

var bundlePool = sync.Pool{New: func() any { return new(openBundle) }}

// NewStream returns a new Stream. With async > 0, a Put that fills a
// bundle hands its sealing to one of at most async goroutines and
// returns (waiting while all are busy), so a caller putting from one
// goroutine — the vault's reader of a session — is not held by
// compression. Flush waits for them; errors are reported as losses by the
// next Flush, as a pack that could not be written is.
func (r *Repo) NewStream(async int) *Stream {
	s := &Stream{r: r}
	if async > 0 {
		s.sealers = make(chan struct{}, async)
	}
	r.mu.Lock()
	r.streams[s] = struct{}{}
	r.mu.Unlock()
	return s
}

type streamKey struct{}

// WithStream returns a context whose Puts bundle their small data blobs
// in s.
func WithStream(ctx context.Context, s *Stream) context.Context {
	return context.WithValue(ctx, streamKey{}, s)
}

// streamOf returns the Stream of ctx, or the Repo's own.
func (r *Repo) streamOf(ctx context.Context) *Stream {
	if s, _ := ctx.Value(streamKey{}).(*Stream); s != nil && s.r == r {
		return s
	}
	return r.stream
}

// Close seals the Stream's open bundle into a pack (durable with the next
// Flush), waits for its sealing goroutines and forgets the Stream; later
// Puts through it use the Repo's own Stream. It returns the error of that
// sealing (also reported as a loss by the next Flush).
func (s *Stream) Close() error {
	err := s.sealOpen(context.Background(), true)
	s.r.mu.Lock()
	delete(s.r.streams, s)
	s.r.mu.Unlock()
	for range cap(s.sealers) { // every token: no sealing goroutine left
		s.sealers <- struct{}{}
	}
	for range cap(s.sealers) {
		<-s.sealers
	}
	return err
}

// sealOpen seals the Stream's open bundle into a pack (and marks the
// Stream closed if closing).
func (s *Stream) sealOpen(ctx context.Context, closing bool) error {
	s.mu.Lock()
	s.closed = s.closed || closing
	b := s.detachLocked()
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	return s.r.writeBundle(ctx, b)
}

// add puts a verified small data blob into the Stream's bundle.
func (s *Stream) add(ctx context.Context, id fingerprint.ID, data []byte) error {
	r := s.r
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return r.stream.add(ctx, id, data)
	}
	if s.b == nil {
		s.b = bundlePool.Get().(*openBundle)
	}
	s.b.Add(id, data)
	s.b.tallies = append(s.b.tallies, tallyOf(ctx))
	var full *openBundle
	if s.b.Size() >= r.opts.BundleSize || s.b.Len() >= pack.MaxBundleMembers {
		full = s.detachLocked()
	}
	s.mu.Unlock()
	if full == nil {
		return nil
	}
	if s.sealers == nil {
		return r.writeBundle(context.WithoutCancel(ctx), full)
	}
	s.sealers <- struct{}{}
	go func() {
		_ = r.writeBundle(context.Background(), full) // a failure is recorded in r.lost
		<-s.sealers
	}()
	return nil
}

// detachLocked takes the Stream's open bundle (nil if empty) and records
// it as being sealed, so that Flush waits for it. The caller holds s.mu.
func (s *Stream) detachLocked() *openBundle {
	b := s.b
	s.b = nil
	if b == nil || b.Len() == 0 {
		if b != nil {
			bundlePool.Put(b)
		}
		return nil
	}
	r := s.r
	r.mu.Lock()
	r.sealTicket++
	b.ticket = r.sealTicket
	r.sealing[b.ticket] = struct{}{}
	r.mu.Unlock()
	return b
}

// writeBundle seals the detached bundle b and appends it to a pack,
// waiting for a packer until ctx ends. On error its members are no longer
// pending and the loss is recorded for the next Flush. Either way b is
// done with (recycled).
func (r *Repo) writeBundle(ctx context.Context, b *openBundle) error {
	err := r.appendBundle(ctx, b)
	r.mu.Lock()
	if err != nil {
		for _, m := range b.Members() {
			delete(r.pending, blobKey{pack.Data, m.ID})
		}
		if r.lost == nil {
			r.lost = fmt.Errorf("%d accepted blobs were lost with their bundle: %w", b.Len(), err)
		}
	}
	delete(r.sealing, b.ticket)
	r.mu.Unlock()
	if err != nil {
		r.log.Error("bundle lost", "blobs", b.Len(), "error", err)
	}
	r.sealed.Broadcast()
	b.Reset()
	clear(b.tallies)
	b.tallies = b.tallies[:0]
	bundlePool.Put(b)
	return err
}

// appendBundle seals b and adds it to a pack (addBundle).
func (r *Repo) appendBundle(ctx context.Context, b *openBundle) error {
	plain := b.Plaintext()
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	sealed, err := r.chunkSeal.Seal((*bp)[:0], pack.TypeDataBundle, fingerprint.ID{}, plain)
	*bp = sealed[:0]
	if err != nil {
		return err
	}
	return r.addBundle(ctx, b.Members(), sealed, len(plain), func(i int, share int64) { b.tallies[i].add(share) })
}

// addBundle adds a sealed bundle (its plaintext plainLen bytes) of members
// to a pack, starting a new pack first when its members would not fit in
// the one it gets, and gives each member's tally its share of the sealed
// size.
func (r *Repo) addBundle(ctx context.Context, members []pack.Member, sealed []byte, plainLen int, tally func(i int, share int64)) error {
	p, err := r.takePacker(ctx)
	if err != nil {
		return err
	}
	if p.w.Len()+len(members) > pack.MaxBlobs {
		err := r.finishPack(p)
		r.packers <- nil
		if err != nil {
			return err
		}
		r.maybeWriteIndex()
		if p, err = r.takePacker(ctx); err != nil {
			return err
		}
	}
	if err := p.w.AddBundle(members, sealed); err != nil {
		// The file may hold part of the bundle: the pack is lost with
		// the members, which discard (p's blobs) does not list.
		r.discard(p, err)
		r.packers <- nil
		return err
	}
	r.bundleRaw.Add(int64(plainLen))
	r.bundleSealed.Add(int64(len(sealed)))
	r.bundlesSealed.Add(1)
	var raw int64
	for _, m := range members {
		raw += int64(m.Len)
	}
	raw = max(raw, 1)
	for i, m := range members {
		tally(i, int64(len(sealed))*int64(m.Len)/raw)
	}
	return r.givePacker(p)
}

// sealOpenBundles seals every Stream's open bundle and waits until every
// bundle detached before it was called is in a pack (or lost), so that
// Flush finds every accepted bundled blob in an open pack. If ctx ends
// first, it returns ctx's error; bundles it was sealing are lost (and
// reported by the next Flush).
func (r *Repo) sealOpenBundles(ctx context.Context) error {
	r.mu.Lock()
	streams := make([]*Stream, 0, len(r.streams))
	for s := range r.streams {
		streams = append(streams, s)
	}
	r.mu.Unlock()
	for _, s := range streams {
		_ = s.sealOpen(ctx, false) // a failure is recorded in r.lost
	}
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.sealed.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	mark := r.sealTicket
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		waiting := false
		for t := range r.sealing {
			if t <= mark {
				waiting = true
				break
			}
		}
		if !waiting {
			return nil
		}
		r.sealed.Wait()
	}
}
