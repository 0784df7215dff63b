package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/restore"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// TestExcludeInclude: excluded items (and everything below an excluded
// directory) are absent from the snapshot and counted in the Result and
// the Summary; an include re-includes; the given path itself is kept.
func TestExcludeInclude(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{"a/cache", "a/keep", "lost+found/x", "b"} {
		must(t, os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	for f, n := range map[string]int{"a/x.tmp": 10, "a/keep.tmp": 20, "a/cache/big": 1000, "a/keep/f": 5, "b/y.log": 7, "lost+found/x/f": 3} {
		must(t, os.WriteFile(filepath.Join(src, f), pseudo(uint64(n), n), 0o644))
	}
	res, err := Run(ctx, r, []string{src}, Options{Hostname: "h",
		Exclude: []string{"*.tmp", "cache/", src + "/b/*.log"}, Include: []string{"keep.tmp"}, Presets: []string{PresetSystem}})
	must(t, err)
	got := map[string]bool{}
	var walk func(id [32]byte, p string)
	walk = func(id [32]byte, p string) {
		nodes, err := tree.Load(ctx, r, id)
		must(t, err)
		for _, n := range nodes {
			got[p+n.Name] = true
			if n.Type == tree.Dir {
				walk(n.Subtree, p+n.Name+"/")
			}
		}
	}
	walk(res.Snapshot.Tree, "")
	for _, want := range []string{"src/a/keep.tmp", "src/a/keep/f", "src/b"} {
		if !got[want] {
			t.Errorf("%s missing", want)
		}
	}
	for _, gone := range []string{"src/a/x.tmp", "src/a/cache", "src/a/cache/big", "src/b/y.log", "src/lost+found"} {
		if got[gone] {
			t.Errorf("%s not excluded", gone)
		}
	}
	wantEx := []string{src + "/a/cache", src + "/a/x.tmp", src + "/b/y.log", src + "/lost+found"}
	slices.Sort(res.ExcludedPaths)
	if res.Excluded != 4 || res.ExcludedBytes != 17 || !slices.Equal(res.ExcludedPaths, wantEx) || res.Snapshot.Summary.Excluded != 4 {
		t.Fatalf("excluded %d (%d bytes): %v, summary %d", res.Excluded, res.ExcludedBytes, res.ExcludedPaths, res.Snapshot.Summary.Excluded)
	}
	if _, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Exclude: []string{"[x"}}); !errors.Is(err, ErrPattern) {
		t.Fatalf("bad pattern: %v", err)
	}
}

