package keys

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// KeySize is the length in bytes of every key here.
const KeySize = 32

// ErrSecretMarshal is returned when a secret is asked to marshal itself
// (JSON, text): secrets leave this package only as bytes, explicitly.
var ErrSecretMarshal = errors.New("refusing to marshal a secret key")

// redacted is how every secret formats itself, whatever the verb.
const redacted = "[redacted]"

// Key is a 256-bit secret: a master key or a subkey. It never prints or
// marshals its bytes; Bytes hands them out explicitly.
//
// The bytes are reachable only through a function value, on purpose: fmt
// prints the unexported fields of a caller's struct by reflection,
// bypassing Format, and dereferences pointers to arrays when it reports a
// bad verb; a func is always printed as an address. A Key is immutable and
// not comparable with ==; use Equal. The zero Key is all zero bytes.
type Key struct{ v func() *[KeySize]byte }

// keyOf wraps a; a must not be modified afterwards.
func keyOf(a *[KeySize]byte) Key { return Key{v: func() *[KeySize]byte { return a }} }

// array returns the key's array (zeros for the zero Key). Callers must not
// modify it.
func (k Key) array() *[KeySize]byte {
	if k.v == nil {
		return new([KeySize]byte)
	}
	return k.v()
}

// Bytes returns a copy of the key's bytes, for constructors that need them
// (seal.New, fingerprint.New, chunker.Seed).
func (k Key) Bytes() []byte {
	c := *k.array()
	return c[:]
}

// Array returns a copy of the key's bytes as an array.
func (k Key) Array() [KeySize]byte { return *k.array() }

// Equal reports whether k and o are the same key, in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k.array()[:], o.array()[:]) == 1 }

// IsZero reports whether k is the zero value (no key).
func (k Key) IsZero() bool { return k.Equal(Key{}) }

// String returns a placeholder, never the key.
func (k Key) String() string { return redacted }

// GoString returns a placeholder, never the key.
func (k Key) GoString() string { return "keys.Key" + redacted }

// Format prints a placeholder for every verb, including %x and %d.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText refuses, so JSON and text encoders cannot leak the key.
func (k Key) MarshalText() ([]byte, error) { return nil, ErrSecretMarshal }

// newKey reads a random key from r.
func newKey(r io.Reader) (Key, error) {
	var a [KeySize]byte
	if _, err := io.ReadFull(r, a[:]); err != nil {
		return Key{}, fmt.Errorf("read random key: %w", err)
	}
	return keyOf(&a), nil
}
