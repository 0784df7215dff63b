package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
)

const (
	wrapNonceSize = 12
	wrappedSize   = KeySize + 16 // key + GCM tag
)

// wrapAD is the additional data of a slot: the slot's kind and the public
// key ID, so a wrapped key cannot move between slots or key files unnoticed.
func wrapAD(slot, keyID string) []byte { return []byte("keep/v1/keyfile/" + slot + "/" + keyID) }

func newGCM(kek Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek.array()[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrap encrypts the master key under kek with a fresh nonce from r.
func wrap(r io.Reader, kek Key, m *Master, ad []byte) (nonce, wrapped []byte, err error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, nil, fmt.Errorf("wrap: %w", err)
	}
	nonce = make([]byte, wrapNonceSize)
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, nil, fmt.Errorf("wrap: read nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, m.k.array()[:], ad), nil
}

// unwrap decrypts a wrapped master key; a wrong kek (or a damaged slot) is
// ErrWrongKey.
func unwrap(kek Key, nonce, wrapped, ad []byte) (*Master, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, fmt.Errorf("unwrap: %w", err)
	}
	var a [KeySize]byte
	b, err := aead.Open(a[:0], nonce, wrapped, ad)
	if err != nil || len(b) != KeySize {
		return nil, ErrWrongKey
	}
	return &Master{k: keyOf(&a)}, nil
}
