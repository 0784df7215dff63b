package ikecrypto

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// GroupID is an IKEv2 Transform Type 4 (Key Exchange Method) identifier.
type GroupID uint16

// Supported groups.
const (
	GroupMODP2048   GroupID = 14 // RFC 3526 §3
	GroupECP256     GroupID = 19 // RFC 5903
	GroupECP384     GroupID = 20 // RFC 5903
	GroupCurve25519 GroupID = 31 // RFC 8031
)

func (g GroupID) String() string {
	switch g {
	case GroupMODP2048:
		return "MODP_2048"
	case GroupECP256:
		return "ECP_256"
	case GroupECP384:
		return "ECP_384"
	case GroupCurve25519:
		return "CURVE_25519"
	}
	return fmt.Sprintf("DH(%d)", uint16(g))
}

// PublicValueLen is the length of the Key Exchange Data for g, or 0 if the
// group is not supported: 256 (MODP 2048, left-padded, RFC 7296 §3.4),
// 64/96 (ECP x | y, RFC 5903 §7), 32 (X25519, RFC 8031 §2).
func (g GroupID) PublicValueLen() int {
	switch g {
	case GroupMODP2048:
		return 256
	case GroupECP256:
		return 64
	case GroupECP384:
		return 96
	case GroupCurve25519:
		return 32
	}
	return 0
}

// SharedSecretLen is the length of g^ir as used in key derivation: the
// modulus length for MODP, the x-coordinate for ECP (RFC 5903 §7), 32 for
// X25519.
func (g GroupID) SharedSecretLen() int {
	switch g {
	case GroupMODP2048:
		return 256
	case GroupECP256:
		return 32
	case GroupECP384:
		return 48
	case GroupCurve25519:
		return 32
	}
	return 0
}

// DHError describes a rejected key exchange. Err is one of the DH sentinel
// errors (ErrUnsupportedGroup, ErrPublicValueLength, ErrInvalidPublicValue,
// ErrZeroSharedSecret).
type DHError struct {
	Group  GroupID
	Err    error
	Detail string
}

func (e *DHError) Error() string {
	s := fmt.Sprintf("%v (group %v)", e.Err, e.Group)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *DHError) Unwrap() error { return e.Err }

func dhErr(g GroupID, err error, detail string) error {
	return &DHError{Group: g, Err: err, Detail: detail}
}

// RFC 3526 §3, 2048-bit MODP group, generator 2.
var modp2048P, _ = new(big.Int).SetString(strings.Join([]string{
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
	"29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
	"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
	"E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
	"C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
	"83655D23DCA3AD961C62F356208552BB9ED529077096966D",
	"670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
	"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
	"DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
	"15728E5A8AACAA68FFFFFFFFFFFFFFFF",
}, ""), 16)

var (
	bigOne          = big.NewInt(1)
	bigTwo          = big.NewInt(2)
	modp2048PMinus1 = new(big.Int).Sub(modp2048P, bigOne)
)

// modpExpBits is the private exponent length for MODP 2048: twice the
// ~112-bit strength (RFC 3526 §8, NIST SP 800-56A).
const modpExpBits = 256

func ecdhCurve(g GroupID) ecdh.Curve {
	switch g {
	case GroupECP256:
		return ecdh.P256()
	case GroupECP384:
		return ecdh.P384()
	case GroupCurve25519:
		return ecdh.X25519()
	}
	return nil
}

// ValidatePublicValue checks received Key Exchange Data (RFC 6989):
//   - length equals PublicValueLen;
//   - ECP: 0x04 | x | y must decode to a point on the curve, with canonical
//     coordinates (< p), not the point at infinity (RFC 6989 §2.3, done by
//     crypto/ecdh.Curve.NewPublicKey);
//   - MODP: 1 < y < p-1 (RFC 6989 §2.1; sufficient for safe-prime groups);
//   - X25519: any 32 octets are accepted here; the all-zero shared secret
//     is rejected by SharedSecret (RFC 8031 §2.3).
func ValidatePublicValue(g GroupID, b []byte) error {
	_, err := parsePublicValue(g, b)
	return err
}

type peerValue struct {
	ec *ecdh.PublicKey
	y  *big.Int
}

func parsePublicValue(g GroupID, b []byte) (peerValue, error) {
	n := g.PublicValueLen()
	if n == 0 {
		return peerValue{}, dhErr(g, ErrUnsupportedGroup, "")
	}
	if len(b) != n {
		return peerValue{}, dhErr(g, ErrPublicValueLength, fmt.Sprintf("got %d octets, want %d", len(b), n))
	}
	switch g {
	case GroupMODP2048:
		y := new(big.Int).SetBytes(b)
		if y.Cmp(bigOne) <= 0 || y.Cmp(modp2048PMinus1) >= 0 {
			return peerValue{}, dhErr(g, ErrInvalidPublicValue, "MODP value not in (1, p-1)")
		}
		return peerValue{y: y}, nil
	case GroupECP256, GroupECP384:
		enc := make([]byte, 1+len(b))
		enc[0] = 4 // SEC 1 uncompressed point
		copy(enc[1:], b)
		pk, err := ecdhCurve(g).NewPublicKey(enc)
		if err != nil {
			return peerValue{}, dhErr(g, ErrInvalidPublicValue, "point not on curve")
		}
		return peerValue{ec: pk}, nil
	case GroupCurve25519:
		pk, err := ecdh.X25519().NewPublicKey(b)
		if err != nil {
			return peerValue{}, dhErr(g, ErrInvalidPublicValue, "")
		}
		return peerValue{ec: pk}, nil
	}
	return peerValue{}, dhErr(g, ErrUnsupportedGroup, "")
}

