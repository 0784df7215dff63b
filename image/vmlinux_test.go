package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeBzImage returns a stand-in for a Debian bzImage: setup code, an XZ
// stream with the x86 BCJ filter holding an ELF, and trailing bytes.
func fakeBzImage(t *testing.T, kernel []byte) []byte {
	t.Helper()
	xz := needTool(t, "xz")
	cmd := exec.Command(xz, "--format=xz", "--x86", "--lzma2", "--stdout")
	cmd.Stdin = bytes.NewReader(kernel)
	payload, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	setup := bytes.Repeat([]byte{0x90, 'H', 'd', 'r', 'S'}, 300)
	return append(append(setup, payload...), 0x00, 0x10, 0x20, 0x30, 0xde, 0xad, 0xbe, 0xef)
}

func TestExtractVmlinux(t *testing.T) {
	dir := t.TempDir()
	kernel := append(fakeELF(""), bytes.Repeat([]byte("kernel text "), 4096)...)
	bz := filepath.Join(dir, "vmlinuz")
	out := filepath.Join(dir, "build", "vmlinux")
	writeFile(t, bz, fakeBzImage(t, kernel))
	ctx := context.Background()

	fresh, err := ExtractVmlinux(ctx, bz, out)
	if err != nil || !fresh {
		t.Fatalf("first extraction: fresh %v, err %v", fresh, err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, kernel) {
		t.Fatalf("vmlinux: %v, %d bytes, want the %d-byte ELF", err, len(got), len(kernel))
	}
	if fresh, err := ExtractVmlinux(ctx, bz, out); err != nil || fresh {
		t.Errorf("up-to-date output: fresh %v, err %v; want cached", fresh, err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bz, later, later); err != nil {
		t.Fatal(err)
	}
	if fresh, err := ExtractVmlinux(ctx, bz, out); err != nil || !fresh {
		t.Errorf("newer bzImage: fresh %v, err %v; want a new extraction", fresh, err)
	}
}

func TestExtractVmlinuxErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		bzImage []byte
		want    string
	}{
		{"no XZ payload", []byte("MZ not a bzImage"), "no XZ payload"},
		{"payload not an ELF", fakeBzImage(t, []byte("plain text, not a kernel")), "not an ELF"},
		{"corrupt payload", append([]byte("setup"), append(xzMagic, "garbage after the magic"...)...), "xz:"},
	}
	for _, tt := range tests {
		bz := filepath.Join(dir, tt.name)
		writeFile(t, bz, tt.bzImage)
		out := filepath.Join(dir, tt.name+".vmlinux")
		if _, err := ExtractVmlinux(context.Background(), bz, out); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: output written despite the error", tt.name)
		}
	}
	if _, err := ExtractVmlinux(context.Background(), filepath.Join(dir, "none"), filepath.Join(dir, "v")); err == nil {
		t.Error("missing bzImage: no error")
	}
}
