package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	dir := t.TempDir()
	src := makeTree(t, dir)
	var calls atomic.Int32
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Tags: []string{"t"},
		Progress: func(Progress) { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 0 {
		t.Fatalf("skipped: %+v", res.Skipped)
	}
	if calls.Load() == 0 {
		t.Error("no progress reported")
	}
	s := res.Snapshot
	sum := s.Summary
	t.Logf("summary %+v", sum)
	if s.Job != snapshot.Full || sum.FilesRead == 0 || sum.HoleBytes != (1024+512)<<10 || sum.ChunksNew == 0 {
		t.Fatalf("summary: %+v", s)
	}
	// Hard-linked data is read once.
	if want := int64(1); sum.FilesSeen-sum.FilesRead < 2*want {
		t.Errorf("files seen %d, read %d: links were read again", sum.FilesSeen, sum.FilesRead)
	}
	loaded, err := snapshot.Load(ctx, r, s.ID)
	if err != nil || loaded.Tree != s.Tree {
		t.Fatalf("load: %v", err)
	}

	want := scan(t, src)
	target := t.TempDir()
	rres, err := restore.Restore(ctx, r, loaded, "", target, restore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rres.Failed {
		if !strings.Contains(f.Reason, "sockets") {
			t.Errorf("restore failed: %+v", f)
		}
	}
	compare(t, want, scan(t, filepath.Join(target, "src")))

	// A sub-path whose hard link's first name lies outside it.
	sub := t.TempDir()
	if _, err := restore.Restore(ctx, r, loaded, "src/sub", sub, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(sub, "sub", "link2"))
	if err != nil || len(b) != 100<<10 {
		t.Fatalf("sub-path hard link: %d bytes, %v", len(b), err)
	}
	// A single file.
	one := t.TempDir()
	if _, err := restore.Restore(ctx, r, loaded, "src/sub/deep/file", one, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(one, "file")); err != nil {
		t.Fatal(err)
	}

	rep, err := restore.Verify(ctx, r, loaded)
	if err != nil || !rep.OK() || rep.Chunks == 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestIncrementalAndDedup(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := makeTree(t, t.TempDir())
	first, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// A second full backup of the same data stores nothing new.
	full2, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if s := full2.Snapshot.Summary; s.ChunksNew != 0 || s.BytesNew != 0 || s.TreesNew != 0 || s.BytesRead == 0 {
		t.Fatalf("second full backup: %+v", s)
	}
	if full2.Snapshot.Tree != first.Snapshot.Tree {
		t.Fatal("same data, different root tree")
	}
	// An incremental reads nothing unchanged.
	inc, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Parent: first.Snapshot})
	if err != nil {
		t.Fatal(err)
	}
	s := inc.Snapshot.Summary
	if s.FilesRead != 0 || s.BytesRead != 0 || s.BytesNew != 0 || s.FilesUnchanged == 0 {
		t.Fatalf("unchanged incremental: %+v", s)
	}
	if inc.Snapshot.Job != snapshot.Incremental || inc.Snapshot.Parent != first.Snapshot.ID || inc.Snapshot.Tree != first.Snapshot.Tree {
		t.Fatalf("incremental snapshot: %+v", inc.Snapshot)
	}
	// Change one file: only it is read.
	p := filepath.Join(src, "sub", "deep", "file")
	must(t, os.WriteFile(p, append(pseudo(2, 70<<10), "more"...), 0o644))
	inc2, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Parent: inc.Snapshot})
	if err != nil {
		t.Fatal(err)
	}
	s = inc2.Snapshot.Summary
	if s.FilesRead != 1 || s.FilesChanged != 1 || s.BytesRead != 70<<10+4 {
		t.Fatalf("incremental after one change: %+v", s)
	}
	// The incremental restores the whole tree.
	target := t.TempDir()
	if _, err := restore.Restore(ctx, r, inc2.Snapshot, "src/sub/deep/file", target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "file")); !strings.HasSuffix(string(b), "more") {
		t.Fatal("changed file not restored from the incremental")
	}
	if _, err := restore.Restore(ctx, r, inc2.Snapshot, "src/big.bin", target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "big.bin")); len(b) != 700<<10 {
		t.Fatal("unchanged file not restored from the incremental")
	}
}

