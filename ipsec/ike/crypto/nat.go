package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
)

// NATDetectionHash computes the data of NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP (RFC 7296 §2.23):
//
//	SHA-1(SPIi | SPIr | IP | Port)
//
// spir is all zeros in the IKE_SA_INIT request. IPv4-mapped IPv6 addresses
// are hashed as 4-octet IPv4 addresses; port is in network order.
func NATDetectionHash(spii, spir [8]byte, ap netip.AddrPort) [sha1.Size]byte {
	h := sha1.New()
	h.Write(spii[:])
	h.Write(spir[:])
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		h.Write(a[:])
	} else {
		a := ip.As16()
		h.Write(a[:])
	}
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], ap.Port())
	h.Write(p[:])
	var out [sha1.Size]byte
	h.Sum(out[:0])
	return out
}

// CookieLen is the length of cookies from CookieJar: 4-octet secret version
// plus a SHA-256 output (RFC 7296 §2.6 allows 1..64 octets).
const CookieLen = 4 + sha256.Size

// CookieJar computes and checks responder COOKIEs (RFC 7296 §2.6):
//
//	Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//
// with SHA-256 as Hash. Rotate replaces the secret and bumps the version; a
// cookie made under the previous secret is still accepted so that a rotation
// does not break an exchange in progress. Safe for concurrent use.
type CookieJar struct {
	rand io.Reader
	mu   sync.RWMutex
	cur  cookieSecret
	prev cookieSecret
}

type cookieSecret struct {
	version uint32
	secret  [32]byte
	valid   bool
}

// Format prints a placeholder; the secret is never formatted.
func (j *CookieJar) Format(f fmt.State, _ rune) { redactedFormat(f, "CookieJar") }

// NewCookieJar creates a jar with a fresh secret drawn from rand (normally
// crypto/rand.Reader).
func NewCookieJar(rand io.Reader) (*CookieJar, error) {
	j := &CookieJar{rand: rand}
	if err := j.Rotate(); err != nil {
		return nil, err
	}
	return j, nil
}

// Rotate generates a new secret; the old one stays valid for Verify until
// the next Rotate.
func (j *CookieJar) Rotate() error {
	var s [32]byte
	if _, err := io.ReadFull(j.rand, s[:]); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cur.valid {
		j.prev = j.cur
	}
	j.cur = cookieSecret{version: j.cur.version + 1, secret: s, valid: true}
	return nil
}

func cookieFor(s *cookieSecret, ni []byte, ipi netip.Addr, spii [8]byte) []byte {
	out := make([]byte, 4, CookieLen)
	binary.BigEndian.PutUint32(out, s.version)
	h := sha256.New()
	h.Write(ni)
	ip := ipi.Unmap()
	if ip.Is4() {
		a := ip.As4()
		h.Write(a[:])
	} else {
		a := ip.As16()
		h.Write(a[:])
	}
	h.Write(spii[:])
	h.Write(s.secret[:])
	return h.Sum(out)
}

// Cookie returns the cookie for the initiator's Ni, source IP and SPIi
// under the current secret.
func (j *CookieJar) Cookie(ni []byte, ipi netip.Addr, spii [8]byte) []byte {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return cookieFor(&j.cur, ni, ipi, spii)
}

// Verify checks a returned cookie against the current or previous secret,
// selected by the version prefix, in constant time.
func (j *CookieJar) Verify(cookie, ni []byte, ipi netip.Addr, spii [8]byte) bool {
	if len(cookie) != CookieLen {
		return false
	}
	v := binary.BigEndian.Uint32(cookie)
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, s := range []*cookieSecret{&j.cur, &j.prev} {
		if s.valid && s.version == v {
			return hmac.Equal(cookieFor(s, ni, ipi, spii), cookie)
		}
	}
	return false
}
