package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"
)

// EncrID is an IKEv2 Transform Type 1 (encryption) identifier.
type EncrID uint16

// Combined-mode encryption transforms (RFC 5282 §8).
const (
	EncrAESGCM8  EncrID = 18
	EncrAESGCM12 EncrID = 19
	EncrAESGCM16 EncrID = 20
)

const (
	gcmSaltSize = 4  // RFC 5282 §7.1 / RFC 4106 §4
	gcmIVSize   = 8  // explicit IV carried in the SK payload, RFC 5282 §3
	gcmICVSize  = 16 // ENCR_AES_GCM_16
)

// IVCounter produces 8-octet explicit IVs from a 64-bit counter so that an IV
// is never repeated under one key (RFC 5282 §3.1 requires uniqueness; a
// counter is the recommended way to guarantee it). It is safe for concurrent
// use. The zero value starts at IV 0.
type IVCounter struct {
	mu   sync.Mutex
	next uint64
	done bool
}

// Next returns the next IV, or ErrIVExhausted after 2^64 IVs.
func (c *IVCounter) Next() ([gcmIVSize]byte, error) {
	var iv [gcmIVSize]byte
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return iv, ErrIVExhausted
	}
	binary.BigEndian.PutUint64(iv[:], c.next)
	c.next++
	if c.next == 0 {
		c.done = true
	}
	return iv, nil
}

// SKCipher protects the Encrypted (SK) payload with ENCR_AES_GCM_16 as
// specified in RFC 5282. One SKCipher is built per direction from SK_ei or
// SK_er; it owns the IV counter for that key.
//
// The sealed form is the body of the SK payload after its generic header:
//
//	IV (8) | AES-GCM(Payloads | Padding | Pad Length (1)) | ICV (16)
//
// The GCM nonce is salt (last 4 octets of the key material) | IV. The
// associated data (RFC 5282 §5.1) is the IKE header plus the SK payload's
// generic header; the caller builds it and passes it as aad.
type SKCipher struct {
	aead cipher.AEAD
	salt [gcmSaltSize]byte
	ivs  IVCounter
}

// Format prints a placeholder; the key is never formatted.
func (c *SKCipher) Format(f fmt.State, _ rune) { redactedFormat(f, "SKCipher") }

// NewSKCipher builds an ENCR_AES_GCM_16 cipher from SK_ei or SK_er. keymat
// is the AES key followed by the 4-octet salt: 20, 28 or 36 octets for
// 128-, 192- or 256-bit keys (RFC 5282 §7.1).
func NewSKCipher(id EncrID, keymat []byte) (*SKCipher, error) {
	if id != EncrAESGCM16 {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedEncr, id)
	}
	switch len(keymat) {
	case 16 + gcmSaltSize, 24 + gcmSaltSize, 32 + gcmSaltSize:
	default:
		return nil, fmt.Errorf("%w: AES-GCM keymat of %d octets", ErrInvalidKeyLen, len(keymat))
	}
	kl := len(keymat) - gcmSaltSize
	blk, err := aes.NewCipher(keymat[:kl])
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	c := &SKCipher{aead: a}
	copy(c.salt[:], keymat[kl:])
	return c, nil
}

// IVSize is the length of the explicit IV carried in the SK payload (8).
func (c *SKCipher) IVSize() int { return gcmIVSize }

// Overhead is the ICV length (16).
func (c *SKCipher) Overhead() int { return gcmICVSize }

// SealedLen is the length of Seal's output for n octets of payloads (the SK
// payload body length): IV + n + Pad Length octet + ICV. Use it to fill in the
// SK payload and IKE header lengths before building aad.
func (c *SKCipher) SealedLen(n int) int { return gcmIVSize + n + 1 + gcmICVSize }

// Seal encrypts the inner payload chain with the next counter IV and returns
// the SK payload body IV | ciphertext | ICV. No padding octets are added
// (GCM needs no block alignment; RFC 5282 §3 allows 0..255): the plaintext is
// payloads | 0x00 (Pad Length = 0).
func (c *SKCipher) Seal(plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > 1<<20 {
		return nil, ErrPlaintextLarge
	}
	iv, err := c.ivs.Next()
	if err != nil {
		return nil, err
	}
	padded := make([]byte, len(plaintext)+1)
	copy(padded, plaintext)
	return c.sealIV(iv, padded, aad), nil
}

// sealIV encrypts an already padded plaintext under an explicit IV.
func (c *SKCipher) sealIV(iv [gcmIVSize]byte, padded, aad []byte) []byte {
	var nonce [gcmSaltSize + gcmIVSize]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[gcmSaltSize:], iv[:])
	out := make([]byte, gcmIVSize, gcmIVSize+len(padded)+gcmICVSize)
	copy(out, iv[:])
	return c.aead.Seal(out, nonce[:], padded, aad)
}

// Open authenticates and decrypts an SK payload body and returns the inner
// payload chain with padding and Pad Length removed. Any IV value from the
// peer is accepted. Errors: ErrSKTooShort, ErrSKAuthFailed, ErrSKBadPadding.
func (c *SKCipher) Open(sealed, aad []byte) ([]byte, error) {
	padded, err := c.openRaw(sealed, aad)
	if err != nil {
		return nil, err
	}
	padLen := int(padded[len(padded)-1])
	if padLen+1 > len(padded) {
		return nil, ErrSKBadPadding
	}
	return padded[:len(padded)-1-padLen], nil
}

func (c *SKCipher) openRaw(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < gcmIVSize+1+gcmICVSize {
		return nil, ErrSKTooShort
	}
	var nonce [gcmSaltSize + gcmIVSize]byte
	copy(nonce[:], c.salt[:])
	copy(nonce[gcmSaltSize:], sealed[:gcmIVSize])
	pt, err := c.aead.Open(nil, nonce[:], sealed[gcmIVSize:], aad)
	if err != nil {
		return nil, ErrSKAuthFailed
	}
	return pt, nil
}
