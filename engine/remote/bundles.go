package remote

import (
	"context"
	"fmt"
	"sync"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/seal"
)

// Bundles received whole: a Blobs reply names the stored bundle of a
// member (when every member is the client's to read), and the Client gets
// it once (GetBundle), decodes it and keeps the last few, so the restore
// workers asking for members of one bundle, in one reply or in several,
// share one transfer and one decode.

// bundleCacheSize is how many decoded bundles a Client keeps: about
// 1 MiB each, enough for the restore workers' runs in flight.
const bundleCacheSize = 8

type decodedBundle struct {
	done    chan struct{} // closed when plain, members and err are set
	plain   []byte
	members pack.BundleIndex
	err     error
}

type bundleCache struct {
	mu     sync.Mutex
	recent []agentproto.BundleRef // least recently used first
	m      map[agentproto.BundleRef]*decodedBundle
}

// bundleMember returns the plaintext of member id of bundle ref, checked
// against id. The slice aliases the decoded bundle: do not modify it.
func (c *Client) bundleMember(ctx context.Context, ref agentproto.BundleRef, id fingerprint.ID) ([]byte, error) {
	d := c.bundle(ctx, ref)
	select {
	case <-d.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if d.err != nil {
		return nil, fmt.Errorf("remote: get %v %s: %w", pack.Data, id.Short(), d.err)
	}
	m, ok := d.members.Find(id)
	if !ok {
		return nil, fmt.Errorf("remote: get %v %s: %w: not in the bundle the vault named for it", pack.Data, id.Short(), repo.ErrCorrupt)
	}
	data := d.plain[m.Offset : m.Offset+m.Len]
	if c.fp.Sum(data) != id {
		return nil, fmt.Errorf("remote: get %v %s: %w: received data does not match its ID", pack.Data, id.Short(), repo.ErrCorrupt)
	}
	c.recvPlain.Add(int64(len(data)))
	c.bundlesRecv.Add(1)
	return data, nil
}

// bundle returns bundle ref from the cache, or starts getting it (one
// caller gets it; the others wait on done). A failure is not kept.
func (c *Client) bundle(ctx context.Context, ref agentproto.BundleRef) *decodedBundle {
	bc := &c.bundles
	bc.mu.Lock()
	if d, ok := bc.m[ref]; ok {
		for i, r := range bc.recent {
			if r == ref {
				copy(bc.recent[i:], bc.recent[i+1:])
				bc.recent[len(bc.recent)-1] = ref
				break
			}
		}
		bc.mu.Unlock()
		return d
	}
	if bc.m == nil {
		bc.m = map[agentproto.BundleRef]*decodedBundle{}
	}
	d := &decodedBundle{done: make(chan struct{})}
	bc.m[ref] = d
	bc.recent = append(bc.recent, ref)
	if len(bc.recent) > bundleCacheSize {
		delete(bc.m, bc.recent[0])
		bc.recent = append(bc.recent[:0], bc.recent[1:]...)
	}
	bc.mu.Unlock()

	d.plain, d.members, d.err = c.getBundle(ctx, ref)
	if d.err != nil {
		bc.mu.Lock()
		if bc.m[ref] == d {
			delete(bc.m, ref)
			for i, r := range bc.recent {
				if r == ref {
					bc.recent = append(bc.recent[:i], bc.recent[i+1:]...)
					break
				}
			}
		}
		bc.mu.Unlock()
	}
	close(d.done)
	return d
}

// getBundle gets, decodes and parses bundle ref.
func (c *Client) getBundle(ctx context.Context, ref agentproto.BundleRef) ([]byte, pack.BundleIndex, error) {
	r, err := reply[*agentproto.Blob](c.call(ctx, &agentproto.GetBundle{Ref: ref}))
	if err != nil {
		return nil, nil, fmt.Errorf("get bundle: %w", err)
	}
	plain, err := c.coder.Decode(nil, seal.Codec(r.Codec), r.Data, pack.MaxBundleSize)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: a bundle the vault sent: %w", repo.ErrCorrupt, err)
	}
	ms, err := pack.ParseBundle(plain)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: a bundle the vault sent: %w", repo.ErrCorrupt, err)
	}
	c.recvWire.Add(int64(len(r.Data)))
	return plain, pack.NewBundleIndex(ms), nil
}
