package repo

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/seal"
)

// TestBundleRead: every bundled blob names its bundle (BundleOf), the
// bundle's members as its pack's header lists them include it
// (BundleMembers), and the bundle read whole as stored (GetEncodedBundle)
// decodes to a bundle whose table lists exactly those members with their
// plaintexts. A blob stored alone has no bundle; a name of a bundle that
// is not there (another length or offset) is ErrNotFound; a damaged
// bundle is ErrCorrupt.
func TestBundleRead(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleSize: 64 << 10})
	r := fx.init()
	bs := smallBlobs(fx, 120)
	byID := map[fingerprint.ID][]byte{}
	for _, b := range bs {
		if _, err := r.PutSize(ctx, b.t, b.id, b.data); err != nil {
			t.Fatal(err)
		}
		byID[b.id] = b.data
	}
	if _, ok := r.BundleOf(pack.Data, bs[0].id); ok {
		t.Fatal("BundleOf names a bundle for a blob not yet flushed")
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	refs := map[BundleRef]bool{}
	for _, b := range bs {
		ref, ok := r.BundleOf(b.t, b.id)
		if small := b.t == pack.Data && len(b.data) < DefaultBundleBelow; ok != small {
			t.Fatalf("blob %s of %d bytes: in a bundle %v", b.id.Short(), len(b.data), ok)
		}
		if !ok {
			continue
		}
		ids, err := r.BundleMembers(ref)
		if err != nil || !slices.Contains(ids, b.id) {
			t.Fatalf("BundleMembers of %s's bundle: %v (%d members)", b.id.Short(), err, len(ids))
		}
		refs[ref] = true
	}
	if len(refs) < 3 {
		t.Fatalf("%d bundles for 120 small blobs in bundles of 64 KiB", len(refs))
	}
	coder, err := seal.NewCoder(seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer coder.Close()
	members := 0
	for ref := range refs {
		ids, _ := r.BundleMembers(ref)
		codec, payload, err := r.GetEncodedBundle(ctx, ref, []byte("x"))
		if err != nil || string(payload[:1]) != "x" {
			t.Fatal(err)
		}
		plain, err := coder.Decode(nil, codec, payload[1:], pack.MaxBundleSize)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := pack.ParseBundle(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != len(ids) {
			t.Fatalf("bundle table: %d members, header %d", len(ms), len(ids))
		}
		for i, m := range ms {
			if m.ID != ids[i] || !bytes.Equal(plain[m.Offset:m.Offset+m.Len], byID[m.ID]) {
				t.Fatalf("member %d of the bundle read whole: %s, header says %s, or wrong bytes", i, m.ID.Short(), ids[i].Short())
			}
			members++
		}
		for _, bad := range []BundleRef{{ref.Pack, ref.Offset, ref.Length + 1}, {ref.Pack, ref.Offset + 1, ref.Length}} {
			if _, err := r.BundleMembers(bad); !errors.Is(err, ErrNotFound) {
				t.Fatalf("BundleMembers of a bundle that is not there: %v", err)
			}
		}
	}
	if want := len(bs) - 2; members != want {
		t.Fatalf("bundles read whole hold %d members, want %d", members, want)
	}

	// Damage one bundle: reading it whole fails, as ErrCorrupt.
	var ref BundleRef
	for ref = range refs {
		break
	}
	flipByte(t, filepath.Join(fx.dir, packPath(ref.Pack)), func(int) int { return int(ref.Offset + ref.Length/2) })
	r.packFiles.closeAll()
	if _, _, err := r.GetEncodedBundle(ctx, ref, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged bundle read whole: %v; want ErrCorrupt", err)
	}
	closeRepo(t, r)
}
