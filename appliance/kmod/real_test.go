package kmod

import (
	"os"
	"slices"
	"testing"
)

// realModulesDir returns the Debian module tree the firmware is built for:
// $KEEP_MODULES_DIR, else the pinned kernel's. Outside CI a missing tree
// skips; in CI (CI=true) it fails, so the check cannot silently vanish.
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

// TestRealTree checks known facts of the Debian 6.1 module tree: the closure
// of the modules the appliance needs and the aliases the kernel requests.
func TestRealTree(t *testing.T) {
	db, err := OpenDir(realModulesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	closure, err := db.Closure("raid456", "ipmi_si", "ipmi_devintf", "esp4", "xfrm_user", "nvme", "bonding")
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range closure {
		if _, dup := pos[m.Name]; dup {
			t.Errorf("%s appears twice", m.Name)
		}
		pos[m.Name] = i
	}
	for _, m := range closure {
		for _, d := range m.Deps {
			if pos[d] >= pos[m.Name] {
				t.Errorf("%s loads before its dependency %s", m.Name, d)
			}
		}
	}
	before := [][2]string{
		{"raid6_pq", "raid456"}, {"async_tx", "raid456"}, {"libcrc32c", "raid456"}, {"md_mod", "raid456"},
		{"crc32c_generic", "libcrc32c"}, {"crc32c_intel", "libcrc32c"}, // softdep libcrc32c pre: crc32c
		{"ipmi_msghandler", "ipmi_devintf"}, {"ipmi_devintf", "ipmi_si"}, // softdep ipmi_msghandler post: ipmi_devintf
		{"xfrm_algo", "xfrm_user"}, {"crc_t10dif", "nvme"}, {"crct10dif_pclmul", "crc_t10dif"},
	}
	for _, b := range before {
		i, ok1 := pos[b[0]]
		j, ok2 := pos[b[1]]
		if !ok1 || !ok2 || i >= j {
			t.Errorf("want %s (at %d, %v) before %s (at %d, %v)", b[0], i, ok1, b[1], j, ok2)
		}
	}
	aliases := map[string][]string{
		"net-pf-16-proto-6": {"xfrm_user"},
		"xfrm-type-2-50":    {"esp4"},
		"rtnl-link-bond":    {"bonding"},
		"crypto-stdrng":     {"ansi_cprng", "drbg"},
		"md-level-6":        {"raid456"},
		"crypto-crc32c":     {"crc32c_intel", "crc32c_generic"},
		"crypto-hmac":       {"hmac"}, // built-in, via modules.builtin.modinfo
		"acpi:IPI0001:":     {"ipmi_si", "ipmi_ssif"},
	}
	for alias, want := range aliases {
		if got, err := db.Resolve(alias); err != nil || !slices.Equal(got, want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", alias, got, err, want)
		}
	}
	if m, ok := db.Module("cbc"); !ok || !m.Builtin {
		t.Errorf("cbc = %+v, %v; want built-in", m, ok)
	}
}