// TestStream: a reader is backed up as a named regular file with the
// given mode and mtime and restored byte-identical; a failing reader is
// skipped with its reason; an image stream cuts zeros to holes.
func TestStream(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	data := pseudo(7, 3<<20+17)
	img := make([]byte, 1<<20)
	copy(img[300000:], pseudo(8, 1000))
	mt := time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
	res, err := Run(ctx, r, []string{dir}, Options{Hostname: "h", Streams: []Stream{
		{Name: "db.dump", R: iotest.HalfReader(bytes.NewReader(data)), Mode: 0o640, MTime: mt},
		{Name: "broken", R: iotest.TimeoutReader(bytes.NewReader(data))},
		{Name: "vm.raw", R: bytes.NewReader(img), Image: true},
	}})
	must(t, err)
	if len(res.Skipped) != 1 || res.Skipped[0].Path != StreamPathPrefix+"broken" {
		t.Fatalf("skipped: %+v", res.Skipped)
	}
	if !slices.Contains(res.Snapshot.Paths, StreamPathPrefix+"db.dump") {
		t.Fatalf("paths: %v", res.Snapshot.Paths)
	}
	nodes, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name+":"+n.Type.String())
	}
	if !slices.Equal(names, []string{filepath.Base(dir) + ":dir", "db.dump:file", "vm.raw:image"}) {
		t.Fatalf("root: %v", names)
	}
	if n := nodes[2]; len(n.Content) != 3 || !n.Content[0].Hole || !n.Content[2].Hole {
		t.Fatalf("image stream content: %+v", n.Content)
	}
	target := t.TempDir()
	rr, err := restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{})
	must(t, err)
	if len(rr.Failed) != 0 {
		t.Fatalf("restore: %+v", rr.Failed)
	}
	got, err := os.ReadFile(filepath.Join(target, "db.dump"))
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("stream differs after restore")
	}
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(target, "db.dump"), &st))
	if st.Mode&0o7777 != 0o640 || st.Mtim.Nano() != mt.UnixNano() || st.Uid != uint32(os.Getuid()) {
		t.Fatalf("metadata: mode %o mtime %d uid %d", st.Mode, st.Mtim.Nano(), st.Uid)
	}
	got, err = os.ReadFile(filepath.Join(target, "vm.raw"))
	must(t, err)
	if !bytes.Equal(got, img) {
		t.Fatal("image stream differs after restore")
	}
	// WriteImage to a file path.
	out := filepath.Join(t.TempDir(), "out.raw")
	_, err = restore.WriteImage(ctx, r, res.Snapshot, "vm.raw", out, restore.Options{})
	must(t, err)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, img) {
		t.Fatal("WriteImage differs")
	}
	// Over an existing file: replaced only by a complete one. A write that
	// fails (a chunk unreadable) leaves the old file and no temporary.
	must(t, os.WriteFile(out, []byte("precious"), 0o644))
	if _, err := restore.WriteImage(ctx, failingData{r}, res.Snapshot, "vm.raw", out, restore.Options{}); err == nil {
		t.Fatal("WriteImage with unreadable chunks succeeded")
	}
	if got, _ := os.ReadFile(out); string(got) != "precious" {
		t.Fatalf("a failed WriteImage left %d bytes in the existing file", len(got))
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Fatalf("a failed WriteImage left %d entries beside its file", len(ents))
	}
	_, err = restore.WriteImage(ctx, r, res.Snapshot, "vm.raw", out, restore.Options{})
	must(t, err)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, img) {
		t.Fatal("WriteImage over an existing file differs")
	}
	// Neither a FIFO nor a symlink to a file is written through or replaced.
	fifo := filepath.Join(t.TempDir(), "fifo")
	must(t, unix.Mkfifo(fifo, 0o600))
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(out, link))
	for _, dst := range []string{fifo, link} {
		if _, err := restore.WriteImage(ctx, r, res.Snapshot, "vm.raw", dst, restore.Options{}); err == nil {
			t.Errorf("WriteImage to %s succeeded", dst)
		}
	}
	var fst unix.Stat_t
	if err := unix.Lstat(fifo, &fst); err != nil || fst.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Fatalf("the FIFO is gone or replaced: %v %o", err, fst.Mode)
	}
	if tgt, err := os.Readlink(link); err != nil || tgt != out {
		t.Fatalf("the symlink is gone or replaced: %q %v", tgt, err)
	}
	for _, bad := range []Stream{{Name: "a/b", R: bytes.NewReader(nil)}, {Name: "x"}, {Name: "f", R: bytes.NewReader(nil), Mode: 0o170000}} {
		if _, err := Run(ctx, r, nil, Options{Hostname: "h", Streams: []Stream{bad}}); err == nil {
			t.Errorf("stream %+v accepted", bad)
		}
	}
	if _, err := Run(ctx, r, []string{dir}, Options{Hostname: "h", Streams: []Stream{{Name: filepath.Base(dir), R: bytes.NewReader(nil)}}}); err == nil {
		t.Error("a stream named as a path accepted")
	}
}

// TestSyntheticFull: a synthetic full of an incremental chain commits the
// head's tree as a new snapshot of job synthetic-full, reading no data;
// a later incremental uses it as its parent and reads nothing unchanged;
// a head with a missing chunk is refused and nothing is committed.
func TestSyntheticFull(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	src := makeTree(t, t.TempDir())
	full, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Client: "c"})
	must(t, err)
	must(t, os.WriteFile(filepath.Join(src, "new.txt"), []byte("new"), 0o644))
	inc, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Client: "c", Parent: full.Snapshot})
	must(t, err)
	cg := &countGetter{Getter: r}
	syn, err := SyntheticFull(ctx, synthStore{r, cg}, inc.Snapshot, SyntheticOptions{Chain: []*snapshot.Snapshot{full.Snapshot, inc.Snapshot}, Tags: []string{"weekly"}})
	must(t, err)
	if cg.data != 0 {
		t.Fatalf("synthetic full read %d chunks", cg.data)
	}
	if syn.Job != snapshot.SyntheticFull || syn.Tree != inc.Snapshot.Tree || syn.Parent != inc.Snapshot.ID ||
		syn.Client != "c" || !slices.Contains(syn.Tags, "weekly") || syn.Summary.BytesSeen != inc.Snapshot.Summary.BytesSeen ||
		syn.Summary.FilesSeen != inc.Snapshot.Summary.FilesSeen {
		t.Fatalf("synthetic: %+v\nhead: %+v", syn, inc.Snapshot)
	}
	loaded, err := snapshot.Load(ctx, r, syn.ID)
	must(t, err)
	if loaded.Job != snapshot.SyntheticFull {
		t.Fatal("not committed")
	}
	next, err := Run(ctx, r, []string{src}, Options{Hostname: "h", Parent: loaded})
	must(t, err)
	if s := next.Snapshot.Summary; s.BytesRead != 0 || next.Snapshot.Tree != syn.Tree {
		t.Fatalf("incremental after the synthetic full read %d bytes", s.BytesRead)
	}
	if _, err := SyntheticFull(ctx, r, inc.Snapshot, SyntheticOptions{Chain: []*snapshot.Snapshot{inc.Snapshot, full.Snapshot}}); err == nil {
		t.Fatal("broken chain accepted")
	}
	before, err := r.ListFiles(ctx, repo.Snapshots)
	must(t, err)
	if _, err := SyntheticFull(ctx, lacking{r}, inc.Snapshot, SyntheticOptions{}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("missing chunk: %v", err)
	}
	after, err := r.ListFiles(ctx, repo.Snapshots)
	must(t, err)
	if len(after) != len(before) {
		t.Fatal("an incomplete synthetic full was committed")
	}
}

