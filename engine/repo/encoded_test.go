package repo

import (
	"bytes"
	"context"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
	"keep/engine/seal"
)

// TestEncodedBlobs: a blob put encoded (as an agent sends it) is sealed
// as it came, not compressed again, and opens to its plaintext; a blob
// read encoded comes back as stored; bundled blobs go in and out as
// plaintext; a payload that saves too little is stored as plaintext.
func TestEncodedBlobs(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{BundleBelow: 64 << 10})
	r := fx.init()
	coder := newCoder(t)

	large := fx.blob(pack.Data, corpus.Text(3, 1<<20))
	codec, payload := coder.Encode(nil, large.data)
	if codec != seal.CodecZstd {
		t.Fatalf("text encodes as %v", codec)
	}
	n, err := r.PutEncodedSize(ctx, large.t, large.id, large.data, codec, payload)
	if err != nil || n != len(payload)+seal.Overhead {
		t.Fatalf("PutEncodedSize: %d, %v; want the payload sealed as it came, %d bytes", n, err, len(payload)+seal.Overhead)
	}
	// A payload not worth its decompression is stored as the plaintext.
	poor := fx.blob(pack.Data, corpus.Random(4, 200<<10))
	n, err = r.PutEncodedSize(ctx, poor.t, poor.id, poor.data, seal.CodecZstd, make([]byte, len(poor.data)))
	if err != nil || n != len(poor.data)+seal.Overhead {
		t.Fatalf("PutEncodedSize of a payload that saves nothing: %d, %v; want the plaintext, %d bytes", n, err, len(poor.data)+seal.Overhead)
	}
	small := fx.blob(pack.Data, corpus.Text(5, 10<<10))
	sc, sp := coder.Encode(nil, small.data)
	if n, err := r.PutEncodedSize(ctx, small.t, small.id, small.data, sc, sp); err != nil || n == 0 {
		t.Fatalf("PutEncodedSize of a small blob: %d, %v", n, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range []blob{large, poor, small} {
		if got, err := r.Get(ctx, b.t, b.id, nil); err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("Get %s: %v", b.id.Short(), err)
		}
	}
	for _, tc := range []struct {
		b     blob
		codec seal.Codec
	}{{large, seal.CodecZstd}, {poor, seal.CodecNone}, {small, seal.CodecNone}} {
		c, p, err := r.GetEncoded(ctx, tc.b.t, tc.b.id, []byte("x"))
		if err != nil || c != tc.codec || p[0] != 'x' {
			t.Fatalf("GetEncoded %s: codec %v (want %v), %v", tc.b.id.Short(), c, tc.codec, err)
		}
		if tc.b.id == large.id && !bytes.Equal(p[1:], payload) {
			t.Fatal("GetEncoded did not return the payload as the agent encoded it")
		}
		plain, err := coder.Decode(nil, c, p[1:], len(tc.b.data))
		if err != nil || !bytes.Equal(plain, tc.b.data) {
			t.Fatalf("GetEncoded %s does not decode to the blob: %v", tc.b.id.Short(), err)
		}
	}
	// A blob Put compressed itself reads back encoded as well.
	own := fx.blob(pack.Data, corpus.Text(6, 300<<10))
	put(t, r, own)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c, p, err := r.GetEncoded(ctx, own.t, own.id, nil); err != nil || c != seal.CodecZstd || len(p) >= len(own.data)/2 {
		t.Fatalf("GetEncoded of a Put blob: codec %v, %d bytes of %d, %v", c, len(p), len(own.data), err)
	}
}

// newCoder is an agent's encoder with the default options, closed when
// the test ends.
func newCoder(t *testing.T) *seal.Coder {
	t.Helper()
	c, err := seal.NewCoder(seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
