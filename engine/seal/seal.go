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
	start := len(dst)
	dst = slices.Grow(dst, Overhead+len(plaintext)+len(plaintext)>>7+64)
	codec, out := s.Encode(dst[:start+headerLen+nonceSize], plaintext)
	return s.seal(out, start, t, id, codec)
}

// SealEncoded is Seal of a plaintext the caller has encoded already
// (Coder.Encode, here or at an agent): payload is sealed as the blob's
// payload under codec, without compressing it again. The caller must
// have checked that payload decodes (Decode) to the plaintext id is the
// fingerprint of, as the vault does for every blob an agent sends.
func (s *Sealer) SealEncoded(dst []byte, t Type, id fingerprint.ID, codec Codec, payload []byte) ([]byte, error) {
	if t == 0 {
		return dst, fmt.Errorf("seal %s: %w", id.Short(), ErrType)
	}
	if !codec.valid() {
		return dst, fmt.Errorf("seal %v %s: %w: unknown %v", t, id.Short(), ErrCorrupt, codec)
	}
	if len(payload) > MaxSize {
		return dst, fmt.Errorf("seal %v %s: %w: %d bytes > %d", t, id.Short(), ErrTooLarge, len(payload), MaxSize)
	}
	start := len(dst)
	dst = slices.Grow(dst, Overhead+len(payload))
	return s.seal(append(dst[:start+headerLen+nonceSize], payload...), start, t, id, codec)
}

// seal encrypts, in place, the payload that follows dst[start:] 's room
// for the header and nonce, and appends the tag.
func (s *Sealer) seal(dst []byte, start int, t Type, id fingerprint.ID, codec Codec) ([]byte, error) {
	sc := s.getScratch()
	defer s.putScratch(sc)
	payload := start + headerLen + nonceSize
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
	out, err := s.Decode(dst, codec, comp, limit)
	if err != nil {
		return dst, fmt.Errorf("open %v %s: %w", t, id.Short(), err)
	}
	return out, nil
}

// OpenEncoded authenticates blob as type t with ID id and appends its
// payload to dst as stored, without decoding it, and returns its codec:
// the vault sends an agent the compressed payload, which the agent
// decodes (Coder.Decode) and checks against id. Like Open, it returns
// only authenticated bytes and dst unchanged on any error.
func (s *Sealer) OpenEncoded(dst []byte, t Type, id fingerprint.ID, blob []byte) (Codec, []byte, error) {
	if len(blob) < Overhead {
		return 0, dst, fmt.Errorf("open %v %s: %w: %d bytes, shorter than a sealed blob", t, id.Short(), ErrCorrupt, len(blob))
	}
	codec, err := parseHeader(blob[0])
	if err != nil {
		return 0, dst, fmt.Errorf("open %v %s: %w", t, id.Short(), err)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	out, err := s.aead.Open(dst, blob[headerLen:headerLen+nonceSize], blob[headerLen+nonceSize:], additionalData(&sc.aad, blob[0], t, id))
	if err != nil {
		return 0, dst, fmt.Errorf("open %v %s: %w: authentication failed", t, id.Short(), ErrCorrupt)
	}
	return codec, out, nil
}
