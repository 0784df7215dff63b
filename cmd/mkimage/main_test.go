package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-modules", "m", "-config", "c", "-o", "o"}, "build the keep binary first: make build"},
		{[]string{"-keep", "k", "-config", "c", "-o", "o"}, "-modules is required"},
		{[]string{"-keep", "k", "-modules", "m", "-o", "o"}, "-config is required"},
		{[]string{"-keep", "k", "-modules", "m", "-config", "c"}, "-o is required"},
		{[]string{"-keep", "k", "-modules", "m", "-config", "c", "-o", "o", "-vmlinux-from", "v"}, "go together"},
		{[]string{"-keep", "k", "-modules", "m", "-config", "c", "-o", "o", "extra"}, "unexpected arguments"},
		{[]string{"-keep", "/nonexistent/keep", "-modules", "m", "-config", "c", "-o", "o"}, "does not exist (build the keep binary first"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error()+errOut.String(), tt.want) {
			t.Errorf("run(%q) = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestRunReportsMissingModules(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(elf[16:], 2)
	binary.LittleEndian.PutUint16(elf[18:], 62)
	binary.LittleEndian.PutUint32(elf[20:], 1)
	keep := write("keep", elf)
	config := write("keep.yaml", []byte("log:\n  level: info\n"))
	write("6.1.0-x/modules.dep", []byte("kernel/a.ko:\n"))
	write("6.1.0-x/kernel/a.ko", []byte("module a"))
	out := filepath.Join(dir, "build", "keep.img")
	var stdout bytes.Buffer
	// The default module list is not in this tree: the error names the first module missing.
	err := run(context.Background(), []string{"-keep", keep, "-modules", filepath.Join(dir, "6.1.0-x"), "-config", config, "-o", out}, &stdout, &stdout)
	if err == nil || !strings.Contains(err.Error(), "unknown module: crc64_rocksoft_generic") {
		t.Fatalf("err = %v, want an unknown-module error", err)
	}
}
