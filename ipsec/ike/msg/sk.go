package msg

import (
	"bytes"
)

// AEAD is the cipher of an IKE SA's SK payloads, one per direction,
// supplied by the caller (the crypto lives in ipsec/ike/crypto). It is a
// plain AEAD, like crypto/cipher.AEAD with an explicit IV instead of a
// nonce: it knows nothing of IKE padding, which this package adds and
// removes.
//
// For ENCR_AES_GCM_16 (RFC 5282): IVSize is 8, Overhead is 16, and the
// implementation forms the 12-octet GCM nonce as its 4-octet salt (from
// SK_ei/SK_er) followed by iv.
type AEAD interface {
	// IVSize is the length of the explicit IV carried in SK/SKF payloads.
	IVSize() int
	// Overhead is the length of the ICV appended to the ciphertext.
	Overhead() int
	// Seal encrypts and authenticates plaintext and authenticates aad,
	// appends ciphertext||ICV (len(plaintext)+Overhead() octets) to dst
	// and returns the result. iv is IVSize() octets and must never repeat
	// under one key. aad and the appended region do not overlap.
	Seal(dst, iv, plaintext, aad []byte) []byte
	// Open authenticates and decrypts ciphertext (which ends with the
	// ICV), appends the plaintext to dst and returns the result.
	Open(dst, iv, ciphertext, aad []byte) ([]byte, error)
}

// BlockSizer may be implemented by an AEAD whose plaintext must be a
// multiple of a block size; Encode pads to it. Without it the block size is
// 1 (AES-GCM, ChaCha20-Poly1305) and no padding octets are added, only the
// Pad Length octet.
type BlockSizer interface{ BlockSize() int }

const (
	skHeaderLen  = genericHeaderLen     // SK: generic header
	skfHeaderLen = genericHeaderLen + 4 // SKF: generic header, Fragment Number, Total Fragments
)

func (p *Encrypted) appendBody(b []byte) ([]byte, error) {
	if len(p.Body) == 0 {
		return b, errf(ErrEncode, "empty SK payload")
	}
	return append(b, p.Body...), nil
}

func decodeFragment(next PayloadType, b []byte) (*Fragment, error) {
	if len(b) < 5 {
		return nil, errf(ErrLength, "SKF body %d octets", len(b))
	}
	f := &Fragment{NextPayload: next, Number: be16(b), Total: be16(b[2:]), Body: b[4:]}
	return f, checkFragment(f)
}

func checkFragment(f *Fragment) error {
	if f.Number == 0 || f.Number > f.Total {
		return errf(ErrMalformed, "fragment %d of %d", f.Number, f.Total)
	}
	return nil
}

func (p *Fragment) appendBody(b []byte) ([]byte, error) {
	if err := checkFragment(p); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	if len(p.Body) == 0 {
		return b, errf(ErrEncode, "empty SKF payload")
	}
	b = app16(b, p.Number)
	b = app16(b, p.Total)
	return append(b, p.Body...), nil
}

// Parts returns the raw pieces of the SK payload e of the IKE message in
// datagram (the bytes Decode was given): aad is the exact associated data
// of RFC 5282 §5.1 (IKE header through the SK generic header, as sent; it
// aliases datagram), iv the first ivSize octets of the body and ciphertext
// the rest, ICV included (both alias e.Body).
func (e *Encrypted) Parts(datagram []byte, ivSize int) (aad, iv, ciphertext []byte, err error) {
	return sealedParts(datagram, e.Body, skHeaderLen, ivSize)
}

// Parts is Encrypted.Parts for an SKF payload; aad ends with the Fragment
// Number and Total Fragments fields (RFC 7383 §2.5.3).
func (p *Fragment) Parts(datagram []byte, ivSize int) (aad, iv, ciphertext []byte, err error) {
	return sealedParts(datagram, p.Body, skfHeaderLen, ivSize)
}

