package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// testRepo is a repository for hand-built trees.
type testRepo struct {
	t     *testing.T
	r     *repo.Repo
	saver *tree.Saver
	n     int
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	ctx := context.Background()
	m, err := keys.NewMaster(rand.Reader)
	must(t, err)
	r, err := repo.Init(ctx, repo.DirFS(t.TempDir()), m, repo.Options{Chunker: chunker.Params{Min: 64, Avg: 256, Max: 1024}})
	must(t, err)
	t.Cleanup(func() { r.Close(ctx) })
	return &testRepo{t: t, r: r, saver: &tree.Saver{Store: r}}
}

// data stores b as chunks of at most 300 bytes and returns its content list.
func (tr *testRepo) data(b []byte) []tree.Extent {
	var es []tree.Extent
	for len(b) > 0 {
		k := min(len(b), 300)
		id := tr.r.Sum(b[:k])
		_, err := tr.r.Put(context.Background(), pack.Data, id, b[:k])
		must(tr.t, err)
		es = append(es, tree.Extent{ID: id, Length: uint64(k)})
		b = b[k:]
	}
	return es
}

// bytesFor is distinct content for the i-th file, of a length that varies.
func (tr *testRepo) bytesFor(name string) []byte {
	tr.n++
	return bytes.Repeat([]byte(fmt.Sprintf("%s:%d;", name, tr.n)), 1+tr.n*7%200)
}

func (tr *testRepo) save(nodes []tree.Node) fingerprint.ID {
	id, err := tr.saver.Save(context.Background(), nodes)
	must(tr.t, err)
	return id
}

func (tr *testRepo) snap(root fingerprint.ID) *snapshot.Snapshot {
	s := &snapshot.Snapshot{Version: snapshot.Version, Time: time.Now(), Hostname: "h", Tree: root, Job: snapshot.Full}
	must(tr.t, snapshot.Save(context.Background(), tr.r, s))
	return s
}

// getter wraps a tree.Getter with a hook run before each Get.
type getter struct {
	g    tree.Getter
	hook func(ctx context.Context, t pack.BlobType, id fingerprint.ID) error
}

func (g *getter) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	if err := g.hook(ctx, t, id); err != nil {
		return dst, err
	}
	return g.g.Get(ctx, t, id, dst)
}

// openIn counts this process's descriptors open on files below dir.
func openIn(t *testing.T, dir string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	k := 0
	for _, e := range ents {
		if p, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(p, dir+"/") {
			k++
		}
	}
	return k
}

