package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// tree writes a small tree of n files in a few directories under root.
func tree(t *testing.T, root string, n int) {
	t.Helper()
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("a/b%d/c%d/f%03d.txt", i%3, i%7, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d %s", i, make([]byte, i*37))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a/b0", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
}

func TestMutateFSDeterministic(t *testing.T) {
	a, b, pool := t.TempDir(), t.TempDir(), t.TempDir()
	tree(t, a, 600)
	tree(t, b, 600)
	for i := range 3 {
		os.WriteFile(filepath.Join(pool, fmt.Sprintf("%05d-new", i)), []byte("new content"), 0o644)
	}
	d0, _ := Digest(a)
	ca, err := MutateFS(a, pool, 7)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := MutateFS(b, pool, 7)
	if err != nil {
		t.Fatal(err)
	}
	if *ca != *cb {
		t.Fatalf("changes differ: %+v %+v", ca, cb)
	}
	if ca.Edited != 6 || ca.Deleted != 3 || ca.New != 6 || ca.Appended != 1 || ca.RenamedDir == "" {
		t.Errorf("change = %+v", ca)
	}
	da, _ := Digest(a)
	db, _ := Digest(b)
	if da != db || da == d0 {
		t.Errorf("digests: gen1 %s, gen2 %s and %s", d0[:8], da[:8], db[:8])
	}
	if d, err := Compare(a, b); err != nil || !d.OK() {
		t.Errorf("identical gen2 trees compare as different: %+v %v", d, err)
	}
}

func TestCompareFindsDifferences(t *testing.T) {
	base := t.TempDir()
	tree(t, base, 50)
	for name, change := range map[string]func(root string) error{
		"content": func(r string) error {
			return os.WriteFile(filepath.Join(r, "a/b1/c1/f001.txt"), []byte("file 1 X"), 0o644)
		},
		"size":    func(r string) error { return os.WriteFile(filepath.Join(r, "a/b1/c1/f001.txt"), []byte("x"), 0o644) },
		"mode":    func(r string) error { return os.Chmod(filepath.Join(r, "a/b1/c1/f001.txt"), 0o600) },
		"missing": func(r string) error { return os.Remove(filepath.Join(r, "a/b1/c1/f001.txt")) },
		"extra":   func(r string) error { return os.WriteFile(filepath.Join(r, "a/extra"), nil, 0o644) },
		"symlink": func(r string) error {
			os.Remove(filepath.Join(r, "link"))
			return os.Symlink("a/b1", filepath.Join(r, "link"))
		},
	} {
		got := t.TempDir()
		tree(t, got, 50)
		if err := change(got); err != nil {
			t.Fatal(err)
		}
		d, err := Compare(base, got)
		if err != nil {
			t.Fatal(err)
		}
		if d.OK() {
			t.Errorf("%s: difference not found", name)
		}
	}
}

func TestMutateVM(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ch, err := MutateVM(img, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ch.BytesWritten < 64<<10 || ch.Writes == 0 {
		t.Errorf("change = %+v", ch)
	}
	fi, _ := os.Stat(img)
	if fi.Size() != 16<<20 {
		t.Errorf("size changed: %d", fi.Size())
	}
}
