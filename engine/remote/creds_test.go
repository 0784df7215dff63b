package remote

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCredentialsSaveLoad(t *testing.T) {
	v := newVault(t)
	cr := v.enrolAgent(t, "web1")
	dir := filepath.Join(t.TempDir(), "creds")
	must(t, cr.Save(dir))
	for _, f := range []string{credKeyFile, credCertFile, credCAFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	got, err := LoadCredentials(dir)
	must(t, err)
	c := v.dial(t, got, Options{})
	if c.Info().Client != "web1" {
		t.Fatal(c.Info())
	}
	// Another agent's certificate with this key: refused as a mismatch.
	other := v.enrolAgent(t, "web2")
	kb, _ := os.ReadFile(filepath.Join(dir, credKeyFile))
	ab, _ := os.ReadFile(filepath.Join(dir, credCAFile))
	o2 := filepath.Join(t.TempDir(), "o2")
	must(t, other.Save(o2))
	cb2, _ := os.ReadFile(filepath.Join(o2, credCertFile))
	if _, err := ParseCredentials(kb, cb2, ab); !errors.Is(err, ErrCredentials) {
		t.Fatalf("mismatched key accepted: %v", err)
	}
	if _, err := LoadCredentials(t.TempDir()); !errors.Is(err, ErrCredentials) {
		t.Fatalf("missing: %v", err)
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMA==\n-----END PRIVATE KEY-----\n"), []byte("x"), []byte(""))
	f.Fuzz(func(t *testing.T, k, c, a []byte) {
		cr, err := ParseCredentials(k, c, a)
		if err == nil && (cr.CA == nil || cr.Certificate.Leaf == nil) {
			t.Fatal("incomplete credentials accepted")
		}
		if err != nil && !errors.Is(err, ErrCredentials) {
			t.Fatalf("error not ErrCredentials: %v", err)
		}
	})
}
