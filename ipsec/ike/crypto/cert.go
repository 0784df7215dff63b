package ikecrypto

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// CertReqData builds the Certification Authority field of a CERTREQ payload
// with encoding 4 (X.509 Certificate - Signature): the concatenated SHA-1
// hashes of the trusted CAs' SubjectPublicKeyInfo (RFC 7296 §3.7).
func CertReqData(cas []*x509.Certificate) []byte {
	out := make([]byte, 0, sha1.Size*len(cas))
	for _, ca := range cas {
		h := sha1.Sum(ca.RawSubjectPublicKeyInfo)
		out = append(out, h[:]...)
	}
	return out
}

// ParseCertReqData splits a CERTREQ Certification Authority field into
// SHA-1 hashes. An empty field is valid (no preference).
func ParseCertReqData(b []byte) ([][sha1.Size]byte, error) {
	if len(b)%sha1.Size != 0 {
		return nil, fmt.Errorf("%w: %d octets", ErrMalformedCertReq, len(b))
	}
	out := make([][sha1.Size]byte, len(b)/sha1.Size)
	for i := range out {
		copy(out[i][:], b[i*sha1.Size:])
	}
	return out, nil
}

// IDType is an IKEv2 Identification Type (RFC 7296 §3.5).
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDERASN1DN  IDType = 9
	IDKeyID      IDType = 11
)

// PeerID is the peer's identity from its ID payload.
type PeerID struct {
	Type IDType
	Data []byte
}

// CertError describes a certificate rejection. Err is one of
// ErrCertMalformed, ErrCertUntrusted, ErrCertExpired, ErrCertIDMismatch,
// ErrCertKeyUsage; Cause is the underlying crypto/x509 error, if any.
type CertError struct {
	Err    error
	Detail string
	Cause  error
}

func (e *CertError) Error() string {
	s := e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap exposes both the sentinel and the x509 cause to errors.Is/As.
func (e *CertError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// CertValidator validates peer certificates against a pinned CA pool
// (RFC 4945 §5, RFC 5280 §6 via crypto/x509).
type CertValidator struct {
	// Roots is the pinned trust anchor pool; system roots are never used.
	Roots *x509.CertPool
	// Now returns the validation time; nil means time.Now. Inject a clock in
	// tests.
	Now func() time.Time
	// ExtKeyUsages, if non-empty, is required of the chain. Empty means any
	// EKU is accepted: RFC 4945 §5.1.3.12 tells IKE peers not to require one,
	// and strongSwan certificates commonly carry serverAuth/clientAuth.
	ExtKeyUsages []x509.ExtKeyUsage
}

// Verify parses and validates the peer's end-entity certificate leafDER with
// optional intermediates (CERT payloads in received order after the first),
// checks that its KeyUsage, if present, permits signing (digitalSignature or
// nonRepudiation, RFC 4945 §5.1.3.2), and that id is bound to it:
//   - ID_FQDN: equals a dNSName SAN (ASCII case-insensitive, no wildcards);
//   - ID_RFC822_ADDR: equals an rfc822Name SAN (case-insensitive);
//   - ID_IPV4_ADDR/ID_IPV6_ADDR: equals an iPAddress SAN;
//   - ID_DER_ASN1_DN: byte-equal to the DER subject;
//   - other types are refused (RFC 4945 §3.1 leaves them to policy).
//
// It returns the leaf, whose PublicKey is then passed to VerifyAuth.
func (v *CertValidator) Verify(leafDER []byte, intermediatesDER [][]byte, id PeerID) (*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, &CertError{Err: ErrCertMalformed, Detail: "end-entity certificate", Cause: err}
	}
	inter := x509.NewCertPool()
	for i, d := range intermediatesDER {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, &CertError{Err: ErrCertMalformed, Detail: fmt.Sprintf("intermediate %d", i), Cause: err}
		}
		inter.AddCert(c)
	}
	if v.Roots == nil {
		return nil, &CertError{Err: ErrCertUntrusted, Detail: "no trust anchors configured"}
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	eku := v.ExtKeyUsages
	if len(eku) == 0 {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: inter,
		CurrentTime:   now(),
		KeyUsages:     eku,
	})
	if err != nil {
		return nil, classifyX509Error(err)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, &CertError{Err: ErrCertKeyUsage, Detail: "neither digitalSignature nor nonRepudiation"}
	}
	if err := matchID(leaf, id); err != nil {
		return nil, err
	}
	return leaf, nil
}

func classifyX509Error(err error) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return &CertError{Err: ErrCertExpired, Cause: err}
		case x509.IncompatibleUsage:
			return &CertError{Err: ErrCertKeyUsage, Cause: err}
		}
		return &CertError{Err: ErrCertUntrusted, Cause: err}
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return &CertError{Err: ErrCertUntrusted, Cause: err}
	}
	return &CertError{Err: ErrCertUntrusted, Cause: err}
}

func matchID(c *x509.Certificate, id PeerID) error {
	mismatch := func(d string) error { return &CertError{Err: ErrCertIDMismatch, Detail: d} }
	switch id.Type {
	case IDFQDN:
		name := string(id.Data)
		for _, d := range c.DNSNames {
			if asciiEqualFold(d, name) {
				return nil
			}
		}
		return mismatch(fmt.Sprintf("FQDN %q not among DNS SANs", name))
	case IDRFC822Addr:
		name := string(id.Data)
		for _, e := range c.EmailAddresses {
			if asciiEqualFold(e, name) {
				return nil
			}
		}
		return mismatch(fmt.Sprintf("RFC822 %q not among email SANs", name))
	case IDIPv4Addr, IDIPv6Addr:
		if (id.Type == IDIPv4Addr && len(id.Data) != 4) || (id.Type == IDIPv6Addr && len(id.Data) != 16) {
			return mismatch("bad IP address length")
		}
		ip := net.IP(id.Data)
		for _, a := range c.IPAddresses {
			if a.Equal(ip) {
				return nil
			}
		}
		return mismatch(fmt.Sprintf("IP %v not among IP SANs", ip))
	case IDDERASN1DN:
		if bytes.Equal(id.Data, c.RawSubject) {
			return nil
		}
		return mismatch("DN differs from certificate subject")
	}
	return mismatch(fmt.Sprintf("ID type %d not supported for certificates", id.Type))
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] >= 0x80 || b[i] >= 0x80 {
			return a == b
		}
	}
	return strings.EqualFold(a, b)
}
