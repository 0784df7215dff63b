package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/repo"
)

func newRepo(t *testing.T) (*repo.Repo, string) {
	t.Helper()
	m, err := keys.NewMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := repo.Init(context.Background(), repo.DirFS(dir), m, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, dir
}

func snap(host string, tm time.Time) *Snapshot {
	var tree fingerprint.ID
	tree[0] = 1
	return &Snapshot{Version: Version, Time: tm, Hostname: host, Paths: []string{"/srv"}, Tree: tree, Job: Full,
		Summary: Summary{FilesSeen: 3, BytesSeen: 10, DedupRatio: 1.5}}
}

func TestSaveLoadList(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	a, b := snap("a", t0.Add(time.Hour)), snap("b", t0)
	for _, s := range []*Snapshot{a, b} {
		if err := Save(ctx, r, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(ctx, r, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "a" || !got.Time.Equal(a.Time) || got.Summary != a.Summary || got.ID != a.ID {
		t.Fatalf("loaded %+v", got)
	}
	// A damaged file and a foreign one do not affect the others.
	c := snap("c", t0.Add(2*time.Hour))
	if err := Save(ctx, r, c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "snapshots", c.ID.String())
	raw, _ := os.ReadFile(p)
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "snapshots", "README"), []byte("x"), 0o600)
	// a's file under b's name: authenticates as neither.
	ra, _ := os.ReadFile(filepath.Join(dir, "snapshots", a.ID.String()))
	var fake fingerprint.ID
	fake[5] = 9
	_ = os.WriteFile(filepath.Join(dir, "snapshots", fake.String()), ra, 0o600)

	snaps, damaged, err := List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Hostname != "b" || snaps[1].Hostname != "a" {
		t.Fatalf("listed %d snapshots", len(snaps))
	}
	if len(damaged) != 2 || !errors.Is(damaged[0].Err, repo.ErrCorrupt) || !errors.Is(damaged[1].Err, repo.ErrCorrupt) {
		t.Fatalf("damaged: %+v", damaged)
	}
	if l := Latest(snaps, "a", []string{"/srv"}); l == nil || l.ID != a.ID {
		t.Fatalf("latest: %+v", l)
	}
	if l := Latest(snaps, "a", []string{"/other"}); l != nil {
		t.Fatal("latest matched other paths")
	}
}

type failFlush struct{ *repo.Repo }

func (failFlush) Flush(context.Context) error { return errors.New("disk gone") }

func TestNoSnapshotWithoutFlush(t *testing.T) {
	ctx := context.Background()
	r, _ := newRepo(t)
	if err := Save(ctx, failFlush{r}, snap("a", time.Now())); err == nil {
		t.Fatal("saved despite a failed flush")
	}
	ids, err := r.ListFiles(ctx, repo.Snapshots)
	if err != nil || len(ids) != 0 {
		t.Fatalf("snapshot files after a failed flush: %v %v", ids, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(snap("a", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{
		"trailing": string(good) + "{}",
		"unknown":  `{"version":1,"x":1}`,
		"version":  `{"version":2}`,
		"empty":    ``,
		"no tree":  `{"version":1,"time":"2026-01-01T00:00:00Z","job":"full"}`,
	} {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	s := snap("a", time.Now())
	s.Job = Incremental
	if _, err := Encode(s); err == nil {
		t.Error("incremental without parent encoded")
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(snap("a", time.Unix(1, 2)))
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		if _, err := Encode(s); err != nil {
			t.Fatalf("decoded snapshot does not encode: %v", err)
		}
	})
}

// TestExcludedCompatible: a summary without exclusions encodes without
// the field added later (byte-compatible with older writers), one with
// them round-trips.
func TestExcludedCompatible(t *testing.T) {
	s := snap("a", time.Unix(1, 0))
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("excluded")) {
		t.Fatalf("zero Excluded encoded: %s", b)
	}
	s.Summary.Excluded = 7
	b, err = Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || got.Summary.Excluded != 7 {
		t.Fatalf("%+v %v", got, err)
	}
}
