package enrol

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// TokenPrefix starts every enrolment token string.
const TokenPrefix = "keep1."

// SecretSize is the size of a token's secret.
const SecretSize = 20

// maxTokenLen bounds the text a parser looks at.
const maxTokenLen = 512

// maxAddr bounds the address a token carries.
const maxAddr = 255

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrTokenFormat: the text is not an enrolment token.
var ErrTokenFormat = errors.New("not a keep enrolment token (expected keep1.<code> as shown by the vault)")

// Token is what an enrolment token string carries: everything an agent
// needs to enrol, and nothing the vault keeps in the clear (it stores the
// SHA-256 of Secret).
type Token struct {
	// CAFingerprint is the SHA-256 of the vault CA certificate (DER): the
	// agent accepts the vault only if it presents that CA.
	CAFingerprint [32]byte
	// Addr is the vault's host:port.
	Addr string
	// Secret is the one-time secret.
	Secret [SecretSize]byte
}

// String encodes t as keep1.<base32 of secret | fingerprint | u8 len |
// addr>, lower case.
func (t *Token) String() string {
	b := make([]byte, 0, SecretSize+32+1+len(t.Addr))
	b = append(b, t.Secret[:]...)
	b = append(b, t.CAFingerprint[:]...)
	b = append(b, byte(len(t.Addr)))
	b = append(b, t.Addr...)
	return TokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b))
}

// Format prints the token without its secret (use String to hand it out).
func (t Token) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "Token{Addr:%s CA:%x secret:redacted}", t.Addr, t.CAFingerprint[:8])
}

// GoString prints the token without its secret.
func (t Token) GoString() string { return fmt.Sprint(t) }

// ParseToken parses a token string strictly: the prefix, base32 (either
// case, no padding), exact length, a non-empty printable address.
func ParseToken(s string) (*Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxTokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return nil, ErrTokenFormat
	}
	b, err := tokenEncoding.DecodeString(strings.ToUpper(s[len(TokenPrefix):]))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenFormat, err)
	}
	const fixed = SecretSize + 32 + 1
	if len(b) < fixed {
		return nil, fmt.Errorf("%w: too short", ErrTokenFormat)
	}
	n := int(b[fixed-1])
	if len(b) != fixed+n || n == 0 {
		return nil, fmt.Errorf("%w: bad length", ErrTokenFormat)
	}
	addr := string(b[fixed:])
	if !utf8.ValidString(addr) || strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("%w: bad address", ErrTokenFormat)
	}
	t := &Token{Addr: addr}
	copy(t.Secret[:], b)
	copy(t.CAFingerprint[:], b[SecretSize:])
	// Canonical: re-encoding gives the same text (no stray trailing bits).
	if t.String() != strings.ToLower(s) {
		return nil, fmt.Errorf("%w: not canonical", ErrTokenFormat)
	}
	return t, nil
}

// hashSecret is what the vault stores of a token.
func hashSecret(secret []byte) [32]byte {
	h := sha256.New()
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(secret)))
	h.Write([]byte("keep enrolment token v1"))
	h.Write(l[:])
	h.Write(secret)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