func sealedParts(datagram, body []byte, hdrLen, ivSize int) (aad, iv, ct []byte, err error) {
	n := len(datagram) - len(body)
	if n < HeaderLen+hdrLen || !bytes.Equal(datagram[n:], body) ||
		int(be16(datagram[n-hdrLen+2:])) != hdrLen+len(body) {
		return nil, nil, nil, errf(ErrMalformed, "datagram does not end with this encrypted payload")
	}
	if ivSize < 0 || len(body) < ivSize+1 {
		return nil, nil, nil, errf(ErrLength, "encrypted payload body %d octets, IV %d", len(body), ivSize)
	}
	return datagram[:n:n], body[:ivSize:ivSize], body[ivSize:], nil
}

// Open authenticates and decrypts the SK payload e of the message in
// datagram with a, removes the padding and decodes the inner payload chain.
// Decrypt failures wrap ErrDecrypt (and the AEAD's error); inner decode
// failures are like Decode's.
func (e *Encrypted) Open(datagram []byte, a AEAD) ([]Payload, error) {
	pt, err := openSealed(datagram, e.Body, skHeaderLen, a)
	if err != nil {
		return nil, err
	}
	ps, err := decodeChain(e.NextPayload, pt, false)
	if err != nil {
		return nil, ctx(err, "SK")
	}
	return ps, nil
}

// Open authenticates and decrypts the SKF payload p and returns its part of
// the inner payload chain, padding removed. See Reassemble.
func (p *Fragment) Open(datagram []byte, a AEAD) ([]byte, error) {
	return openSealed(datagram, p.Body, skfHeaderLen, a)
}

func openSealed(datagram, body []byte, hdrLen int, a AEAD) ([]byte, error) {
	aad, iv, ct, err := sealedParts(datagram, body, hdrLen, a.IVSize())
	if err != nil {
		return nil, err
	}
	if len(ct) < a.Overhead()+1 {
		return nil, errf(ErrLength, "ciphertext %d octets with ICV %d", len(ct), a.Overhead())
	}
	pt, err := a.Open(nil, iv, ct, aad)
	if err != nil {
		return nil, errf(ErrDecrypt, "%w", err)
	}
	if len(pt) == 0 {
		return nil, errf(ErrDecrypt, "empty plaintext")
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, errf(ErrDecrypt, "pad length %d in %d octets", pad, len(pt))
	}
	return pt[:len(pt)-1-pad], nil
}

// Reassemble decodes the inner payload chain of a fragmented message from
// the opened fragments' plaintexts in fragment-number order; first is the
// NextPayload of fragment 1.
func Reassemble(first PayloadType, chunks [][]byte) ([]Payload, error) {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	b := make([]byte, 0, n)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return decodeChain(first, b, false)
}

func blockSize(a AEAD) int {
	if bs, ok := a.(BlockSizer); ok && bs.BlockSize() > 1 && bs.BlockSize() <= 256 {
		return bs.BlockSize()
	}
	return 1
}

// EncodeEncrypted encodes a message whose payloads are clear (normally none)
// followed by an SK payload that carries inner, sealed with a under the
// explicit IV iv. The AAD is the encoded header and payloads up to and
// including the SK generic header, with all lengths final.
func EncodeEncrypted(h Header, clear, inner []Payload, a AEAD, iv []byte) ([]byte, error) {
	first, plain, err := EncodeInner(inner)
	if err != nil {
		return nil, err
	}
	return seal(h, clear, PayloadSK, first, 0, 0, plain, a, iv)
}

// EncodeFragment encodes one SKF message (RFC 7383): fragment number of
// total, carrying chunk, a piece of the encoded inner payload chain. next
// is the first inner payload's type for fragment 1 and PayloadNone
// otherwise.
func EncodeFragment(h Header, number, total uint16, next PayloadType, chunk []byte, a AEAD, iv []byte) ([]byte, error) {
	if number == 0 || number > total {
		return nil, errf(ErrEncode, "fragment %d of %d", number, total)
	}
	return seal(h, nil, PayloadSKF, next, number, total, chunk, a, iv)
}

