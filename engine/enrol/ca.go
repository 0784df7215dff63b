package enrol

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Files in the CA directory.
const (
	keyFile   = "ca.key"     // PKCS #8 PEM
	certFile  = "ca.crt"     // PEM
	stateFile = "state.json" // tokens, issued certificates, revocations
)

// ServerName is the DNS name every vault server certificate carries and
// every agent verifies (whatever address it dialled).
const ServerName = "keep-vault"

// URIScheme names clients in certificates: keep-client:<name>.
const URIScheme = "keep-client"

// Defaults.
const (
	DefaultClientValidity = 365 * 24 * time.Hour
	DefaultServerValidity = 90 * 24 * time.Hour
	DefaultTokenTTL       = 24 * time.Hour
	caValidity            = 20 * 365 * 24 * time.Hour
	// keepExpired is how long an expired token stays on record, so its
	// use is reported as expired rather than unknown.
	keepExpired = 7 * 24 * time.Hour
	clockSkew   = 5 * time.Minute
)

// Errors of enrolment and client verification.
var (
	ErrTokenInvalid = errors.New("enrolment token unknown to this vault: ask the vault operator for a new token")
	ErrTokenUsed    = errors.New("enrolment token was already used: ask the vault operator for a new token")
	ErrTokenExpired = errors.New("enrolment token has expired: ask the vault operator for a new token")
	ErrClientName   = errors.New("invalid client name (1-64 of a-z A-Z 0-9 . _ -, starting with a letter or digit)")
	ErrPublicKey    = errors.New("unsupported public key (use ECDSA P-256 or Ed25519)")
	ErrUnknownCA    = errors.New("client certificate not issued by this vault's CA: enrol this agent with a token from this vault")
	ErrRevoked      = errors.New("client certificate revoked: enrol this agent again with a new token")
	ErrExpired      = errors.New("client certificate expired or not yet valid: check the clock, or enrol again with a new token")
	ErrNoClient     = errors.New("client certificate names no keep client")
	ErrNoCert       = errors.New("no client certificate: enrol this agent with a token first")
	ErrDamaged      = errors.New("CA directory is damaged")
)

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidClientName reports whether name may name a client.
func ValidClientName(name string) bool { return clientNameRE.MatchString(name) }

// Options configure Open.
type Options struct {
	// Dir holds the CA's files; it is created (0700) if missing.
	Dir string
	// Now is the clock (token expiry, certificate validity); nil:
	// time.Now.
	Now func() time.Time
	// Rand is the randomness of keys, serials and secrets; nil:
	// crypto/rand.
	Rand io.Reader
	// ClientValidity is how long client certificates are valid; zero:
	// DefaultClientValidity.
	ClientValidity time.Duration
	// ServerValidity: of server certificates; zero: DefaultServerValidity.
	ServerValidity time.Duration
	// Name is the CA's common name; empty: "keep vault CA".
	Name string
}

// CA is the vault's certificate authority for agents. Its methods are
// safe for concurrent use.
type CA struct {
	opts Options
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool

	mu    sync.Mutex
	state state
}

// state is the persisted record (state.json).
type state struct {
	Version int           `json:"version"`
	Tokens  []tokenRecord `json:"tokens"`
	Issued  []issued      `json:"issued"`
	Revoked []revoked     `json:"revoked"`
}

type tokenRecord struct {
	Hash    string    `json:"hash"` // hex SHA-256 (hashSecret) of the secret
	Client  string    `json:"client"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used,omitzero"`
}

type issued struct {
	Serial   string    `json:"serial"` // hex
	Client   string    `json:"client"`
	NotAfter time.Time `json:"not_after"`
}

type revoked struct {
	Serial string    `json:"serial"`
	Client string    `json:"client"`
	At     time.Time `json:"at"`
}

// Open loads the CA in opts.Dir, creating its key and certificate the
// first time.
func Open(opts Options) (*CA, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.ClientValidity <= 0 {
		opts.ClientValidity = DefaultClientValidity
	}
	if opts.ServerValidity <= 0 {
		opts.ServerValidity = DefaultServerValidity
	}
	if opts.Name == "" {
		opts.Name = "keep vault CA"
	}
	if opts.Dir == "" {
		return nil, errors.New("enrol: no CA directory given")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("enrol: create CA directory: %w", err)
	}
	// It holds the CA key: nobody else may list or open it.
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("enrol: CA directory: %w", err)
	}
	ca := &CA{opts: opts}
	if err := ca.loadOrCreate(); err != nil {
		return nil, fmt.Errorf("enrol: %s: %w", opts.Dir, err)
	}
	ca.pool = x509.NewCertPool()
	ca.pool.AddCert(ca.cert)
	b, err := os.ReadFile(filepath.Join(opts.Dir, stateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ca.state = state{Version: 1}
	case err != nil:
		return nil, fmt.Errorf("enrol: read state: %w", err)
	default:
		st, err := decodeState(b)
		if err != nil {
			return nil, fmt.Errorf("enrol: %s: %w", filepath.Join(opts.Dir, stateFile), err)
		}
		ca.state = *st
	}
	return ca, nil
}