func TestSkipsUnreadable(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	for _, n := range []string{"denied", "ok", "vanished"} {
		must(t, os.WriteFile(filepath.Join(src, n), []byte(n), 0o644))
	}
	must(t, os.Mkdir(filepath.Join(src, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "dir", "f"), []byte("f"), 0o644))
	// The open seam fails as permission checks (which root bypasses) and
	// a file removed between listing and reading would.
	open := func(p string) (*os.File, error) {
		switch filepath.Base(p) {
		case "denied":
			return nil, &os.PathError{Op: "open", Path: p, Err: syscall.EACCES}
		case "vanished":
			return nil, &os.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
		}
		return openNoatime(p)
	}
	res, err := Run(ctx, r, []string{src, filepath.Join(src, "gone")}, Options{Hostname: "h", openFile: open})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, s := range res.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	if len(res.Skipped) != 3 || !strings.Contains(reasons["denied"], "permission denied") ||
		!strings.Contains(reasons["vanished"], "no such file") || !strings.Contains(reasons["gone"], "no such file") {
		t.Fatalf("skipped %+v", res.Skipped)
	}
	if res.Snapshot.Summary.Skipped != 3 {
		t.Fatalf("summary: %+v", res.Snapshot.Summary)
	}
	root, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	nodes, err := tree.Load(ctx, r, root[0].Subtree)
	must(t, err)
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "dir,ok" {
		t.Fatalf("nodes %v", names)
	}
}

func TestAbortLeavesNoSnapshot(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := makeTree(t, t.TempDir())
	_, err := Run(ctx, r, []string{src}, Options{Hostname: "h", beforeCommit: func() error { return errors.New("power cut") }})
	if err == nil {
		t.Fatal("backup succeeded")
	}
	snaps, _, err := snapshot.List(ctx, r)
	if err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after abort: %d %v", len(snaps), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, r, []string{src}, Options{Hostname: "h"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v", err)
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Now: func() time.Time { return time.Unix(5, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Snapshot.Time.Equal(time.Unix(5, 0)) {
		t.Fatal("clock not used")
	}
}

func TestHardLinkAcrossPaths(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	a, b := filepath.Join(src, "a"), filepath.Join(src, "b")
	must(t, os.Mkdir(a, 0o755))
	must(t, os.Mkdir(b, 0o755))
	must(t, os.WriteFile(filepath.Join(b, "f"), pseudo(9, 50<<10), 0o644))
	must(t, os.Link(filepath.Join(b, "f"), filepath.Join(a, "g")))
	res, err := Run(ctx, r, []string{b, a}, Options{Hostname: "h"})
	must(t, err)
	if got := res.Snapshot.Paths; len(got) != 2 || got[0] != b {
		t.Fatalf("paths %v", got)
	}
	target := t.TempDir()
	_, err = restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{})
	must(t, err)
	var x, y syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(target, "a", "g"), &x))
	must(t, syscall.Stat(filepath.Join(target, "b", "f"), &y))
	if x.Ino != y.Ino || x.Nlink != 2 {
		t.Fatalf("not linked: %d %d nlink %d", x.Ino, y.Ino, x.Nlink)
	}
	snaps, _, err := snapshot.List(ctx, r)
	must(t, err)
	if snapshot.Latest(snaps, "h", []string{a, b}) == nil {
		t.Fatal("Latest does not match the same paths in another order")
	}
}

