package xfrm_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"keep/ipsec/xfrm"
	"keep/ipsec/xfrm/xfrmtest"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	noc    = netip.MustParseAddr("203.0.113.1")
	vault  = netip.MustParseAddr("203.0.113.2")
	nocNet = netip.MustParsePrefix("10.1.0.0/24")
	lanNet = netip.MustParsePrefix("10.2.0.0/24")
)

const reqid = 0x4b450001

// open makes a fresh namespace and an adapter in it.
func open(t *testing.T) (*xfrm.Netlink, netns.NsHandle) {
	t.Helper()
	ns := xfrmtest.NewNetNS(t)
	k, err := xfrm.Open(xfrm.Options{NetNS: ns})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k, ns
}

func tunnel(r uint32) []xfrm.Policy {
	out := xfrm.Policy{Selector: xfrm.Selector{Src: lanNet, Dst: nocNet}, Dir: xfrm.DirOut, Priority: 1000,
		Templates: []xfrm.Template{{Src: vault, Dst: noc, Reqid: r}}}
	in := xfrm.Policy{Selector: xfrm.Selector{Src: nocNet, Dst: lanNet}, Dir: xfrm.DirIn, Priority: 1000,
		Templates: []xfrm.Template{{Src: noc, Dst: vault, Reqid: r}}}
	fwd := in
	fwd.Dir = xfrm.DirFwd
	return []xfrm.Policy{out, in, fwd}
}

func TestNetlinkPolicies(t *testing.T) {
	k, ns := open(t)
	ctx := context.Background()
	block := xfrm.BlockPolicy(nocNet, xfrm.DefaultOwner().PriorityMin)
	block6 := xfrm.BlockPolicy(netip.MustParsePrefix("2001:db8:1::/48"), xfrm.DefaultOwner().PriorityMin)
	want := append([]xfrm.Policy{block, block6}, tunnel(reqid)...)
	for _, p := range want {
		if err := k.AddPolicy(ctx, p); err != nil {
			t.Fatalf("AddPolicy %s: %v", p, err)
		}
	}
	if err := k.AddPolicy(ctx, tunnel(reqid)[0]); !errors.Is(err, xfrm.ErrExists) {
		t.Fatalf("duplicate: %v, want ErrExists", err)
	}
	if err := k.AddPolicy(ctx, tunnel(7)[0]); !errors.Is(err, xfrm.ErrNotOwned) {
		t.Fatalf("foreign reqid: %v, want ErrNotOwned", err)
	}
	got, err := k.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d policies, want %d: %v", len(got), len(want), got)
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(g xfrm.Policy) bool { return g.ID() == w.ID() })
		if i < 0 {
			t.Fatalf("policy %s not listed in %v", w, got)
		}
		g := got[i]
		if g.Action != w.Action || g.Priority != w.Priority || !slices.Equal(g.Templates, w.Templates) {
			t.Fatalf("read back %s (templates %v), want %s (templates %v)", g, g.Templates, w, w.Templates)
		}
	}

	// A foreign policy (another IKE daemon's, reqid 7) survives Flush.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, dst, _ := net.ParseCIDR("192.0.2.0/24")
	_, src, _ := net.ParseCIDR("10.2.0.0/24")
	foreign := &netlink.XfrmPolicy{Src: src, Dst: dst, Dir: netlink.XFRM_DIR_OUT, Priority: 5,
		Tmpls: []netlink.XfrmPolicyTmpl{{Src: net.ParseIP("203.0.113.2"), Dst: net.ParseIP("203.0.113.9"), Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Reqid: 7}}}
	if err := h.XfrmPolicyAdd(foreign); err != nil {
		t.Fatal(err)
	}
	if err := k.DeletePolicy(ctx, tunnel(reqid)[1].ID()); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	if err := k.DeletePolicy(ctx, tunnel(reqid)[1].ID()); !errors.Is(err, xfrm.ErrNotFound) {
		t.Fatalf("DeletePolicy twice: %v, want ErrNotFound", err)
	}
	_, npol, err := k.Flush(ctx)
	if err != nil || npol != len(want)-1 {
		t.Fatalf("Flush: %d policies, %v", npol, err)
	}
	all, err := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Tmpls[0].Reqid != 7 {
		t.Fatalf("after Flush the kernel holds %d policies, want only the foreign one", len(all))
	}
}

