package backup

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenNoatime: reading a file through openNoatime leaves its atime
// alone, where an ordinary open and read moves it (relatime moves an atime
// older than the mtime); a missing file is a PathError.
func TestOpenNoatime(t *testing.T) {
	dir := t.TempDir()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("content"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, time.Now()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atime := func(p string) time.Time {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return time.Unix(st.Atim.Unix())
	}
	read := func(p string, open func(string) (*os.File, error)) {
		f, err := open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil || string(b) != "content" {
			t.Fatalf("read %s: %q, %v", p, b, err)
		}
	}

	plain, noatime := mk("plain"), mk("noatime")
	read(plain, os.Open)
	if atime(plain).Equal(old) {
		t.Fatalf("the filesystem of %s did not update an atime on read (mounted noatime?): this test cannot tell O_NOATIME apart there", dir)
	}
	read(noatime, openNoatime)
	if got := atime(noatime); !got.Equal(old) {
		t.Errorf("atime after reading through openNoatime: %v, want %v", got, old)
	}

	_, err := openNoatime(filepath.Join(dir, "missing"))
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want a PathError for ErrNotExist", err)
	}
}
