package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"keep/engine/repo"
)

// testFS runs the tests of the repo.FS contract every backend meets.
func (s *suite) testFS(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys repo.FS)
	}{
		{"Create/New", s.createNew},
		{"Create/Exists", s.createExists},
		{"Create/ExclusiveRace", s.createRace},
		{"Open/Missing", s.openMissing},
		{"File/WriteAppends", s.fileWriteAppends},
		{"File/ReadAt", s.fileReadAt},
		{"File/Empty", s.fileEmpty},
		{"File/SyncReadHandle", s.fileSyncReadHandle},
		{"File/ConcurrentReadAt", s.fileConcurrentReadAt},
		{"File/Large", s.fileLarge},
		{"Rename/Replace", s.renameReplace},
		{"Rename/AcrossDirectories", s.renameAcross},
		{"Rename/Missing", s.renameMissing},
		{"Remove/File", s.removeFile},
		{"Remove/Missing", s.removeMissing},
		{"Mkdir/New", s.mkdirNew},
		{"Mkdir/Exists", s.mkdirExists},
		{"ReadDir/Sorted", s.readDirSorted},
		{"ReadDir/Missing", s.readDirMissing},
		{"ReadDir/Empty", s.readDirEmpty},
		{"SyncDir", s.syncDir},
		{"Lock/Exclusive", s.lockExclusive},
		{"Lock/ReleasedOnClose", s.lockReleased},
		{"Lock/PerName", s.lockPerName},
		{"ManyFiles", s.manyFiles},
		{"Layout", s.layoutNames},
		{"Concurrent", s.concurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s.newFS(t)) })
	}
}

func (s *suite) createNew(t *testing.T, fsys repo.FS) {
	mustNotExist(t, fsys, "config")
	create(t, fsys, "config", []byte("hello"), true)
	mustContain(t, fsys, "config", []byte("hello"))
	mustList(t, fsys, ".", "config")
}

func (s *suite) createExists(t *testing.T, fsys repo.FS) {
	create(t, fsys, "config", []byte("first"), true)
	f, err := fsys.Create("config")
	if err == nil {
		_ = f.Close()
		t.Fatal("Create of an existing file succeeded, want fs.ErrExist")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of an existing file: %v, want fs.ErrExist", err)
	}
	mustContain(t, fsys, "config", []byte("first"))
	// A directory is an existing name too.
	mkdir(t, fsys, "data")
	if f, err := fsys.Create("data"); err == nil {
		_ = f.Close()
		t.Fatal("Create over a directory succeeded")
	} else if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a directory: %v, want fs.ErrExist", err)
	}
}

// createRace: of concurrent Creates of one name, exactly one succeeds.
func (s *suite) createRace(t *testing.T, fsys repo.FS) {
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []int
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			f, err := fsys.Create("lockless")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			won = append(won, i)
			if _, err := f.Write([]byte{byte(i)}); err != nil {
				errs = append(errs, err)
			}
			if err := f.Close(); err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent Creates of one name succeeded, want 1", len(won), n)
	}
	for _, err := range errs {
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("losing Create: %v, want fs.ErrExist", err)
		}
	}
	mustContain(t, fsys, "lockless", []byte{byte(won[0])})
}

func (s *suite) openMissing(t *testing.T, fsys repo.FS) {
	mustNotExist(t, fsys, "config")
	mustNotExist(t, fsys, "data/ab/"+hexName(1)) // in a missing directory
	mkdir(t, fsys, "data")
	mustNotExist(t, fsys, "data/"+hexName(2))
}

