package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
)

// filled returns a closed repository holding blobs in several packs and
// index files.
func filled(t *testing.T) (*fixture, []blob) {
	t.Helper()
	fx := newFixture(t, Options{PackSize: 32 << 10, BundleBelow: -1}) // blob by blob (bundles: bundle_test.go)
	r := fx.init()
	var blobs []blob
	for i := range 60 {
		b := fx.blob(pack.Data, corpus.Random(uint64(i), 3000))
		if i%6 == 0 {
			b = fx.blob(pack.Tree, corpus.Text(uint64(i), 2000))
		}
		blobs = append(blobs, b)
		put(t, r, b)
		if i%20 == 19 {
			if err := r.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	closeRepo(t, r)
	return fx, blobs
}

func (f *fixture) files(dir string) []string {
	f.t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(f.dir, dir), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func flipByte(t *testing.T, path string, at func(size int) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at(len(b))] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIndexRebuild(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, fx *fixture)
		wantLog []string
	}{
		{"index files deleted", func(t *testing.T, fx *fixture) {
			for _, p := range fx.files(indexDir) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}, []string{"indexed packs that no index file listed"}},
		{"index file corrupt", func(t *testing.T, fx *fixture) {
			flipByte(t, fx.files(indexDir)[0], func(n int) int { return n / 2 })
		}, []string{"index file unreadable", "content does not match its name", "damaged index files removed"}},
		{"index file truncated", func(t *testing.T, fx *fixture) {
			p := fx.files(indexDir)[0]
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
		}, []string{"index file unreadable"}},
		{"junk in index and data", func(t *testing.T, fx *fixture) {
			for _, p := range []string{"index/notes.txt", "data/zz", "data/00/short"} {
				_ = os.MkdirAll(filepath.Dir(filepath.Join(fx.dir, p)), 0o700)
				if err := os.WriteFile(filepath.Join(fx.dir, p), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}, []string{"not an index file", "unexpected entry in data/", "not a pack"}},
		{"leftover temporary files", func(t *testing.T, fx *fixture) {
			if err := os.WriteFile(filepath.Join(fx.dir, "tmp", "pack-123"), []byte("half a pack"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"removed unfinished temporary files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx, blobs := filled(t)
			tt.damage(t, fx)
			r := fx.open()
			for _, b := range blobs {
				mustGet(t, r, b)
			}
			mustCheck(t, r)
			closeRepo(t, r)
			for _, want := range tt.wantLog {
				if !strings.Contains(fx.log.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, fx.log)
				}
			}
			// Repaired: the next Open rebuilds nothing.
			before := len(fx.log.String())
			r = fx.open()
			closeRepo(t, r)
			if again := fx.log.String()[before:]; strings.Contains(again, "no index file listed") || strings.Contains(again, "unreadable") {
				t.Errorf("second Open repaired again:\n%s", again)
			}
		})
	}
}

func TestMissingPack(t *testing.T) {
	fx, blobs := filled(t)
	victim := fx.files(dataDir)[0]
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	r := fx.open()
	defer closeRepo(t, r)
	if !strings.Contains(fx.log.String(), "pack listed in the index is missing") {
		t.Fatalf("log:\n%s", fx.log)
	}
	var lost []blob
	for _, b := range blobs {
		if !r.Has(b.t, b.id) {
			lost = append(lost, b)
			continue
		}
		mustGet(t, r, b)
	}
	if len(lost) == 0 || r.Stats().MissingPack != 1 {
		t.Fatalf("%d blobs lost, %d packs missing", len(lost), r.Stats().MissingPack)
	}
	rep, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Damaged != 1 || !strings.Contains(rep.Problems[0].String(), filepath.Base(victim)) {
		t.Fatalf("Check: %+v", rep)
	}
	// The next backup stores the lost blobs again.
	for _, b := range lost {
		if !put(t, r, b) {
			t.Fatal("a lost blob was deduplicated against the missing pack")
		}
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, b := range lost {
		mustGet(t, r, b)
	}
}

func TestDamagedPack(t *testing.T) {
	fx, blobs := filled(t)
	// Damage the first blob of one pack (offset 100 is inside it).
	victim := fx.files(dataDir)[0]
	flipByte(t, victim, func(int) int { return 100 })
	r := fx.open()
	defer closeRepo(t, r)
	var corrupt int
	for _, b := range blobs {
		_, err := r.Get(context.Background(), b.t, b.id, nil)
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil:
			t.Fatal(err)
		}
	}
	if corrupt != 1 {
		t.Fatalf("%d blobs corrupt, want 1", corrupt)
	}
	rep, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The pack's hash and its first blob.
	if rep.Damaged != 2 || rep.Blobs != len(blobs)-1 {
		for _, p := range rep.Problems {
			t.Log(p)
		}
		t.Fatalf("Check: %d problems, %d good blobs", rep.Damaged, rep.Blobs)
	}
	if !strings.Contains(rep.Problems[0].String()+rep.Problems[1].String(), "content does not match its name") {
		t.Fatalf("problems: %v", rep.Problems)
	}
}

func TestDamagedPackHeader(t *testing.T) {
	fx, blobs := filled(t)
	victim := fx.files(dataDir)[0]
	flipByte(t, victim, func(n int) int { return n - 20 }) // in the sealed header
	r := fx.open()
	for _, b := range blobs {
		mustGet(t, r, b) // the index still knows where the blobs are
	}
	rep, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged != 2 || rep.Blobs != len(blobs) {
		for _, p := range rep.Problems {
			t.Log(p)
		}
		t.Fatalf("Check: %d problems, %d good blobs; want 2 (hash, header) and all blobs verified through the index", rep.Damaged, rep.Blobs)
	}
	// With the index gone too, the pack's blobs cannot be found: Open
	// says so, and the next backup stores them again.
	for _, p := range fx.files(indexDir) {
		_ = os.Remove(p)
	}
	closeRepo(t, r)
	r2 := fx.open()
	defer closeRepo(t, r2)
	if !strings.Contains(fx.log.String(), "pack header unreadable") {
		t.Fatalf("log:\n%s", fx.log)
	}
}

func TestCompaction(t *testing.T) {
	fx := newFixture(t, Options{PackSize: 16 << 10, maxIndexFiles: 3})
	r := fx.init()
	var blobs []blob
	for i := range 120 {
		b := fx.blob(pack.Data, corpus.Random(uint64(i), 2500))
		blobs = append(blobs, b)
		put(t, r, b)
		if i%3 != 2 {
			continue // packs of up to three blobs
		}
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := r.Stats().IndexFiles; n > 3 {
			t.Fatalf("after flush %d: %d index files", i, n)
		}
	}
	// Every index file lists complete packs: as many blobs per pack as
	// the pack's header.
	for _, fi := range r.indexFiles {
		f, err := r.readIndexFile(fi.name)
		if err != nil {
			t.Fatal(err)
		}
		per := map[pack.ID]int{}
		for _, b := range f.Blobs {
			per[f.Packs[b.Pack]]++
		}
		for id, n := range per {
			hdr, err := r.readPackHeader(id)
			if err != nil || len(hdr) != n {
				t.Fatalf("index file %s lists %d of pack %s's %d blobs (%v)", fi.name[:8], n, id.Short(), len(hdr), err)
			}
		}
	}
	closeRepo(t, r)
	if n := len(fx.files(indexDir)); n > 3 {
		t.Fatalf("%d index files on disk", n)
	}
	r = fx.open()
	for _, b := range blobs {
		mustGet(t, r, b)
	}
	mustCheck(t, r)
	closeRepo(t, r)

	// Losing any one merged file loses no blob: its packs are complete
	// elsewhere or re-read from their headers.
	victim := fx.files(indexDir)[0]
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	r = fx.open()
	defer closeRepo(t, r)
	for _, b := range blobs {
		mustGet(t, r, b)
	}
	if !strings.Contains(fx.log.String(), "indexed packs that no index file listed") {
		t.Fatalf("log:\n%s", fx.log)
	}
}