// poll waits up to 10 s for cond.
func poll(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestNestedTree restores many files in nested directories with several
// workers (the walker running far ahead of the content) and checks every
// directory's mode and mtime (set only after all its children are
// finished), every file's content and times, hard links across
// directories and the Result counts.
func TestNestedTree(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	type want struct {
		data  []byte
		mtime int64
		mode  uint32
		dir   bool
	}
	wants := map[string]want{} // by restored path below the target
	var files, dirs, byteCount int64
	mt := func(i int) int64 { return time.Date(2020, 1, 1+i%28, 3, 4, 5, 1000*i+7, time.UTC).UnixNano() }
	var build func(rel string, depth, seed int) fingerprint.ID
	build = func(rel string, depth, seed int) fingerprint.ID {
		var nodes []tree.Node
		for i := range 12 {
			name := fmt.Sprintf("f%02d", i)
			b := tr.bytesFor(rel + name)
			if i%5 == 4 {
				b = nil // empty files are finished by the workers too
			}
			n := tree.Node{Name: name, Type: tree.File, Size: uint64(len(b)), Content: tr.data(b), Mode: 0o640, MTime: mt(seed + i), ATime: mt(seed)}
			byteCount += int64(len(b)) // the data, without the hole
			if i == 3 {                // ends with a hole
				n.Content = append(n.Content, tree.Extent{Hole: true, Length: 5000})
				n.Size += 5000
				b = append(b, make([]byte, 5000)...)
			}
			nodes = append(nodes, n)
			wants[rel+name] = want{data: b, mtime: n.MTime, mode: 0o640}
			files++
		}
		nodes = append(nodes, tree.Node{Name: "ln", Type: tree.Symlink, LinkTarget: "f00", MTime: mt(seed + 99), ATime: mt(seed)})
		files++
		if depth > 0 {
			for k := range 3 {
				name := fmt.Sprintf("d%d", k)
				mode := uint32(0o755)
				if k == 2 {
					mode = 0o555 // read-only: filled before its mode is set
				}
				sub := build(rel+name+"/", depth-1, seed*3+k+1)
				nodes = append(nodes, tree.Node{Name: name, Type: tree.Dir, Subtree: sub, Mode: mode, MTime: mt(seed*7 + k), ATime: mt(seed)})
				wants[rel+name] = want{mtime: mt(seed*7 + k), mode: mode, dir: true}
				dirs++
			}
		}
		slices.SortFunc(nodes, func(a, b tree.Node) int { return strings.Compare(a.Name, b.Name) })
		return tr.save(nodes)
	}
	// Hard links: "a/big" (many chunks, so several workers write it) is
	// linked from "b/x" and "c/y", each in a directory restored later.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4000)
	bigC := tr.data(big)
	bigNode := tree.Node{Name: "big", Type: tree.File, Size: uint64(len(big)), Content: bigC, Mode: 0o604, MTime: mt(1), ATime: mt(1), Links: 3}
	link := func(name string) tree.Node {
		return tree.Node{Name: name, Type: tree.Hardlink, LinkTarget: "a/big", Size: uint64(len(big)), Content: bigC, Mode: 0o604, MTime: mt(1), ATime: mt(1), Links: 3}
	}
	top := []tree.Node{
		{Name: "a", Type: tree.Dir, Subtree: tr.save([]tree.Node{bigNode}), Mode: 0o700, MTime: mt(50)},
		{Name: "b", Type: tree.Dir, Subtree: tr.save([]tree.Node{link("x")}), Mode: 0o700, MTime: mt(51)},
		{Name: "c", Type: tree.Dir, Subtree: tr.save([]tree.Node{link("y")}), Mode: 0o700, MTime: mt(52)},
		{Name: "t", Type: tree.Dir, Subtree: build("t/", 3, 1), Mode: 0o751, MTime: mt(53)},
	}
	for i, n := range top {
		wants[n.Name] = want{mtime: mt(50 + i), mode: n.Mode, dir: true}
	}
	for _, p := range []string{"a/big", "b/x", "c/y"} {
		wants[p] = want{data: big, mtime: mt(1), mode: 0o604}
	}
	files += 3
	dirs += 4
	byteCount += int64(len(big))
	snap := tr.snap(tr.save(top))

	dst := t.TempDir()
	res, err := Restore(ctx, tr.r, snap, "", dst, Options{Workers: 3})
	must(t, err)
	if len(res.Failed) != 0 {
		t.Fatal(res.Failed)
	}
	if res.Files != files || res.Dirs != dirs || res.Bytes != byteCount {
		t.Errorf("result %d files %d dirs %d bytes, want %d %d %d", res.Files, res.Dirs, res.Bytes, files, dirs, byteCount)
	}
	for p, w := range wants {
		var st unix.Stat_t
		must(t, unix.Lstat(filepath.Join(dst, p), &st))
		if st.Mtim.Nano() != w.mtime || st.Mode&0o7777 != w.mode || (st.Mode&unix.S_IFMT == unix.S_IFDIR) != w.dir {
			t.Errorf("%s: mtime %d mode %o (%o), want %d %o dir %v", p, st.Mtim.Nano(), st.Mode&0o7777, st.Mode, w.mtime, w.mode, w.dir)
		}
		if !w.dir {
			got, err := os.ReadFile(filepath.Join(dst, p))
			must(t, err)
			if !bytes.Equal(got, w.data) {
				t.Errorf("%s: content differs", p)
			}
		}
	}
	var a, b, c unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, "a/big"), &a))
	must(t, unix.Stat(filepath.Join(dst, "b/x"), &b))
	must(t, unix.Stat(filepath.Join(dst, "c/y"), &c))
	if a.Ino != b.Ino || a.Ino != c.Ino || a.Nlink != 3 {
		t.Errorf("hard links: inodes %d %d %d, %d links", a.Ino, b.Ino, c.Ino, a.Nlink)
	}

	// Again over the restored tree: everything is in the way and
	// replaced, with the same result (the read-only directory is
	// writable for root only).
	if os.Geteuid() == 0 {
		res, err = Restore(ctx, tr.r, snap, "", dst, Options{Workers: 2})
		must(t, err)
		if len(res.Failed) != 0 || res.Files != files || res.Dirs != dirs {
			t.Fatalf("second restore: %+v", res)
		}
		must(t, unix.Lstat(filepath.Join(dst, "t/d2/d0"), &a))
		if a.Mtim.Nano() != wants["t/d2/d0"].mtime {
			t.Error("second restore: directory mtime differs")
		}
	}
}

