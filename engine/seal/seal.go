package seal

import (
	"fmt"
	"io"
	"slices"

	"keep/engine/fingerprint"
)

// Seal appends the sealed form of plaintext, a blob of type t with ID id,
// to dst and returns the extended slice. It compresses the plaintext with
// zstd (fastest; x86 machine code through the branch filter of x86.go
// first) and keeps the result only if it saves at least 1/32 of the size;
// incompressible data costs little to try, as the encoder detects it at
// several GB/s. The nonce is random (96 bits).
//
// The plaintext is compressed straight into dst and encrypted there in
// place: no intermediate buffer of the blob's size (a backup seals
// Workers blobs of up to 4 MiB at once).
//
// Seal does not check that id is the fingerprint of plaintext; the caller
// computed it and owns that invariant. plaintext must not overlap dst's
// spare capacity.
func (s *Sealer) Seal(dst []byte, t Type, id fingerprint.ID, plaintext []byte) ([]byte, error) {
	if t == 0 {
		return dst, fmt.Errorf("seal %s: %w", id.Short(), ErrType)
	}
	if len(plaintext) > MaxSize {
		return dst, fmt.Errorf("seal %v %s: %w: %d bytes > %d", t, id.Short(), ErrTooLarge, len(plaintext), MaxSize)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	start := len(dst)
	// Room for zstd's worst case (incompressible input grows by a few
	// bytes per 128 KiB block), so EncodeAll never reallocates.
	dst = slices.Grow(dst, Overhead+len(plaintext)+len(plaintext)>>7+64)
	dst = dst[:start+headerLen+nonceSize]
	payload := len(dst) // where the payload starts
	codec := CodecNone
	if s.compress && len(plaintext) >= minCompressSize {
		in, zc := plaintext, CodecZstd
		if looksX86(plaintext) {
			sc.filt = append(sc.filt[:0], plaintext...)
			x86Encode(sc.filt)
			in, zc = sc.filt, CodecZstdX86
		}
		// EncodeAll appends to dst.
		if out := s.enc.EncodeAll(in, dst); len(out)-payload <= len(plaintext)-len(plaintext)/savingsDiv {
			codec, dst = zc, out
		}
	}
	if codec == CodecNone {
		dst = append(dst[:payload], plaintext...)
	}
	h := header(codec)
	dst[start] = h
	nonce := dst[start+headerLen : payload]
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return dst[:start], fmt.Errorf("seal %v %s: nonce: %w", t, id.Short(), err)
	}
	// In place: the ciphertext overwrites the payload it encrypts.
	return s.aead.Seal(dst[:payload], nonce, dst[payload:], additionalData(&sc.aad, h, t, id)), nil
}

// Open authenticates blob as type t with ID id, decompresses it and appends
// the plaintext to dst. The plaintext may be at most limit bytes, checked
// before any decompressed byte is produced beyond it (no decompression
// bombs). Open returns only authenticated plaintext: on any error dst is
// returned unchanged.
func (s *Sealer) Open(dst []byte, t Type, id fingerprint.ID, blob []byte, limit int) ([]byte, error) {
	if len(blob) < Overhead {
		return dst, fmt.Errorf("open %v %s: %w: %d bytes, shorter than a sealed blob", t, id.Short(), ErrCorrupt, len(blob))
	}
	codec, err := parseHeader(blob[0])
	if err != nil {
		return dst, fmt.Errorf("open %v %s: %w", t, id.Short(), err)
	}
	nonce, ct := blob[headerLen:headerLen+nonceSize], blob[headerLen+nonceSize:]
	payloadLen := len(ct) - tagSize
	if codec == CodecNone && payloadLen > limit {
		return dst, fmt.Errorf("open %v %s: %w: %d bytes > limit %d", t, id.Short(), ErrTooLarge, payloadLen, limit)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	aad := additionalData(&sc.aad, blob[0], t, id)
	if codec == CodecNone {
		out, err := s.aead.Open(dst, nonce, ct, aad)
		if err != nil {
			return dst, fmt.Errorf("open %v %s: %w: authentication failed", t, id.Short(), ErrCorrupt)
		}
		return out, nil
	}
	comp, err := s.aead.Open(sc.buf[:0], nonce, ct, aad)
	if err != nil {
		return dst, fmt.Errorf("open %v %s: %w: authentication failed", t, id.Short(), ErrCorrupt)
	}
	sc.buf = comp
	out, err := s.decompress(dst, comp, limit)
	if err != nil {
		return dst, fmt.Errorf("open %v %s: %w", t, id.Short(), err)
	}
	if codec == CodecZstdX86 {
		x86Decode(out[len(dst):])
	}
	return out, nil
}