// decodeState parses state.json strictly.
func decodeState(b []byte) (*state, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var st state
	if err := d.Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: state: %w", ErrDamaged, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: state: trailing data", ErrDamaged)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("%w: state version %d", ErrDamaged, st.Version)
	}
	return &st, nil
}

func (ca *CA) loadOrCreate() error {
	kp, cp := filepath.Join(ca.opts.Dir, keyFile), filepath.Join(ca.opts.Dir, certFile)
	certPEM, err := os.ReadFile(cp)
	if errors.Is(err, fs.ErrNotExist) {
		// No certificate: nobody can have pinned this CA yet, so a key
		// left by an interrupted creation is replaced.
		return ca.create()
	}
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(kp)
	if err != nil {
		return fmt.Errorf("%w: CA certificate without key: %w", ErrDamaged, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return fmt.Errorf("%w: CA files are not PEM", ErrDamaged)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || !ek.PublicKey.Equal(cert.PublicKey) {
		return fmt.Errorf("%w: CA key does not match its certificate", ErrDamaged)
	}
	ca.key, ca.cert = ek, cert
	return nil
}

func (ca *CA) create() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), ca.opts.Rand)
	if err != nil {
		return err
	}
	now := ca.opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          ca.serial(),
		Subject:               pkix.Name{CommonName: ca.opts.Name},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(ca.opts.Rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(ca.opts.Dir, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})); err != nil {
		return err
	}
	if err := writeFile(ca.opts.Dir, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return err
	}
	ca.key = key
	ca.cert, err = x509.ParseCertificate(der)
	return err
}

