package image

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// xzMagic starts an XZ stream.
var xzMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}

// ExtractVmlinux writes the uncompressed ELF kernel (vmlinux) held in the
// bzImage at bzImage to out. QEMU boots that ELF through the PVH entry point
// without running the kernel's own XZ decompressor, which under TCG takes
// seconds. The Debian bzImage's payload is XZ with the x86 BCJ filter; it
// is found by its magic and decompressed with the xz tool. Nothing is done
// when out exists and is newer than bzImage; fresh reports whether out was
// written.
func ExtractVmlinux(ctx context.Context, bzImage, out string) (fresh bool, err error) {
	in, err := os.Stat(bzImage)
	if err != nil {
		return false, fmt.Errorf("kernel image: %w", err)
	}
	if st, err := os.Stat(out); err == nil && st.ModTime().After(in.ModTime()) && isELF(out) {
		return false, nil
	}
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return false, fmt.Errorf("kernel image: %w", err)
	}
	i := bytes.Index(data, xzMagic)
	if i < 0 {
		return false, fmt.Errorf("%s: no XZ payload found (not an XZ-compressed bzImage?)", bzImage)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return false, fmt.Errorf("vmlinux: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return false, fmt.Errorf("vmlinux: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	err = unxz(ctx, data[i:], tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	// The payload is followed by other bytes of the bzImage; an xz that
	// complains about them has still written the whole kernel.
	if !isELF(tmp.Name()) {
		if err == nil {
			err = errors.New("output is not an ELF file")
		}
		return false, fmt.Errorf("extract vmlinux from %s: %w", bzImage, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return false, fmt.Errorf("vmlinux: %w", err)
	}
	return true, nil
}

// unxz decompresses the first XZ stream of payload into w with xz(1).
func unxz(ctx context.Context, payload []byte, w *os.File) error {
	xz, err := exec.LookPath("xz")
	if err != nil {
		return fmt.Errorf("xz not found (install xz-utils): %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, xz, "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(payload)
	cmd.Stdout = w
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xz: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// isELF reports whether path holds a parseable ELF file.
func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
