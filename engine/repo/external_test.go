package repo_test

// Helpers of the external tests: the tests that run the repository over
// engine/repo/memfs, which imports package repo and so cannot be used
// from package repo's own tests.

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
)

// extFixture is a master key and its fingerprint hasher.
type extFixture struct {
	m  *keys.Master
	fp *fingerprint.Hasher
}

func newExtFixture(t testing.TB) *extFixture {
	t.Helper()
	m, err := keys.NewMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprint.New(m.Subkeys().Fingerprint.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return &extFixture{m: m, fp: fp}
}

type blobKey struct {
	t  pack.BlobType
	id fingerprint.ID
}

// blob is a plaintext and its key.
type blob struct {
	t    pack.BlobType
	id   fingerprint.ID
	data []byte
}

func (f *extFixture) blob(t pack.BlobType, data []byte) blob {
	return blob{t, f.fp.Sum(data), data}
}

func put(t testing.TB, r *repo.Repo, b blob) {
	t.Helper()
	if _, err := r.Put(context.Background(), b.t, b.id, b.data); err != nil {
		t.Fatal(err)
	}
}

func mustGet(t testing.TB, r *repo.Repo, b blob) {
	t.Helper()
	got, err := r.Get(context.Background(), b.t, b.id, nil)
	if err != nil {
		t.Fatalf("Get %v %s: %v", b.t, b.id.Short(), err)
	}
	if !bytes.Equal(got, b.data) {
		t.Fatalf("Get %v %s: wrong data", b.t, b.id.Short())
	}
}

func mustCheck(t testing.TB, r *repo.Repo) {
	t.Helper()
	rep, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Error(p)
		}
		t.Fatalf("Check found %d problems", rep.Damaged)
	}
}

func closeRepo(t testing.TB, r *repo.Repo) {
	t.Helper()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