func writeSysctl(t *testing.T, ns netns.NsHandle, path, value string) {
	xfrmtest.InNetNS(t, ns, func() {
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			t.Fatalf("sysctl %s: %v", path, err)
		}
	})
}

// ALLOCSPI works on a kernel without ESP, and the larval SA it leaves
// expires after net.core.xfrm_acq_expires with a hard-expire event: the
// real kernel event path, exercised without ESP.
func TestNetlinkAllocSPIExpires(t *testing.T) {
	k, ns := open(t)
	writeSysctl(t, ns, "/proc/sys/net/core/xfrm_acq_expires", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events, err := k.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := uint32(reqid + 1)
	spi, err := k.AllocSPI(ctx, noc, vault, xfrm.ProtoESP, r)
	if err != nil {
		t.Fatalf("AllocSPI: %v", err)
	}
	spi2, err := k.AllocSPI(ctx, noc, vault, xfrm.ProtoESP, r+1)
	if err != nil || spi2 == spi || spi2 < 0x100 {
		t.Fatalf("AllocSPI: %x %v", spi2, err)
	}
	if _, err := k.AllocSPI(ctx, noc, vault, xfrm.ProtoESP, 3); !errors.Is(err, xfrm.ErrNotOwned) {
		t.Fatalf("foreign reqid: %v", err)
	}
	ids, err := k.SAs(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("SAs after AllocSPI: %v %v", ids, err)
	}
	if _, err := k.SAStats(ctx, xfrm.SAID{Dst: vault, SPI: spi}); err != nil {
		t.Fatalf("SAStats of larval SA: %v", err)
	}
	id2 := xfrm.SAID{Src: noc, Dst: vault, SPI: spi2}
	if err := k.DeleteSA(ctx, id2); err != nil {
		t.Fatalf("DeleteSA larval: %v", err)
	}
	if err := k.DeleteSA(ctx, id2); !errors.Is(err, xfrm.ErrNotFound) {
		t.Fatalf("DeleteSA twice: %v, want ErrNotFound", err)
	}
	start := time.Now()
	select {
	case ev := <-events:
		want := xfrm.Event{Kind: xfrm.EventHardExpire, SA: xfrm.SAID{Src: noc, Dst: vault, SPI: spi}, Reqid: r}
		if ev != want {
			t.Fatalf("event %v, want %v", ev, want)
		}
		t.Logf("hard expire of larval SA after %v", time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("no expire event for the larval SA")
	}
	if ids, _ := k.SAs(ctx); len(ids) != 0 {
		t.Fatalf("SAs after expire: %v", ids)
	}
	// The channel closes when the context ends.
	cancel()
	for range events {
	}
}

// The full SA path: on this host it must end in the typed errors; in the
// QEMU guest (KEEP_XFRM_ESP=yes) it must succeed.
func TestNetlinkSAPath(t *testing.T) {
	k, _ := open(t)
	xfrmtest.SAPath(t, k, xfrmtest.ExpectedSupport())
}

// setupVeth gives ns a veth with 192.0.2.1/24 whose peer has no address,
// so 192.0.2.2 is routed out of v0 (not local, so XFRM policies apply).
func setupVeth(t *testing.T, ns netns.NsHandle) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}
	if err := h.LinkAdd(v); err != nil {
		t.Fatalf("veth: %v", err)
	}
	addr, _ := netlink.ParseAddr("192.0.2.1/24")
	if err := h.AddrAdd(v, addr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"v0", "v1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// The fail-closed block policy drops outbound traffic, and a bypassed
// socket still gets through: the IKE socket keeps working while the tunnel
// is down and a block policy covers the peer.
func TestNetlinkBlockAndBypass(t *testing.T) {
	k, ns := open(t)
	ctx := context.Background()
	setupVeth(t, ns)
	var plain, ike, ike6 *net.UDPConn
	xfrmtest.InNetNS(t, ns, func() {
		var err error
		if plain, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)}); err != nil {
			t.Fatal(err)
		}
		if ike, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 500}); err != nil {
			t.Fatal(err)
		}
		// Go's "udp" wildcard socket is a dual-stack AF_INET6 socket.
		if ike6, err = net.ListenUDP("udp", &net.UDPAddr{Port: 4500}); err != nil {
			t.Fatal(err)
		}
	})
	defer plain.Close()
	defer ike.Close()
	defer ike6.Close()
	peer := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 500}
	if _, err := plain.WriteToUDP([]byte("before"), peer); err != nil {
		t.Fatalf("send before block: %v", err)
	}
	block := xfrm.BlockPolicy(netip.MustParsePrefix("0.0.0.0/0"), xfrm.DefaultOwner().PriorityMin)
	if err := k.AddPolicy(ctx, block); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.WriteToUDP([]byte("leak"), peer); !errors.Is(err, unix.EPERM) {
		t.Fatalf("send under block policy: %v, want EPERM", err)
	}
	if err := k.BypassSocket(ike); err != nil {
		t.Fatalf("BypassSocket: %v", err)
	}
	if err := k.BypassSocket(ike6); err != nil {
		t.Fatalf("BypassSocket (IPv6): %v", err)
	}
	if _, err := ike.WriteToUDP([]byte("ike"), peer); err != nil {
		t.Fatalf("send on bypassed socket under block policy: %v", err)
	}
	if _, err := ike6.WriteToUDP([]byte("ike"), peer); err != nil {
		t.Fatalf("send on bypassed IPv6 socket (v4-mapped) under block policy: %v", err)
	}
	// The kernel lists them as socket policies; Keep's listing skips them.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	all, err := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	sock := map[netlink.Dir]int{}
	for _, p := range all {
		if p.Dir >= netlink.XFRM_SOCKET_IN {
			sock[p.Dir]++
		}
	}
	if sock[netlink.XFRM_SOCKET_IN] != 2 || sock[netlink.XFRM_SOCKET_OUT] != 2 {
		t.Fatalf("socket policies in the kernel: %v, want 2 in and 2 out", sock)
	}
	ps, err := k.Policies(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("Policies: %v %v", ps, err)
	}
	// Tunnel down, block kept: plaintext still cannot leave.
	if _, err := plain.WriteToUDP([]byte("leak"), peer); !errors.Is(err, unix.EPERM) {
		t.Fatalf("send under block policy: %v, want EPERM", err)
	}
}

