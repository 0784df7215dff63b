package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
)

var pass = []byte("correct horse battery staple")

func create(t testing.TB) (*File, *Master, RecoveryKey) {
	t.Helper()
	f, m, rk, err := Create(rand.Reader, pass, InsecureTestKDF())
	if err != nil {
		t.Fatal(err)
	}
	return f, m, rk
}

func TestCreateUnlock(t *testing.T) {
	f, m, rk := create(t)
	got, err := f.Unlock(pass)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(m) {
		t.Fatal("passphrase unlocked a different key")
	}
	got, err = f.UnlockWithRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(m) {
		t.Fatal("recovery key unlocked a different key")
	}
	_, _, otherRK := create(t)
	for name, unlock := range map[string]func() (*Master, error){
		"wrong passphrase":   func() (*Master, error) { return f.Unlock([]byte("Correct horse battery staple")) },
		"empty passphrase":   func() (*Master, error) { return f.Unlock(nil) },
		"wrong recovery key": func() (*Master, error) { return f.UnlockWithRecovery(otherRK) },
		"zero recovery key":  func() (*Master, error) { return f.UnlockWithRecovery(RecoveryKey{}) },
	} {
		if m, err := unlock(); !errors.Is(err, ErrWrongKey) || m != nil {
			t.Errorf("%s: %v, %v; want ErrWrongKey", name, m, err)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	if _, _, _, err := Create(rand.Reader, nil, InsecureTestKDF()); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
	bad := InsecureTestKDF()
	bad.Time = 0
	if _, _, _, err := Create(rand.Reader, pass, bad); !errors.Is(err, ErrFormat) {
		t.Errorf("bad kdf: %v", err)
	}
	if _, _, _, err := Create(bytes.NewReader(make([]byte, 40)), pass, InsecureTestKDF()); err == nil {
		t.Error("short randomness: no error")
	}
}

func TestChangePassphrase(t *testing.T) {
	f, m, rk := create(t)
	newPass := []byte("new passphrase")
	nf, err := f.ChangePassphrase(rand.Reader, m, newPass, InsecureTestKDF())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nf.Unlock(pass); !errors.Is(err, ErrWrongKey) {
		t.Errorf("old passphrase after change: %v, want ErrWrongKey", err)
	}
	got, err := nf.Unlock(newPass)
	if err != nil || !got.Equal(m) {
		t.Fatalf("new passphrase: %v", err)
	}
	// Re-wrapped, not re-keyed: same master, same subkeys, recovery slot
	// untouched, old file still valid (the caller replaces it).
	if !got.Subkeys().Chunk.Equal(m.Subkeys().Chunk) || nf.KeyID != f.KeyID {
		t.Error("subkeys changed")
	}
	if !bytes.Equal(nf.Recovery.Wrapped, f.Recovery.Wrapped) {
		t.Error("recovery slot changed")
	}
	if bytes.Equal(nf.Passphrase.KDF.Salt, f.Passphrase.KDF.Salt) {
		t.Error("salt reused")
	}
	if _, err := f.Unlock(pass); err != nil {
		t.Errorf("ChangePassphrase modified the original file: %v", err)
	}
	if r, err := nf.UnlockWithRecovery(rk); err != nil || !r.Equal(m) {
		t.Errorf("recovery after change: %v", err)
	}
	_, other, _ := create(t)
	if _, err := f.ChangePassphrase(rand.Reader, other, newPass, InsecureTestKDF()); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign master: %v, want ErrKeyMismatch", err)
	}
	if _, err := f.ChangePassphrase(rand.Reader, m, nil, InsecureTestKDF()); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty new passphrase: %v", err)
	}
}

// TestSubkeysOracle: HKDF-SHA-256 computed independently (Python's hmac
// module, RFC 5869 by hand) for master key bytes 0..31.
func TestSubkeysOracle(t *testing.T) {
	var a [KeySize]byte
	for i := range a {
		a[i] = byte(i)
	}
	m := Master{k: keyOf(&a)}
	sk := m.Subkeys()
	tests := []struct {
		name string
		got  Key
		want string
	}{
		{"chunk", sk.Chunk, "30777874ec1c4fe3e21701bca5220877c2e9830281a6211417f2e1ae98754d37"},
		{"meta", sk.Meta, "fac7613b271b0ad324058c88f73acb54c26844c54a35687bbe904493c94ea2b6"},
		{"fingerprint", sk.Fingerprint, "f09fe80c428687883768532e5eb72967e1ec5e886c730d3a8fbc4e228cca4bba"},
		{"gear", sk.Gear, "df54503619bb98fb01fec00051ece080525d0df43a46cfc9d6ebb8be52941c46"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got.Bytes()); got != tt.want {
			t.Errorf("%s subkey %s, want %s", tt.name, got, tt.want)
		}
	}
	if got, want := m.ID(), "5544df6f33b5442e16ba3a7de7bf971d"; got != want {
		t.Errorf("key ID %s, want %s", got, want)
	}
}

// TestArgon2idOracle: values from Python's cryptography (OpenSSL Argon2id).
func TestArgon2idOracle(t *testing.T) {
	salt := make([]byte, 16)
	for i := range salt {
		salt[i] = byte(i)
	}
	tests := []struct {
		p    KDFParams
		want string
	}{
		{KDFParams{KDFArgon2id, 1, 64, 1, salt}, "25ce5233cc1e4d37e9bca31bfef41710e40446cd1cb575932791c5fd3780bd3c"},
		{KDFParams{KDFArgon2id, 2, 256, 2, salt}, "1c0076a4729fb06e4d764df2ad3c5571fe1fc715e1ae6904bb9e28dab139474f"},
	}
	for _, tt := range tests {
		if err := tt.p.validate(); err != nil {
			t.Fatal(err)
		}
		k := tt.p.derive([]byte("correct horse"))
		if got := hex.EncodeToString(k.Bytes()); got != tt.want {
			t.Errorf("%d/%d/%d: %s, want %s", tt.p.Time, tt.p.MemoryKiB, tt.p.Threads, got, tt.want)
		}
	}
}

func TestDefaultKDFIsValid(t *testing.T) {
	p, err := DefaultKDF().withSalt(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryKiB < 64<<10 || p.Time < 2 {
		t.Errorf("default KDF %+v weaker than RFC 9106's second recommendation", p)
	}
}

func TestKeyHelpers(t *testing.T) {
	_, m, _ := create(t)
	sk := m.Subkeys()
	keys := []Key{sk.Chunk, sk.Meta, sk.Fingerprint, sk.Gear}
	for i := range keys {
		if keys[i].IsZero() {
			t.Errorf("subkey %d is zero", i)
		}
		a := keys[i].Array()
		if !bytes.Equal(a[:], keys[i].Bytes()) {
			t.Error("Array and Bytes differ")
		}
		for j := range i {
			if keys[i].Equal(keys[j]) {
				t.Errorf("subkeys %d and %d are equal", i, j)
			}
		}
	}
	b := sk.Chunk.Bytes()
	b[0] ^= 1
	if !bytes.Equal(sk.Chunk.Bytes()[1:], b[1:]) || sk.Chunk.Bytes()[0] == b[0] {
		t.Error("Bytes does not return a copy")
	}
}
