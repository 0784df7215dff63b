// Package corpus makes the benchmark's inputs, deterministically, from files
// installed on the machine (never touching them) and a seeded generator.
//
// fs: a file-server tree. Candidates are the regular files and symlinks
// under FSRoots (sorted by path; files larger than a cap are left out so no
// single file dominates a small scale). Each candidate is kept when a seeded
// hash of its path falls under target/total, so every scale samples the same
// mix of docs, sources, Python and libraries; files are copied in sorted
// order until the target size. A pool of other candidates, not in gen1,
// provides the "new files" of gen2. MutateFS turns gen1 into gen2 in place:
// 1 % of files edited mid-file (bytes replaced by a run of another length,
// shifting the rest), 0.2 % appended, 0.5 % deleted, 1 % new files from the
// pool, then one directory renamed. It depends only on the sorted listing
// and the seed, so every copy of gen1 becomes the same gen2.
//
// vm: a raw disk image holding a real ext4 filesystem (mkfs.ext4 -d from a
// staging directory: sampled binaries and libraries of VMRoots for ~62 % of
// the size, a seeded random blob of 160/2048 of it), written fully (no holes),
// so free space is zero runs. MutateVM applies 7 MiB per 2 GiB of scattered
// 4 KiB–1 MiB writes of random data at 4 KiB-aligned offsets, in place,
// small writes more likely than large ones (see MutateVM).
package corpus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FSRoots are the sources of the file-server tree; FSExclude are left out
// (machine-specific data, not installed software).
var (
	FSRoots = []string{
		"/usr/share", "/usr/local/go", "/usr/lib/python3", "/usr/lib/python3.11",
		"/usr/lib/x86_64-linux-gnu", "/usr/lib/gcc",
	}
	FSExclude = []string{"/usr/share/package-lists"}
	VMRoots   = []string{
		"/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/lib/x86_64-linux-gnu",
		"/usr/lib/gcc", "/usr/lib/llvm-14", "/usr/local/go/pkg/tool", "/usr/local/go/bin",
	}
)

type candidate struct {
	src  string // absolute source path
	rel  string // path in the corpus
	size int64
	link bool
	h    float64 // seeded hash in [0,1)
}

func unitHash(seed uint64, salt, s string) float64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(salt))
	h.Write([]byte(s))
	// mix (splitmix64 finalizer) so nearby paths spread
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