func TestNetlinkUDPEncap(t *testing.T) {
	_, ns := open(t)
	var c *net.UDPConn
	xfrmtest.InNetNS(t, ns, func() {
		var err error
		if c, err = net.ListenUDP("udp", &net.UDPAddr{Port: 4500}); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	if err := xfrm.EnableUDPEncap(c); err != nil {
		t.Fatalf("EnableUDPEncap: %v", err)
	}
	rc, _ := c.SyscallConn()
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_ENCAP) })
	if gerr != nil || v != unix.UDP_ENCAP_ESPINUDP {
		t.Fatalf("UDP_ENCAP reads back %d (%v), want %d", v, gerr, unix.UDP_ENCAP_ESPINUDP)
	}
	var tcp *net.TCPListener
	xfrmtest.InNetNS(t, ns, func() {
		var err error
		if tcp, err = net.ListenTCP("tcp", &net.TCPAddr{}); err != nil {
			t.Fatal(err)
		}
	})
	defer tcp.Close()
	if err := xfrm.EnableUDPEncap(tcp); !errors.Is(err, xfrm.ErrInvalid) {
		t.Fatalf("EnableUDPEncap on TCP: %v, want ErrInvalid", err)
	}
}

// The zero Options work in the caller's namespace (read-only here: the
// host's own SPD is listed, never changed).
func TestNetlinkOpenCurrentNS(t *testing.T) {
	xfrmtest.RequireRoot(t)
	k, err := xfrm.Open(xfrm.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer k.Close()
	if _, err := k.Policies(context.Background()); err != nil {
		t.Fatalf("Policies in the current namespace: %v", err)
	}
}
