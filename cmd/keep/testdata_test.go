package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTestdataRewrite: rewrite overwrites an existing file in place (same
// size, new bytes) and refuses a missing or too-small file.
func TestTestdataRewrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hot.bin")
	if rc := testdataMain([]string{"write", p, "2"}); rc != 0 {
		t.Fatalf("write: rc %d", rc)
	}
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if rc := testdataMain([]string{"rewrite", p, "1"}); rc != 0 {
		t.Fatalf("rewrite: rc %d", rc)
	}
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("rewrite changed the size: %d → %d bytes", len(before), len(after))
	}
	for _, half := range [][2]int{{0, 1 << 20}, {1 << 20, 2 << 20}} {
		if bytes.Equal(before[half[0]:half[1]], after[half[0]:half[1]]) {
			t.Errorf("bytes %d–%d were not rewritten", half[0], half[1])
		}
	}
	if rc := testdataMain([]string{"rewrite", filepath.Join(dir, "missing"), "1"}); rc == 0 {
		t.Error("rewrite of a missing file succeeded")
	}
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("x"), 0o644)
	if rc := testdataMain([]string{"rewrite", small, "1"}); rc == 0 {
		t.Error("rewrite of a file under 1 MiB succeeded")
	}
}
