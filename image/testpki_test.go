package image

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

// TestTestAPIPKIIsDeterministic: two calls give the same bytes, so a
// test image is reproducible and a test outside it can hold the same
// operator certificate.
func TestTestAPIPKIIsDeterministic(t *testing.T) {
	a, err := TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	b, err := TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		a, b []byte
	}{
		{"CACert", a.CACert, b.CACert}, {"ServerCert", a.ServerCert, b.ServerCert}, {"ServerKey", a.ServerKey, b.ServerKey},
		{"OperatorCert", a.OperatorCert, b.OperatorCert}, {"OperatorKey", a.OperatorKey, b.OperatorKey},
		{"RogueCACert", a.RogueCACert, b.RogueCACert}, {"RogueCert", a.RogueCert, b.RogueCert}, {"RogueKey", a.RogueKey, b.RogueKey},
	} {
		if len(f.a) == 0 || !bytes.Equal(f.a, f.b) {
			t.Errorf("%s differs between calls (or is empty)", f.name)
		}
	}
	if bytes.Equal(a.OperatorKey, a.RogueKey) || bytes.Equal(a.CACert, a.RogueCACert) {
		t.Error("the rogue operator shares a key or CA with the real one")
	}
}

// TestTestAPIPKIChains: the server and operator certificates verify to
// the test CA for their uses (and the server's for TestAPIServerName);
// the rogue operator does not; each key belongs to its certificate.
func TestTestAPIPKIChains(t *testing.T) {
	p, err := TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CACert) {
		t.Fatal("CACert is not PEM")
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	server := parseCert(t, p.ServerCert)
	if _, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: TestAPIServerName, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate: %v", err)
	}
	op := parseCert(t, p.OperatorCert)
	if op.Subject.CommonName != TestOperatorName {
		t.Errorf("operator CN %q", op.Subject.CommonName)
	}
	clientAuth := x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := op.Verify(clientAuth); err != nil {
		t.Errorf("operator certificate: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := parseCert(t, p.RogueCert).Verify(clientAuth); !errors.As(err, &unknown) {
		t.Errorf("rogue operator against the test CA: %v; want an unknown authority", err)
	}
	if _, err := op.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("the operator certificate verifies as a server's")
	}
	if ca := parseCert(t, p.CACert); !ca.IsCA || ca.Subject.CommonName != "Keep test NOC CA" || !ca.NotAfter.Equal(time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("CA: is CA %v, subject %s, not after %s", ca.IsCA, ca.Subject, ca.NotAfter)
	}
	for _, kp := range []struct {
		name      string
		cert, key []byte
	}{
		{"server", p.ServerCert, p.ServerKey}, {"operator", p.OperatorCert, p.OperatorKey}, {"rogue", p.RogueCert, p.RogueKey},
	} {
		if _, err := tls.X509KeyPair(kp.cert, kp.key); err != nil {
			t.Errorf("%s key pair: %v", kp.name, err)
		}
	}
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("not one PEM certificate:\n%s", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