// TestHardlinkFirstNameFails damages a chunk of a multiply linked file
// whose other names are linked while its content is still being written:
// all names must be gone, each listed as failed, and their directories'
// mtimes still restored. A second file's first read fails only once: its
// later name, reached after the first name was removed, writes the
// content itself.
func TestHardlinkFirstNameFails(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	mt := time.Date(2023, 5, 6, 7, 8, 9, 123456789, time.UTC).UnixNano()
	good := tr.bytesFor("good")
	badB := bytes.Repeat([]byte("damaged "), 100)
	bad := tr.data(badB)
	badID := bad[1].ID
	onceB := bytes.Repeat([]byte("transient "), 50)
	once := tr.data(onceB)
	onceID := once[0].ID
	file := func(name string, b []byte, c []tree.Extent, links uint64) tree.Node {
		return tree.Node{Name: name, Type: tree.File, Size: uint64(len(b)), Content: c, Mode: 0o644, MTime: mt, ATime: mt, Links: links}
	}
	hl := func(name, target string, n tree.Node) tree.Node {
		n.Name, n.Type, n.LinkTarget = name, tree.Hardlink, target
		return n
	}
	first := file("first", badB, bad, 3)
	dTree := tr.save([]tree.Node{file("first2", onceB, once, 2)})
	eTree := tr.save([]tree.Node{hl("late", "d/first2", file("", onceB, once, 2))})
	top := []tree.Node{
		{Name: "a", Type: tree.Dir, Subtree: tr.save([]tree.Node{first, file("ok", good, tr.data(good), 1)}), Mode: 0o755, MTime: mt + 1},
		{Name: "b", Type: tree.Dir, Subtree: tr.save([]tree.Node{hl("second", "a/first", first)}), Mode: 0o755, MTime: mt + 2},
		{Name: "c", Type: tree.Dir, Subtree: tr.save([]tree.Node{hl("third", "a/first", first)}), Mode: 0o755, MTime: mt + 3},
		{Name: "d", Type: tree.Dir, Subtree: dTree, Mode: 0o755, MTime: mt + 4},
		{Name: "e", Type: tree.Dir, Subtree: eTree, Mode: 0o755, MTime: mt + 5},
	}
	snap := tr.snap(tr.save(top))

	dst := t.TempDir()
	exists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(dst, p))
		return err == nil
	}
	var linkedEarly, removedFirst atomic.Bool
	var onceFailed atomic.Bool
	g := &getter{g: tr.r, hook: func(ctx context.Context, bt pack.BlobType, id fingerprint.ID) error {
		switch {
		case bt == pack.Data && id == badID:
			// Fails once the other names exist: they were linked
			// while the content was pending (the walker does not
			// wait for it).
			linkedEarly.Store(poll(func() bool { return exists("b/second") && exists("c/third") }))
			return errors.New("injected: damaged chunk")
		case bt == pack.Data && id == onceID && onceFailed.CompareAndSwap(false, true):
			return errors.New("injected: transient")
		case id == eTree:
			// The walker reaches e only once d/first2 has failed
			// and been removed.
			removedFirst.Store(poll(func() bool { return onceFailed.Load() && !exists("d/first2") }))
		}
		return nil
	}}
	res, err := Restore(ctx, g, snap, "", dst, Options{Workers: 2})
	must(t, err)
	if !linkedEarly.Load() {
		t.Error("the later names were not linked while the first name's content was pending")
	}
	if !removedFirst.Load() {
		t.Error("d/first2 was not removed")
	}
	for _, p := range []string{"a/first", "b/second", "c/third", "d/first2"} {
		if exists(p) {
			t.Errorf("%s exists", p)
		}
	}
	failed := map[string]bool{}
	for _, f := range res.Failed {
		rel, _ := filepath.Rel(dst, f.Path)
		failed[rel] = true
	}
	if len(res.Failed) != 4 || !failed["a/first"] || !failed["b/second"] || !failed["c/third"] || !failed["d/first2"] {
		t.Errorf("failed: %v", res.Failed)
	}
	got, err := os.ReadFile(filepath.Join(dst, "e/late"))
	must(t, err)
	if !bytes.Equal(got, onceB) {
		t.Error("e/late: content differs")
	}
	got, err = os.ReadFile(filepath.Join(dst, "a/ok"))
	must(t, err)
	if !bytes.Equal(got, good) {
		t.Error("a/ok: content differs")
	}
	if res.Files != 2 || res.Dirs != 5 {
		t.Errorf("result: %d files %d dirs", res.Files, res.Dirs)
	}
	for i, n := range top {
		var st unix.Stat_t
		must(t, unix.Stat(filepath.Join(dst, n.Name), &st))
		if st.Mtim.Nano() != mt+int64(i+1) {
			t.Errorf("%s: mtime %d, want %d", n.Name, st.Mtim.Nano(), mt+int64(i+1))
		}
	}
}

