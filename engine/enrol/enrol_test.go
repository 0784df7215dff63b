package enrol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pubKey(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	b, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	must(t, err)
	return b
}

func TestTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)}
	ca, err := Open(Options{Dir: dir, Now: c.now})
	must(t, err)
	s, err := ca.NewToken("web1", "vault.example:7300", time.Hour)
	must(t, err)
	tok, err := ParseToken(s)
	must(t, err)
	if tok.Addr != "vault.example:7300" || tok.CAFingerprint != ca.Fingerprint() {
		t.Fatalf("token %v", tok)
	}
	// Only a hash is stored.
	st, err := os.ReadFile(filepath.Join(dir, stateFile))
	must(t, err)
	if strings.Contains(string(st), fmt.Sprintf("%x", tok.Secret[:])) {
		t.Fatal("state holds the token secret")
	}
	der, client, err := ca.Enrol(tok.Secret[:], pubKey(t))
	must(t, err)
	if client != "web1" {
		t.Fatal(client)
	}
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	if got, err := ca.VerifyClient([]*x509.Certificate{cert}); err != nil || got != "web1" {
		t.Fatalf("verify: %q %v", got, err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "keep-client:web1" {
		t.Fatalf("URIs %v", cert.URIs)
	}
	// Single use, also after a restart.
	if _, _, err := ca.Enrol(tok.Secret[:], pubKey(t)); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("reuse: %v", err)
	}
	ca2, err := Open(Options{Dir: dir, Now: c.now})
	must(t, err)
	if ca2.Fingerprint() != ca.Fingerprint() {
		t.Fatal("CA changed on reopen")
	}
	if _, _, err := ca2.Enrol(tok.Secret[:], pubKey(t)); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("reuse after reopen: %v", err)
	}
	// Expiry by the injected clock; unknown secrets.
	s2, err := ca2.NewToken("web2", "vault.example:7300", time.Minute)
	must(t, err)
	tok2, _ := ParseToken(s2)
	c.t = c.t.Add(time.Minute)
	if _, _, err := ca2.Enrol(tok2.Secret[:], pubKey(t)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, _, err := ca2.Enrol(make([]byte, SecretSize), pubKey(t)); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("unknown: %v", err)
	}
	// Bad names and keys.
	if _, err := ca2.NewToken("../etc", "a:1", 0); !errors.Is(err, ErrClientName) {
		t.Fatalf("bad name: %v", err)
	}
	s3, _ := ca2.NewToken("web3", "a:1", 0)
	tok3, _ := ParseToken(s3)
	if _, _, err := ca2.Enrol(tok3.Secret[:], []byte("junk")); !errors.Is(err, ErrPublicKey) {
		t.Fatalf("bad key: %v", err)
	}
	// Expired certificate, by the clock.
	c.t = c.t.Add(DefaultClientValidity)
	if _, err := ca2.VerifyClient([]*x509.Certificate{cert}); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired cert: %v", err)
	}
	for _, f := range []string{keyFile, certFile, stateFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode())
	}
}

func TestRevokeAndForeign(t *testing.T) {
	ca, err := Open(Options{Dir: t.TempDir()})
	must(t, err)
	other, err := Open(Options{Dir: t.TempDir()})
	must(t, err)
	issue := func(ca *CA, name string) *x509.Certificate {
		s, err := ca.NewToken(name, "a:1", 0)
		must(t, err)
		tok, _ := ParseToken(s)
		der, _, err := ca.Enrol(tok.Secret[:], pubKey(t))
		must(t, err)
		c, err := x509.ParseCertificate(der)
		must(t, err)
		return c
	}
	foreign := issue(other, "web1")
	if _, err := ca.VerifyClient([]*x509.Certificate{foreign}); !errors.Is(err, ErrUnknownCA) {
		t.Fatalf("foreign: %v", err)
	}
	a, b := issue(ca, "web1"), issue(ca, "web1")
	n, err := ca.RevokeClient("web1")
	if err != nil || n != 2 {
		t.Fatalf("revoke %d %v", n, err)
	}
	for _, c := range []*x509.Certificate{a, b} {
		if _, err := ca.VerifyClient([]*x509.Certificate{c}); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked: %v", err)
		}
	}
	if n, _ := ca.RevokeClient("web1"); n != 0 {
		t.Fatal("revoked twice")
	}
	if _, err := ca.VerifyClient(nil); err == nil {
		t.Fatal("no certificate accepted")
	}
}

func TestParseTokenRejects(t *testing.T) {
	good := (&Token{Addr: "h:1"}).String()
	if _, err := ParseToken(good); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(strings.ToUpper(good[:6]) + good[6:]); err == nil {
		t.Error("wrong prefix case accepted")
	}
	for _, s := range []string{"", "keep1.", "keep2." + good[6:], good + "a", good[:len(good)-1], "keep1.!!!!",
		(&Token{Addr: ""}).String(), (&Token{Addr: "a b"}).String(), strings.Repeat("k", 600)} {
		if _, err := ParseToken(s); !errors.Is(err, ErrTokenFormat) {
			t.Errorf("accepted %q: %v", s, err)
		}
	}
	tok := Token{Addr: "h:1"}
	tok.Secret[0] = 0x55
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, tok); strings.Contains(s, "85") && strings.Contains(s, "Secret") {
			t.Errorf("%s prints the secret: %s", f, s)
		}
	}
}

func TestDamagedState(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Options{Dir: dir})
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version":1,"x":1}`), 0o600))
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged state: %v", err)
	}
	must(t, os.Remove(filepath.Join(dir, keyFile)))
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("missing key: %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add((&Token{Addr: "vault.example:7300"}).String())
	f.Add((&Token{Addr: "[::1]:7300"}).String())
	f.Add("keep1.")
	f.Add("keep1.aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrTokenFormat) {
				t.Fatalf("error not ErrTokenFormat: %v", err)
			}
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || *again != *tok {
			t.Fatalf("round trip: %v", err)
		}
		if tok.Addr == "" || len(tok.Addr) > maxAddr {
			t.Fatalf("bad address accepted: %q", tok.Addr)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"tokens":[{"hash":"ab","client":"a","created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}],"issued":[],"revoked":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error not ErrDamaged: %v", err)
			}
			return
		}
		if st.Version != 1 {
			t.Fatal("accepted another version")
		}
	})
}
