package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
	"keep/engine/seal"
)

// TestAgentBundle: a bundle formed and encoded elsewhere (an agent) is
// decoded and checked (DecodeBundle), stored as it came when all its
// members are new (one sealed bundle, the payload's size), and its
// members read back after a reopen; when a member is there already, the
// others are stored one by one.
func TestAgentBundle(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleBelow: 64 << 10})
	r := fx.init()
	coder := newCoder(t)
	var blobs []blob
	var b pack.Bundler
	for i := range 40 {
		bl := fx.blob(pack.Data, corpus.Text(uint64(100+i), 20<<10))
		blobs = append(blobs, bl)
		b.Add(bl.id, bl.data)
	}
	plain := bytes.Clone(b.Plaintext())
	codec, payload := coder.Encode(nil, plain)
	got, members, err := r.DecodeBundle([]byte("x"), codec, payload, len(plain))
	if err != nil || !bytes.Equal(got[1:], plain) || len(members) != len(blobs) {
		t.Fatalf("DecodeBundle: %d members, %v", len(members), err)
	}
	sealed0 := r.Stats().BundlesSealed
	stored, fresh, freshBytes, err := r.PutEncodedBundle(ctx, got[1:], members, codec, payload)
	if err != nil || stored != len(payload)+seal.Overhead || fresh != len(blobs) || freshBytes != int64(len(blobs))*20<<10 {
		t.Fatalf("PutEncodedBundle: stored %d (want %d: the payload as it came), %d fresh, %d bytes, %v",
			stored, len(payload)+seal.Overhead, fresh, freshBytes, err)
	}
	if n := r.Stats().BundlesSealed - sealed0; n != 1 {
		t.Fatalf("%d bundles sealed, want 1", n)
	}
	// Present while pending, durable after Flush, there after a reopen.
	if !r.Has(pack.Data, blobs[7].id) {
		t.Fatal("a member of a stored bundle is not pending")
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r = fx.open()
	for _, bl := range blobs {
		if g, err := r.Get(ctx, bl.t, bl.id, nil); err != nil || !bytes.Equal(g, bl.data) {
			t.Fatalf("member %s after reopen: %v", bl.id.Short(), err)
		}
	}

	// A bundle with one member present: the new ones go in one by one.
	extra := []blob{fx.blob(pack.Data, corpus.Text(200, 9000)), fx.blob(pack.Data, corpus.Text(201, 9000))}
	var b2 pack.Bundler
	b2.Add(extra[0].id, extra[0].data)
	b2.Add(blobs[3].id, blobs[3].data)
	b2.Add(extra[1].id, extra[1].data)
	plain2 := bytes.Clone(b2.Plaintext())
	c2, p2 := coder.Encode(nil, plain2)
	_, m2, err := r.DecodeBundle(nil, c2, p2, len(plain2))
	if err != nil {
		t.Fatal(err)
	}
	if _, fresh, _, err := r.PutEncodedBundle(ctx, plain2, m2, c2, p2); err != nil || fresh != 2 {
		t.Fatalf("bundle with a present member: %d fresh, %v; want the 2 new ones", fresh, err)
	}
	// The same member twice in one bundle: stored once.
	var b3 pack.Bundler
	dup := fx.blob(pack.Data, corpus.Text(202, 5000))
	b3.Add(dup.id, dup.data)
	b3.Add(dup.id, dup.data)
	plain3 := bytes.Clone(b3.Plaintext())
	_, m3, err := r.DecodeBundle(nil, seal.CodecNone, plain3, len(plain3))
	if err != nil {
		t.Fatal(err)
	}
	if _, fresh, _, err := r.PutEncodedBundle(ctx, plain3, m3, seal.CodecNone, plain3); err != nil || fresh != 1 {
		t.Fatalf("bundle listing a blob twice: %d fresh, %v", fresh, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, bl := range append(extra, dup) {
		if g, err := r.Get(ctx, bl.t, bl.id, nil); err != nil || !bytes.Equal(g, bl.data) {
			t.Fatalf("blob %s: %v", bl.id.Short(), err)
		}
	}
}

// TestDecodeBundleRefuses: a bundle this repository would not make is
// refused before anything is stored.
func TestDecodeBundleRefuses(t *testing.T) {
	fx := newFixture(t, Options{BundleBelow: 64 << 10})
	r := fx.init()
	var big pack.Bundler
	big.Add(fx.blob(pack.Data, corpus.Text(1, 64<<10)).id, corpus.Text(1, 64<<10))
	bigPlain := bytes.Clone(big.Plaintext())
	var ok pack.Bundler
	ok.Add(fx.blob(pack.Data, []byte("a small file")).id, []byte("a small file"))
	okPlain := bytes.Clone(ok.Plaintext())
	for name, tc := range map[string]struct {
		plain []byte
		size  int
		want  error
	}{
		"member not bundled":  {bigPlain, len(bigPlain), ErrTooLarge},
		"size understated":    {okPlain, len(okPlain) - 1, ErrCorrupt},
		"size overstated":     {okPlain, len(okPlain) + 1, ErrCorrupt},
		"over the bundle max": {okPlain, pack.MaxBundleSize + 1, ErrTooLarge},
		"no table":            {[]byte("just some bytes, no bundle table"), 32, ErrCorrupt},
	} {
		if out, _, err := r.DecodeBundle([]byte("d"), seal.CodecNone, tc.plain, tc.size); !errors.Is(err, tc.want) || string(out) != "d" {
			t.Errorf("%s: %v, dst %q; want %v", name, err, out, tc.want)
		}
	}
	unbundled := newFixture(t, Options{BundleBelow: -1}).init()
	if _, _, err := unbundled.DecodeBundle(nil, seal.CodecNone, okPlain, len(okPlain)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a repository without bundles took a bundle: %v", err)
	}
}
