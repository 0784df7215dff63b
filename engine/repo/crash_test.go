package repo_test

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/repo/memfs"
)

// crashOpts make a small workload exercise every write path: packs fill
// after a few blobs, Put writes index files by itself, and compaction runs.
func crashOpts() repo.Options {
	o := repo.Options{PackSize: 4 << 10, Packers: 2}
	repo.SetIndexKnobs(&o, 3, 5)
	return o
}

// crashBlobs is the workload's input: data and tree blobs of 0 to 6000
// bytes, compressible and not, with repeats.
func crashBlobs(f *extFixture) []blob {
	rng := rand.New(rand.NewPCG(7, 7))
	var bs []blob
	for i := range 40 {
		var data []byte
		switch {
		case i%9 == 8:
			data = bs[rng.IntN(len(bs))].data // a repeat
		case i%2 == 0:
			data = corpus.Random(uint64(i), rng.IntN(6000))
		default:
			data = corpus.Text(uint64(i), rng.IntN(6000))
		}
		t := pack.Data
		if i%5 == 4 {
			t = pack.Tree
		}
		bs = append(bs, f.blob(t, data))
	}
	return bs
}

// workload inits a repository and puts blobs, flushing every 8, until the
// filesystem fails. It returns the blobs that a Flush (or Close) reported
// durable.
func workload(fsys repo.FS, m *keys.Master, blobs []blob) (durable map[blobKey][]byte) {
	ctx := context.Background()
	durable = map[blobKey][]byte{}
	r, err := repo.Init(ctx, fsys, m, crashOpts())
	if err != nil {
		return durable
	}
	accepted := map[blobKey][]byte{}
	for i, b := range blobs {
		if _, err := r.Put(ctx, b.t, b.id, b.data); err != nil {
			return durable
		}
		accepted[blobKey{b.t, b.id}] = b.data
		if i%8 == 7 {
			if err := r.Flush(ctx); err != nil {
				return durable
			}
			durable = maps.Clone(accepted)
		}
	}
	if err := r.Close(ctx); err != nil {
		return durable
	}
	return accepted
}

// TestCrashAnywhere fails the workload at every mutating filesystem
// operation in turn, crashes, and checks that every blob a Flush reported
// durable survives, that Check finds no damage, and that the repository
// takes new writes.
func TestCrashAnywhere(t *testing.T) {
	fx := newExtFixture(t)
	m := fx.m
	blobs := crashBlobs(fx)

	clean := memfs.New(0)
	if got := workload(clean, m, blobs); len(got) != countKeys(blobs) {
		t.Fatalf("fault-free run kept %d of %d blobs", len(got), countKeys(blobs))
	}
	total := clean.Ops()
	t.Logf("the workload makes %d mutating filesystem operations", total)
	stride := 1
	if testing.Short() {
		stride = 7
	}
	modes := []struct {
		name        string
		reopenFirst bool // the process dies, a new one opens, writes and flushes, then the power fails
	}{
		{"power loss", false},
		{"process crash, reopen and write, power loss", true},
	}
	withDurable := 0
	defer func() { t.Logf("%d crashes came after at least one successful Flush", withDurable) }()
	for n := 1; n <= total; n += stride {
		for mi, mode := range modes {
			mfs := memfs.New(uint64(n*2 + mi))
			mfs.FailAt(n, false)
			durable := workload(mfs, m, blobs)
			if mode.reopenFirst {
				mfs.CrashProcess()
				reopenAndWrite(t, mfs, m, fx, durable, n)
			}
			mfs.PowerLoss()
			verifyAfterCrash(t, mfs, m, fx, durable, n, mode.name)
			if len(durable) > 0 {
				withDurable++
			}
		}
	}
}

// reopenAndWrite is the next process after a crash: it opens (repairing)
// or inits the repository, stores a new blob and flushes, adding it to
// durable; the Repo is abandoned unclosed, as the power fails next.
func reopenAndWrite(t *testing.T, mfs *memfs.FS, m *keys.Master, fx *extFixture, durable map[blobKey][]byte, n int) {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, mfs, m, crashOpts())
	if errors.Is(err, repo.ErrNotRepo) {
		r, err = repo.Init(ctx, mfs, m, crashOpts())
	}
	if err != nil {
		t.Fatalf("op %d: reopen after the process crash: %v", n, err)
	}
	b := fx.blob(pack.Tree, []byte("written by the process after the crash"))
	if _, err := r.Put(ctx, b.t, b.id, b.data); err != nil {
		t.Fatalf("op %d: Put after the process crash: %v", n, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("op %d: Flush after the process crash: %v", n, err)
	}
	durable[blobKey{b.t, b.id}] = b.data
}

func countKeys(bs []blob) int {
	seen := map[blobKey]bool{}
	for _, b := range bs {
		seen[blobKey{b.t, b.id}] = true
	}
	return len(seen)
}

func verifyAfterCrash(t *testing.T, mfs *memfs.FS, m *keys.Master, fx *extFixture, durable map[blobKey][]byte, n int, mode string) {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, mfs, m, crashOpts())
	if errors.Is(err, repo.ErrNotRepo) {
		if len(durable) > 0 {
			t.Fatalf("op %d, %s: repository gone after %d blobs were flushed", n, mode, len(durable))
		}
		if r, err = repo.Init(ctx, mfs, m, crashOpts()); err != nil {
			t.Fatalf("op %d, %s: Init over a half-made repository: %v", n, mode, err)
		}
	} else if err != nil {
		t.Fatalf("op %d, %s: reopen: %v", n, mode, err)
	}
	for k, data := range durable {
		got, err := r.Get(ctx, k.t, k.id, nil)
		if err != nil || string(got) != string(data) {
			t.Fatalf("op %d, %s: flushed %v %s: %v", n, mode, k.t, k.id.Short(), err)
		}
	}
	rep, err := r.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("op %d, %s: Check: %v %v", n, mode, err, rep.Problems)
	}
	// The repository takes new writes and keeps them.
	nb := fx.blob(pack.Data, []byte("after the crash"))
	if _, err := r.Put(ctx, nb.t, nb.id, nb.data); err != nil {
		t.Fatalf("op %d, %s: Put after crash: %v", n, mode, err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatalf("op %d, %s: Close after crash: %v", n, mode, err)
	}
	mfs.PowerLoss()
	r, err = repo.Open(ctx, mfs, m, crashOpts())
	if err != nil {
		t.Fatalf("op %d, %s: second reopen: %v", n, mode, err)
	}
	if got, err := r.Get(ctx, nb.t, nb.id, nil); err != nil || string(got) != string(nb.data) {
		t.Fatalf("op %d, %s: blob put after the crash: %v", n, mode, err)
	}
	for k := range durable {
		if !r.Has(k.t, k.id) {
			t.Fatalf("op %d, %s: flushed blob lost after the second reopen", n, mode)
		}
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