// countGetter counts the data blobs read through it.
type countGetter struct {
	tree.Getter
	data, trees int
}

func (c *countGetter) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if t == pack.Data {
		c.data++
	} else {
		c.trees++
	}
	return c.Getter.Get(ctx, t, id, dst)
}

// synthStore is a repository whose reads go through g.
type synthStore struct {
	*repo.Repo
	g tree.Getter
}

func (s synthStore) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	return s.g.Get(ctx, t, id, dst)
}

// lacking is a repository that has no data blobs.
type lacking struct{ *repo.Repo }

func (lacking) Has(t pack.BlobType, _ fingerprint.ID) bool { return t != pack.Data }

// loopDevice attaches file to a free loop device (root only), detached at
// the end of the test.
func loopDevice(t *testing.T, file string) string {
	t.Helper()
	if !isRoot() {
		if testing.Short() {
			t.Skip("loop devices need root (skipped under -short only)")
		}
		t.Fatal("loop devices need root: run the tests as root (make test does)")
	}
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		t.Fatalf("losetup --find --show: %v: the kernel needs loop devices (modprobe loop)", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	return dev
}

// TestImageBlockDevice backs up a block device (a loop device) whole, its
// size from BLKGETSIZE64, and writes the image back into another device
// of the same size whose old content (holes included) is overwritten.
func TestImageBlockDevice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := make([]byte, 4<<20)
	copy(data[100000:], pseudo(3, 300000))
	copy(data[3<<20:], pseudo(4, 5000))
	must(t, os.WriteFile(filepath.Join(dir, "a.img"), data, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "b.img"), bytes.Repeat([]byte{0xee}, len(data)), 0o600))
	devA := loopDevice(t, filepath.Join(dir, "a.img"))
	devB := loopDevice(t, filepath.Join(dir, "b.img"))
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	res, err := Run(ctx, r, nil, Options{Hostname: "h", Images: []string{devA}})
	must(t, err)
	nodes, err := tree.Load(ctx, r, res.Snapshot.Tree)
	must(t, err)
	var st unix.Stat_t
	must(t, unix.Stat(devA, &st))
	if n := nodes[0]; n.Type != tree.Image || n.Size != uint64(len(data)) || n.Rdev != st.Rdev || n.Name != filepath.Base(devA) {
		t.Fatalf("node: %+v", n)
	}
	if _, err := restore.WriteImage(ctx, r, res.Snapshot, filepath.Base(devA), devB, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(devB)
	must(t, err)
	got := make([]byte, len(data))
	_, err = io.ReadFull(f, got)
	_ = f.Close()
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("device content differs after WriteImage")
	}
}

// TestAllHoles: a file of holes only keeps its size (it has no data
// region for SEEK_DATA to find) and comes back sparse.
func TestAllHoles(t *testing.T) {
	ctx := context.Background()
	r, _ := initRepo(t, newMaster(t), repo.Options{})
	dir := t.TempDir()
	p := filepath.Join(dir, "holes")
	f, err := os.Create(p)
	must(t, err)
	must(t, f.Truncate(3<<20))
	must(t, f.Close())
	res, err := Run(ctx, r, []string{dir}, Options{Hostname: "h"})
	must(t, err)
	target := t.TempDir()
	_, err = restore.Restore(ctx, r, res.Snapshot, "", target, restore.Options{})
	must(t, err)
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(target, filepath.Base(dir), "holes"), &st))
	if st.Size != 3<<20 || st.Blocks != 0 {
		t.Fatalf("size %d, %d blocks", st.Size, st.Blocks)
	}
}

// failingData is a tree.Getter whose data blobs cannot be read.
type failingData struct{ tree.Getter }

func (f failingData) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if t == pack.Data {
		return nil, errors.New("damaged chunk (test)")
	}
	return f.Getter.Get(ctx, t, id, dst)
}
