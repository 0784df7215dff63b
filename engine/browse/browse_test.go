package browse

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"keep/engine/backup"
	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counting is a Source that counts blob reads by type; a data read fails
// the test.
type counting struct {
	*repo.Repo
	t           *testing.T
	trees, data atomic.Int64
	bad         fingerprint.ID // a tree that fails to read
}

func (c *counting) Get(ctx context.Context, bt pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if bt == pack.Data {
		c.data.Add(1)
		c.t.Errorf("browse read data blob %s", id.Short())
	} else {
		c.trees.Add(1)
	}
	if id == c.bad {
		return dst, repo.ErrCorrupt
	}
	return c.Repo.Get(ctx, bt, id, dst)
}

type fixture struct {
	r       *repo.Repo
	src     string
	s1, s2  *snapshot.Snapshot // host a, client c1: src before and after a change
	s3      *snapshot.Snapshot // host b, client c2: other
	t0      time.Time
	mtime   time.Time
	bigSize int
}

func setup(t *testing.T) *fixture {
	ctx := context.Background()
	m, err := keys.NewMaster(rand.Reader)
	must(t, err)
	r, err := repo.Init(ctx, repo.DirFS(t.TempDir()), m, repo.Options{Chunker: chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}})
	must(t, err)
	t.Cleanup(func() { _ = r.Close(ctx) })
	f := &fixture{r: r, t0: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), mtime: time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC), bigSize: 300 << 10}
	base := t.TempDir()
	f.src = filepath.Join(base, "src")
	for _, d := range []string{"etc/app", "var/log", "home/u"} {
		must(t, os.MkdirAll(filepath.Join(f.src, d), 0o755))
	}
	big := make([]byte, f.bigSize)
	_, _ = rand.Read(big)
	files := map[string][]byte{
		"etc/app/app.conf": []byte("a=1"), "etc/hosts": []byte("h"), "var/log/app.log": big,
		"home/u/notes.txt": []byte("n"), "home/u/old.conf": []byte("o"),
	}
	for p, b := range files {
		must(t, os.WriteFile(filepath.Join(f.src, p), b, 0o640))
	}
	must(t, os.Symlink("app/app.conf", filepath.Join(f.src, "etc", "link.conf")))
	must(t, os.Chtimes(filepath.Join(f.src, "var/log/app.log"), f.mtime, f.mtime))
	clock := func(d time.Duration) func() time.Time { return func() time.Time { return f.t0.Add(d) } }
	res, err := backup.Run(ctx, r, []string{f.src}, backup.Options{Hostname: "a", Client: "c1", Now: clock(0), Tags: []string{"daily"}})
	must(t, err)
	f.s1 = res.Snapshot
	must(t, os.WriteFile(filepath.Join(f.src, "etc", "new.conf"), []byte("x"), 0o600))
	res, err = backup.Run(ctx, r, []string{f.src}, backup.Options{Hostname: "a", Client: "c1", Now: clock(24 * time.Hour), Parent: f.s1})
	must(t, err)
	f.s2 = res.Snapshot
	other := filepath.Join(base, "other")
	must(t, os.MkdirAll(other, 0o755))
	must(t, os.WriteFile(filepath.Join(other, "x.conf"), []byte("x"), 0o644))
	res, err = backup.Run(ctx, r, []string{other}, backup.Options{Hostname: "b", Client: "c2", Now: clock(48 * time.Hour)})
	must(t, err)
	f.s3 = res.Snapshot
	return f
}

func ids(snaps []*snapshot.Snapshot) []fingerprint.ID {
	var out []fingerprint.ID
	for _, s := range snaps {
		out = append(out, s.ID)
	}
	return out
}

func TestSnapshotsFilter(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	for _, tc := range []struct {
		name string
		flt  Filter
		want []*snapshot.Snapshot
	}{
		{"all", Filter{}, []*snapshot.Snapshot{f.s1, f.s2, f.s3}},
		{"client", Filter{Client: "c1"}, []*snapshot.Snapshot{f.s1, f.s2}},
		{"host", Filter{Hostname: "b"}, []*snapshot.Snapshot{f.s3}},
		{"path below", Filter{Path: f.src + "/etc/hosts"}, []*snapshot.Snapshot{f.s1, f.s2}},
		{"path exact", Filter{Path: f.src}, []*snapshot.Snapshot{f.s1, f.s2}},
		{"path prefix of a name", Filter{Path: f.src + "x"}, nil},
		{"from", Filter{From: f.t0.Add(time.Hour)}, []*snapshot.Snapshot{f.s2, f.s3}},
		{"range", Filter{From: f.t0, To: f.t0.Add(48 * time.Hour)}, []*snapshot.Snapshot{f.s1, f.s2}},
		{"tag", Filter{Tags: []string{"daily"}}, []*snapshot.Snapshot{f.s1}},
		{"job", Filter{Job: snapshot.Incremental}, []*snapshot.Snapshot{f.s2}},
	} {
		got, damaged, err := Snapshots(ctx, f.r, tc.flt)
		must(t, err)
		if len(damaged) != 0 || !slices.Equal(ids(got), ids(tc.want)) {
			t.Errorf("%s: got %d snapshots, want %d", tc.name, len(got), len(tc.want))
		}
	}
}

