package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// PRFID is an IKEv2 Transform Type 2 (PRF) identifier (IANA "Transform
// Type 2 - Pseudorandom Function Transform IDs").
type PRFID uint16

// PRF transform IDs implemented here (RFC 4868).
const (
	PRFHMACSHA256 PRFID = 5
	PRFHMACSHA384 PRFID = 6
	PRFHMACSHA512 PRFID = 7
)

func (id PRFID) String() string {
	switch id {
	case PRFHMACSHA256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA512:
		return "PRF_HMAC_SHA2_512"
	}
	return fmt.Sprintf("PRF(%d)", uint16(id))
}

// PRF is an IKEv2 pseudorandom function, HMAC-SHA2 per RFC 4868 §2.1. The
// zero value is not usable; obtain one from NewPRF.
type PRF struct {
	id      PRFID
	newHash func() hash.Hash
	size    int
}

// NewPRF returns the PRF for a transform ID.
func NewPRF(id PRFID) (PRF, error) {
	switch id {
	case PRFHMACSHA256:
		return PRF{id, sha256.New, sha256.Size}, nil
	case PRFHMACSHA384:
		return PRF{id, sha512.New384, sha512.Size384}, nil
	case PRFHMACSHA512:
		return PRF{id, sha512.New, sha512.Size}, nil
	}
	return PRF{}, fmt.Errorf("%w: %v", ErrUnsupportedPRF, id)
}

// ID returns the transform ID.
func (p PRF) ID() PRFID { return p.id }

// Size is the output length in bytes.
func (p PRF) Size() int { return p.size }

// KeySize is the preferred key length (RFC 4868 §2.1.2: the block size of
// the output, i.e. equal to Size). It is the length of SK_d, SK_pi and SK_pr.
func (p PRF) KeySize() int { return p.size }

// Sum computes prf(key, data[0] | data[1] | ...).
func (p PRF) Sum(key []byte, data ...[]byte) []byte {
	if p.newHash == nil {
		panic("ikecrypto: use of zero PRF")
	}
	m := hmac.New(p.newHash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// MaxPlusLen is the longest output prf+ can produce (RFC 7296 §2.13: the
// counter octet is limited to 255 iterations).
func (p PRF) MaxPlusLen() int { return 255 * p.size }

// Plus computes the first n octets of prf+(key, seed) (RFC 7296 §2.13):
//
//	T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), prf+ = T1 | T2 | ...
//
// It fails with ErrPRFPlusTooLong if n needs more than 255 iterations.
func (p PRF) Plus(key, seed []byte, n int) (Secret, error) {
	if p.newHash == nil {
		return nil, ErrUnsupportedPRF
	}
	if n < 0 || n > p.MaxPlusLen() {
		return nil, fmt.Errorf("%w: %d > %d", ErrPRFPlusTooLong, n, p.MaxPlusLen())
	}
	out := make([]byte, 0, n+p.size)
	m := hmac.New(p.newHash, key)
	var t []byte
	for i := 1; len(out) < n; i++ {
		m.Reset()
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{byte(i)})
		t = m.Sum(t[:0])
		out = append(out, t...)
	}
	clear(t)
	return Secret(out[:n:n]), nil
}
