package corpus

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Diff is the outcome of Compare.
type Diff struct {
	Entries       int      `json:"entries"`
	Bytes         int64    `json:"bytes"`
	Problems      int      `json:"problems"`       // content, type, size, mode, symlink, missing or extra
	MtimeMismatch int      `json:"mtime_mismatch"` // regular files whose mtime differs (reported, not fatal)
	Examples      []string `json:"examples,omitempty"`
}

// OK reports whether the trees have the same entries, types, modes,
// symlink targets and contents.
func (d *Diff) OK() bool { return d.Problems == 0 }

func (d *Diff) add(format string, a ...any) {
	d.Problems++
	if len(d.Examples) < 10 {
		d.Examples = append(d.Examples, fmt.Sprintf(format, a...))
	}
}

// Compare compares the tree (or file) want with got: every entry, its type,
// permission bits, symlink target, size and content; mtimes are counted.
func Compare(want, got string) (*Diff, error) {
	d := &Diff{}
	type pair struct{ a, b string }
	work := make(chan pair, 64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
			for p := range work {
				same, err := sameContent(p.a, p.b, ba, bb)
				if !same || err != nil {
					mu.Lock()
					d.add("content differs: %s (%v)", p.b, err)
					mu.Unlock()
				}
			}
		}()
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		q := filepath.Join(got, rel)
		fa, err := os.Lstat(p)
		if err != nil {
			return err
		}
		d.Entries++
		fb, err := os.Lstat(q)
		if err != nil {
			mu.Lock()
			d.add("missing: %s", rel)
			mu.Unlock()
			if e.IsDir() && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if fa.Mode().Type() != fb.Mode().Type() {
			d.add("type differs: %s %v %v", rel, fa.Mode().Type(), fb.Mode().Type())
			return nil
		}
		if fa.Mode().Type()&fs.ModeSymlink == 0 && fa.Mode().Perm() != fb.Mode().Perm() {
			d.add("mode differs: %s %v %v", rel, fa.Mode(), fb.Mode())
		}
		switch {
		case fa.Mode().Type()&fs.ModeSymlink != 0:
			ta, _ := os.Readlink(p)
			tb, _ := os.Readlink(q)
			if ta != tb {
				d.add("symlink differs: %s %q %q", rel, ta, tb)
			}
		case fa.Mode().IsRegular():
			if fa.Size() != fb.Size() {
				d.add("size differs: %s %d %d", rel, fa.Size(), fb.Size())
				return nil
			}
			if !fa.ModTime().Equal(fb.ModTime()) {
				d.MtimeMismatch++
			}
			d.Bytes += fa.Size()
			mu.Unlock()
			work <- pair{p, q}
			mu.Lock()
		}
		return nil
	})
	close(work)
	wg.Wait()
	if err != nil {
		return d, err
	}
	// Extra entries in got.
	var extra []string
	filepath.WalkDir(got, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(got, p)
		if !seen[rel] {
			extra = append(extra, rel)
			if e.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	sort.Strings(extra)
	for _, x := range extra {
		d.add("extra: %s", x)
	}
	return d, nil
}

func sameContent(a, b string, ba, bb []byte) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea || (eb == io.EOF || eb == io.ErrUnexpectedEOF), nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