// TestSmallFileChangesAfterLstat: files of one chunk are read without the
// chunker; one that grows between lstat and read (past one chunk, or by a
// little) or shrinks is stored as read, as the chunker would store it.
func TestSmallFileChangesAfterLstat(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	c, err := r.Cutter()
	must(t, err)
	min := c.Params().Min
	src := t.TempDir()
	want := map[string][]byte{
		"grows-big":    pseudo(1, 3*min+17),
		"grows-little": pseudo(2, 101),
		"shrinks":      pseudo(3, 10),
		"empty":        nil,
		"exactly-min":  pseudo(4, min),
	}
	for n, b := range want {
		initial := b
		switch n {
		case "grows-big", "grows-little":
			initial = b[:100]
		case "shrinks":
			initial = pseudo(3, 50)
		}
		must(t, os.WriteFile(filepath.Join(src, n), initial, 0o644))
	}
	// The open seam writes the final contents after the lstat.
	open := func(p string) (*os.File, error) {
		if b, ok := want[filepath.Base(p)]; ok {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return nil, err
			}
		}
		return openNoatime(p)
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h", openFile: open})
	must(t, err)
	root, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	nodes, err := tree.Load(ctx, r, root[0].Subtree)
	must(t, err)
	ch := c.NewChunker(nil)
	for _, n := range nodes {
		var got []byte
		for _, e := range n.Content {
			b, err := r.Get(ctx, pack.Data, e.ID, nil)
			must(t, err)
			got = append(got, b...)
		}
		if !bytes.Equal(got, want[n.Name]) || n.Size != uint64(len(got)) {
			t.Errorf("%s: %d bytes stored (size %d), want %d", n.Name, len(got), n.Size, len(want[n.Name]))
		}
		// The same chunks as the chunker cuts (dedup with files read
		// the other way).
		ch.Reset(bytes.NewReader(want[n.Name]))
		var ids []fingerprint.ID
		for {
			k, err := ch.Next()
			if err != nil {
				break
			}
			ids = append(ids, r.Sum(k.Data))
		}
		if len(ids) != len(n.Content) {
			t.Errorf("%s: %d chunks, the chunker cuts %d", n.Name, len(n.Content), len(ids))
			continue
		}
		for i := range ids {
			if ids[i] != n.Content[i].ID {
				t.Errorf("%s: chunk %d differs from the chunker's", n.Name, i)
			}
		}
	}
}

// TestBytesStoredExact: the summary's stored bytes are what the packs hold
// (bundled chunks counted at their share of their bundle, not estimated):
// the data directory's size less the packs' headers (which list every
// blob: under 64 bytes each) and trailers.
func TestBytesStoredExact(t *testing.T) {
	ctx := context.Background()
	r, dir := initRepo(t, newMaster(t), repo.Options{})
	src := t.TempDir()
	for i := range 200 { // small compressible files: all bundled
		must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), pseudo(uint64(i), 3000+i*20), 0o644))
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	must(t, err)
	data := dirSize(t, filepath.Join(dir, "data"))
	s := res.Snapshot.Summary
	t.Logf("stored %d, packs %d bytes, new %d", s.BytesStored, data, s.BytesNew)
	if s.BytesStored > data || s.BytesStored < data-64*int64(s.ChunksNew+s.TreesNew)-4096 {
		t.Fatalf("summary says %d bytes stored, the packs hold %d", s.BytesStored, data)
	}
}

// TestLargeDirectory: a directory of more entries than one stat batch
// (files, subdirectories, symlinks and a hard link whose names fall in
// different batches) round-trips whole and in order.
func TestLargeDirectory(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := filepath.Join(t.TempDir(), "big")
	must(t, os.Mkdir(src, 0o755))
	n := 2*statBatch + 7
	for i := range n {
		p := filepath.Join(src, fmt.Sprintf("e%05d", i))
		switch {
		case i%100 == 3:
			must(t, os.Mkdir(p, 0o750))
			must(t, os.WriteFile(filepath.Join(p, "inner"), pseudo(uint64(i), 100), 0o644))
		case i%50 == 7:
			must(t, os.Symlink(fmt.Sprintf("e%05d", i-1), p))
		default:
			must(t, os.WriteFile(p, pseudo(uint64(i), 10+i%300), 0o644))
		}
	}
	must(t, os.Link(filepath.Join(src, "e00001"), filepath.Join(src, fmt.Sprintf("e%05d", n))))
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 0 {
		t.Fatalf("skipped: %+v", res.Skipped)
	}
	// Files: the entries but the subdirectories, plus the hard link and
	// the one file in each subdirectory (n+1). Directories: the
	// subdirectories (i%100 == 3) and big itself.
	dirs := int64((n + 96) / 100)
	if s := res.Snapshot.Summary; s.FilesSeen != int64(n+1) || s.DirsSeen != dirs+1 {
		t.Errorf("seen %d files and %d directories, want %d and %d", s.FilesSeen, s.DirsSeen, n+1, dirs+1)
	}
	target := t.TempDir()
	if _, err := restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	compare(t, scan(t, src), scan(t, filepath.Join(target, "big")))
}
