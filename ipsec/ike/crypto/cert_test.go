package ikecrypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func mkCert(t *testing.T, cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ku x509.KeyUsage, sans []string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"Example Backup"}, CommonName: cn},
		NotBefore:             t0.Add(-24 * time.Hour),
		NotAfter:              t0.Add(365 * 24 * time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              ku,
		DNSNames:              sans,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func TestCertValidation(t *testing.T) {
	ca, caKey := mkCert(t, "Example NOC CA", true, nil, nil, x509.KeyUsageCertSign, nil)
	evil, evilKey := mkCert(t, "Example NOC CA", true, nil, nil, x509.KeyUsageCertSign, nil)
	noc, _ := mkCert(t, "noc.example.net", false, ca, caKey, x509.KeyUsageDigitalSignature, []string{"noc.example.net"})
	forged, _ := mkCert(t, "noc.example.net", false, evil, evilKey, x509.KeyUsageDigitalSignature, []string{"noc.example.net"})
	encOnly, _ := mkCert(t, "noc.example.net", false, ca, caKey, x509.KeyUsageKeyEncipherment, []string{"noc.example.net"})

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	clock := t0
	v := &CertValidator{Roots: pool, Now: func() time.Time { return clock }}
	fqdn := PeerID{Type: IDFQDN, Data: []byte("NOC.example.net")}

	leaf, err := v.Verify(noc.Raw, nil, fqdn)
	if err != nil || leaf.Subject.CommonName != "noc.example.net" {
		t.Fatalf("valid: %v", err)
	}
	if _, err := v.Verify(noc.Raw, nil, PeerID{Type: IDDERASN1DN, Data: noc.RawSubject}); err != nil {
		t.Fatalf("DN: %v", err)
	}
	check := func(name string, err, want error) {
		t.Helper()
		var ce *CertError
		if !errors.Is(err, want) || !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	_, err = v.Verify(forged.Raw, nil, fqdn)
	check("wrong CA", err, ErrCertUntrusted)
	_, err = v.Verify(noc.Raw, nil, PeerID{Type: IDFQDN, Data: []byte("other.example.net")})
	check("FQDN mismatch", err, ErrCertIDMismatch)
	_, err = v.Verify(noc.Raw, nil, PeerID{Type: IDDERASN1DN, Data: ca.RawSubject})
	check("DN mismatch", err, ErrCertIDMismatch)
	_, err = v.Verify(noc.Raw, nil, PeerID{Type: IDKeyID, Data: []byte("x")})
	check("KEY_ID", err, ErrCertIDMismatch)
	_, err = v.Verify(encOnly.Raw, nil, fqdn)
	check("key usage", err, ErrCertKeyUsage)
	_, err = v.Verify([]byte{0x30, 0}, nil, fqdn)
	check("garbage", err, ErrCertMalformed)
	clock = t0.Add(2 * 365 * 24 * time.Hour)
	_, err = v.Verify(noc.Raw, nil, fqdn)
	check("expired", err, ErrCertExpired)
	clock = t0.Add(-48 * time.Hour)
	_, err = v.Verify(noc.Raw, nil, fqdn)
	check("not yet valid", err, ErrCertExpired)

	// CERTREQ = SHA-1 of the CA's SubjectPublicKeyInfo.
	cr := CertReqData([]*x509.Certificate{ca, evil})
	h := sha1.Sum(ca.RawSubjectPublicKeyInfo)
	hs, err := ParseCertReqData(cr)
	if len(cr) != 40 || err != nil || hs[0] != h {
		t.Fatalf("certreq: %v", err)
	}
	if _, err := ParseCertReqData(cr[:39]); !errors.Is(err, ErrMalformedCertReq) {
		t.Fatal("bad certreq length accepted")
	}
}

// Values computed with Python 3 hashlib at test-writing time.
func TestNATDetectionHash(t *testing.T) {
	spii := [8]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}
	spir := [8]byte{0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	h := NATDetectionHash(spii, spir, netip.MustParseAddrPort("192.0.2.1:500"))
	if fmt.Sprintf("%x", h) != "f62ead21e6a756c429b205b272e506bec103e0ea" {
		t.Errorf("v4 %x", h)
	}
	if NATDetectionHash(spii, spir, netip.MustParseAddrPort("[::ffff:192.0.2.1]:500")) != h {
		t.Error("v4-mapped differs")
	}
	h6 := NATDetectionHash(spii, [8]byte{}, netip.MustParseAddrPort("[2001:db8::1]:4500"))
	if fmt.Sprintf("%x", h6) != "12ef39602e106325f19853f86f41b97a8f8a6809" {
		t.Errorf("v6 %x", h6)
	}
}

func TestCookieJar(t *testing.T) {
	j, err := NewCookieJar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ni := []byte("initiator nonce 0123456789")
	ip := netip.MustParseAddr("198.51.100.7")
	spi := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	c := j.Cookie(ni, ip, spi)
	if len(c) != CookieLen || !j.Verify(c, ni, ip, spi) {
		t.Fatal("fresh cookie")
	}
	if j.Verify(c, ni, netip.MustParseAddr("198.51.100.8"), spi) || j.Verify(c, ni, ip, [8]byte{}) || j.Verify(c, ni[1:], ip, spi) {
		t.Fatal("cookie not bound to inputs")
	}
	_ = j.Rotate()
	if !j.Verify(c, ni, ip, spi) {
		t.Fatal("previous secret refused after one rotation")
	}
	if c2 := j.Cookie(ni, ip, spi); string(c2) == string(c) || !j.Verify(c2, ni, ip, spi) {
		t.Fatal("new cookie")
	}
	_ = j.Rotate()
	if j.Verify(c, ni, ip, spi) {
		t.Fatal("cookie two versions old accepted")
	}
}

func TestNoKeyMaterialInOutput(t *testing.T) {
	key := Secret([]byte{0xde, 0xad, 0xbe, 0xef, 0x42, 0x42})
	p := mustPRF(t, PRFHMACSHA256)
	k, _ := DeriveIKESAKeys(p, key, make([]byte, 16), make([]byte, 16), make([]byte, 8), make([]byte, 8), AESGCM16IKEKeyLengths)
	ch, _ := DeriveChildSAKeys(p, k.SKd, nil, make([]byte, 16), make([]byte, 16), 36, 0)
	sk, _ := NewSKCipher(EncrAESGCM16, k.SKei)
	ks, _ := GenerateKeyShare(GroupCurve25519, rand.Reader)
	j, _ := NewCookieJar(rand.Reader)
	js, _ := json.Marshal(struct{ K Secret }{key})
	outs := []string{
		fmt.Sprintf("%x %X %v %+v %#v %s %q %d", key, key, key, key, key, key, key, key),
		fmt.Sprintf("%v %+v %#v %x", k, k, k, k), fmt.Sprintf("%v %+v %x", *k, *k, *k),
		fmt.Sprintf("%v %+v %#v %x", ch, ch, ch, ch),
		fmt.Sprintf("%v %+v %x", sk, sk, sk), fmt.Sprintf("%v %+v %x", ks, ks, ks),
		fmt.Sprintf("%v %x", j, j), string(js),
	}
	secrets := [][]byte{key, k.SKd, k.SKei, k.SKpi, ch.EncrI}
	for _, o := range outs {
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(o), fmt.Sprintf("%x", []byte(s))[:8]) ||
				strings.Contains(o, fmt.Sprint([]byte(s))[:6]) {
				t.Errorf("key material in %q", o)
			}
		}
		if !strings.Contains(o, "REDACTED") {
			t.Errorf("no placeholder in %q", o)
		}
	}
}
