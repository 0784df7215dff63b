package fingerprint

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Size is the length of an ID in bytes.
const Size = 32

// ErrParse is returned (wrapped) by Parse for text that is not an ID.
var ErrParse = errors.New("invalid fingerprint")

// ID identifies a blob: the keyed hash of its plaintext.
type ID [Size]byte

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for logs and messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero ID, which no Sum yields in practice
// and which callers may use as "none".
func (id ID) IsZero() bool { return id == ID{} }

// Parse parses the text form of an ID.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 2*Size {
		return id, fmt.Errorf("%w: %d characters, want %d", ErrParse, len(s), 2*Size)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: not hex", ErrParse)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (JSON uses the hex form).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}
