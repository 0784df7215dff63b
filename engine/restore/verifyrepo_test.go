package restore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"keep/engine/backup"
	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func random(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// world is a repository with three snapshots: s1 of src (big1, small),
// s2 of src after adding big2 (a copy of big1), s3 of other.
type world struct {
	r          *repo.Repo
	dir        string
	s1, s2, s3 *snapshot.Snapshot
	big        []byte
}

// newWorld builds the world; bundleBelow is the repository's
// BundleBelow (-1: every chunk sealed alone).
func newWorld(t *testing.T, bundleBelow int) *world {
	ctx := context.Background()
	m, err := keys.NewMaster(rand.Reader)
	must(t, err)
	w := &world{dir: t.TempDir()}
	w.r, err = repo.Init(ctx, repo.DirFS(w.dir), m, repo.Options{
		Chunker: chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}, BundleBelow: bundleBelow, BundleSize: 128 << 10})
	must(t, err)
	t.Cleanup(func() { _ = w.r.Close(ctx) })
	src := filepath.Join(t.TempDir(), "src")
	other := filepath.Join(t.TempDir(), "other")
	must(t, os.MkdirAll(filepath.Join(src, "d"), 0o755))
	must(t, os.MkdirAll(other, 0o755))
	w.big = random(1, 2<<20)
	must(t, os.WriteFile(filepath.Join(src, "d", "big1"), w.big, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "small"), []byte("small"), 0o644))
	must(t, os.WriteFile(filepath.Join(other, "o"), random(2, 300<<10), 0o644))
	res, err := backup.Run(ctx, w.r, []string{src}, backup.Options{Hostname: "a"})
	must(t, err)
	w.s1 = res.Snapshot
	must(t, os.WriteFile(filepath.Join(src, "big2"), w.big, 0o644))
	res, err = backup.Run(ctx, w.r, []string{src}, backup.Options{Hostname: "a", Parent: w.s1})
	must(t, err)
	w.s2 = res.Snapshot
	res, err = backup.Run(ctx, w.r, []string{other}, backup.Options{Hostname: "b"})
	must(t, err)
	w.s3 = res.Snapshot
	return w
}

