package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"

	"keep/appliance/kmod"
)

// readImage decompresses an image file and parses its archive.
func readImage(t *testing.T, p string) (raw []byte, entries map[string]readEntry, names []string) {
	t.Helper()
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if raw, err = dec.DecodeAll(img, nil); err != nil {
		t.Fatal(err)
	}
	list, err := readNewc(raw)
	if err != nil {
		t.Fatal(err)
	}
	entries = map[string]readEntry{}
	for _, e := range list {
		entries[e.name] = e
		names = append(names, e.name)
	}
	return raw, entries, names
}

func TestBuildReproducible(t *testing.T) {
	// Two sets of identical inputs in different places, written at
	// different times, built twice each: one image.
	var images [][]byte
	for range 2 {
		s := fakeSpec(t)
		for i := range 2 {
			s.Output = filepath.Join(t.TempDir(), "keep.img")
			if i == 1 {
				s.Modules = slices.Clone(s.Modules)
			}
			if _, err := Build(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			img, err := os.ReadFile(s.Output)
			if err != nil {
				t.Fatal(err)
			}
			images = append(images, img)
		}
	}
	for i := 1; i < len(images); i++ {
		if !bytes.Equal(images[0], images[i]) {
			t.Errorf("build %d differs from build 0 (%d vs %d bytes)", i, len(images[i]), len(images[0]))
		}
	}
}

func TestBuildContents(t *testing.T) {
	s := fakeSpec(t)
	res, err := Build(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	raw, entries, names := readImage(t, s.Output)
	const mods = "lib/modules/6.1.0-test/"
	wantNames := []string{
		"dev", "dev/console", "etc", "etc/keep", "etc/keep/keep.yaml", "etc/keep/modules", "init",
		"lib", "lib/modules", "lib/modules/6.1.0-test", mods + "kernel",
		mods + "kernel/crypto", mods + "kernel/crypto/crc32c_generic.ko", mods + "kernel/crypto/xor.ko",
		mods + "kernel/drivers", mods + "kernel/drivers/md", mods + "kernel/drivers/md/md-mod.ko",
		mods + "kernel/drivers/md/raid1.ko", mods + "kernel/drivers/md/raid456.ko",
		mods + "kernel/lib", mods + "kernel/lib/libcrc32c.ko",
		mods + "modules.alias", mods + "modules.builtin", mods + "modules.builtin.modinfo",
		mods + "modules.dep", mods + "modules.softdep",
		"proc", "run", "sbin", "sbin/modprobe", "sys", "tmp",
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
	checks := []struct {
		name  string
		mode  uint32
		data  string
		major uint32
		minor uint32
	}{
		{"init", modeRegular | 0o755, string(fakeELF("")), 0, 0},
		{"sbin/modprobe", modeSymlink | 0o777, "/init", 0, 0},
		{"dev/console", modeCharDev | 0o600, "", 5, 1},
		{"etc/keep/keep.yaml", modeRegular | 0o644, "appliance:\n  hostname: vault\n", 0, 0},
		{"etc/keep/modules", modeRegular | 0o644, "raid456\nraid1\nhmac\n", 0, 0},
		{"tmp", modeDir | 0o1777, "", 0, 0},
		{"proc", modeDir | 0o555, "", 0, 0},
		{mods + "kernel/drivers/md/md-mod.ko", modeRegular | 0o644, "md", 0, 0},
	}
	for _, c := range checks {
		e := entries[c.name]
		if e.mode != c.mode || string(e.data) != c.data || e.rdevMajor != c.major || e.rdevMinor != c.minor {
			t.Errorf("%s: mode %o data %q dev %d,%d; want %o %q %d,%d", c.name, e.mode, e.data, e.rdevMajor, e.rdevMinor, c.mode, c.data, c.major, c.minor)
		}
	}
	for i, n := range names {
		if e := entries[n]; e.ino != uint32(i+1) || e.uid != 0 || e.gid != 0 || e.mtime != 0 {
			t.Errorf("%s: ino %d uid %d gid %d mtime %d", n, e.ino, e.uid, e.gid, e.mtime)
		}
	}
	// The filtered index never mentions what the image lacks.
	for _, idx := range []string{"modules.dep", "modules.alias", "modules.softdep"} {
		if d := string(entries[mods+idx].data); strings.Contains(d, "floppy") || strings.Contains(d, "evdev") {
			t.Errorf("%s mentions a module the image lacks:\n%s", idx, d)
		}
	}
	// The runtime reads it back with kmod: closures and aliases work,
	// aliases of absent modules resolve to nothing.
	fsys := fstest.MapFS{}
	for n, e := range entries {
		if rel, ok := strings.CutPrefix(n, mods); ok && e.mode&modeType == modeRegular {
			fsys[rel] = &fstest.MapFile{Data: e.data}
		}
	}
	db, err := kmod.Open(fsys)
	if err != nil {
		t.Fatal(err)
	}
	closure, err := db.Closure(kmod.ParseList(entries["etc/keep/modules"].data)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range closure {
		if _, ok := fsys[m.Path]; !m.Builtin && !ok {
			t.Errorf("closure module %s has no file %s", m.Name, m.Path)
		}
	}
	if got, err := db.Resolve("md-level-6"); err != nil || !slices.Equal(got, []string{"raid456"}) {
		t.Errorf("Resolve(md-level-6) = %v, %v", got, err)
	}
	if got, err := db.Resolve("block-major-2-0"); err == nil {
		t.Errorf("Resolve(block-major-2-0) = %v; floppy is not in the image", got)
	}
	st, err := os.Stat(s.Output)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Path: s.Output, RawBytes: int64(len(raw)), CompressedBytes: st.Size(), Modules: 6, ModuleBytes: int64(len("crc32clibcrc32cmdxorraid456raid1"))}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Output), ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestBuildCpioOracle has GNU cpio list a built image.
func TestBuildCpioOracle(t *testing.T) {
	cpio := needTool(t, "cpio")
	s := fakeSpec(t)
	if _, err := Build(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	raw, _, _ := readImage(t, s.Output)
	got := cpioList(t, cpio, raw)
	for _, want := range []string{
		"-rwxr-xr-x 1 0 0 " + strconv.Itoa(len(fakeELF(""))) + " init",
		"lrwxrwxrwx 1 0 0 5 sbin/modprobe -> /init",
		"crw------- 1 0 0 5, 1 dev/console",
		"drwxrwxrwt 2 0 0 0 tmp",
		"-rw-r--r-- 1 0 0 29 etc/keep/keep.yaml",
		"-rw-r--r-- 1 0 0 3 lib/modules/6.1.0-test/kernel/crypto/xor.ko",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("cpio -tv lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 32 {
		t.Errorf("cpio -tv lists %d entries, want 32", len(got))
	}
}

// TestBuildZstd checks the frame the kernel's decompressor will meet, and
// has the zstd tool decompress it.
func TestBuildZstd(t *testing.T) {
	s := fakeSpec(t)
	if _, err := Build(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(s.Output)
	if err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(img); err != nil {
		t.Fatal(err)
	}
	raw, _, _ := readImage(t, s.Output)
	checkFrameHeader(t, h, len(raw))
	zstdTool := needTool(t, "zstd")
	out, err := exec.Command(zstdTool, "-d", "-c", s.Output).Output()
	if err != nil || !bytes.Equal(out, raw) {
		t.Errorf("zstd -dc: %v, %d bytes, want %d identical bytes", err, len(out), len(raw))
	}
}

// checkFrameHeader checks that a frame needs at most a zstdWindow buffer
// to decode (a single-segment frame needs its content size) and carries
// its content size and a checksum.
func checkFrameHeader(t *testing.T, h zstd.Header, rawLen int) {
	t.Helper()
	window := h.WindowSize
	if h.SingleSegment {
		window = h.FrameContentSize
	}
	if window > zstdWindow || !h.HasFCS || h.FrameContentSize != uint64(rawLen) || !h.HasCheckSum {
		t.Errorf("frame header %+v (raw %d bytes)", h, rawLen)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name      string
		breakSpec func(t *testing.T, s *Spec)
		want      string
	}{
		{"no keep binary", func(t *testing.T, s *Spec) { s.Keep = filepath.Join(t.TempDir(), "keep") }, "build the keep binary first: make build"},
		{"keep not ELF", func(t *testing.T, s *Spec) { writeFile(t, s.Keep, []byte("#!/bin/sh\n")) }, "not an ELF executable"},
		{"keep dynamic", func(t *testing.T, s *Spec) { writeFile(t, s.Keep, fakeELF("/lib64/ld-linux-x86-64.so.2")) }, "CGO_ENABLED=0"},
		{"no config", func(t *testing.T, s *Spec) { s.Config = "" }, "no default config"},
		{"config missing", func(t *testing.T, s *Spec) { os.Remove(s.Config) }, "default config:"},
		{"config not YAML", func(t *testing.T, s *Spec) { writeFile(t, s.Config, []byte("a: [\n")) }, "is not a YAML mapping"},
		{"no module tree", func(t *testing.T, s *Spec) { s.ModulesDir = "" }, "no module tree"},
		{"module tree missing", func(t *testing.T, s *Spec) { s.ModulesDir = filepath.Join(t.TempDir(), "6.1") }, "module tree:"},
		{"unknown module", func(t *testing.T, s *Spec) { s.Modules = append(s.Modules, "floppyx") }, "unknown module: floppyx"},
		{"module file missing", func(t *testing.T, s *Spec) {
			os.Remove(filepath.Join(s.ModulesDir, "kernel/drivers/md/raid1.ko"))
		}, "module raid1:"},
		{"no output", func(t *testing.T, s *Spec) { s.Output = "" }, "no output path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeSpec(t)
			tt.breakSpec(t, &s)
			_, err := Build(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if s.Output != "" {
				if _, err := os.Stat(path.Dir(s.Output)); err == nil {
					t.Errorf("output directory created despite the error")
				}
			}
		})
	}
}

func TestResultString(t *testing.T) {
	r := Result{Path: "build/keep.img", RawBytes: 15 << 20, CompressedBytes: 4300000, Modules: 87, ModuleBytes: 8 << 20}
	want := "image build/keep.img: 4.1 MiB zstd (15.0 MiB raw), 87 modules (8.0 MiB), 0 tool files (0.0 MiB)"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	r.Test, r.Tools, r.ToolBytes = true, 9, 4<<20
	want = "test image build/keep.img: 4.1 MiB zstd (15.0 MiB raw), 87 modules (8.0 MiB), 9 tool files (4.0 MiB)"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
