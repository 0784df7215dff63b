package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
)

func TestAreaFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	r := f.init()
	ids, err := r.ListFiles(ctx, Snapshots)
	if err != nil || len(ids) != 0 {
		t.Fatalf("empty area: %v %v", ids, err)
	}
	a, err := r.WriteFile(ctx, Snapshots, []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if a != f.fp.Sum([]byte("first")) || a != r.Sum([]byte("first")) {
		t.Fatal("file not named by its fingerprint")
	}
	if again, err := r.WriteFile(ctx, Snapshots, []byte("first")); err != nil || again != a {
		t.Fatalf("rewrite: %v %v", again, err)
	}
	b, err := r.WriteFile(ctx, Snapshots, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadFile(ctx, Snapshots, a)
	if err != nil || string(got) != "first" {
		t.Fatalf("read: %q %v", got, err)
	}
	// Damage, a file under another's name and a missing file.
	pa, pb := filepath.Join(f.dir, "snapshots", a.String()), filepath.Join(f.dir, "snapshots", b.String())
	raw, _ := os.ReadFile(pb)
	var c fingerprint.ID
	c[0] = 7
	if err := os.WriteFile(filepath.Join(f.dir, "snapshots", c.String()), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile(ctx, Snapshots, c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("renamed file: %v", err)
	}
	raw, _ = os.ReadFile(pa)
	if err := os.WriteFile(pa, append(raw[:len(raw)-1], raw[len(raw)-1]^1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile(ctx, Snapshots, a); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged file: %v", err)
	}
	var missing fingerprint.ID
	missing[1] = 1
	if _, err := r.ReadFile(ctx, Snapshots, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	_ = os.WriteFile(filepath.Join(f.dir, "snapshots", "notes.txt"), nil, 0o600)
	ids, err = r.ListFiles(ctx, Snapshots)
	if err != nil || len(ids) != 3 {
		t.Fatalf("list: %v %v", ids, err)
	}
	if err := r.RemoveFile(ctx, Snapshots, c); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteFile(ctx, Area("data"), []byte("x")); err == nil {
		t.Fatal("wrote into an unknown area")
	}
	if _, err := r.WriteFile(ctx, Snapshots, make([]byte, MaxFileSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	closeRepo(t, r)

	f.opts.ReadOnly = true
	ro := f.open()
	defer closeRepo(t, ro)
	if got, err := ro.ReadFile(ctx, Snapshots, b); err != nil || string(got) != "second" {
		t.Fatalf("read-only read: %q %v", got, err)
	}
	if _, err := ro.WriteFile(ctx, Snapshots, []byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only write: %v", err)
	}
}

func TestPutSizeAndCutter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{BundleBelow: -1}) // sealed sizes (bundled: TestBundles)
	r := f.init()
	defer closeRepo(t, r)
	data := bytes.Repeat([]byte("compressible "), 1000)
	n, err := r.PutSize(ctx, pack.Data, r.Sum(data), data)
	if err != nil || n <= 0 || n >= len(data) {
		t.Fatalf("first put: %d %v", n, err)
	}
	if n, err := r.PutSize(ctx, pack.Data, r.Sum(data), data); err != nil || n != 0 {
		t.Fatalf("second put: %d %v", n, err)
	}
	c, err := r.Cutter()
	if err != nil || c.Params() != r.Config().Chunker.Params() {
		t.Fatalf("cutter: %v %v", c, err)
	}
}

func TestSumPut(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{BundleBelow: -1})
	r := f.init()
	defer closeRepo(t, r)
	data := bytes.Repeat([]byte("sum and put "), 1000)
	id, n, err := r.SumPut(ctx, pack.Data, data)
	if err != nil || id != r.Sum(data) || n <= 0 || n >= len(data) {
		t.Fatalf("first SumPut: %s %d %v", id.Short(), n, err)
	}
	if id2, n, err := r.SumPut(ctx, pack.Data, data); err != nil || id2 != id || n != 0 {
		t.Fatalf("second SumPut: %s %d %v", id2.Short(), n, err)
	}
	if n, err := r.PutSize(ctx, pack.Data, id, data); err != nil || n != 0 {
		t.Fatalf("PutSize after SumPut: %d %v", n, err)
	}
	if _, _, err := r.SumPut(ctx, pack.Data, make([]byte, r.Config().Chunker.Max+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, pack.Data, id, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
}
