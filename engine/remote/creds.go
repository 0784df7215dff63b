package remote

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"keep/internal/durable"
)

// Files of saved credentials.
const (
	credKeyFile  = "agent.key"    // PKCS #8 PEM
	credCertFile = "agent.crt"    // PEM
	credCAFile   = "vault-ca.crt" // PEM
)

// ErrCredentials: saved credentials are missing or damaged.
var ErrCredentials = errors.New("agent credentials are missing or damaged: enrol the agent again with a new token")

// Save writes the credentials into dir (created 0700), every file 0600
// and durable (temporary file, fsync, rename, directory fsync). The key
// is written first, so a certificate on disk always has its key.
func (cr *Credentials) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("remote: save credentials: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("remote: save credentials: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(cr.Certificate.PrivateKey)
	if err != nil {
		return fmt.Errorf("remote: save credentials: %w", err)
	}
	if len(cr.Certificate.Certificate) == 0 || cr.CA == nil {
		return errors.New("remote: save credentials: incomplete credentials")
	}
	files := []struct {
		name, typ string
		der       []byte
	}{
		{credKeyFile, "PRIVATE KEY", kder},
		{credCAFile, "CERTIFICATE", cr.CA.Raw},
		{credCertFile, "CERTIFICATE", cr.Certificate.Certificate[0]},
	}
	for _, f := range files {
		if err := writeFile(dir, f.name, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})); err != nil {
			return fmt.Errorf("remote: save credentials: %w", err)
		}
	}
	return nil
}

// LoadCredentials reads credentials saved by Save.
func LoadCredentials(dir string) (*Credentials, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("remote: %w: %w", ErrCredentials, err)
		}
		return b, nil
	}
	kb, err := read(credKeyFile)
	if err != nil {
		return nil, err
	}
	cb, err := read(credCertFile)
	if err != nil {
		return nil, err
	}
	ab, err := read(credCAFile)
	if err != nil {
		return nil, err
	}
	return ParseCredentials(kb, cb, ab)
}

// ParseCredentials decodes the three PEM files of saved credentials and
// checks that they belong together: the key is the certificate's and the
// certificate is signed by the CA.
func ParseCredentials(keyPEM, certPEM, caPEM []byte) (*Credentials, error) {
	block := func(b []byte, typ string) ([]byte, error) {
		p, rest := pem.Decode(b)
		if p == nil || p.Type != typ || len(rest) != 0 {
			return nil, fmt.Errorf("%w: expected one PEM %s", ErrCredentials, typ)
		}
		return p.Bytes, nil
	}
	kd, err := block(keyPEM, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	cd, err := block(certPEM, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	ad, err := block(caPEM, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kd)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrCredentials, err)
	}
	cert, err := x509.ParseCertificate(cd)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrCredentials, err)
	}
	ca, err := x509.ParseCertificate(ad)
	if err != nil {
		return nil, fmt.Errorf("%w: CA: %w", ErrCredentials, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: key cannot sign", ErrCredentials)
	}
	if pk, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match the certificate", ErrCredentials)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("%w: certificate not signed by the saved CA: %w", ErrCredentials, err)
	}
	return &Credentials{Certificate: tls.Certificate{Certificate: [][]byte{cd}, PrivateKey: key, Leaf: cert}, CA: ca}, nil
}

// writeFile writes data to dir/name durably (0600).
func writeFile(dir, name string, data []byte) error {
	return durable.WriteFile(dir, name, data, 0o600)
}
