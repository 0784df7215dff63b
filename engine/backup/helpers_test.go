package backup

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"keep/engine/chunker"
	"keep/engine/keys"
	"keep/engine/repo"
)

var testChunker = chunker.Params{Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10}

func newMaster(t testing.TB) *keys.Master {
	t.Helper()
	m, err := keys.NewMaster(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// initRepo makes a repository in a new directory.
func initRepo(t testing.TB, m *keys.Master, opts repo.Options) (*repo.Repo, string) {
	t.Helper()
	dir := t.TempDir()
	if opts.Chunker == (chunker.Params{}) {
		opts.Chunker = testChunker
	}
	r, err := repo.Init(context.Background(), repo.DirFS(dir), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, dir
}

func isRoot() bool { return os.Geteuid() == 0 }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pseudo(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		if i%64 < 40 {
			b[i] = byte('a' + r.IntN(6)) // compressible
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// acl is a valid system.posix_acl_access value: user::rwx user:1000:r--
// group::r-x mask::r-x other::r--.
func acl() []byte {
	var b bytes.Buffer
	w := func(v ...any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	_ = binary.Write(&b, binary.LittleEndian, uint32(2))
	type e struct {
		Tag, Perm uint16
		ID        uint32
	}
	for _, x := range []e{{1, 7, 0xffffffff}, {2, 4, 1000}, {4, 5, 0xffffffff}, {0x10, 5, 0xffffffff}, {0x20, 4, 0xffffffff}} {
		w(x)
	}
	return b.Bytes()
}

// makeTree builds a tree with every node type under dir/src and returns
// that path.
func makeTree(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub", "deep"), 0o755))
	must(t, os.Mkdir(filepath.Join(src, "ro"), 0o755))
	write := func(name string, data []byte, mode os.FileMode) {
		must(t, os.WriteFile(filepath.Join(src, name), data, 0o600))
		must(t, os.Chmod(filepath.Join(src, name), mode))
	}
	write("small.txt", []byte("hello\n"), 0o644)
	write("empty", nil, 0o600)
	write("big.bin", pseudo(1, 700<<10), 0o640)
	write("setuid", []byte("#!/bin/sh\n"), 0o4755)
	write("sub/deep/file", pseudo(2, 70<<10), 0o644)
	write("ro/inside", []byte("x"), 0o444)
	// Hard links: three names, one in another directory.
	write("linked", pseudo(3, 100<<10), 0o644)
	must(t, os.Link(filepath.Join(src, "linked"), filepath.Join(src, "sub", "link2")))
	must(t, os.Link(filepath.Join(src, "linked"), filepath.Join(src, "zz-link3")))
	// Sparse: data, a 1 MiB hole, data, a trailing hole.
	sp, err := os.Create(filepath.Join(src, "sparse"))
	must(t, err)
	_, err = sp.WriteAt(pseudo(4, 64<<10), 0)
	must(t, err)
	_, err = sp.WriteAt(pseudo(5, 32<<10), (64+1024)<<10)
	must(t, err)
	must(t, sp.Truncate((64+1024+32+512)<<10))
	must(t, sp.Close())
	must(t, os.Symlink("sub/deep/file", filepath.Join(src, "symlink")))
	must(t, os.Symlink("/nonexistent/target", filepath.Join(src, "dangling")))
	must(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	if isRoot() {
		must(t, unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(t, unix.Mknod(filepath.Join(src, "loop"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
		must(t, os.Lchown(filepath.Join(src, "small.txt"), 1234, 5678))
		must(t, os.Lchown(filepath.Join(src, "symlink"), 4321, 8765))
		must(t, os.Chown(filepath.Join(src, "sub"), 1000, 1000))
	}
	// A socket.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(t, err)
	must(t, unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(src, "sock")}))
	_ = unix.Close(fd)
	// Xattrs and an ACL.
	must(t, unix.Setxattr(filepath.Join(src, "small.txt"), "user.comment", []byte("kept"), 0))
	must(t, unix.Setxattr(filepath.Join(src, "sub"), "user.dir", []byte{0, 1, 2}, 0))
	must(t, unix.Setxattr(filepath.Join(src, "empty"), "user.empty", nil, 0))
	if err := unix.Setxattr(filepath.Join(src, "big.bin"), "system.posix_acl_access", acl(), 0); err != nil {
		t.Logf("no ACL support: %v", err)
	}
	// Times with ns, atime after mtime (relatime leaves them alone).
	i := int64(0)
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		i++
		m := int64(1600000000)*1e9 + i*1e9 + 123456789 + i
		ts := []unix.Timespec{unix.NsecToTimespec(m + 3e9 + 7), unix.NsecToTimespec(m)}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
	// The read-only directory last (its times were set above).
	must(t, os.Chmod(filepath.Join(src, "ro"), 0o555))
	return src
}

// entryInfo is what compare checks of one path.
type entryInfo struct {
	mode         uint32
	uid, gid     uint32
	size         int64
	mtime, atime int64
	rdev         uint64
	ino          uint64
	nlink        uint64
	target       string
	xattrs       string
	data         []byte
	regions      []region
}

// scan records every path under root: lstat first (before listing or
// reading can touch atimes), then content.
func scan(t *testing.T, root string) map[string]*entryInfo {
	t.Helper()
	out := map[string]*entryInfo{}
	var walk func(p, rel string)
	walk = func(p, rel string) {
		var st unix.Stat_t
		must(t, unix.Lstat(p, &st))
		e := &entryInfo{mode: st.Mode, uid: st.Uid, gid: st.Gid, mtime: st.Mtim.Nano(), atime: st.Atim.Nano(),
			rdev: st.Rdev, ino: st.Ino, nlink: uint64(st.Nlink)}
		out[rel] = e
		x, err := xattrs(p)
		must(t, err)
		e.xattrs = fmt.Sprint(x)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			names, err := os.ReadDir(p)
			must(t, err)
			for _, n := range names {
				walk(filepath.Join(p, n.Name()), rel+"/"+n.Name())
			}
		case unix.S_IFREG:
			e.size = st.Size
			f, err := openNoatime(p)
			must(t, err)
			e.regions, err = dataRegions(f, st.Size)
			must(t, err)
			e.data, err = io.ReadAll(f) // O_NOATIME: hard links share atimes
			must(t, err)
			_ = f.Close()
		case unix.S_IFLNK:
			e.target, err = os.Readlink(p)
			must(t, err)
			e.atime = 0 // recorded as the mtime (readlink updates it)
		}
	}
	walk(root, ".")
	return out
}

// compare checks that got (restored) matches want (source) in
// everything but sockets (not restored), ctime and inode numbers (hard
// link identity is checked by group).
func compare(t *testing.T, want, got map[string]*entryInfo) {
	t.Helper()
	inoWant, inoGot := map[uint64][]string{}, map[uint64][]string{}
	for rel, w := range want {
		if w.mode&unix.S_IFMT == unix.S_IFSOCK {
			if _, ok := got[rel]; ok {
				t.Errorf("%s: socket restored", rel)
			}
			continue
		}
		g, ok := got[rel]
		if !ok {
			t.Errorf("%s: missing", rel)
			continue
		}
		if w.mode != g.mode || w.size != g.size || w.mtime != g.mtime || w.atime != g.atime ||
			w.rdev != g.rdev || w.target != g.target || w.xattrs != g.xattrs || w.nlink != g.nlink {
			t.Errorf("%s:\n got %+v\nwant %+v", rel, brief(g), brief(w))
		}
		if isRoot() && (w.uid != g.uid || w.gid != g.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, g.uid, g.gid, w.uid, w.gid)
		}
		if !bytes.Equal(w.data, g.data) {
			t.Errorf("%s: content differs", rel)
		}
		if !slices.Equal(w.regions, g.regions) {
			t.Errorf("%s: data regions %v, want %v", rel, g.regions, w.regions)
		}
		if w.nlink > 1 && w.mode&unix.S_IFMT == unix.S_IFREG {
			inoWant[w.ino] = append(inoWant[w.ino], rel)
			inoGot[g.ino] = append(inoGot[g.ino], rel)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: unexpected", rel)
		}
	}
	groups := func(m map[uint64][]string) []string {
		var s []string
		for _, g := range m {
			slices.Sort(g)
			s = append(s, fmt.Sprint(g))
		}
		slices.Sort(s)
		return s
	}
	if gw, gg := groups(inoWant), groups(inoGot); !slices.Equal(gw, gg) {
		t.Errorf("hard link groups %v, want %v", gg, gw)
	}
}

func brief(e *entryInfo) string {
	return fmt.Sprintf("mode %o size %d mtime %d atime %d rdev %d target %q xattrs %s nlink %d",
		e.mode, e.size, e.mtime, e.atime, e.rdev, e.target, e.xattrs, e.nlink)
}