// EncodeFragments encodes inner as SKF messages of at most maxLen octets
// each (the IKE message, without UDP/IP headers or non-ESP marker), taking
// one fresh IV per fragment from nextIV.
func EncodeFragments(h Header, inner []Payload, a AEAD, maxLen int, nextIV func() ([]byte, error)) ([][]byte, error) {
	first, plain, err := EncodeInner(inner)
	if err != nil {
		return nil, err
	}
	bs := blockSize(a)
	room := maxLen - HeaderLen - skfHeaderLen - a.IVSize() - a.Overhead() - 1 - (bs - 1)
	if room < 1 {
		return nil, errf(ErrEncode, "maximum fragment size %d too small", maxLen)
	}
	total := (len(plain) + room - 1) / room
	if total == 0 {
		total = 1
	}
	if total > 0xffff {
		return nil, errf(ErrEncode, "%d fragments", total)
	}
	out := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		chunk := plain[i*room : min((i+1)*room, len(plain))]
		next := PayloadNone
		if i == 0 {
			next = first
		}
		iv, err := nextIV()
		if err != nil {
			return nil, err
		}
		m, err := EncodeFragment(h, uint16(i+1), uint16(total), next, chunk, a, iv)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func seal(h Header, clear []Payload, t, innerFirst PayloadType, number, total uint16, plain []byte, a AEAD, iv []byte) ([]byte, error) {
	if len(iv) != a.IVSize() {
		return nil, errf(ErrEncode, "IV of %d octets (want %d)", len(iv), a.IVSize())
	}
	bs := blockSize(a)
	pad := (bs - (len(plain)+1)%bs) % bs
	ptLen := len(plain) + pad + 1
	bodyLen := len(iv) + ptLen + a.Overhead()
	return sealWith(h, clear, t, innerFirst, number, total, bodyLen, func(b, aad []byte) ([]byte, error) {
		b = append(b, iv...)
		pt := make([]byte, ptLen)
		copy(pt, plain)
		pt[ptLen-1] = byte(pad)
		return a.Seal(b, iv, pt, aad), nil
	})
}

// sealWith encodes the header, the clear payloads and the SK/SKF generic
// header with all lengths final (the body will be bodyLen octets), then
// calls body with that prefix and its exact AAD to append the body.
func sealWith(h Header, clear []Payload, t, innerFirst PayloadType, number, total uint16, bodyLen int,
	body func(b, aad []byte) ([]byte, error)) ([]byte, error) {
	hdrLen := skHeaderLen
	if t == PayloadSKF {
		hdrLen = skfHeaderLen
	}
	payLen := hdrLen + bodyLen
	if bodyLen < 1 || payLen > 0xffff {
		return nil, errf(ErrEncode, "%v payload of %d octets", t, payLen)
	}
	first := t
	if len(clear) > 0 {
		first = firstType(clear)
	}
	b := appendHeader(make([]byte, 0, HeaderLen+payLen+64), &h, first)
	b, err := appendChain(b, clear, false)
	if err != nil {
		return nil, err
	}
	if len(clear) > 0 {
		// The last clear payload's Next Payload is SK/SKF: patch it.
		off := HeaderLen
		for i := 0; i < len(clear)-1; i++ {
			off += int(be16(b[off+2:]))
		}
		b[off] = byte(t)
	}
	b = append(b, byte(innerFirst), 0)
	b = app16(b, uint16(payLen))
	if t == PayloadSKF {
		b = app16(b, number)
		b = app16(b, total)
	}
	want := len(b) + bodyLen
	putLen32(b, want)
	aad := b[:len(b):len(b)]
	b, err = body(b, aad)
	if err != nil {
		return nil, errf(ErrEncode, "sealing: %w", err)
	}
	if len(b) != want {
		return nil, errf(ErrEncode, "sealed body of %d octets, expected %d", len(b)-len(aad), bodyLen)
	}
	return b, nil
}

// SKSealer is the other shape a caller's SK cipher may have: it owns its IV
// counter and the IKE padding, like ipsec/ike/crypto's SKCipher. Seal
// returns the whole SK body (IV || ciphertext || ICV) for an inner payload
// chain, SealedLen(n) is that body's length for n octets of inner chain
// (known before sealing, because the AAD holds the lengths), and Open takes
// the whole body and returns the inner chain with the padding removed.
type SKSealer interface {
	SealedLen(n int) int
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// EncodeEncryptedWith is EncodeEncrypted for an SKSealer.
func EncodeEncryptedWith(h Header, clear, inner []Payload, s SKSealer) ([]byte, error) {
	first, plain, err := EncodeInner(inner)
	if err != nil {
		return nil, err
	}
	return sealWith(h, clear, PayloadSK, first, 0, 0, s.SealedLen(len(plain)), func(b, aad []byte) ([]byte, error) {
		body, err := s.Seal(plain, aad)
		if err != nil {
			return nil, err
		}
		return append(b, body...), nil
	})
}

// EncodeFragmentWith is EncodeFragment for an SKSealer.
func EncodeFragmentWith(h Header, number, total uint16, next PayloadType, chunk []byte, s SKSealer) ([]byte, error) {
	if number == 0 || number > total {
		return nil, errf(ErrEncode, "fragment %d of %d", number, total)
	}
	return sealWith(h, nil, PayloadSKF, next, number, total, s.SealedLen(len(chunk)), func(b, aad []byte) ([]byte, error) {
		body, err := s.Seal(chunk, aad)
		if err != nil {
			return nil, err
		}
		return append(b, body...), nil
	})
}

// EncodeFragmentsWith is EncodeFragments for an SKSealer: inner as SKF
// messages of at most maxLen octets each (RFC 7383 §2.5).
func EncodeFragmentsWith(h Header, inner []Payload, s SKSealer, maxLen int) ([][]byte, error) {
	first, plain, err := EncodeInner(inner)
	if err != nil {
		return nil, err
	}
	// The sealing overhead (IV, ICV, padding) may grow with the length
	// for block ciphers: take the worst case at the largest chunk.
	fixed := HeaderLen + skfHeaderLen
	room := maxLen - fixed
	for room > 0 && fixed+s.SealedLen(room) > maxLen {
		room--
	}
	if room < 1 {
		return nil, errf(ErrEncode, "maximum fragment size %d too small", maxLen)
	}
	total := max((len(plain)+room-1)/room, 1)
	if total > 0xffff {
		return nil, errf(ErrEncode, "%d fragments", total)
	}
	out := make([][]byte, 0, total)
	for i := range total {
		next := PayloadNone
		if i == 0 {
			next = first
		}
		m, err := EncodeFragmentWith(h, uint16(i+1), uint16(total), next, plain[i*room:min((i+1)*room, len(plain))], s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// OpenWith is Open for an SKSealer.
func (e *Encrypted) OpenWith(datagram []byte, s SKSealer) ([]Payload, error) {
	pt, err := openWith(datagram, e.Body, skHeaderLen, s)
	if err != nil {
		return nil, err
	}
	ps, err := decodeChain(e.NextPayload, pt, false)
	if err != nil {
		return nil, ctx(err, "SK")
	}
	return ps, nil
}

// OpenWith is Fragment.Open for an SKSealer.
func (p *Fragment) OpenWith(datagram []byte, s SKSealer) ([]byte, error) {
	return openWith(datagram, p.Body, skfHeaderLen, s)
}

func openWith(datagram, body []byte, hdrLen int, s SKSealer) ([]byte, error) {
	aad, _, sealed, err := sealedParts(datagram, body, hdrLen, 0)
	if err != nil {
		return nil, err
	}
	pt, err := s.Open(sealed, aad)
	if err != nil {
		return nil, errf(ErrDecrypt, "%w", err)
	}
	return pt, nil
}

func putLen32(m []byte, n int) {
	m[24], m[25], m[26], m[27] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}