// fileWriteAppends: writes are sequential; Size follows them on the
// writing handle and on a handle opened later.
func (s *suite) fileWriteAppends(t *testing.T, fsys repo.FS) {
	f, err := fsys.Create("config")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, n := range []int{1, 0, 100, 4096, 7} {
		p := content(uint64(i), n)
		if m, err := f.Write(p); err != nil || m != n {
			t.Fatalf("Write of %d bytes: %d, %v", n, m, err)
		}
		want = append(want, p...)
		if size, err := f.Size(); err != nil || size != int64(len(want)) {
			t.Fatalf("Size of the writing handle after %d bytes: %d, %v", len(want), size, err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mustContain(t, fsys, "config", want)
}

// fileReadAt: the io.ReaderAt rules the repository relies on.
func (s *suite) fileReadAt(t *testing.T, fsys repo.FS) {
	data := content(1, 1000)
	create(t, fsys, "config", data, true)
	f, err := fsys.Open("config")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size, err := f.Size(); err != nil || size != 1000 {
		t.Fatalf("Size: %d, %v; want 1000", size, err)
	}
	cases := []struct {
		off, n int
		want   int  // bytes read
		eof    bool // an error is required (short read); else nil or io.EOF
	}{
		{0, 100, 100, false},
		{500, 250, 250, false},
		{900, 100, 100, false}, // up to the end exactly
		{950, 100, 50, true},   // across the end
		{1000, 10, 0, true},    // at the end
		{5000, 10, 0, true},    // past the end
		{0, 1000, 1000, false},
		{3, 0, 0, false},
	}
	for _, c := range cases {
		p := make([]byte, c.n)
		n, err := f.ReadAt(p, int64(c.off))
		if n != c.want {
			t.Fatalf("ReadAt(%d bytes at %d) = %d bytes, want %d (%v)", c.n, c.off, n, c.want, err)
		}
		if c.eof && err == nil {
			t.Fatalf("ReadAt(%d bytes at %d): short read of %d without an error", c.n, c.off, n)
		}
		if !c.eof && err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d): %v", c.n, c.off, err)
		}
		if c.eof && c.want < c.n && !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d): %v, want io.EOF", c.n, c.off, err)
		}
		if !bytes.Equal(p[:n], data[min(c.off, len(data)):][:n]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", c.n, c.off)
		}
	}
}

// fileEmpty: an empty file has size 0 and reads nothing.
func (s *suite) fileEmpty(t *testing.T, fsys repo.FS) {
	create(t, fsys, "config", nil, true)
	f, err := fsys.Open("config")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size, err := f.Size(); err != nil || size != 0 {
		t.Fatalf("Size: %d, %v", size, err)
	}
	if n, err := f.ReadAt(nil, 0); n != 0 || err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt(nil, 0): %d, %v", n, err)
	}
	if n, err := f.ReadAt(make([]byte, 1), 0); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt(1 byte, 0): %d, %v; want io.EOF", n, err)
	}
}

// fileSyncReadHandle: Sync on a handle from Open works (repo.Open makes
// packs a crashed writer left durable that way).
func (s *suite) fileSyncReadHandle(t *testing.T, fsys repo.FS) {
	create(t, fsys, "config", []byte("unsynced"), false)
	f, err := fsys.Open("config")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync of a handle from Open: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, fsys, "config", []byte("unsynced"))
}