func (ca *CA) serial() *big.Int {
	var b [16]byte
	if _, err := io.ReadFull(ca.opts.Rand, b[:]); err != nil {
		// Randomness failing is fatal for certificates; fall back to
		// the clock only so the caller's CreateCertificate still fails
		// loudly on the same reader.
		return big.NewInt(ca.opts.Now().UnixNano())
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b[:])
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Fingerprint is the SHA-256 of the CA certificate (DER), which agents pin.
func (ca *CA) Fingerprint() [32]byte { return sha256.Sum256(ca.cert.Raw) }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// save writes the state durably; the caller holds mu.
func (ca *CA) save() error {
	b, err := json.MarshalIndent(&ca.state, "", "\t")
	if err != nil {
		return err
	}
	return writeFile(ca.opts.Dir, stateFile, b)
}

// NewToken creates a one-time enrolment token for client, valid for ttl
// (zero: DefaultTokenTTL), naming the vault at addr. Only the token's
// hash is stored; the returned string is the only copy of the secret.
func (ca *CA) NewToken(client, addr string, ttl time.Duration) (string, error) {
	if !ValidClientName(client) {
		return "", fmt.Errorf("enrol: new token: %q: %w", client, ErrClientName)
	}
	if addr == "" || len(addr) > maxAddr {
		return "", fmt.Errorf("enrol: new token: address %q: give the vault's host:port (at most %d bytes)", addr, maxAddr)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	t := Token{CAFingerprint: ca.Fingerprint(), Addr: addr}
	if _, err := io.ReadFull(ca.opts.Rand, t.Secret[:]); err != nil {
		return "", fmt.Errorf("enrol: new token: %w", err)
	}
	if _, err := ParseToken(t.String()); err != nil {
		return "", fmt.Errorf("enrol: new token: address %q: %w", addr, err)
	}
	h := hashSecret(t.Secret[:])
	now := ca.opts.Now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.pruneTokens(now)
	ca.state.Tokens = append(ca.state.Tokens, tokenRecord{Hash: hex.EncodeToString(h[:]), Client: client, Created: now.UTC(), Expires: now.Add(ttl).UTC()})
	if err := ca.save(); err != nil {
		ca.state.Tokens = ca.state.Tokens[:len(ca.state.Tokens)-1]
		return "", fmt.Errorf("enrol: new token: %w", err)
	}
	return t.String(), nil
}

func (ca *CA) pruneTokens(now time.Time) {
	ca.state.Tokens = slices.DeleteFunc(ca.state.Tokens, func(t tokenRecord) bool {
		return now.Sub(t.Expires) > keepExpired
	})
}

// Enrol redeems a token secret for a client certificate of pub (PKIX
// DER, ECDSA P-256 or Ed25519). The token is marked used durably before
// the certificate is returned: a token works once, even across a crash.
// It returns the certificate (DER) and the client name it is bound to.
func (ca *CA) Enrol(secret, pubDER []byte) (certDER []byte, client string, err error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, "", fmt.Errorf("enrol: %w: %w", ErrPublicKey, err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("enrol: %w", ErrPublicKey)
		}
	case ed25519.PublicKey:
	default:
		return nil, "", fmt.Errorf("enrol: %w", ErrPublicKey)
	}
	h := hashSecret(secret)
	hs := hex.EncodeToString(h[:])
	now := ca.opts.Now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	i := slices.IndexFunc(ca.state.Tokens, func(t tokenRecord) bool { return t.Hash == hs })
	if i < 0 {
		return nil, "", fmt.Errorf("enrol: %w", ErrTokenInvalid)
	}
	tok := &ca.state.Tokens[i]
	switch {
	case !tok.Used.IsZero():
		return nil, "", fmt.Errorf("enrol: token for %q used at %s: %w", tok.Client, tok.Used.Format(time.RFC3339), ErrTokenUsed)
	case !now.Before(tok.Expires):
		return nil, "", fmt.Errorf("enrol: token for %q expired at %s: %w", tok.Client, tok.Expires.Format(time.RFC3339), ErrTokenExpired)
	}
	client = tok.Client
	serial := ca.serial()
	u := &url.URL{Scheme: URIScheme, Opaque: client}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: client},
		URIs:         []*url.URL{u},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(ca.opts.ClientValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(ca.opts.Rand, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, "", fmt.Errorf("enrol: issue certificate: %w", err)
	}
	tok.Used = now.UTC()
	ca.state.Issued = append(ca.state.Issued, issued{Serial: serial.Text(16), Client: client, NotAfter: tmpl.NotAfter.UTC()})
	if err := ca.save(); err != nil {
		tok.Used = time.Time{}
		ca.state.Issued = ca.state.Issued[:len(ca.state.Issued)-1]
		return nil, "", fmt.Errorf("enrol: %w", err)
	}
	return der, client, nil
}

// RevokeClient revokes every certificate issued to client and returns
// how many it revoked: every new connection is refused. Connections
// already past Hello are the server's to cut (server.Server.Disconnect;
// engine/local's RevokeClient does both).
func (ca *CA) RevokeClient(client string) (int, error) {
	now := ca.opts.Now().UTC()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	n0 := len(ca.state.Revoked)
	for _, is := range ca.state.Issued {
		if is.Client == client && !ca.revokedLocked(is.Serial) {
			ca.state.Revoked = append(ca.state.Revoked, revoked{Serial: is.Serial, Client: client, At: now})
		}
	}
	n := len(ca.state.Revoked) - n0
	if n == 0 {
		return 0, nil
	}
	if err := ca.save(); err != nil {
		ca.state.Revoked = ca.state.Revoked[:n0]
		return 0, fmt.Errorf("enrol: revoke %q: %w", client, err)
	}
	return n, nil
}

func (ca *CA) revokedLocked(serial string) bool {
	return slices.ContainsFunc(ca.state.Revoked, func(r revoked) bool { return r.Serial == serial })
}

// VerifyClient checks a client certificate chain (leaf first, as TLS
// presents it): issued by this CA, valid now by the CA's clock, for
// client authentication, not revoked; it returns the client name the
// certificate is bound to (its keep-client: URI).
func (ca *CA) VerifyClient(chain []*x509.Certificate) (string, error) {
	if len(chain) == 0 {
		return "", ErrNoCert
	}
	leaf := chain[0]
	now := ca.opts.Now()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.pool, CurrentTime: leaf.NotBefore.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", fmt.Errorf("%w (%s, serial %s): %w", ErrUnknownCA, leaf.Subject.CommonName, leaf.SerialNumber.Text(16), err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%w: %s valid %s to %s", ErrExpired, leaf.Subject.CommonName, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	client := ""
	for _, u := range leaf.URIs {
		if u.Scheme == URIScheme && ValidClientName(u.Opaque) {
			client = u.Opaque
		}
	}
	if client == "" || len(leaf.URIs) != 1 {
		return "", ErrNoClient
	}
	ca.mu.Lock()
	rev := ca.revokedLocked(leaf.SerialNumber.Text(16))
	ca.mu.Unlock()
	if rev {
		return "", fmt.Errorf("%w (client %s, serial %s)", ErrRevoked, client, leaf.SerialNumber.Text(16))
	}
	return client, nil
}

// ServerCertificate issues a fresh server certificate (key in memory
// only) for the vault, valid ServerValidity, for ServerName and hosts
// (DNS names or IP addresses). Its chain includes the CA certificate, so
// an enrolling agent can check the CA against its token's fingerprint.
func (ca *CA) ServerCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), ca.opts.Rand)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("enrol: server key: %w", err)
	}
	now := ca.opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber: ca.serial(),
		Subject:      pkix.Name{CommonName: ServerName},
		DNSNames:     []string{ServerName},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(ca.opts.ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" && !strings.EqualFold(h, ServerName) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(ca.opts.Rand, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("enrol: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("enrol: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTLSConfig is the vault's TLS configuration: TLS 1.3 only, a
// fresh server certificate (ServerCertificate), client certificates
// requested but checked by the session (VerifyClient at Hello, so a
// refused agent gets a clear reason, not a bare TLS alert); a connection
// without one may only Enrol.
func (ca *CA) ServerTLSConfig(hosts []string) (*tls.Config, error) {
	cert, err := ca.ServerCertificate(hosts)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		Time:         ca.opts.Now,
	}, nil
}
