package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keep/engine/keys"
)

func readPass(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return strings.TrimSpace(string(b))
}

// TestChangePassphrase: an operator passphrase, then a generated one,
// replace the engine's own; each reopens the same key (nothing
// re-encrypted), the old passphrase no longer opens it, the recovery key
// still does, and a short passphrase is refused without changing anything.
func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "engine")
	pf := filepath.Join(dir, "passphrase")
	e, err := Open(ctx, Options{Dir: dir, KDF: testKDF()})
	must(t, err)
	rk, _, err := e.RecoveryKey()
	must(t, err)
	first := readPass(t, pf)

	if _, err := e.ChangePassphrase([]byte("too short")); !errors.Is(err, ErrWeakPassphrase) {
		t.Fatalf("short passphrase: %v", err)
	}
	if readPass(t, pf) != first {
		t.Fatal("a refused change touched the passphrase file")
	}
	const operator = "a passphrase the operator chose"
	ch, err := e.ChangePassphrase([]byte(operator))
	must(t, err)
	if ch.KeyID != e.KeyID || ch.File != pf || ch.Generated || readPass(t, pf) != operator {
		t.Fatalf("change %+v, file holds %q", ch, readPass(t, pf))
	}
	if _, err := os.Stat(pf + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.new left behind: %v", pf, err)
	}
	must(t, e.Close(ctx))

	if _, err := Open(ctx, Options{Dir: dir, Passphrase: []byte(first)}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("the old passphrase: %v", err)
	}
	e, err = Open(ctx, Options{Dir: dir, KDF: testKDF()})
	must(t, err)
	if e.KeyID != ch.KeyID {
		t.Fatalf("reopened key %s, want %s", e.KeyID, ch.KeyID)
	}
	gen, err := e.ChangePassphrase(nil)
	must(t, err)
	if !gen.Generated || readPass(t, pf) == operator || len(readPass(t, pf)) < 40 {
		t.Fatalf("generated change %+v, file %q", gen, readPass(t, pf))
	}
	must(t, e.Close(ctx))
	e, err = Open(ctx, Options{Dir: dir})
	must(t, err)
	must(t, e.Close(ctx))

	b, err := os.ReadFile(filepath.Join(dir, "key"))
	must(t, err)
	kf, err := keys.Decode(b)
	must(t, err)
	parsed, err := keys.ParseRecoveryKey(rk)
	must(t, err)
	if m, err := kf.UnlockWithRecovery(parsed); err != nil || m.ID() != ch.KeyID {
		t.Fatalf("the recovery key after two changes: %v", err)
	}
}

// TestChangePassphraseCrash: a crash between the writes is recovered at
// the next open, whichever write it interrupted.
func TestChangePassphraseCrash(t *testing.T) {
	ctx := context.Background()
	const newPass = "the new passphrase, long enough"
	for _, c := range []struct {
		name     string
		keyDone  bool // the key file was re-wrapped before the crash
		wantPass string
	}{{"before the key file", false, "old"}, {"after the key file", true, newPass}} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "engine")
			pf := filepath.Join(dir, "passphrase")
			e, err := Open(ctx, Options{Dir: dir})
			must(t, err)
			old := readPass(t, pf)
			must(t, os.WriteFile(pf+".new", []byte(newPass+"\n"), 0o600)) // step 1
			if c.keyDone {                                                // step 2
				b, err := os.ReadFile(filepath.Join(dir, "key"))
				must(t, err)
				f, err := keys.Decode(b)
				must(t, err)
				nf, err := f.ChangePassphrase(rand.Reader, e.master, []byte(newPass), *testKDF())
				must(t, err)
				enc, err := nf.Encode()
				must(t, err)
				must(t, os.WriteFile(filepath.Join(dir, "key"), enc, 0o600))
			}
			must(t, e.Close(ctx)) // the crash: step 3 never ran
			e, err = Open(ctx, Options{Dir: dir})
			must(t, err)
			must(t, e.Close(ctx))
			want := c.wantPass
			if want == "old" {
				want = old
			}
			if got := readPass(t, pf); got != want {
				t.Fatalf("passphrase file holds %q, want %q", got, want)
			}
			if _, err := os.Stat(pf + ".new"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s.new left behind: %v", pf, err)
			}
		})
	}
}

// With the passphrase given directly the engine has no file to keep a
// generated one in; a given one re-wraps the key and the caller keeps it.
func TestChangeGivenPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := Open(ctx, Options{Dir: dir, Passphrase: []byte("the first passphrase given"), KDF: testKDF()})
	must(t, err)
	if _, err := e.ChangePassphrase(nil); err == nil || !strings.Contains(err.Error(), "give the new passphrase") {
		t.Fatalf("generate without a file: %v", err)
	}
	ch, err := e.ChangePassphrase([]byte("the second passphrase given"))
	must(t, err)
	if ch.File != "" {
		t.Fatalf("change %+v names a file", ch)
	}
	must(t, e.Close(ctx))
	e, err = Open(ctx, Options{Dir: dir, Passphrase: []byte("the second passphrase given")})
	must(t, err)
	must(t, e.Close(ctx))
	if entries, _ := os.ReadDir(dir); bytes.Contains([]byte(strings.Join(names(entries), " ")), []byte("passphrase")) {
		t.Fatalf("a passphrase file appeared: %v", names(entries))
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
