package repo

import (
	"context"
	"fmt"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/seal"
)

// Bundles formed by an agent. An agent sends the small data blobs the
// vault would bundle in bundles of its own (agentproto.PutBundle),
// compressed: the vault decodes one (DecodeBundle), checks every member
// against its ID, and stores the payload as the bundle, as it came
// (PutEncodedBundle), instead of decompressing and compressing again.

// BundleSize is the size bundles are filled to (Options.BundleSize).
func (r *Repo) BundleSize() int { return max(r.opts.BundleSize, 0) }

// DecodeBundle appends the plaintext of an encoded bundle of size bytes
// to dst and returns it with its members. The bundle must be one this
// repository would make: at most pack.MaxBundleSize, a valid table, and
// every member a blob it bundles (Bundles); else ErrTooLarge or
// ErrCorrupt. The caller checks each member against its ID.
func (r *Repo) DecodeBundle(dst []byte, codec seal.Codec, payload []byte, size int) ([]byte, []pack.Member, error) {
	if r.BundleBelow() == 0 {
		return dst, nil, fmt.Errorf("decode bundle: %w: this repository does not bundle", ErrTooLarge)
	}
	if size < 0 || size > pack.MaxBundleSize {
		return dst, nil, fmt.Errorf("decode bundle: %w: %d bytes, limit %d", ErrTooLarge, size, pack.MaxBundleSize)
	}
	out, err := r.chunkSeal.Decode(dst, codec, payload, size)
	if err != nil {
		return dst, nil, fmt.Errorf("decode bundle: %w: %w", ErrCorrupt, err)
	}
	plain := out[len(dst):]
	if len(plain) != size {
		return dst, nil, fmt.Errorf("decode bundle: %w: %d bytes, declared %d", ErrCorrupt, len(plain), size)
	}
	ms, err := pack.ParseBundle(plain)
	if err != nil {
		return dst, nil, fmt.Errorf("decode bundle: %w: %w", ErrCorrupt, err)
	}
	for _, m := range ms {
		if !r.Bundles(pack.Data, int(m.Len)) {
			return dst, nil, fmt.Errorf("decode bundle: %w: member %s of %d bytes; blobs of %d bytes or more go alone", ErrTooLarge, m.ID.Short(), m.Len, r.BundleBelow())
		}
	}
	return out, ms, nil
}

// PutEncodedBundle stores a bundle formed and encoded by its sender:
// plain is its plaintext (DecodeBundle), members its table, payload its
// encoding under codec; the caller has checked every member against its
// ID. If every member is new, the payload is sealed as the bundle as it
// came (the plaintext if the payload saves too little, seal.Worth) and
// appended to a pack; if a member is present or pending (stored meanwhile
// by another session, or listed twice), the new members are put one by
// one instead, bundled through ctx's Stream. It returns the sealed bytes
// stored and the members that were new, with their plaintext bytes. As
// with Put, a nil error means accepted, durable after the next Flush.
func (r *Repo) PutEncodedBundle(ctx context.Context, plain []byte, members []pack.Member, codec seal.Codec, payload []byte) (stored, fresh int, freshBytes int64, err error) {
	if err := r.checkOpen(true); err != nil {
		return 0, 0, 0, err
	}
	if len(members) == 0 {
		return 0, 0, 0, fmt.Errorf("put bundle: %w: no members", ErrCorrupt)
	}
	all := true
	r.mu.Lock()
	for i, m := range members {
		k := blobKey{pack.Data, m.ID}
		if _, p := r.pending[k]; p || r.idx.Has(pack.Data, m.ID) {
			for _, u := range members[:i] { // undo: none of it goes in whole
				delete(r.pending, blobKey{pack.Data, u.ID})
			}
			all = false
			break
		}
		r.pending[k] = struct{}{}
	}
	var ticket uint64
	if all {
		// A Flush waits for this bundle as for a Stream's detached one.
		r.sealTicket++
		ticket = r.sealTicket
		r.sealing[ticket] = struct{}{}
	}
	r.mu.Unlock()
	if !all {
		for _, m := range members {
			data := plain[m.Offset : m.Offset+m.Len]
			n, err := r.putVerified(ctx, pack.Data, m.ID, data, nil)
			if err != nil {
				return stored, fresh, freshBytes, err
			}
			if n > 0 {
				stored += n
				fresh++
				freshBytes += int64(m.Len)
			}
		}
		return stored, fresh, freshBytes, nil
	}
	if !seal.Worth(codec, len(payload), len(plain)) {
		codec, payload = seal.CodecNone, plain
	}
	bp := r.getBuf()
	defer r.bufs.Put(bp)
	sealed, err := r.chunkSeal.SealEncoded((*bp)[:0], pack.TypeDataBundle, fingerprint.ID{}, codec, payload)
	*bp = sealed[:0]
	if err == nil {
		t := tallyOf(ctx)
		err = r.addBundle(ctx, members, sealed, len(plain), func(_ int, share int64) { t.add(share) })
	}
	r.mu.Lock()
	if err != nil {
		for _, m := range members {
			delete(r.pending, blobKey{pack.Data, m.ID})
		}
	}
	delete(r.sealing, ticket)
	r.mu.Unlock()
	r.sealed.Broadcast()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("put bundle of %d blobs: %w", len(members), err)
	}
	for _, m := range members {
		freshBytes += int64(m.Len)
	}
	return len(sealed), len(members), freshBytes, nil
}
