package fingerprint

import (
	"errors"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// KeySize is the length of a fingerprint key in bytes.
const KeySize = 32

// ErrKeySize is returned by New for a key that is not KeySize bytes.
var ErrKeySize = errors.New("fingerprint key must be 32 bytes")

// A Hasher computes IDs under one key. It is safe for concurrent use.
type Hasher struct {
	proto *blake3.Hasher // keyed, never written to; cloned into the pool
	pool  sync.Pool      // of *blake3.Hasher, reset to proto's state
}

// New returns a Hasher keyed with key (the vault's fingerprint subkey).
func New(key []byte) (*Hasher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("fingerprint: %w, got %d", ErrKeySize, len(key))
	}
	proto, err := blake3.NewKeyed(key)
	if err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	h := &Hasher{proto: proto}
	h.pool.New = func() any { return h.proto.Clone() }
	return h, nil
}

// Sum returns the ID of data.
func (h *Hasher) Sum(data []byte) ID {
	b := h.pool.Get().(*blake3.Hasher)
	_, _ = b.Write(data) // blake3.Hasher.Write never fails
	var id ID
	b.Sum(id[:0])
	b.Reset() // back to the keyed initial state
	h.pool.Put(b)
	return id
}

// String describes h without its key.
func (h *Hasher) String() string { return "fingerprint.Hasher(keyed BLAKE3)" }

// GoString is String, so %#v does not print the key either.
func (h *Hasher) GoString() string { return h.String() }
