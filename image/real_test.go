package image

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"

	"keep/appliance/kmod"
)

// realModulesDir returns the pinned kernel's module tree ($KEEP_MODULES_DIR
// or /lib/modules/6.1.0-56-amd64); missing, it skips, or fails with CI=true.
func realModulesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KEEP_MODULES_DIR")
	if dir == "" {
		dir = "/lib/modules/6.1.0-56-amd64"
	}
	if _, err := os.Stat(dir); err != nil {
		if testing.Short() {
			t.Skipf("kernel module tree: %v (skipped under -short only)", err)
		}
		t.Fatalf("kernel module tree: %v (run `make deps`, which installs linux-image-6.1.0-56-amd64, or set KEEP_MODULES_DIR)", err)
	}
	return dir
}

// TestDefaultModulesRealTree computes the closure of DefaultModules on the
// real Debian tree: every entry exists as a loadable module, the closure
// carries the known dependencies, and the filtered index is consistent.
func TestDefaultModulesRealTree(t *testing.T) {
	dir := realModulesDir(t)
	db, err := kmod.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range DefaultModules {
		if m, ok := db.Module(n); !ok || m.Builtin {
			t.Errorf("default module %s: found %v, built-in %v; want a loadable module", n, ok, m.Builtin)
		}
	}
	set, err := selectModules(context.Background(), dir, DefaultModules, DefaultBootModules)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.list) != len(DefaultBootModules) {
		t.Errorf("boot list has %d entries, want %d: %v", len(set.list), len(DefaultBootModules), set.list)
	}
	if _, err := selectModules(context.Background(), dir, []string{"virtio_blk"}, []string{"xfs"}); err == nil {
		t.Error("a boot module outside the image's modules was accepted")
	}
	inImage := map[string]bool{}
	for p := range set.files {
		name, _ := kmod.NameFromPath(p)
		inImage[name] = true
	}
	for _, n := range []string{"raid6_pq", "async_tx", "libcrc32c", "crc32c_generic", "crc32c_intel", "xfrm_algo", "cryptd", "crypto_simd", "scsi_mod", "libata", "nvme_core", "t10_pi", "ipmi_msghandler"} {
		if !inImage[n] {
			t.Errorf("closure lacks %s", n)
		}
	}
	if len(set.files) < 70 || len(set.files) > 90 {
		t.Errorf("%d modules in the image; expected about 76", len(set.files))
	}
	sub, err := kmod.Open(mapFS(set.index))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range sub.Aliases() {
		if !inImage[a.Module] {
			t.Errorf("modules.alias names %s, which the image lacks", a.Module)
		}
	}
	for _, alias := range []string{"net-pf-16-proto-6", "xfrm-type-2-50", "rtnl-link-bond", "rtnl-link-vlan", "crypto-stdrng", "md-level-6", "crypto-sha3-256-generic", "crypto-crc64-rocksoft", "crypto-ctr"} {
		if _, err := sub.Resolve(alias); err != nil {
			t.Errorf("in the image, Resolve(%s): %v", alias, err)
		}
	}
	if got, err := sub.Resolve("acpi:IPI0001:"); err != nil || !slices.Equal(got, []string{"ipmi_si"}) {
		t.Errorf("in the image, Resolve(acpi:IPI0001:) = %v, %v; want only ipmi_si", got, err)
	}
}

// TestBuildRealTree builds the image from the real module tree and checks
// it against the size target (≤ 16 MiB compressed) and the zstd window.
func TestBuildRealTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a full image (seconds): skipped under -short only")
	}
	s := fakeSpec(t)
	s.ModulesDir = realModulesDir(t)
	s.Modules = nil
	s.Output = filepath.Join(t.TempDir(), "keep.img")
	res, err := Build(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.CompressedBytes > 16<<20 {
		t.Errorf("image is %d bytes, over the 16 MiB target", res.CompressedBytes)
	}
	img, err := os.ReadFile(s.Output)
	if err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(img); err != nil {
		t.Fatal(err)
	}
	checkFrameHeader(t, h, int(res.RawBytes))
	_, entries, _ := readImage(t, s.Output)
	rel := filepath.Base(s.ModulesDir)
	if got := string(entries["etc/keep/modules"].data); !strings.HasPrefix(got, "crc64_rocksoft_generic\nvirtio_pci\n") {
		t.Errorf("etc/keep/modules starts %q", got[:min(len(got), 60)])
	}
	if _, ok := entries["lib/modules/"+rel+"/kernel/drivers/md/raid456.ko"]; !ok {
		t.Errorf("raid456.ko not in the image")
	}
}

func mapFS(files map[string][]byte) fstest.MapFS {
	fs := fstest.MapFS{}
	for n, d := range files {
		fs[n] = &fstest.MapFile{Data: d}
	}
	return fs
}