func TestListStat(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := &counting{Repo: f.r, t: t}
	root := filepath.Base(f.src)
	ents, err := List(ctx, c, f.s2, "/"+root+"/etc")
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name+":"+e.Type.String())
	}
	if !slices.Equal(names, []string{"app:dir", "hosts:file", "link.conf:symlink", "new.conf:file"}) {
		t.Fatalf("list: %v", names)
	}
	if e := ents[2]; e.LinkTarget != "app/app.conf" || e.Path != "/"+root+"/etc/link.conf" || e.FileMode().Type() != os.ModeSymlink {
		t.Fatalf("symlink entry: %+v", e)
	}
	if e := ents[3]; e.Mode != 0o600 || e.Size != 1 || e.FileMode() != 0o600 {
		t.Fatalf("new.conf: %+v", e)
	}
	log, err := Stat(ctx, c, f.s1, root+"/var/log/app.log")
	must(t, err)
	if log.Size != uint64(f.bigSize) || !log.MTime.Equal(f.mtime) || log.Mode != 0o640 || log.Type != tree.File {
		t.Fatalf("stat: %+v", log)
	}
	if c.data.Load() != 0 || c.trees.Load() == 0 {
		t.Fatalf("reads: %d data, %d trees", c.data.Load(), c.trees.Load())
	}
	if _, err := List(ctx, c, f.s1, root+"/etc/new.conf"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing in s1: %v", err)
	}
	if _, err := List(ctx, c, f.s1, root+"/etc/hosts"); !errors.Is(err, ErrNotDir) {
		t.Fatalf("file as dir: %v", err)
	}
	if _, err := List(ctx, c, f.s1, root+"/../x"); err == nil {
		t.Fatal(".. accepted")
	}
	top, err := List(ctx, c, f.s1, "")
	must(t, err)
	if len(top) != 1 || top[0].Name != root || top[0].Type != tree.Dir {
		t.Fatalf("root: %+v", top)
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c := &counting{Repo: f.r, t: t}
	root := "/" + filepath.Base(f.src)
	all := []*snapshot.Snapshot{f.s1, f.s2, f.s3}
	res, err := Find(ctx, c, all, "*.conf", FindOptions{})
	must(t, err)
	var got []string
	for _, m := range res.Found {
		got = append(got, m.Snapshot.Short()+":"+m.Path)
	}
	s1, s2, s3 := f.s1.ID.Short(), f.s2.ID.Short(), f.s3.ID.Short()
	want := []string{
		s1 + ":" + root + "/etc/app/app.conf", s1 + ":" + root + "/etc/link.conf", s1 + ":" + root + "/home/u/old.conf",
		s2 + ":" + root + "/etc/app/app.conf", s2 + ":" + root + "/etc/link.conf", s2 + ":" + root + "/etc/new.conf", s2 + ":" + root + "/home/u/old.conf",
		s3 + ":/other/x.conf",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || res.Truncated || len(res.Errors) != 0 {
		t.Fatalf("find *.conf:\n%v\nwant\n%v", got, want)
	}
	// Unchanged trees are shared between s1 and s2 and walked once: far
	// fewer tree reads than two full walks.
	perSnapshot := c.trees.Load()
	c.trees.Store(0)
	_, err = Find(ctx, c, []*snapshot.Snapshot{f.s1}, "*.conf", FindOptions{})
	must(t, err)
	if one := c.trees.Load(); perSnapshot >= 3*one {
		t.Errorf("three snapshots cost %d tree reads, one costs %d", perSnapshot, one)
	}
	// Anchored, "**", types, limit.
	res, err = Find(ctx, c, []*snapshot.Snapshot{f.s2}, root+"/**/*.log", FindOptions{})
	must(t, err)
	if len(res.Found) != 1 || res.Found[0].Path != root+"/var/log/app.log" || res.Found[0].Size != uint64(f.bigSize) || !res.Found[0].Time.Equal(f.s2.Time) {
		t.Fatalf("anchored: %+v", res.Found)
	}
	res, err = Find(ctx, c, all, "*.conf", FindOptions{Types: []tree.Type{tree.Symlink}})
	must(t, err)
	if len(res.Found) != 2 {
		t.Fatalf("symlinks: %+v", res.Found)
	}
	res, err = Find(ctx, c, all, "*", FindOptions{Limit: 3})
	must(t, err)
	if len(res.Found) != 3 || !res.Truncated {
		t.Fatalf("limit: %d %v", len(res.Found), res.Truncated)
	}
	res, err = Find(ctx, c, all, "app/", FindOptions{})
	must(t, err)
	if len(res.Found) != 2 || res.Found[0].Type != tree.Dir {
		t.Fatalf("dir-only: %+v", res.Found)
	}
	if _, err := Find(ctx, c, all, "[", FindOptions{}); !errors.Is(err, backup.ErrPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
	// A damaged tree is reported with its path and the rest searched.
	ents, err := List(ctx, c, f.s1, root)
	must(t, err)
	for _, e := range ents {
		if e.Name == "home" {
			nodes, err := tree.Load(ctx, f.r, f.s1.Tree)
			must(t, err)
			top, err := tree.Load(ctx, f.r, nodes[0].Subtree)
			must(t, err)
			for _, n := range top {
				if n.Name == "home" {
					c.bad = n.Subtree
				}
			}
		}
	}
	res, err = Find(ctx, c, []*snapshot.Snapshot{f.s1}, "*.conf", FindOptions{})
	must(t, err)
	if len(res.Errors) != 1 || res.Errors[0].Path != root+"/home" || len(res.Found) != 2 {
		t.Fatalf("damaged tree: found %d, errors %+v", len(res.Found), res.Errors)
	}
	if c.data.Load() != 0 {
		t.Fatalf("%d data blobs read", c.data.Load())
	}
}
