package image

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool returns the path of an external tool used as a test oracle.
// Outside CI a missing tool skips the test; with CI=true it fails it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed as a test oracle: %v (run `make deps`)", name, err)
	}
	return p
}

// fakeELF returns a minimal x86-64 ELF executable header; with interp it
// also has a PT_INTERP program header, as a dynamically linked binary does.
func fakeELF(interp string) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)  // EV_CURRENT
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[58:], 64) // e_shentsize
	if interp == "" {
		return append(b, "static program"...)
	}
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[56:], 1)  // e_phnum
	ph := make([]byte, 56)
	le.PutUint32(ph[0:], 3)                      // PT_INTERP
	le.PutUint64(ph[8:], 120)                    // p_offset
	le.PutUint64(ph[32:], uint64(len(interp)+1)) // p_filesz
	le.PutUint64(ph[40:], uint64(len(interp)+1)) // p_memsz
	return append(append(b, ph...), interp+"\x00"...)
}

// fakeModulesDir writes a small module tree named like a kernel release.
func fakeModulesDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "6.1.0-test")
	files := map[string]string{
		"modules.dep": `kernel/drivers/md/md-mod.ko:
kernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko
kernel/drivers/md/raid456.ko: kernel/crypto/xor.ko kernel/drivers/md/md-mod.ko kernel/lib/libcrc32c.ko
kernel/crypto/xor.ko:
kernel/lib/libcrc32c.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/block/floppy.ko:
kernel/drivers/input/evdev.ko:
`,
		"modules.alias": `# Aliases extracted from modules themselves.
alias crc32c crc32c_generic
alias md-level-6 raid456
alias block-major-2-* floppy
alias input:b*v*p*e*-e*k*r*a*m*l*s*f*w* evdev
`,
		"modules.softdep":                 "softdep libcrc32c pre: crc32c\nsoftdep floppy pre: evdev\n",
		"modules.builtin":                 "kernel/crypto/hmac.ko\n",
		"modules.order":                   "kernel/drivers/md/md-mod.ko\n",
		"kernel/drivers/md/md-mod.ko":     "md",
		"kernel/drivers/md/raid1.ko":      "raid1",
		"kernel/drivers/md/raid456.ko":    "raid456",
		"kernel/crypto/xor.ko":            "xor",
		"kernel/lib/libcrc32c.ko":         "libcrc32c",
		"kernel/crypto/crc32c_generic.ko": "crc32c",
		"kernel/drivers/block/floppy.ko":  "floppy",
		"kernel/drivers/input/evdev.ko":   "evdev",
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), []byte(data))
	}
	return dir
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeSpec returns a Spec over fake inputs in a fresh directory.
func fakeSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	writeFile(t, keep, fakeELF(""))
	config := filepath.Join(dir, "keep.yaml")
	writeFile(t, config, []byte("appliance:\n  hostname: vault\n"))
	return Spec{
		Keep:       keep,
		ModulesDir: fakeModulesDir(t),
		Config:     config,
		Modules:    []string{"raid456", "raid1", "hmac"},
		Tools:      []string{}, // the tool closure has its own tests (tools_test.go)
		Output:     filepath.Join(dir, "out", "keep.img"),
	}
}
