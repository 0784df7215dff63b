package keys

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrRecoveryKeyFormat is returned by ParseRecoveryKey for text that is not
// a recovery key (a typo, a missing group): the checksum catches mistakes
// before any unlock is tried.
var ErrRecoveryKeyFormat = errors.New("not a valid recovery key")

// Recovery key text: the 32 key bytes and a 3-byte checksum (the first
// bytes of SHA-256(recoveryChecksumDomain || key)), 35 bytes, in Crockford
// base32: 56 characters shown as 14 groups of 4, e.g.
// "7Q2M-…-K4ZD". Crockford's alphabet has no I, L, O or U; Parse reads
// I and L as 1 and O as 0, ignores case, spaces and dashes.
const (
	recoveryChecksumLen    = 3
	recoveryChecksumDomain = "keep/v1/recovery-checksum"
	recoveryGroup          = 4
	crockford              = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

func recoveryEncoding() *base32.Encoding {
	return base32.NewEncoding(crockford).WithPadding(base32.NoPadding)
}

// RecoveryKey is the provider's key to a vault: 256 random bits, shown once
// when the vault is created (Reveal) and kept by the provider offline. It
// unwraps the master key independently of the passphrase. It formats as a
// placeholder.
type RecoveryKey struct{ k Key }

// NewRecoveryKey returns a fresh random recovery key read from r.
func NewRecoveryKey(r io.Reader) (RecoveryKey, error) {
	k, err := newKey(r)
	if err != nil {
		return RecoveryKey{}, fmt.Errorf("new recovery key: %w", err)
	}
	return RecoveryKey{k: k}, nil
}

// Reveal returns the human-copyable text form. It is the only way the key's
// bytes leave the type: call it once, to show the key to the provider.
func (r RecoveryKey) Reveal() string {
	raw := make([]byte, 0, KeySize+recoveryChecksumLen)
	raw = append(raw, r.k.array()[:]...)
	sum := recoveryChecksum(r.k)
	raw = append(raw, sum[:]...)
	s := recoveryEncoding().EncodeToString(raw)
	clear(raw)
	var b strings.Builder
	for i := 0; i < len(s); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+recoveryGroup, len(s))])
	}
	return b.String()
}

// ParseRecoveryKey reads the text form made by Reveal.
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	s = strings.Map(func(c rune) rune {
		switch c {
		case ' ', '-', '\t', '\n', '\r':
			return -1
		case 'I', 'i', 'L', 'l':
			return '1'
		case 'O', 'o':
			return '0'
		}
		if 'a' <= c && c <= 'z' {
			return c - 'a' + 'A'
		}
		return c
	}, s)
	raw, err := recoveryEncoding().DecodeString(s)
	if err != nil || len(raw) != KeySize+recoveryChecksumLen {
		// The error of base32 would quote input characters: keep it out.
		return RecoveryKey{}, fmt.Errorf("%w: want %d characters of base32", ErrRecoveryKeyFormat, len(recoveryEncoding().EncodeToString(make([]byte, KeySize+recoveryChecksumLen))))
	}
	var a [KeySize]byte
	copy(a[:], raw)
	r := RecoveryKey{k: keyOf(&a)}
	sum := recoveryChecksum(r.k)
	ok := subtle.ConstantTimeCompare(sum[:], raw[KeySize:]) == 1
	clear(raw)
	if !ok {
		return RecoveryKey{}, fmt.Errorf("%w: checksum mismatch (a character is wrong)", ErrRecoveryKeyFormat)
	}
	return r, nil
}

func recoveryChecksum(k Key) [recoveryChecksumLen]byte {
	h := sha256.New()
	h.Write([]byte(recoveryChecksumDomain))
	h.Write(k.array()[:])
	var out [recoveryChecksumLen]byte
	copy(out[:], h.Sum(nil))
	return out
}

// String returns a placeholder, never the key.
func (r RecoveryKey) String() string { return "keys.RecoveryKey" + redacted }

// GoString returns a placeholder.
func (r RecoveryKey) GoString() string { return r.String() }

// Format prints a placeholder for every verb.
func (r RecoveryKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// MarshalText refuses: use Reveal, once, deliberately.
func (r RecoveryKey) MarshalText() ([]byte, error) { return nil, ErrSecretMarshal }

// kek is the key-encryption key of the recovery slot.
func (r RecoveryKey) kek() Key { return (&Master{k: r.k}).derive(infoRecovery) }
