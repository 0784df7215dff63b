package noc

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestXfrmInGuest runs the ipsec/xfrm package's own kernel test on
// Debian's 6.1 kernel, where ESP and xfrm interfaces exist: a static test
// binary (go test -c, CGO_ENABLED=0) put into the guest and run with
// KEEP_XFRM_ESP=yes, so a missing ESP fails instead of being accepted.
// It also answers, with ifidprobe, whether UpdateSA completes an AllocSPI
// larval SA when the update carries an if_id.
func TestXfrmInGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU; skipped with -short")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := t.TempDir()
	xfrmTest := filepath.Join(bin, "xfrm.test")
	if err := GoTestBinary(ctx, root, "./ipsec/xfrm", xfrmTest); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(bin, "ifidprobe")
	if err := GoBuild(ctx, root, "./qemu/noc/internal/ifidprobe", probe); err != nil {
		t.Fatal(err)
	}
	vm := Boot(t, Options{
		Name: "xfrm",
		Files: []File{
			{Path: "/noc/xfrm.test", Source: xfrmTest, Mode: 0o755},
			{Path: "/noc/ifidprobe", Source: probe, Mode: 0o755},
		},
	})

	t.Run("UpdateSAIfID", func(t *testing.T) {
		r, err := vm.Run(ctx, "ip netns add probe && ip netns exec probe /noc/ifidprobe")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ifidprobe:\n%s%s", r.Stdout, r.Stderr)
		if r.Exit != 0 || !strings.Contains(r.Stdout, "result: PASS") {
			t.Fatalf("UpdateSA with if_id of an AllocSPI larval SA: %s", r)
		}
	})

	t.Run("SAPath", func(t *testing.T) {
		r, err := vm.Run(ctx, "cd /noc && ./xfrm.test -test.run '^TestNetlinkSAPath$' -test.v -test.count=1", "KEEP_XFRM_ESP=yes")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("guest xfrm.test (%v):\n%s%s", r.Duration, r.Stdout, r.Stderr)
		if r.Exit != 0 || !strings.Contains(r.Stdout, "--- PASS: TestNetlinkSAPath") {
			t.Fatalf("TestNetlinkSAPath in the guest: exit %d", r.Exit)
		}
		if strings.Contains(r.Stdout, "kernel has no ESP") {
			t.Fatal("the guest kernel reported no ESP")
		}
	})

	// The whole package, for the record: every kernel test of the adapter
	// on a kernel with ESP.
	t.Run("AllNetlinkTests", func(t *testing.T) {
		r, err := vm.Run(ctx, "cd /noc && ./xfrm.test -test.run '^TestNetlink' -test.v -test.count=1", "KEEP_XFRM_ESP=yes")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("guest xfrm.test -test.run ^TestNetlink (%v):\n%s%s", r.Duration, r.Stdout, r.Stderr)
		if r.Exit != 0 {
			t.Fatalf("xfrm netlink tests in the guest: exit %d", r.Exit)
		}
	})
}
