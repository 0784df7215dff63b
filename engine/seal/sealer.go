package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
)

// KeySize is the length of a sealing key in bytes (AES-256).
const KeySize = 32

// ErrKeySize is returned by New for a key that is not KeySize bytes.
var ErrKeySize = errors.New("seal key must be 32 bytes")

// minCompressSize: shorter plaintexts are stored as is; a zstd frame's own
// overhead eats what little they could save.
const minCompressSize = 64

// A compressed plaintext is kept only if it saves at least 1/savingsDiv of
// the plaintext (about 3 %): less is not worth a decompression on every
// restore.
const savingsDiv = 32

// Options tune a Sealer. The zero value is the production setting.
type Options struct {
	// NoCompression stores every plaintext as is (CodecNone), for data
	// known to be incompressible or for measurements.
	NoCompression bool
	// Rand is the source of nonces; nil means crypto/rand.
	Rand io.Reader
	// Window is the largest zstd window the compressor uses, a power
	// of two from 1 KiB; zero: the level's (4 MiB). Each of the
	// GOMAXPROCS encoders keeps about this much history, so a Sealer of
	// small blobs (metadata) saves memory with a small one; a blob
	// larger than the window compresses a little worse. Opening is not
	// affected (the window is in each frame).
	Window int
}

// A Sealer seals and opens blobs under one key. It is safe for concurrent
// use. Close releases its compressor.
type Sealer struct {
	*Coder
	aead    cipher.AEAD
	rand    io.Reader
	scratch sync.Pool // *scratch
}

// New returns a Sealer for key (a vault's chunk or metadata subkey).
func New(key []byte, opts Options) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: %w, got %d", ErrKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	c, err := NewCoder(opts)
	if err != nil {
		return nil, err
	}
	s := &Sealer{Coder: c, aead: aead, rand: opts.Rand}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// String describes s without its key.
func (s *Sealer) String() string { return "seal.Sealer(AES-256-GCM)" }

// GoString is String, so %#v does not print the key schedule.
func (s *Sealer) GoString() string { return s.String() }

// scratch is per-call working memory, pooled so Seal and Open do not
// allocate on the hot path.
type scratch struct {
	buf []byte // compressed plaintext
	aad [aadLen]byte
}

func (s *Sealer) getScratch() *scratch {
	if b, ok := s.scratch.Get().(*scratch); ok {
		return b
	}
	return &scratch{buf: make([]byte, 0, 64<<10)}
}

func (s *Sealer) putScratch(b *scratch) {
	if cap(b.buf) <= 8<<20 { // do not pin huge buffers
		b.buf = b.buf[:0]
		s.scratch.Put(b)
	}
}
