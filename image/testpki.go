package image

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// TestAPIServerName is the DNS name in the test API server certificate:
// what a test client verifies (keep ctl --server-name).
const TestAPIServerName = "keep-api.test"

// TestOperatorName is the common name of the test operator certificates.
const TestOperatorName = "noc-operator"

// TestPKI is the test images' fixed PKI, all PEM. The same bytes every
// time: Ed25519 keys from fixed seeds, and Ed25519 signatures are
// deterministic.
type TestPKI struct {
	// CACert is the test NOC CA ("Keep test NOC CA"): it signs the
	// server and the operator certificates (TestNOCCAPath).
	CACert []byte
	// ServerCert and ServerKey are the API's (TestAPICertPath,
	// TestAPIKeyPath), for the DNS name TestAPIServerName.
	ServerCert, ServerKey []byte
	// OperatorCert and OperatorKey are a NOC operator's client
	// certificate (CN TestOperatorName) and key.
	OperatorCert, OperatorKey []byte
	// RogueCACert is another CA, trusted by nothing; RogueCert and
	// RogueKey an operator certificate it signed, for negative tests.
	RogueCACert         []byte
	RogueCert, RogueKey []byte
}

// testPKIValidity is when the test certificates are valid: long enough
// to never expire under a test.
var testPKIValidity = [2]time.Time{
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC),
}

// TestAPIPKI makes the test PKI.
func TestAPIPKI() (TestPKI, error) {
	var p TestPKI
	ca, caKey, err := testCert(nil, nil, "ca", 1, x509.Certificate{
		Subject: pkix.Name{CommonName: "Keep test NOC CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true,
	})
	if err != nil {
		return p, err
	}
	rogueCA, rogueCAKey, err := testCert(nil, nil, "rogue ca", 2, x509.Certificate{
		Subject: pkix.Name{CommonName: "Keep test rogue CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true,
	})
	if err != nil {
		return p, err
	}
	server, serverKey, err := testCert(ca, caKey, "api server", 3, x509.Certificate{
		Subject: pkix.Name{CommonName: TestAPIServerName}, DNSNames: []string{TestAPIServerName},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return p, err
	}
	operator := x509.Certificate{
		Subject:  pkix.Name{CommonName: TestOperatorName, Organization: []string{"Keep test NOC"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	op, opKey, err := testCert(ca, caKey, "noc operator", 4, operator)
	if err != nil {
		return p, err
	}
	rogue, rogueKey, err := testCert(rogueCA, rogueCAKey, "rogue operator", 5, operator)
	if err != nil {
		return p, err
	}
	p.CACert, p.RogueCACert = certPEM(ca), certPEM(rogueCA)
	p.ServerCert, p.OperatorCert, p.RogueCert = certPEM(server), certPEM(op), certPEM(rogue)
	for _, k := range []struct {
		dst *[]byte
		key ed25519.PrivateKey
	}{{&p.ServerKey, serverKey}, {&p.OperatorKey, opKey}, {&p.RogueKey, rogueKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return p, fmt.Errorf("test PKI: %w", err)
		}
		*k.dst = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return p, nil
}

// testCert issues tmpl with serial to the key seeded by name, signed by
// parent (nil: self-signed).
func testCert(parent *x509.Certificate, parentKey crypto.Signer, name string, serial int64, tmpl x509.Certificate) (*x509.Certificate, ed25519.PrivateKey, error) {
	seed := sha256.Sum256([]byte("keep test " + name))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = testPKIValidity[0], testPKIValidity[1]
	if parent == nil {
		parent, parentKey = &tmpl, key
	}
	der, err := x509.CreateCertificate(noRandom{}, &tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("test PKI: %s certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("test PKI: %s certificate: %w", name, err)
	}
	return cert, key, nil
}

// noRandom fails any read: the test PKI must not depend on randomness,
// and Ed25519 signing with a fixed serial needs none.
type noRandom struct{}

func (noRandom) Read([]byte) (int, error) {
	return 0, errors.New("the test PKI is deterministic: no randomness")
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// WriteFiles writes the PKI as PEM files into dir, for tests that hand
// paths to the API's TLS configuration, and returns their paths by name:
// ca, cert, key (the server's), op, opkey (the operator's), rogue,
// roguekey.
func (p TestPKI) WriteFiles(dir string) (map[string]string, error) {
	files := map[string]string{}
	for name, b := range map[string][]byte{"ca": p.CACert, "cert": p.ServerCert, "key": p.ServerKey,
		"op": p.OperatorCert, "opkey": p.OperatorKey, "rogue": p.RogueCert, "roguekey": p.RogueKey} {
		files[name] = filepath.Join(dir, name+".pem")
		if err := os.WriteFile(files[name], b, 0o600); err != nil {
			return nil, err
		}
	}
	return files, nil
}
