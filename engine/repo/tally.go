package repo

import (
	"context"
	"sync/atomic"
)

// A Tally counts the stored (sealed) bytes of the new blobs that Puts
// made with its context add (WithTally): a job's "bytes stored". A blob
// sealed alone counts when its Put returns; a bundled one when its bundle
// is sealed, as its share of the bundle in proportion to its size. So the
// count is exact once a Flush after the Puts has returned, where PutSize's
// figure for a bundled blob is only an estimate.
type Tally struct{ n atomic.Int64 }

// Bytes returns the bytes counted so far.
func (t *Tally) Bytes() int64 { return t.n.Load() }

func (t *Tally) add(n int64) {
	if t != nil {
		t.n.Add(n)
	}
}

type tallyKey struct{}

// WithTally returns a context whose Puts count their blobs' stored bytes
// into t.
func WithTally(ctx context.Context, t *Tally) context.Context {
	return context.WithValue(ctx, tallyKey{}, t)
}

// tallyOf returns the Tally ctx carries, or nil.
func tallyOf(ctx context.Context) *Tally {
	t, _ := ctx.Value(tallyKey{}).(*Tally)
	return t
}
