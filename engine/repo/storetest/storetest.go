package storetest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"testing"

	"keep/engine/repo"
)

// Options tune the suite for a backend. The zero value runs everything at
// full size.
type Options struct {
	// LargeFileSize is the size of the file FS/File/Large writes and reads
	// back; zero: 20 MiB, more than repo.DefaultPackSize, the largest
	// file the repository writes by default (4 MiB with -short).
	LargeFileSize int
	// ManyFiles is how many files FS/ManyFiles creates in one directory;
	// zero: 1000 (300 with -short).
	ManyFiles int
}

func (o *Options) fill() {
	if o.LargeFileSize <= 0 {
		o.LargeFileSize = 20 << 20
		if testing.Short() {
			o.LargeFileSize = 4 << 20
		}
	}
	if o.ManyFiles <= 0 {
		o.ManyFiles = 1000
		if testing.Short() {
			o.ManyFiles = 300
		}
	}
}

// PowerLosser is the capability to simulate a power loss: afterwards,
// every file keeps at least the content its last File.Sync made durable
// and every directory at least the entries its last SyncDir made durable;
// anything later may be lost, wholly or in part. Open handles and locks
// die with the process, as in ProcessCrasher. engine/repo/memfs has it.
type PowerLosser interface {
	PowerLoss()
}

// ProcessCrasher is the capability to simulate the death of the process
// that uses the FS: its open handles become unusable and its locks are
// released; what it made durable stays.
type ProcessCrasher interface {
	CrashProcess()
}

// Corrupter is the capability to damage stored data as failing storage
// would: Corrupt changes the byte at offset off of file name (off < 0
// counts from the end), so that reading it returns a different byte,
// and leaves the rest of the file as it was.
type Corrupter interface {
	Corrupt(name string, off int64) error
}

// Run runs the conformance suite against the backend newFS makes: each
// call must return a new, empty store (cleaned up with t.Cleanup). See
// the package doc for the subtests.
func Run(t *testing.T, newFS func(t *testing.T) repo.FS, opts Options) {
	opts.fill()
	s := &suite{newFS: newFS, opts: opts}
	t.Run("FS", s.testFS)
	t.Run("Repo", s.testRepo)
	t.Run("PowerLoss", s.testPowerLoss)
	t.Run("ProcessCrash", s.testProcessCrash)
	t.Run("Corrupt", s.testCorrupt)
}

type suite struct {
	newFS func(t *testing.T) repo.FS
	opts  Options
}

// capable returns a fresh FS as a C, or skips t naming the capability.
func capable[C any](t *testing.T, s *suite, name string) (repo.FS, C) {
	t.Helper()
	fsys := s.newFS(t)
	c, ok := fsys.(C)
	if !ok {
		t.Skipf("%T does not implement storetest.%s", fsys, name)
	}
	return fsys, c
}

// hexName returns a 64-digit lowercase hex name derived from seed: the
// form of pack, index and snapshot file names.
func hexName(seed uint64) string {
	var b [32]byte
	for i := range b {
		seed = seed*6364136223846793005 + 1442695040888963407
		b[i] = byte(seed >> 56)
	}
	return hex.EncodeToString(b[:])
}

// content returns n deterministic bytes derived from seed.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func mkdir(t *testing.T, fsys repo.FS, name string) {
	t.Helper()
	if err := fsys.Mkdir(name); err != nil {
		t.Fatalf("Mkdir(%q): %v", name, err)
	}
}

func syncDir(t *testing.T, fsys repo.FS, name string) {
	t.Helper()
	if err := fsys.SyncDir(name); err != nil {
		t.Fatalf("SyncDir(%q): %v", name, err)
	}
}

// create writes data to the new file name and closes it; sync also
// syncs its content first.
func create(t *testing.T, fsys repo.FS, name string, data []byte, sync bool) {
	t.Helper()
	if err := tryCreate(fsys, name, data, sync); err != nil {
		t.Fatal(err)
	}
}

func tryCreate(fsys repo.FS, name string, data []byte, sync bool) error {
	f, err := fsys.Create(name)
	if err != nil {
		return fmt.Errorf("Create(%q): %w", name, err)
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("wrote %d of %d bytes without an error", n, len(data))
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	return nil
}

// writeDurably writes name as the repository does: a file in tmp/,
// synced, closed, renamed into place, and name's directory synced.
func writeDurably(t *testing.T, fsys repo.FS, name, dir string, data []byte) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(name))
	tmp := "tmp/file-" + hexName(h.Sum64())[:24]
	create(t, fsys, tmp, data, true)
	if err := fsys.Rename(tmp, name); err != nil {
		t.Fatalf("Rename(%q, %q): %v", tmp, name, err)
	}
	syncDir(t, fsys, dir)
}

// readAll reads the whole file name through Open, Size and ReadAt.
func readAll(fsys repo.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("Size of %q: %w", name, err)
	}
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if n != len(b) || err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("ReadAt of all %d bytes of %q: %d, %v", size, name, n, err)
	}
	return b, nil
}

func mustRead(t *testing.T, fsys repo.FS, name string) []byte {
	t.Helper()
	b, err := readAll(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustContain(t *testing.T, fsys repo.FS, name string, want []byte) {
	t.Helper()
	if got := mustRead(t, fsys, name); !bytes.Equal(got, want) {
		t.Fatalf("%q holds %d bytes that differ from the %d written", name, len(got), len(want))
	}
}

func mustNotExist(t *testing.T, fsys repo.FS, name string) {
	t.Helper()
	f, err := fsys.Open(name)
	if err == nil {
		_ = f.Close()
		t.Fatalf("Open(%q) succeeded, want fs.ErrNotExist", name)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(%q): %v, want fs.ErrNotExist", name, err)
	}
}

func mustList(t *testing.T, fsys repo.FS, dir string, want ...string) {
	t.Helper()
	got, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q): %v", dir, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ReadDir(%q) = %q, want %q", dir, got, want)
	}
}

// layout makes the repository's directories, durably.
func layout(t *testing.T, fsys repo.FS) {
	t.Helper()
	for _, d := range []string{"data", "index", "tmp"} {
		mkdir(t, fsys, d)
	}
	syncDir(t, fsys, ".")
}
