package corpus

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultFilesRoot is the tree Files reads when the caller has no better
// one: installed system files, the bulk of the benchmark's file-server
// corpus (see shared/notes/engine-peers.md). KEEP_BENCH_FILES overrides it.
const DefaultFilesRoot = "/usr/share"

// FilesRoot returns $KEEP_BENCH_FILES or DefaultFilesRoot.
func FilesRoot() string {
	if r := os.Getenv("KEEP_BENCH_FILES"); r != "" {
		return r
	}
	return DefaultFilesRoot
}

// Files returns up to n bytes of the regular files under root, concatenated
// in lexical path order (deterministic for a given tree). Unreadable files
// are skipped. Real files compress like real backups; the synthetic Text
// does not (its matches are short, which makes zstd slower than on real
// data).
func Files(root string, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	errFull := errors.New("full")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		m, _ := io.ReadFull(f, out[len(out):n])
		out = out[:len(out)+m]
		if len(out) == n {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, err
	}
	return out, nil
}
