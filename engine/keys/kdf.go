package keys

import (
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// KDFArgon2id is the only passphrase KDF of key file version 1.
const KDFArgon2id = "argon2id"

// Bounds on KDF parameters accepted from a key file, so a damaged or
// hostile file cannot make unlocking exhaust the machine.
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 4 << 20 // 4 GiB
	maxKDFThreads   = 64
	minSaltLen      = 16
	maxSaltLen      = 64
)

// KDFParams are the Argon2id parameters of a passphrase slot, stored in the
// key file next to the wrapped key.
type KDFParams struct {
	Algorithm string `json:"algorithm"`  // KDFArgon2id
	Time      uint32 `json:"time"`       // passes over memory
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`    // lanes
	Salt      []byte `json:"salt"`       // random, 16 bytes by default
}

// DefaultKDF returns the production parameters without a salt (Create and
// ChangePassphrase add a fresh one): Argon2id, 3 passes over 256 MiB with 2
// lanes. On the project's 2-core, 24 GiB machines that takes about 0.5–1 s
// on both cores and 1 % of RAM, once per unlock; it is four times the memory
// of RFC 9106's second recommended option (3 passes, 64 MiB), since this
// machine class has room, and each guess of an attacker costs the same.
func DefaultKDF() KDFParams {
	return KDFParams{Algorithm: KDFArgon2id, Time: 3, MemoryKiB: 256 << 10, Threads: 2}
}

// InsecureTestKDF returns parameters cheap enough for unit tests (1 pass
// over 64 KiB). Never use them for a real vault.
func InsecureTestKDF() KDFParams {
	return KDFParams{Algorithm: KDFArgon2id, Time: 1, MemoryKiB: 64, Threads: 1}
}

// validate checks p against what Argon2id needs and the bounds above.
func (p KDFParams) validate() error {
	switch {
	case p.Algorithm != KDFArgon2id:
		return fmt.Errorf("%w: kdf %q", ErrFormat, p.Algorithm)
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("%w: kdf time %d not in [1, %d]", ErrFormat, p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("%w: kdf threads %d not in [1, %d]", ErrFormat, p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("%w: kdf memory %d KiB not in [%d, %d]", ErrFormat, p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	case len(p.Salt) < minSaltLen || len(p.Salt) > maxSaltLen:
		return fmt.Errorf("%w: kdf salt of %d bytes not in [%d, %d]", ErrFormat, len(p.Salt), minSaltLen, maxSaltLen)
	}
	return nil
}

// withSalt returns p with a fresh random salt from r.
func (p KDFParams) withSalt(r io.Reader) (KDFParams, error) {
	p.Salt = make([]byte, minSaltLen)
	if _, err := io.ReadFull(r, p.Salt); err != nil {
		return p, fmt.Errorf("read salt: %w", err)
	}
	return p, p.validate()
}

// derive computes the key-encryption key of a passphrase.
func (p KDFParams) derive(passphrase []byte) Key {
	b := argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, KeySize)
	var a [KeySize]byte
	copy(a[:], b)
	clear(b)
	return keyOf(&a)
}
