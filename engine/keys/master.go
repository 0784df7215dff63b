package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// HKDF info strings, one per purpose. They are part of the storage format:
// changing one changes that subkey for every vault.
const (
	infoChunk       = "keep/v1/chunk-encryption"
	infoMeta        = "keep/v1/metadata-encryption"
	infoFingerprint = "keep/v1/fingerprint"
	infoGear        = "keep/v1/chunker-gear-seed"
	infoKeyID       = "keep/v1/key-id"
	infoRecovery    = "keep/v1/recovery-wrap"
)

// Master is a vault's master key: random, never stored in the clear, and
// the root of every subkey. It formats as a placeholder.
type Master struct{ k Key }

// NewMaster returns a fresh random master key read from r (crypto/rand in
// production).
func NewMaster(r io.Reader) (*Master, error) {
	k, err := newKey(r)
	if err != nil {
		return nil, fmt.Errorf("new master key: %w", err)
	}
	return &Master{k: k}, nil
}

// Subkeys are the keys a vault works with, each derived from the master key
// with HKDF-SHA-256 under its own info string, so no key serves two purposes
// and none reveals the master.
type Subkeys struct {
	Chunk       Key // seal key of chunk blobs
	Meta        Key // seal key of metadata blobs
	Fingerprint Key // fingerprint (keyed BLAKE3) key
	Gear        Key // chunker gear-table seed
}

// Subkeys derives the vault's subkeys.
func (m *Master) Subkeys() Subkeys {
	return Subkeys{
		Chunk:       m.derive(infoChunk),
		Meta:        m.derive(infoMeta),
		Fingerprint: m.derive(infoFingerprint),
		Gear:        m.derive(infoGear),
	}
}

// ID returns a public identifier of the master key (16 bytes of HKDF output,
// hex): it names the key in key files and logs and reveals nothing of it.
func (m Master) ID() string {
	k := m.derive(infoKeyID)
	return hex.EncodeToString(k.array()[:16])
}

func (m Master) derive(info string) Key {
	// hkdf.Key fails only for lengths beyond 255 hash blocks.
	b, err := hkdf.Key(sha256.New, m.k.array()[:], nil, info, KeySize)
	if err != nil {
		return Key{}
	}
	var a [KeySize]byte
	copy(a[:], b)
	clear(b)
	return keyOf(&a)
}

// Equal reports whether m and o are the same key, in constant time.
func (m *Master) Equal(o *Master) bool { return m.k.Equal(o.k) }

// String returns a placeholder and the public key ID.
func (m Master) String() string { return "keys.Master(" + m.ID() + ")" }

// GoString is String.
func (m Master) GoString() string { return m.String() }

// Format prints String for every verb.
func (m Master) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// MarshalText refuses: a master key is stored only wrapped (see File).
func (m Master) MarshalText() ([]byte, error) { return nil, ErrSecretMarshal }

// Format prints placeholders for every verb.
func (s Subkeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "keys.Subkeys"+redacted) }

// String returns a placeholder.
func (s Subkeys) String() string { return "keys.Subkeys" + redacted }

// GoString returns a placeholder.
func (s Subkeys) GoString() string { return s.String() }