// TestCancel cancels a restore while the workers wait for chunks and the
// walker waits for a free slot, with the most files open (checking that
// bound exactly, as nothing finishes meanwhile): Restore returns
// context.Canceled, every goroutine it started ends, no descriptor stays
// open and no file is left with partial content.
func TestCancel(t *testing.T) {
	tr := newTestRepo(t)
	contents := map[string][]byte{}
	var dirsN []tree.Node
	for d := range 4 {
		var nodes []tree.Node
		for i := range 50 {
			name := fmt.Sprintf("f%02d", i)
			b := tr.bytesFor(name)
			nodes = append(nodes, tree.Node{Name: name, Type: tree.File, Size: uint64(len(b)), Content: tr.data(b), Mode: 0o644})
			contents[fmt.Sprintf("d%d/%s", d, name)] = b
		}
		dirsN = append(dirsN, tree.Node{Name: fmt.Sprintf("d%d", d), Type: tree.Dir, Subtree: tr.save(nodes), Mode: 0o755})
	}
	snap := tr.snap(tr.save(dirsN))

	dst := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	g := &getter{g: tr.r, hook: func(ctx context.Context, bt pack.BlobType, id fingerprint.ID) error {
		if bt != pack.Data {
			return nil
		}
		waiting.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}}
	const workers = 2
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	wg.Add(1)
	var reached bool
	go func() {
		defer wg.Done()
		// The walker blocked for a slot with exactly the bound open,
		// none finishing: it never opens more.
		reached = poll(func() bool {
			return waiting.Load() == workers && walkerWaitsForSlot() && openIn(t, dst) == maxOpenMin
		})
		cancel()
	}()
	_, err := Restore(ctx, g, snap, "", dst, Options{Workers: workers})
	wg.Wait()
	if !reached {
		t.Errorf("not blocked as expected: %d workers waiting, %d files open", waiting.Load(), openIn(t, dst))
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if !poll(func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
	if k := openIn(t, dst); k != 0 {
		t.Errorf("%d descriptors left open", k)
	}
	must(t, filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, contents[rel]) {
			t.Errorf("%s left with wrong content", rel)
		}
		return nil
	}))
}

// walkerWaitsForSlot reports whether a goroutine is blocked in startFile's
// select, waiting for a free slot.
func walkerWaitsForSlot() bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		head, rest, _ := strings.Cut(g, "\n")
		if strings.Contains(head, "[select") && strings.HasPrefix(rest, "keep/engine/restore.(*restorer).startFile(") {
			return true
		}
	}
	return false
}
