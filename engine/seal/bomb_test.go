package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// sealRaw seals an arbitrary payload under codec, the way a buggy or
// malicious writer holding the key could.
func sealRaw(t *testing.T, s *Sealer, codec Codec, payload []byte) []byte {
	t.Helper()
	h := header(codec)
	nonce := make([]byte, nonceSize)
	var a [aadLen]byte
	return s.aead.Seal(append([]byte{h}, nonce...), nonce, payload, additionalData(&a, h, TypeChunk, idOf(1)))
}

// TestBomb: a highly compressed frame that does not declare its size (a
// streaming frame) must stop at the caller's limit, not inflate.
func TestBomb(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	var frame bytes.Buffer
	w, err := zstd.NewWriter(&frame, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 256 { // 256 MiB of zeros
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(frame.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("test frame should have no content size: %v %+v", err, h)
	}
	t.Logf("bomb: %d compressed bytes", frame.Len())
	blob := sealRaw(t, s, CodecZstd, frame.Bytes())
	if _, err := s.Open(nil, TypeChunk, idOf(1), blob, 4<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Open of a 256 MiB bomb with a 4 MiB limit: %v, want ErrTooLarge", err)
	}
}

// TestAuthenticGarbage: authentic but undecodable zstd is ErrCorrupt.
func TestAuthenticGarbage(t *testing.T) {
	s := newSealer(t, testKey(1), Options{})
	for _, payload := range [][]byte{nil, []byte("not zstd at all"), {0x28, 0xb5, 0x2f, 0xfd, 0xff}} {
		blob := sealRaw(t, s, CodecZstd, payload)
		if _, err := s.Open(nil, TypeChunk, idOf(1), blob, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("payload %q: %v, want ErrCorrupt", payload, err)
		}
	}
}
