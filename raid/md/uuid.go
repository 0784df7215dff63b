package md

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// UUID is an md array or device UUID: 16 bytes, stored as they are.
type UUID [16]byte

// NewUUID reads 16 random bytes from r (crypto/rand.Reader in production,
// a fixed stream in tests). Like mdadm, md sets no version bits.
func NewUUID(r io.Reader) (UUID, error) {
	var u UUID
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return UUID{}, fmt.Errorf("md: random uuid: %w", err)
	}
	return u, nil
}

// String formats u the way mdadm prints it: four colon-separated groups of
// eight hex digits, bytes in stored order.
func (u UUID) String() string {
	var b strings.Builder
	for i := 0; i < 16; i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex.EncodeToString(u[i : i+4]))
	}
	return b.String()
}

// ParseUUID parses mdadm's format (colons optional, dashes accepted).
func ParseUUID(s string) (UUID, error) {
	h := strings.NewReplacer(":", "", "-", "").Replace(s)
	var u UUID
	if len(h) != 32 {
		return UUID{}, fmt.Errorf("md: uuid %q: want 32 hex digits: %w", s, ErrInvalid)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("md: uuid %q: %w", s, ErrInvalid)
	}
	return u, nil
}

// IsZero reports whether u is all zero bytes.
func (u UUID) IsZero() bool { return u == UUID{} }
