package remote

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"keep/engine/agentproto"
	"keep/engine/enrol"
)

// Enrol redeems an enrolment token (keep1.…, from the vault operator)
// for Credentials. It connects to the address in the token over TLS 1.3
// and accepts the vault only if it presents the CA whose fingerprint the
// token carries (and a server certificate that CA issued), so the token's
// secret never reaches anyone else. It generates the agent's ECDSA P-256
// key locally; only the public key is sent.
func Enrol(ctx context.Context, token string, opts Options) (*Credentials, error) {
	opts.defaults()
	tok, err := enrol.ParseToken(token)
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: %w", err)
	}
	var ca *x509.Certificate
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         enrol.ServerName,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			var err error
			ca, err = pinned(cs.PeerCertificates, tok.CAFingerprint)
			return err
		},
	}
	raw, err := opts.DialContext(ctx, "tcp", tok.Addr)
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: dial %s: %w", tok.Addr, err)
	}
	tc := tls.Client(raw, cfg)
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("remote: enrol: TLS with %s: %w", tok.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	f, err := agentproto.AppendFrame(nil, 1, &agentproto.Enrol{Secret: tok.Secret[:], PublicKey: pub})
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: %w", err)
	}
	if _, err := tc.Write(f); err != nil {
		return nil, fmt.Errorf("remote: enrol: send: %w", err)
	}
	_, m, err := agentproto.ReadFrame(bufio.NewReader(tc), agentproto.MaxPayload)
	if err != nil {
		return nil, fmt.Errorf("remote: enrol: read answer: %w", err)
	}
	switch m := m.(type) {
	case *agentproto.Error:
		return nil, fmt.Errorf("remote: enrol: %w", m)
	case *agentproto.Enrolled:
		cert, err := x509.ParseCertificate(m.Certificate)
		if err != nil {
			return nil, fmt.Errorf("remote: enrol: certificate: %w", err)
		}
		if !key.PublicKey.Equal(cert.PublicKey) {
			return nil, errors.New("remote: enrol: the vault issued a certificate for another key")
		}
		if subtle.ConstantTimeCompare(m.CA, ca.Raw) != 1 {
			return nil, errors.New("remote: enrol: the vault sent another CA than it presented")
		}
		if err := cert.CheckSignatureFrom(ca); err != nil {
			return nil, fmt.Errorf("remote: enrol: certificate not signed by the vault CA: %w", err)
		}
		return &Credentials{
			Certificate: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
			CA:          ca,
		}, nil
	default:
		return nil, fmt.Errorf("remote: enrol: unexpected %v", m.Type())
	}
}

// pinned finds the CA with fingerprint pin among the certificates the
// vault presented and verifies the leaf against it.
func pinned(certs []*x509.Certificate, pin [32]byte) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("vault presented no certificate")
	}
	for _, c := range certs[1:] {
		if sum := sha256.Sum256(c.Raw); subtle.ConstantTimeCompare(sum[:], pin[:]) == 1 {
			pool := x509.NewCertPool()
			pool.AddCert(c)
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: enrol.ServerName}); err != nil {
				return nil, fmt.Errorf("vault certificate not issued by the pinned CA: %w", err)
			}
			return c, nil
		}
	}
	return nil, errors.New("vault's CA does not match the token's fingerprint: wrong address, or someone is in the way; ask the vault operator")
}