// usesOf finds, by brute force over every file node, the snapshot paths
// whose content includes chunk id: the oracle for VerifyRepo's Uses.
func usesOf(t *testing.T, g tree.Getter, id fingerprint.ID, snaps ...*snapshot.Snapshot) []restore.Use {
	ctx := context.Background()
	var out []restore.Use
	for _, s := range snaps {
		var walk func(tid fingerprint.ID, p string)
		walk = func(tid fingerprint.ID, p string) {
			nodes, err := tree.Load(ctx, g, tid)
			must(t, err)
			for _, n := range nodes {
				if n.Type == tree.Dir {
					walk(n.Subtree, p+"/"+n.Name)
				}
				for _, e := range n.Content {
					if e.ID == id {
						out = append(out, restore.Use{Snapshot: s.ID, Path: p + "/" + n.Name})
						break
					}
				}
			}
		}
		walk(s.Tree, "")
	}
	slices.SortFunc(out, func(a, b restore.Use) int {
		if c := slices.Compare(a.Snapshot[:], b.Snapshot[:]); c != 0 {
			return c
		}
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return out
}

// TestVerifyRepoDamagedPack flips a byte inside a pack on disk: VerifyRepo
// names the damaged chunks (one sealed alone; every member of a bundle),
// the pack holding them (as repo.Check does), and exactly the snapshots
// and paths that need them; a restore of an affected snapshot removes
// those files rather than writing wrong bytes and restores the rest.
func TestVerifyRepoDamagedPack(t *testing.T) {
	t.Run("alone", func(t *testing.T) { testVerifyRepoDamagedPack(t, -1) })
	t.Run("bundled", func(t *testing.T) { testVerifyRepoDamagedPack(t, 0) })
}

func testVerifyRepoDamagedPack(t *testing.T, bundleBelow int) {
	ctx := context.Background()
	w := newWorld(t, bundleBelow)
	clean, err := restore.VerifyRepo(ctx, w.r, restore.VerifyOptions{})
	must(t, err)
	if !clean.OK() || clean.Snapshots != 3 || clean.Read != clean.Chunks || clean.Chunks < 100 {
		t.Fatalf("clean repository: %+v", clean)
	}
	// The largest pack: data first, trees last; a quarter in is data.
	var packPath string
	var packSize int64
	must(t, filepath.Walk(filepath.Join(w.dir, "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() > packSize {
			packPath, packSize = p, info.Size()
		}
		return err
	}))
	raw, err := os.ReadFile(packPath)
	must(t, err)
	raw[len(raw)/4] ^= 0x40
	must(t, os.WriteFile(packPath, raw, 0o600))

	rep, err := restore.VerifyRepo(ctx, w.r, restore.VerifyOptions{})
	must(t, err)
	if rep.OK() || rep.Check != nil { // repo.Repo is a Locator: no whole-repository Check
		t.Fatalf("damaged: %+v", rep.Damaged)
	}
	if n := len(rep.Damaged); (bundleBelow < 0 && n != 1) || (bundleBelow >= 0 && n < 2) {
		t.Fatalf("%d chunks damaged (bundles below %d): %+v", n, bundleBelow, rep.Damaged)
	}
	var ids []fingerprint.ID
	for _, d := range rep.Damaged {
		if d.Type != pack.Data || d.Pack.String() != filepath.Base(packPath) || !errors.Is(d.Err, repo.ErrCorrupt) {
			t.Fatalf("damage: %v (pack file %s)", d, filepath.Base(packPath))
		}
		if want := usesOf(t, w.r, d.ID, w.s1, w.s2, w.s3); len(want) == 0 || !slices.Equal(d.Uses, want) {
			t.Fatalf("uses of %s: %v, want %v", d.ID.Short(), d.Uses, want)
		}
		ids = append(ids, d.ID)
	}
	slices.SortFunc(ids, func(a, b fingerprint.ID) int { return slices.Compare(a[:], b[:]) })
	t.Logf("%d chunks damaged, the first %v: %v", len(rep.Damaged), rep.Damaged[0], rep.Damaged[0].Uses)
	// Without a Locator the pack is named by a whole-repository Check.
	type checkOnly struct {
		restore.RepoSource
		restore.Checker
	}
	viaCheck, err := restore.VerifyRepo(ctx, checkOnly{w.r, w.r}, restore.VerifyOptions{})
	must(t, err)
	if len(viaCheck.Damaged) != len(rep.Damaged) || viaCheck.Check == nil {
		t.Fatalf("via Check: %+v (Check %v), want %v", viaCheck.Damaged, viaCheck.Check != nil, rep.Damaged)
	}
	for i, d := range viaCheck.Damaged {
		if d.Pack != rep.Damaged[i].Pack || d.ID != rep.Damaged[i].ID {
			t.Fatalf("via Check: %v, want %v", d, rep.Damaged[i])
		}
	}
	if aff := rep.Affected(); slices.Contains(aff, w.s3.ID) || len(aff) == 0 {
		t.Fatalf("affected: %v", aff)
	}
	// Restore s2: every file that needs a damaged chunk is failed and
	// absent, the others are intact.
	target := t.TempDir()
	rr, err := restore.Restore(ctx, w.r, w.s2, "", target, restore.Options{})
	must(t, err)
	var failed []string
	for _, f := range rr.Failed {
		failed = append(failed, f.Path)
	}
	for _, d := range rep.Damaged {
		for _, u := range d.Uses {
			if u.Snapshot != w.s2.ID {
				continue
			}
			p := filepath.Join(target, filepath.FromSlash(u.Path))
			if !slices.Contains(failed, p) {
				t.Errorf("%s not reported failed: %v", p, failed)
			}
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", p, err)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(target, "src", "small")); !slices.Contains(failed, filepath.Join(target, "src", "small")) &&
		(err != nil || string(got) != "small") {
		t.Fatalf("small: %q %v", got, err)
	}
	for _, name := range []string{"big2", "d/big1"} {
		if b, err := os.ReadFile(filepath.Join(target, "src", name)); err == nil && !bytes.Equal(b, w.big) {
			t.Fatalf("%s restored with wrong bytes", name)
		}
	}
	// The existing per-snapshot Verify agrees on the IDs s1 uses.
	v, err := restore.Verify(ctx, w.r, w.s1)
	must(t, err)
	var vids []fingerprint.ID
	for _, d := range v.Damaged {
		vids = append(vids, d.ID)
	}
	for _, id := range vids {
		if _, ok := slices.BinarySearchFunc(ids, id, func(a, b fingerprint.ID) int { return slices.Compare(a[:], b[:]) }); !ok {
			t.Fatalf("Verify names %s, VerifyRepo does not", id.Short())
		}
	}
	if len(vids) == 0 {
		t.Fatal("Verify of s1 finds no damage")
	}
}

// countGetter counts data blob reads and fails one chunk, as damage
// does, without a Check to fall back on.
type countGetter struct {
	restore.RepoSource
	bad  fingerprint.ID
	data atomic.Int64
}

func (c *countGetter) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if t == pack.Data {
		c.data.Add(1)
		if id == c.bad {
			return dst, repo.ErrCorrupt
		}
	}
	return c.RepoSource.Get(ctx, t, id, dst)
}

// TestVerifyRepoSample: N % sampling reads about N % of the chunks (each
// once), the same seed picks the same ones, another seed others; a
// damaged chunk read through a source that is neither Locator nor
// Checker is reported with its uses and an unknown pack.
func TestVerifyRepoSample(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, -1)
	all, err := restore.VerifyRepo(ctx, w.r, restore.VerifyOptions{})
	must(t, err)
	n := all.Chunks
	for _, pct := range []float64{10, 25, 50} {
		cg := &countGetter{RepoSource: w.r}
		rep, err := restore.VerifyRepo(ctx, cg, restore.VerifyOptions{Percent: pct, Seed: 42})
		must(t, err)
		exp := float64(n) * pct / 100
		sd := math.Sqrt(exp * (1 - pct/100))
		if math.Abs(float64(rep.Sampled)-exp) > 4*sd || int64(rep.Sampled) != cg.data.Load() || rep.Read != rep.Sampled {
			t.Fatalf("%v%%: sampled %d of %d (expected %.0f±%.0f), %d reads", pct, rep.Sampled, n, exp, sd, cg.data.Load())
		}
		t.Logf("%v%%: %d of %d chunks read", pct, rep.Sampled, n)
	}
	a, _ := restore.VerifyRepo(ctx, w.r, restore.VerifyOptions{Percent: 20, Seed: 1})
	b, _ := restore.VerifyRepo(ctx, w.r, restore.VerifyOptions{Percent: 20, Seed: 1})
	if a.Sampled != b.Sampled {
		t.Fatal("same seed, different samples")
	}
	var differ bool
	for _, e := range chunkIDs(t, w) {
		if restore.Sampled(e, 20, 1) != restore.Sampled(e, 20, 2) {
			differ = true
		}
	}
	if !differ {
		t.Fatal("seeds 1 and 2 pick the same chunks")
	}
	bad := chunkIDs(t, w)[5]
	cg := &countGetter{RepoSource: w.r, bad: bad}
	rep, err := restore.VerifyRepo(ctx, cg, restore.VerifyOptions{})
	must(t, err)
	if len(rep.Damaged) != 1 || rep.Damaged[0].ID != bad || rep.Damaged[0].Pack != (pack.ID{}) ||
		!slices.Equal(rep.Damaged[0].Uses, usesOf(t, w.r, bad, w.s1, w.s2, w.s3)) {
		t.Fatalf("damage: %+v", rep.Damaged)
	}
	// Limited to one snapshot: only its uses.
	rep, err = restore.VerifyRepo(ctx, cg, restore.VerifyOptions{Snapshots: []*snapshot.Snapshot{w.s1}})
	must(t, err)
	if len(rep.Damaged) != 1 || !slices.Equal(rep.Damaged[0].Uses, usesOf(t, w.r, bad, w.s1)) {
		t.Fatalf("s1 only: %+v", rep.Damaged)
	}
}

// chunkIDs lists big1's chunks in s1.
func chunkIDs(t *testing.T, w *world) []fingerprint.ID {
	ctx := context.Background()
	root, err := tree.Load(ctx, w.r, w.s1.Tree)
	must(t, err)
	src, err := tree.Load(ctx, w.r, root[0].Subtree)
	must(t, err)
	d, err := tree.Load(ctx, w.r, src[0].Subtree)
	must(t, err)
	var ids []fingerprint.ID
	for _, e := range d[0].Content {
		ids = append(ids, e.ID)
	}
	return ids
}

// dropCounter is a RepoSource that counts DropCache calls.
type dropCounter struct {
	restore.RepoSource
	drops int
}

func (d *dropCounter) DropCache() { d.drops++ }

// TestVerifyDropsCache: VerifyRepo and Verify drop the source's cache of
// opened bundles before reading, so what they verify comes from the disk
// (repo's TestDropCache shows a kept bundle hides damage until then).
func TestVerifyDropsCache(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 0)
	d := &dropCounter{RepoSource: w.r}
	_, err := restore.VerifyRepo(ctx, d, restore.VerifyOptions{})
	must(t, err)
	if d.drops != 1 {
		t.Fatalf("VerifyRepo dropped the cache %d times, want 1", d.drops)
	}
	_, err = restore.Verify(ctx, d, w.s1)
	must(t, err)
	if d.drops != 2 {
		t.Fatalf("Verify dropped the cache %d times in all, want 2", d.drops)
	}
}
