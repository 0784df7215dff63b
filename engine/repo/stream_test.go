package repo

import (
	"context"
	"fmt"
	"testing"

	"keep/engine/pack"
)

// TestStreamOrder: two Streams put small blobs alternately; each bundle
// holds one Stream's blobs in the order they were put, so reading one
// Stream's blobs back in order opens only its own bundles, each once.
// Through the Repo's own Stream the two would share every bundle.
func TestStreamOrder(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 64 << 10})
	r := fx.init()
	defer closeRepo(t, r)
	sa, sb := r.NewStream(2), r.NewStream(0) // async and sync sealing
	ca, cb := WithStream(ctx, sa), WithStream(ctx, sb)
	var as []blob
	for i := range 200 {
		a := fx.blob(pack.Data, []byte(fmt.Sprintf("%04d a %0*d", i, 4000, i)))
		b := fx.blob(pack.Data, []byte(fmt.Sprintf("%04d b %0*d", i, 4000, i)))
		for _, p := range []struct {
			ctx context.Context
			b   blob
		}{{ca, a}, {cb, b}} {
			if _, err := r.Put(p.ctx, p.b.t, p.b.id, p.b.data); err != nil {
				t.Fatal(err)
			}
		}
		as = append(as, a)
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil { // seals sb's open bundle
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	sealed := r.Stats().BundlesSealed
	// 200 blobs of 4006 bytes per Stream: a bundle is full at 17 (64 KiB),
	// so 11 full and 1 partial each.
	if sealed != 24 {
		t.Fatalf("%d bundles sealed, want 24", sealed)
	}
	r.DropCache()
	opens := r.Stats().BundleOpens
	for _, a := range as {
		mustGet(t, r, a)
	}
	if n := r.Stats().BundleOpens - opens; n != sealed/2 {
		t.Fatalf("reading one Stream's blobs in order opened %d bundles, want its %d", n, sealed/2)
	}
}

// TestFlushWaitsForSealing: a Flush right after the last Put of an async
// Stream (its last full bundles still being sealed by its goroutines)
// returns only when every blob put is in a written, indexed pack.
func TestFlushWaitsForSealing(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 16 << 10})
	r := fx.init()
	defer closeRepo(t, r)
	s := r.NewStream(2)
	defer s.Close()
	cs := WithStream(ctx, s)
	const n = 400
	for i := range n {
		b := fx.blob(pack.Data, []byte(fmt.Sprintf("%05d %0*d", i, 4000, i)))
		if _, err := r.Put(cs, b.t, b.id, b.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Pending != 0 || st.Blobs != n || st.Unindexed != 0 {
		t.Fatalf("after Flush: %d pending, %d indexed of %d, %d not in an index file", st.Pending, st.Blobs, n, st.Unindexed)
	}
}
