package kmod

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxModuleSize bounds a decompressed module image (the largest Debian
// module is about 10 MiB) so a corrupt file cannot exhaust memory.
const maxModuleSize = 256 << 20

// readModuleImage reads the module file p from fsys, decompressing .ko.xz,
// .ko.zst and .ko.gz files in process.
func readModuleImage(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(p, ".ko.xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		r = xr
	case strings.HasSuffix(p, ".ko.zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(p, ".ko.gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = gr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(data) > maxModuleSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, maxModuleSize)
	}
	return data, nil
}

// compressed reports whether a module path names a compressed module.
func compressed(p string) bool { return !strings.HasSuffix(p, ".ko") }
