package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultTools are the upstream programs the product image carries: the
// data filesystem's mkfs and repair, where writing our own would endanger
// data (DESIGN §6). Each is copied with its shared-library closure.
var DefaultTools = []string{"/usr/sbin/mkfs.xfs", "/usr/sbin/xfs_repair"}

// OracleTools are added to the QEMU test image only: independent checkers
// the scenarios run inside the guest (never shipped).
var OracleTools = []string{"/usr/sbin/mdadm", "/usr/sbin/smartctl", "/usr/bin/ipmitool"}

// TestImageMarker exists only in test images; the supervisor enables its
// test-only API (running the oracle tools) when it is present.
const TestImageMarker = "etc/keep/test-image"

// TestPSKPath is a fixed pre-shared key in test images only (TestPSK),
// for the QEMU tunnel scenario's tunnel.psk_file. Never shipped.
const TestPSKPath = "etc/keep/test-psk"

// TestPSK is the contents of TestPSKPath (without the trailing newline).
const TestPSK = "keep-test-image-psk: not a secret, 32+ bytes long"

// The files of the management API's NOC listener (api.noc) in test
// images only (TestAPIPKI): its server certificate and key, and the CA
// that NOC operator certificates must chain to. Never shipped: the keys
// come from public seeds.
const (
	TestAPICertPath = "etc/keep/test-api-cert.pem"
	TestAPIKeyPath  = "etc/keep/test-api-key.pem"
	TestNOCCAPath   = "etc/keep/test-noc-ca.pem"
)

// libDirs is where the dynamic loader of a Debian amd64 system looks,
// in its order (ld.so.conf.d/x86_64-linux-gnu.conf, then the defaults).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// toolFile is one file of a tool closure: its path in the image (no
// leading slash) and its bytes.
type toolFile struct {
	name string
	data []byte
}

// toolClosure resolves programs (absolute paths on the build host) to the
// files the image needs to run them: each program at its own path, its
// ELF interpreter, and every DT_NEEDED library, recursively, found in
// libDirs under root (the build host is root "/"; tests use a fake tree).
// Libraries are stored under their soname in the directory they were found
// in, with the symlinks resolved, so the image has no dangling links.
func toolClosure(root string, programs []string) ([]toolFile, error) {
	var out []toolFile
	seen := map[string]bool{}
	queue := []string{}
	enqueue := func(needs []string) {
		for _, n := range needs {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	for _, prog := range programs {
		if !path.IsAbs(prog) {
			return nil, fmt.Errorf("tool %q: want an absolute path", prog)
		}
		data, interp, needed, err := readELF(filepath.Join(root, prog))
		if err != nil {
			return nil, fmt.Errorf("tool %s: %w (install it: make deps)", prog, err)
		}
		out = append(out, toolFile{name: strings.TrimPrefix(prog, "/"), data: data})
		if interp != "" && !seen[interp] {
			seen[interp] = true
			idata, err := os.ReadFile(filepath.Join(root, interp))
			if err != nil {
				return nil, fmt.Errorf("tool %s: interpreter: %w", prog, err)
			}
			out = append(out, toolFile{name: strings.TrimPrefix(interp, "/"), data: idata})
		}
		enqueue(needed)
	}
	for len(queue) > 0 {
		lib := queue[0]
		queue = queue[1:]
		found := ""
		var data []byte
		var needed []string
		for _, dir := range libDirs {
			p := path.Join(dir, lib)
			d, _, n, err := readELF(filepath.Join(root, p))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("library %s: %w", p, err)
			}
			found, data, needed = p, d, n
			break
		}
		if found == "" {
			return nil, fmt.Errorf("library %s: not found in %s", lib, strings.Join(libDirs, ", "))
		}
		out = append(out, toolFile{name: strings.TrimPrefix(found, "/"), data: data})
		enqueue(needed)
	}
	slices.SortFunc(out, func(a, b toolFile) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// readELF reads an ELF file (following symlinks) and returns its bytes,
// its interpreter (PT_INTERP) and its DT_NEEDED libraries.
func readELF(p string) (data []byte, interp string, needed []string, err error) {
	data, err = os.ReadFile(p)
	if err != nil {
		return nil, "", nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s is not ELF: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return nil, "", nil, fmt.Errorf("%s: read PT_INTERP: %w", p, err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: DT_NEEDED: %w", p, err)
	}
	return data, interp, needed, nil
}