// fileConcurrentReadAt: ReadAt on one handle from several goroutines
// (io.ReaderAt allows it; Get and Check read packs so).
func (s *suite) fileConcurrentReadAt(t *testing.T, fsys repo.FS) {
	data := content(2, 256<<10)
	create(t, fsys, "config", data, true)
	f, err := fsys.Open("config")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			p := make([]byte, 4096)
			for range 100 {
				off := rng.IntN(len(data) - len(p))
				if n, err := f.ReadAt(p, int64(off)); n != len(p) || err != nil && !errors.Is(err, io.EOF) {
					errs <- fmt.Errorf("ReadAt at %d: %d, %v", off, n, err)
					return
				}
				if !bytes.Equal(p, data[off:off+len(p)]) {
					errs <- fmt.Errorf("ReadAt at %d: wrong bytes", off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// fileLarge: a file larger than a default pack, written in chunks,
// read back at scattered offsets and whole.
func (s *suite) fileLarge(t *testing.T, fsys repo.FS) {
	size := s.opts.LargeFileSize
	data := content(3, size)
	layout(t, fsys)
	f, err := fsys.Create("tmp/pack-large")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < size; off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, size)]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mkdir(t, fsys, "data/ab")
	name := "data/ab/" + hexName(3)
	if err := fsys.Rename("tmp/pack-large", name); err != nil {
		t.Fatal(err)
	}
	r, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Size(); err != nil || n != int64(size) {
		t.Fatalf("Size: %d, %v; want %d", n, err, size)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	p := make([]byte, 64<<10)
	for range 50 {
		off := rng.IntN(size - len(p))
		if n, err := r.ReadAt(p, int64(off)); n != len(p) || err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt at %d: %d, %v", off, n, err)
		}
		if !bytes.Equal(p, data[off:off+len(p)]) {
			t.Fatalf("ReadAt at %d: wrong bytes", off)
		}
	}
	tail := make([]byte, 100)
	if n, err := r.ReadAt(tail, int64(size-50)); n != 50 || !errors.Is(err, io.EOF) || !bytes.Equal(tail[:50], data[size-50:]) {
		t.Fatalf("ReadAt across the end: %d, %v", n, err)
	}
	mustContain(t, fsys, name, data)
}

func (s *suite) renameReplace(t *testing.T, fsys repo.FS) {
	create(t, fsys, "old", []byte("old content"), true)
	create(t, fsys, "new", []byte("replacement"), true)
	if err := fsys.Rename("new", "old"); err != nil {
		t.Fatalf("Rename over an existing file: %v", err)
	}
	mustContain(t, fsys, "old", []byte("replacement"))
	mustNotExist(t, fsys, "new")
	mustList(t, fsys, ".", "old")
	// Onto a free name.
	if err := fsys.Rename("old", "fresh"); err != nil {
		t.Fatal(err)
	}
	mustContain(t, fsys, "fresh", []byte("replacement"))
	mustNotExist(t, fsys, "old")
}

// renameAcross: tmp/ → data/<xx>/, as packs and index files are placed;
// a reader opened before the rename keeps reading the file.
func (s *suite) renameAcross(t *testing.T, fsys repo.FS) {
	layout(t, fsys)
	mkdir(t, fsys, "data/3f")
	data := content(4, 5000)
	create(t, fsys, "tmp/pack-0123456789abcdef01234567", data, true)
	f, err := fsys.Open("tmp/pack-0123456789abcdef01234567")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := "data/3f/" + hexName(4)
	if err := fsys.Rename("tmp/pack-0123456789abcdef01234567", name); err != nil {
		t.Fatal(err)
	}
	mustList(t, fsys, "tmp")
	mustList(t, fsys, "data/3f", hexName(4))
	mustContain(t, fsys, name, data)
	p := make([]byte, len(data))
	if n, err := f.ReadAt(p, 0); n != len(p) || err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(p, data) {
		t.Fatalf("ReadAt of a handle opened before the rename: %d, %v", n, err)
	}
}

func (s *suite) renameMissing(t *testing.T, fsys repo.FS) {
	if err := fsys.Rename("nothing", "something"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Rename of a missing file: %v, want fs.ErrNotExist", err)
	}
	mustNotExist(t, fsys, "something")
}

func (s *suite) removeFile(t *testing.T, fsys repo.FS) {
	layout(t, fsys)
	create(t, fsys, "index/"+hexName(5), []byte("x"), true)
	create(t, fsys, "index/"+hexName(6), []byte("y"), true)
	if err := fsys.Remove("index/" + hexName(5)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	mustNotExist(t, fsys, "index/"+hexName(5))
	mustList(t, fsys, "index", hexName(6))
	// The name is free again.
	create(t, fsys, "index/"+hexName(5), []byte("z"), true)
	mustContain(t, fsys, "index/"+hexName(5), []byte("z"))
}

// removeMissing: fs.ErrNotExist, which the repository ignores when it
// cleans up.
func (s *suite) removeMissing(t *testing.T, fsys repo.FS) {
	if err := fsys.Remove("tmp/pack-gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove in a missing directory: %v, want fs.ErrNotExist", err)
	}
	layout(t, fsys)
	if err := fsys.Remove("tmp/pack-gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func (s *suite) mkdirNew(t *testing.T, fsys repo.FS) {
	mkdir(t, fsys, "data")
	mkdir(t, fsys, "data/00")
	mkdir(t, fsys, "data/ff")
	mustList(t, fsys, ".", "data")
	mustList(t, fsys, "data", "00", "ff")
	mustList(t, fsys, "data/ff")
	create(t, fsys, "data/ff/"+hexName(7), []byte("in a new directory"), true)
	mustContain(t, fsys, "data/ff/"+hexName(7), []byte("in a new directory"))
}

func (s *suite) mkdirExists(t *testing.T, fsys repo.FS) {
	mkdir(t, fsys, "data")
	create(t, fsys, "data/keep", []byte("kept"), true)
	if err := fsys.Mkdir("data"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Mkdir of an existing directory: %v, want fs.ErrExist", err)
	}
	mustContain(t, fsys, "data/keep", []byte("kept"))
	create(t, fsys, "config", nil, true)
	if err := fsys.Mkdir("config"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Mkdir over a file: %v, want fs.ErrExist", err)
	}
}

// readDirSorted: names come sorted whatever the creation order, files
// and directories alike, at the root and below.
func (s *suite) readDirSorted(t *testing.T, fsys repo.FS) {
	mkdir(t, fsys, "index")
	var names []string
	for i := range 40 {
		names = append(names, hexName(uint64(i)))
	}
	for _, n := range names { // hexName order is not sorted order
		create(t, fsys, "index/"+n, []byte(n), false)
	}
	slices.Sort(names)
	mustList(t, fsys, "index", names...)
	for _, n := range []string{"tmp", "config", "snapshots", "data"} {
		if n == "config" {
			create(t, fsys, n, nil, false)
		} else {
			mkdir(t, fsys, n)
		}
	}
	mustList(t, fsys, ".", "config", "data", "index", "snapshots", "tmp")
}

func (s *suite) readDirMissing(t *testing.T, fsys repo.FS) {
	if _, err := fsys.ReadDir("index"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadDir of a missing directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.ReadDir("data/ab"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadDir under a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func (s *suite) readDirEmpty(t *testing.T, fsys repo.FS) {
	mustList(t, fsys, ".")
	mkdir(t, fsys, "tmp")
	mustList(t, fsys, "tmp")
	create(t, fsys, "tmp/x", nil, false)
	if err := fsys.Remove("tmp/x"); err != nil {
		t.Fatal(err)
	}
	mustList(t, fsys, "tmp")
}

// syncDir: SyncDir of the root and of a subdirectory succeeds, and of a
// missing directory fails.
func (s *suite) syncDir(t *testing.T, fsys repo.FS) {
	syncDir(t, fsys, ".")
	layout(t, fsys)
	mkdir(t, fsys, "data/ab")
	syncDir(t, fsys, "data")
	syncDir(t, fsys, "data/ab")
	if err := fsys.SyncDir("snapshots"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func (s *suite) lockExclusive(t *testing.T, fsys repo.FS) {
	l, err := fsys.Lock("lock")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer l.Close()
	for range 2 {
		if l2, err := fsys.Lock("lock"); !errors.Is(err, repo.ErrLocked) {
			if err == nil {
				_ = l2.Close()
			}
			t.Fatalf("second Lock: %v, want repo.ErrLocked", err)
		}
	}
}

func (s *suite) lockReleased(t *testing.T, fsys repo.FS) {
	for i := range 3 {
		l, err := fsys.Lock("lock")
		if err != nil {
			t.Fatalf("Lock #%d after Close: %v", i+1, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close of the lock: %v", err)
		}
	}
}

func (s *suite) lockPerName(t *testing.T, fsys repo.FS) {
	a, err := fsys.Lock("lock")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fsys.Lock("other-lock")
	if err != nil {
		t.Fatalf("Lock of another name while the first is held: %v", err)
	}
	defer b.Close()
}

// manyFiles: a directory of many pack-named files lists them all, sorted,
// and each opens.
func (s *suite) manyFiles(t *testing.T, fsys repo.FS) {
	mkdir(t, fsys, "index")
	var names []string
	for i := range s.opts.ManyFiles {
		n := hexName(uint64(i) + 1000)
		names = append(names, n)
		create(t, fsys, "index/"+n, []byte(n[:8]), false)
	}
	slices.Sort(names)
	mustList(t, fsys, "index", names...)
	for _, n := range names[:min(len(names), 50)] {
		mustContain(t, fsys, "index/"+n, []byte(n[:8]))
	}
}

// layoutNames: every kind of name the repository uses, written as the
// repository writes it.
func (s *suite) layoutNames(t *testing.T, fsys repo.FS) {
	layout(t, fsys)
	mkdir(t, fsys, "data/00")
	mkdir(t, fsys, "data/ab")
	mkdir(t, fsys, "snapshots")
	syncDir(t, fsys, ".")
	syncDir(t, fsys, "data")
	files := map[string][]byte{
		"config":                      content(10, 300),
		"data/00/" + hexName(11):      content(11, 9000),
		"data/ab/" + hexName(12):      content(12, 1),
		"index/" + hexName(13):        content(13, 700),
		"snapshots/" + hexName(14):    content(14, 200),
		"tmp/pack-0011223344556677aa": content(15, 33),
	}
	dirOf := func(name string) string {
		if i := bytes.LastIndexByte([]byte(name), '/'); i >= 0 {
			return name[:i]
		}
		return "."
	}
	for name, data := range files {
		if dirOf(name) == "tmp" {
			create(t, fsys, name, data, false)
			continue
		}
		writeDurably(t, fsys, name, dirOf(name), data)
	}
	l, err := fsys.Lock("lock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for name, data := range files {
		mustContain(t, fsys, name, data)
	}
	mustList(t, fsys, "data", "00", "ab")
	mustList(t, fsys, "data/ab", hexName(12))
	mustList(t, fsys, "snapshots", hexName(14))
	mustList(t, fsys, "tmp", "pack-0011223344556677aa")
}

// concurrent: goroutines write, rename, list, read and remove in shared
// directories at once, as concurrent Puts and a Flush do.
func (s *suite) concurrent(t *testing.T, fsys repo.FS) {
	layout(t, fsys)
	mkdir(t, fsys, "data/ab")
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				seed := uint64(w*each + i)
				tmp := fmt.Sprintf("tmp/pack-%d-%d", w, i)
				if err := tryCreate(fsys, tmp, content(seed, 3000), true); err != nil {
					errs <- err
					return
				}
				if err := fsys.Rename(tmp, "data/ab/"+hexName(seed)); err != nil {
					errs <- err
					return
				}
				if err := fsys.SyncDir("data/ab"); err != nil {
					errs <- err
					return
				}
				if _, err := fsys.ReadDir("data/ab"); err != nil {
					errs <- err
					return
				}
				if got, err := readAll(fsys, "data/ab/"+hexName(seed)); err != nil || !bytes.Equal(got, content(seed, 3000)) {
					errs <- fmt.Errorf("read back %d: %v", seed, err)
					return
				}
				if i%5 == 0 {
					if err := fsys.Remove("data/ab/" + hexName(seed)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want []string
	for w := range workers {
		for i := range each {
			if i%5 != 0 {
				want = append(want, hexName(uint64(w*each+i)))
			}
		}
	}
	slices.Sort(want)
	mustList(t, fsys, "data/ab", want...)
	mustList(t, fsys, "tmp")
}
