package ikecrypto

import (
	"fmt"
	"log/slog"
)

// Secret holds key material (SKEYSEED, SK_*, KEYMAT, DH shared secrets,
// pre-shared keys). It is a byte slice so that callers can hand it to the
// kernel (XFRM) with Bytes, but every formatting path (fmt verbs including
// %x and %#v, encoding.TextMarshaler and therefore encoding/json, and
// log/slog) prints a placeholder instead of the contents.
type Secret []byte

const redacted = "[REDACTED]"

// Bytes returns the raw key material. Use it only to pass keys to a cipher
// or to the kernel; never log it.
func (s Secret) Bytes() []byte { return []byte(s) }

// Len returns the key length in bytes.
func (s Secret) Len() int { return len(s) }

// Wipe overwrites the key material with zeros.
func (s Secret) Wipe() { clear(s) }

// String implements fmt.Stringer with a placeholder.
func (s Secret) String() string { return fmt.Sprintf("%s(%d bytes)", redacted, len(s)) }

// GoString implements fmt.GoStringer with a placeholder.
func (s Secret) GoString() string { return s.String() }

// Format implements fmt.Formatter so that every verb (%x, %v, %s, %q, ...)
// prints the placeholder.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText implements encoding.TextMarshaler with a placeholder, which
// also keeps encoding/json from emitting base64 key material.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer with a placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// clone returns a copy of b as a Secret.
func cloneSecret(b []byte) Secret {
	if b == nil {
		return nil
	}
	return Secret(append([]byte(nil), b...))
}

// redactedFormat is used by the Format methods of structs that hold keys
// in unexported fields (fmt would otherwise print those fields raw).
func redactedFormat(f fmt.State, typ string) {
	_, _ = fmt.Fprintf(f, "%s{%s}", typ, redacted)
}
