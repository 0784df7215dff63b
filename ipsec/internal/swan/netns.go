// Package swan runs strongSwan 5.9.8 (charon-systemd, driven by swanctl
// over vici) in network namespaces made by the test, as the IKEv2 peer
// Keep's own daemon is tested against: namespaces joined by veth pairs
// (optionally through a NAT namespace doing nft masquerade), generated
// strongswan.conf/swanctl.conf, X.509 material from Go's crypto/x509,
// initiate/terminate/rekey, SA listings parsed into structs, and charon's
// log with millisecond timestamps. Everything a test starts is stopped and
// removed by t.Cleanup, also when the test fails.
//
// On a host kernel without ESP the daemon uses kernel-libipsec (userspace
// ESP over a TUN device, forced into ESP-in-UDP by 5.9.8); set
// Config.KernelESP in the QEMU guest to use the kernel's XFRM instead.
package swan

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tools the harness needs, all from `make deps` (Debian packages
// iproute2, charon-systemd, strongswan-swanctl, nftables).
var tools = []string{"ip", "/usr/sbin/charon-systemd", "swanctl", "nft"}

// RequireTools fails the test unless it runs as root with strongSwan and
// iproute2 installed; under -short it skips instead.
func RequireTools(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if testing.Short() {
		t.Skipf("strongSwan interop needs %s (skipped under -short)", strings.Join(missing, ", "))
	}
	t.Fatalf("strongSwan interop needs %s: run `make deps` (and run the tests as root)", strings.Join(missing, ", "))
}

// NS is a named network namespace (ip netns), so that processes can be
// started in it with `ip netns exec`.
type NS struct {
	Name string
}

var nsSeq atomic.Int64

// NewNS creates a namespace with loopback up. Cleanup kills every process
// left in it and deletes it.
func NewNS(t testing.TB, role string) *NS {
	t.Helper()
	RequireTools(t)
	ns := &NS{Name: fmt.Sprintf("kswan-%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)}
	run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { ns.destroy(t) })
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

func (ns *NS) destroy(t testing.TB) {
	for i := 0; i < 50; i++ {
		out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
	}
}

// Command returns a command that runs in the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Link joins a and b with a veth pair named aIf (in a) and bIf (in b),
// addresses them and sets both ends up.
func Link(t testing.TB, a *NS, aIf string, aAddr netip.Prefix, b *NS, bIf string, bAddr netip.Prefix) {
	t.Helper()
	run(t, "ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	for _, e := range []struct {
		ns   *NS
		ifc  string
		addr netip.Prefix
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		e.ns.MustRun(t, "ip", "addr", "add", e.addr.String(), "dev", e.ifc)
		e.ns.MustRun(t, "ip", "link", "set", e.ifc, "up")
	}
}

// Topology is the test network: the NOC and the vault, each with a LAN
// prefix whose first address sits on its loopback (so policies and
// routes for the LAN have a local source), and optionally a NAT between
// them.
//
//	direct: vault 203.0.113.2/24 (wan) <-> NOC 203.0.113.1/24 (wan)
//	NAT:    vault 192.168.0.2/24 <-> 192.168.0.1 NAT 203.0.113.254 <-> NOC 203.0.113.1/24
//
// The NAT masquerades UDP to ports 40000-40999, so the vault's port 500
// and 4500 are remapped, as a carrier-grade NAT would.
type Topology struct {
	NOC, Vault, NAT *NS
	NOCAddr         netip.Addr // the NOC's WAN address
	VaultAddr       netip.Addr // the vault's own address (private behind the NAT)
	NOCLAN          netip.Prefix
	VaultLAN        netip.Prefix
}

// NewTopology builds the namespaces; nat puts the NAT namespace between
// the vault and the NOC.
func NewTopology(t testing.TB, nat bool) *Topology {
	t.Helper()
	tp := &Topology{
		NOC:      NewNS(t, "noc"),
		Vault:    NewNS(t, "vault"),
		NOCAddr:  netip.MustParseAddr("203.0.113.1"),
		NOCLAN:   netip.MustParsePrefix("10.1.0.0/24"),
		VaultLAN: netip.MustParsePrefix("10.2.0.0/24"),
	}
	if !nat {
		tp.VaultAddr = netip.MustParseAddr("203.0.113.2")
		Link(t, tp.NOC, "wan", netip.MustParsePrefix("203.0.113.1/24"), tp.Vault, "wan", netip.MustParsePrefix("203.0.113.2/24"))
	} else {
		tp.NAT = NewNS(t, "nat")
		tp.VaultAddr = netip.MustParseAddr("192.168.0.2")
		Link(t, tp.Vault, "wan", netip.MustParsePrefix("192.168.0.2/24"), tp.NAT, "lan", netip.MustParsePrefix("192.168.0.1/24"))
		Link(t, tp.NAT, "wan", netip.MustParsePrefix("203.0.113.254/24"), tp.NOC, "wan", netip.MustParsePrefix("203.0.113.1/24"))
		tp.Vault.MustRun(t, "ip", "route", "add", "default", "via", "192.168.0.1")
		tp.NAT.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		rules := `table ip keepnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" meta l4proto udp masquerade to :40000-40999
    oifname "wan" masquerade
  }
}
`
		cmd := tp.NAT.Command(context.Background(), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s: %v: %s", tp.NAT.Name, err, out)
		}
	}
	tp.NOC.MustRun(t, "ip", "addr", "add", netip.PrefixFrom(tp.NOCLAN.Addr().Next(), 32).String(), "dev", "lo")
	tp.Vault.MustRun(t, "ip", "addr", "add", netip.PrefixFrom(tp.VaultLAN.Addr().Next(), 32).String(), "dev", "lo")
	return tp
}