func list(roots, exclude []string, maxFile int64, seed uint64, salt string) ([]candidate, int64, error) {
	var out []candidate
	var total int64
	for _, root := range roots {
		if _, err := os.Lstat(root); err != nil {
			continue // not installed here
		}
		prefix := strings.TrimPrefix(filepath.Clean(root), "/")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: skip
			}
			for _, x := range exclude {
				if p == x {
					return filepath.SkipDir
				}
			}
			if d.IsDir() {
				return nil
			}
			t := d.Type()
			if !t.IsRegular() && t&fs.ModeSymlink == 0 {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if info.Size() > maxFile {
				return nil
			}
			rel := filepath.Join(prefix, strings.TrimPrefix(p, root))
			c := candidate{src: p, rel: rel, link: t&fs.ModeSymlink != 0, h: unitHash(seed, salt, rel)}
			if !c.link {
				c.size = info.Size()
				total += c.size
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, total, nil
}

// Info describes a built corpus.
type Info struct {
	Kind        string  `json:"kind"`
	Seed        uint64  `json:"seed"`
	Target      int64   `json:"target_bytes"`
	Bytes       int64   `json:"bytes"`
	Files       int     `json:"files"`
	Symlinks    int     `json:"symlinks,omitempty"`
	PoolFiles   int     `json:"pool_files,omitempty"`
	Digest      string  `json:"digest"` // SHA-256 over sorted (path, type, size, content digest)
	Layout      string  `json:"layout,omitempty"`
	BuildSecond float64 `json:"build_s"`
}

// BuildFS writes gen1 of the file-server tree into dir/gen1 and the pool of
// new files into dir/pool.
func BuildFS(dir string, target int64, seed uint64) (*Info, error) {
	start := time.Now()
	maxFile := min(int64(128<<20), max(target/16, 1<<20))
	cands, total, err := list(FSRoots, FSExclude, maxFile, seed, "fs")
	if err != nil {
		return nil, err
	}
	p := 1.0
	if total > target {
		p = float64(target) / float64(total)
	}
	info := &Info{Kind: "fs", Seed: seed, Target: target}
	gen1 := filepath.Join(dir, "gen1")
	var pool []candidate
	for _, c := range cands {
		if c.h >= p {
			pool = append(pool, c)
			continue
		}
		if c.link {
			if err := copyEntry(c, gen1); err != nil {
				return nil, err
			}
			info.Symlinks++
			continue
		}
		if info.Bytes+c.size > target {
			continue
		}
		if err := copyEntry(c, gen1); err != nil {
			return nil, err
		}
		info.Bytes += c.size
		info.Files++
	}
	// The pool: regular files left out, lowest hash first, 1 % of the files.
	sort.Slice(pool, func(i, j int) bool { return pool[i].h < pool[j].h })
	want := max(1, int(math.Round(0.01*float64(info.Files))))
	var picked []candidate
	for _, c := range pool {
		if len(picked) == want {
			break
		}
		if c.link || c.size > maxFile/4 {
			continue
		}
		picked = append(picked, c)
	}
	for i, c := range picked {
		c.rel = fmt.Sprintf("%05d-%s", i, filepath.Base(c.rel))
		if err := copyEntry(c, filepath.Join(dir, "pool")); err != nil {
			return nil, err
		}
	}
	info.PoolFiles = len(picked)
	d, err := Digest(gen1)
	if err != nil {
		return nil, err
	}
	info.Digest = d
	info.BuildSecond = time.Since(start).Seconds()
	return info, nil
}

func copyEntry(c candidate, dstRoot string) error {
	dst := filepath.Join(dstRoot, c.rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if c.link {
		t, err := os.Readlink(c.src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	}
	in, err := os.Open(c.src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// FSChange is what MutateFS did.
type FSChange struct {
	Edited, Appended, Deleted, New int
	RenamedDir                     string
	BytesWritten                   int64 // new bytes: edits, appends, new files
}

// text returns n bytes of printable, mildly compressible text.
func text(rng *rand.Rand, n int) []byte {
	const words = "the of and to in is that for it as with was on be by at this are from or an which data file backup block restore vault snapshot chunk index pack seal key tree "
	b := make([]byte, 0, n+16)
	for len(b) < n {
		i := rng.IntN(len(words) - 12)
		j := strings.IndexByte(words[i:], ' ')
		b = append(b, words[i:i+j+1]...)
		if rng.IntN(12) == 0 {
			b = append(b, '\n')
		}
	}
	return b[:n]
}

// MutateFS turns the tree at root (a copy of gen1) into gen2, in place.
// pool is the corpus's pool directory.
func MutateFS(root, pool string, seed uint64) (*FSChange, error) {
	var files []string
	dirFiles := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
			dirFiles[filepath.Dir(rel)]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	n := len(files)
	rng := rand.New(rand.NewPCG(seed, 0x6b656570))
	perm := rng.Perm(n)
	count := func(f float64) int { return max(1, int(math.Round(f*float64(n)))) }
	nEdit, nApp, nDel, nNew := count(0.01), count(0.002), count(0.005), count(0.01)
	ch := &FSChange{}
	k := 0
	for ; k < nEdit && k < n; k++ {
		p := filepath.Join(root, files[perm[k]])
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		off := len(b) / 2
		cut := min(len(b)-off, rng.IntN(4096))
		ins := text(rng, 16+rng.IntN(8192))
		nb := append(append(append([]byte{}, b[:off]...), ins...), b[off+cut:]...)
		if err := rewrite(p, nb); err != nil {
			return nil, err
		}
		ch.Edited++
		ch.BytesWritten += int64(len(ins))
	}
	for end := k + nApp; k < end && k < n; k++ {
		p := filepath.Join(root, files[perm[k]])
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		add := text(rng, 1024+rng.IntN(63<<10))
		if _, err := f.Write(add); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		ch.Appended++
		ch.BytesWritten += int64(len(add))
	}
	for end := k + nDel; k < end && k < n; k++ {
		if err := os.Remove(filepath.Join(root, files[perm[k]])); err != nil {
			return nil, err
		}
		ch.Deleted++
	}
	ents, err := os.ReadDir(pool)
	if err != nil {
		return nil, err
	}
	for i := 0; i < nNew && len(ents) > 0; i++ {
		src := filepath.Join(pool, ents[i%len(ents)].Name())
		dir := filepath.Dir(files[perm[(k+i)%n]])
		dst := filepath.Join(root, dir, fmt.Sprintf("new-%05d-%s", i, ents[i%len(ents)].Name()))
		if _, err := os.Stat(filepath.Dir(dst)); err != nil {
			continue // its directory was emptied by deletions
		}
		c := candidate{src: src, rel: filepath.Join(dir, filepath.Base(dst))}
		if err := copyEntry(c, root); err != nil {
			return nil, err
		}
		fi, _ := os.Stat(dst)
		ch.New++
		ch.BytesWritten += fi.Size()
	}
	// One directory renamed: among directories holding 5–200 files, below
	// the top level.
	var dirs []string
	for d, c := range dirFiles {
		if c >= 5 && c <= 200 && strings.Count(d, "/") >= 2 {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	if len(dirs) > 0 {
		d := dirs[rng.IntN(len(dirs))]
		if err := os.Rename(filepath.Join(root, d), filepath.Join(root, d+".renamed")); err != nil {
			return nil, err
		}
		ch.RenamedDir = d
	}
	return ch, nil
}

func rewrite(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BuildVM writes dir/gen1.img: an ext4 image of size bytes.
func BuildVM(dir string, size int64, seed uint64) (*Info, error) {
	start := time.Now()
	stage := filepath.Join(dir, "stage")
	os.RemoveAll(stage)
	target := int64(float64(size) * 0.62)
	maxFile := min(int64(64<<20), max(target/8, 1<<20))
	cands, total, err := list(VMRoots, nil, maxFile, seed, "vm")
	if err != nil {
		return nil, err
	}
	p := 1.0
	if total > target {
		p = float64(target) / float64(total)
	}
	info := &Info{Kind: "vm", Seed: seed, Target: size}
	var fileBytes int64
	for _, c := range cands {
		if c.h >= p || c.link || fileBytes+c.size > target {
			continue
		}
		if err := copyEntry(c, filepath.Join(stage, "root")); err != nil {
			return nil, err
		}
		fileBytes += c.size
		info.Files++
	}
	blob := size * 160 / 2048
	rng := rand.New(rand.NewPCG(seed, 0x626c6f62))
	if err := os.MkdirAll(filepath.Join(stage, "root/var/lib/blob"), 0o755); err != nil {
		return nil, err
	}
	bf, err := os.Create(filepath.Join(stage, "root/var/lib/blob/random.bin"))
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(bf, randReader{rng}, blob); err != nil {
		bf.Close()
		return nil, err
	}
	bf.Close()
	info.Files++
	img := filepath.Join(dir, "gen1.img")
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, 1<<20)
	for w := int64(0); w < size; w += int64(len(zero)) {
		if _, err := f.Write(zero[:min(int64(len(zero)), size-w)]); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	uuid := fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(seed), seed&0xffffffffffff)
	cmd := exec.Command("mkfs.ext4", "-F", "-q", "-b", "4096", "-L", "keepbench", "-U", uuid,
		"-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0,hash_seed="+uuid,
		"-d", filepath.Join(stage, "root"), img)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	if err := os.RemoveAll(stage); err != nil {
		return nil, err
	}
	info.Bytes = size
	info.Layout = fmt.Sprintf("ext4 (mkfs.ext4 -d), %d MiB of sampled binaries/libraries in %d files, a %d MiB random blob, the rest free (zeros, written, no holes)",
		fileBytes>>20, info.Files-1, blob>>20)
	d, err := Digest(img)
	if err != nil {
		return nil, err
	}
	info.Digest = d
	info.BuildSecond = time.Since(start).Seconds()
	return info, nil
}

type randReader struct{ r *rand.Rand }

func (r randReader) Read(p []byte) (int, error) {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.r.Uint64())
	}
	for ; i < len(p); i++ {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// VMChange is what MutateVM did.
type VMChange struct {
	Writes       int
	BytesWritten int64
}

// MutateVM applies the scattered writes of gen2 to the image at img, in
// place: sizes 4 KiB·2^k, k in 0..8 (4 KiB–1 MiB) with P(k) ∝ 2^(−skew·k)
// (skew 0: every size as likely; 1: half the writes 4 KiB, a quarter 8 KiB…),
// random data at 4 KiB-aligned offsets, 7 MiB per 2 GiB of image in all.
func MutateVM(img string, seed uint64, skew float64) (*VMChange, error) {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	budget := max(int64(64<<10), int64(float64(7<<20)*float64(size)/float64(2<<30)))
	rng := rand.New(rand.NewPCG(seed, 0x77726974))
	ch := &VMChange{}
	var w [9]float64
	var sum float64
	for k := range w {
		w[k] = math.Pow(2, -skew*float64(k))
		sum += w[k]
	}
	pick := func() int {
		x := rng.Float64() * sum
		for k := range w {
			if x < w[k] {
				return k
			}
			x -= w[k]
		}
		return len(w) - 1
	}
	for ch.BytesWritten < budget {
		n := min(int64(4096)<<pick(), budget-ch.BytesWritten) // 4 KiB–1 MiB
		n = max(4096, n&^4095)
		off := rng.Int64N((size-n)/4096) * 4096
		b := make([]byte, n)
		randReader{rng}.Read(b)
		if _, err := f.WriteAt(b, off); err != nil {
			return nil, err
		}
		ch.Writes++
		ch.BytesWritten += n
	}
	return ch, f.Close()
}

// Digest hashes a file or a tree: sorted relative paths, types, sizes,
// symlink targets and contents.
func Digest(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			fmt.Fprintf(h, "d %s\n", rel)
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s %s\n", rel, t)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fh := sha256.New()
			n, err := io.Copy(fh, f)
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %s %d %x\n", rel, n, fh.Sum(nil))
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// Warm reads every regular file under the paths (two at a time) so the
// page cache holds them.
func Warm(paths ...string) (int64, error) {
	ch := make(chan string, 64)
	var total int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for p := range ch {
				f, err := os.Open(p)
				if err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					continue
				}
				n, _ := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
				f.Close()
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}()
	}
	for _, root := range paths {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				ch <- p
			}
			return nil
		})
	}
	close(ch)
	wg.Wait()
	return total, first
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Du returns the bytes allocated to the files under root (as du).
func Du(root string) int64 {
	var n int64
	seen := map[[2]uint64]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			k := [2]uint64{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
			n += st.Blocks * 512
		}
		return nil
	})
	return n
}