// KeyShare is our ephemeral Diffie-Hellman key pair for one exchange. Use a
// fresh KeyShare for every exchange (RFC 7296 §2.12 permits reuse, this
// package does not encourage it).
type KeyShare struct {
	group GroupID
	ec    *ecdh.PrivateKey
	x     *big.Int
	pub   []byte
}

// Format prints a placeholder; the private key is never formatted.
func (k *KeyShare) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "KeyShare{%v %s}", k.group, redacted)
}

// GenerateKeyShare creates a key pair for group g using rand (normally
// crypto/rand.Reader).
func GenerateKeyShare(g GroupID, rand io.Reader) (*KeyShare, error) {
	switch g {
	case GroupECP256, GroupECP384, GroupCurve25519:
		priv, err := ecdhCurve(g).GenerateKey(rand)
		if err != nil {
			return nil, err
		}
		return newECKeyShare(g, priv), nil
	case GroupMODP2048:
		buf := make([]byte, modpExpBits/8)
		for {
			if _, err := io.ReadFull(rand, buf); err != nil {
				return nil, err
			}
			x := new(big.Int).SetBytes(buf)
			if x.Cmp(bigOne) > 0 {
				clear(buf)
				return newMODPKeyShare(x), nil
			}
		}
	}
	return nil, dhErr(g, ErrUnsupportedGroup, "")
}

func newECKeyShare(g GroupID, priv *ecdh.PrivateKey) *KeyShare {
	pub := priv.PublicKey().Bytes()
	if g != GroupCurve25519 {
		pub = pub[1:] // strip the SEC 1 0x04 prefix: IKE carries x | y
	}
	return &KeyShare{group: g, ec: priv, pub: pub}
}

func newMODPKeyShare(x *big.Int) *KeyShare {
	y := new(big.Int).Exp(bigTwo, x, modp2048P)
	pub := make([]byte, 256)
	y.FillBytes(pub)
	return &KeyShare{group: GroupMODP2048, x: x, pub: pub}
}

// keyShareFromPrivate builds a KeyShare from a fixed private key (tests).
func keyShareFromPrivate(g GroupID, priv []byte) (*KeyShare, error) {
	if g == GroupMODP2048 {
		return newMODPKeyShare(new(big.Int).SetBytes(priv)), nil
	}
	c := ecdhCurve(g)
	if c == nil {
		return nil, dhErr(g, ErrUnsupportedGroup, "")
	}
	k, err := c.NewPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return newECKeyShare(g, k), nil
}

// Group returns the key exchange method.
func (k *KeyShare) Group() GroupID { return k.group }

// PublicValue returns our Key Exchange Data in IKE's encoding (a copy).
func (k *KeyShare) PublicValue() []byte { return append([]byte(nil), k.pub...) }

// SharedSecret validates the peer's Key Exchange Data (ValidatePublicValue)
// and computes g^ir in the form used by key derivation: the x-coordinate for
// ECP (RFC 5903 §7), 32 octets for X25519 (rejecting the all-zero result,
// RFC 8031 §2.3), and the value left-padded to 256 octets for MODP (RFC 7296
// §2.14).
func (k *KeyShare) SharedSecret(peer []byte) (Secret, error) {
	pv, err := parsePublicValue(k.group, peer)
	if err != nil {
		return nil, err
	}
	if k.group == GroupMODP2048 {
		z := new(big.Int).Exp(pv.y, k.x, modp2048P)
		if z.Cmp(bigOne) <= 0 || z.Cmp(modp2048PMinus1) >= 0 {
			return nil, dhErr(k.group, ErrInvalidPublicValue, "degenerate MODP shared secret")
		}
		out := make(Secret, 256)
		z.FillBytes(out)
		return out, nil
	}
	z, err := k.ec.ECDH(pv.ec)
	if err != nil {
		if k.group == GroupCurve25519 {
			return nil, dhErr(k.group, ErrZeroSharedSecret, "")
		}
		return nil, dhErr(k.group, ErrInvalidPublicValue, err.Error())
	}
	if allZero(z) { // belt and braces; crypto/ecdh already refuses this
		return nil, dhErr(k.group, ErrZeroSharedSecret, "")
	}
	return Secret(z), nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// IsDHError reports whether err is a rejected key exchange of any kind.
func IsDHError(err error) bool {
	var e *DHError
	return errors.As(err, &e)
}
