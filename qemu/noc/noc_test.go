package noc

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The base image holds the programs, plugins, dlopened libraries and module
// closure the documentation promises, and a second build reuses the file.
func TestImageContents(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the host's strongSwan and module tree; skipped with -short")
	}
	img, err := BuildImage(context.Background(), ImageSpec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %.1f MiB raw, %d manifest entries, %d boot modules, ping=%s", img.Path, float64(img.Bytes)/(1<<20), len(img.Manifest), len(img.Modules), img.Ping)
	has := map[string]bool{}
	for _, m := range img.Manifest {
		has[m] = true
	}
	for _, want := range []string{
		"/init", "/sbin/modprobe", "/usr/bin/ping", "/usr/sbin/charon-systemd", "/usr/sbin/swanctl", "/usr/bin/pki",
		"/usr/bin/ip", "/usr/sbin/nft", "/usr/bin/tcpdump", "/usr/bin/bash",
		"/usr/lib/ipsec/libcharon.so.0", "/usr/lib/ipsec/libstrongswan.so.0", "/usr/lib/ipsec/libvici.so.0",
		"/usr/lib/ipsec/plugins/libstrongswan-kernel-netlink.so", "/usr/lib/ipsec/plugins/libstrongswan-kdf.so",
		"/usr/lib/ipsec/plugins/libstrongswan-openssl.so", "/usr/lib/ipsec/plugins/libstrongswan-gcm.so",
		"/usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so",
		"/lib64/ld-linux-x86-64.so.2", "/etc/strongswan.conf", "/etc/passwd", ModuleListPath,
	} {
		if !has[want] {
			t.Errorf("image lacks %s", want)
		}
	}
	var libcrypto bool
	for _, m := range img.Manifest {
		libcrypto = libcrypto || strings.HasSuffix(m, "/libcrypto.so.3")
	}
	if !libcrypto {
		t.Error("image lacks libcrypto.so.3 (openssl plugin's closure)")
	}
	mods := strings.Join(img.Modules, " ")
	for _, m := range []string{"xfrm_user", "esp4", "xfrm_interface", "gcm", "ghash_generic", "seqiv", "ctr", "drbg",
		"nf_tables", "nft_chain_nat", "nft_masq", "veth", "tun", "virtio_console", "virtio_net"} {
		if !strings.Contains(" "+mods+" ", " "+m+" ") {
			t.Errorf("boot module list lacks %s: %s", m, mods)
		}
	}
	// Memoised in-process; the file on disk is current.
	again, err := BuildImage(context.Background(), ImageSpec{})
	if err != nil || again.Hash != img.Hash {
		t.Fatalf("second build: %v, hash %s vs %s", err, again.Hash, img.Hash)
	}
}

// One guest: the agent runs scripts with their output and exit status,
// files go in before boot and in and out afterwards, the ESP/XFRM modules
// are loaded, and Stop powers the guest off so QEMU exits 0.
func TestBootAndRun(t *testing.T) {
	vm := Boot(t, Options{
		Name: "noc1",
		Files: []File{
			{Path: "/noc/hello.txt", Data: []byte("hello from the host\n")},
			// A later archive replaces an image file.
			{Path: "/etc/hosts", Data: []byte("127.0.0.1 localhost\n203.0.113.1 noc.example.net\n")},
		},
	})
	if got := vm.MustRun(t, "grep -c noc.example.net /etc/hosts; grep -c 'load = random' /etc/strongswan.conf"); got != "1\n1\n" {
		t.Errorf("overlay replacing /etc/hosts, keeping strongswan.conf: %q", got)
	}
	out := vm.MustRun(t, "cat /noc/hello.txt; cat /proc/sys/kernel/hostname; echo err >&2")
	if out != "hello from the host\nnoc1\n" {
		t.Errorf("stdout %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := vm.Run(ctx, "echo out; echo oops >&2; exit 7")
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 7 || r.Stdout != "out\n" || r.Stderr != "oops\n" {
		t.Errorf("run: %s", r)
	}
	// A background daemon does not hold the request open.
	start := time.Now()
	vm.MustRun(t, "sleep 300 >/dev/null 2>&1 & echo started")
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("backgrounded sleep held the request for %v", d)
	}
	// A guest-side timeout kills the script.
	tctx, tcancel := context.WithTimeout(ctx, 4*time.Second)
	r, err = vm.Run(tctx, "sleep 60")
	tcancel()
	if err != nil || !r.TimedOut || r.Exit != 128+9 {
		t.Errorf("timeout: %v %s", err, r)
	}
	if err := vm.WriteFile(ctx, "/run/x/y.conf", []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := vm.MustRun(t, "stat -c %a /run/x/y.conf; cat /run/x/y.conf"); got != "600\nabc" {
		t.Errorf("written file: %q", got)
	}
	b, err := vm.ReadFile(ctx, "/etc/noc/modules")
	if err != nil || !strings.Contains(string(b), "esp4") {
		t.Errorf("read modules list: %v %q", err, b)
	}
	if _, err := vm.ReadFile(ctx, "/nonexistent"); err == nil {
		t.Error("reading a missing file succeeded")
	}
	lsmod := vm.MustRun(t, "cat /proc/modules | cut -d' ' -f1")
	for _, m := range []string{"xfrm_user", "esp4", "xfrm_interface", "nf_tables", "veth"} {
		if !strings.Contains(lsmod, m+"\n") {
			t.Errorf("module %s not loaded:\n%s", m, lsmod)
		}
	}
	vm.MustRun(t, "ping -c 1 -W 2 127.0.0.1 | grep -q '1 received'")
	vm.MustRun(t, "nft add table inet t && nft add chain inet t post '{ type nat hook postrouting priority 100; }' && nft add rule inet t post masquerade")
	vm.MustRun(t, "ip link add v0 type veth peer name v1 && ip link add xfrm9 type xfrm dev lo if_id 9 && ip -d link show xfrm9 | grep -q 'if_id 0x9'")
	vm.MustRun(t, "swanctl --version && charon-systemd --version 2>&1 | head -1; pki --help >/dev/null 2>&1; tcpdump --version")
	if err := vm.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-vm.QEMU().Exited():
	default:
		t.Fatal("QEMU still running after Stop")
	}
}
