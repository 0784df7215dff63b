package netcfg

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The tests in this file apply configurations to the real kernel, in a
// throwaway network namespace, with veth pairs standing in for ports.
// They need root (CAP_NET_ADMIN) and fail when they cannot run; `go
// test -short` skips them. The host kernel they were written on has
// neither bonding nor 8021q nor dummy, so bonds and VLANs are proven
// against the fake kernel here and in the QEMU scenarios, not on the
// host.

// hostNetns returns a route netlink handle in a new, empty network
// namespace that disappears with the test, and the namespace.
func hostNetns(t *testing.T) (*netlink.Handle, netns.NsHandle) {
	t.Helper()
	if testing.Short() {
		t.Skip("applies configurations in a network namespace: skipped under -short only")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create a network namespace (run `go test -short` to leave these tests out)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("current network namespace: %v", err)
	}
	ns, err := netns.New() // moves this thread into it
	if err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so it dies with the test goroutine
		// rather than serving others in the wrong namespace.
		t.Fatalf("back to the original namespace: %v", err)
	}
	runtime.UnlockOSThread()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in the namespace: %v", err)
	}
	t.Cleanup(func() {
		h.Close()
		ns.Close()
		orig.Close()
	})
	return h, ns
}

// veth adds a pair: name with address mac, and its peer.
func veth(t *testing.T, h *netlink.Handle, name string, mac net.HardwareAddr, peer string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.HardwareAddr = name, mac
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: peer}); err != nil {
		t.Fatalf("veth %s/%s: %v", name, peer, err)
	}
}

// steady drops what moves on its own: counters (the kernel sends IPv6
// neighbour discovery) and the order of addresses and routes.
func steady(s Snapshot) Snapshot {
	for i := range s.Links {
		s.Links[i].Counters = LinkStats{}
		slices.Sort(s.Links[i].Addresses)
	}
	slices.SortFunc(s.Routes, func(a, b RouteInfo) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	return s
}

// settled reads the state once the kernel has finished reacting to the
// last changes (linkwatch sets carrier, addrconf adds link-local
// routes, both asynchronously): every open link has carrier and two
// reads 100 ms apart agree.
func settled(t *testing.T, h *netlink.Handle) Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := Take(h)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		b, err := Take(h)
		if err != nil {
			t.Fatal(err)
		}
		a, b = steady(a), steady(b)
		ready := reflect.DeepEqual(a, b)
		for _, l := range b.Links {
			ready = ready && (!l.Up || l.Carrier)
		}
		if ready {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kernel state did not settle: %+v", b)
		}
	}
}

func hostConfigA() Config {
	return Config{Ethernets: map[string]EthernetConfig{
		"lan0": {Match: &Match{MACAddress: "02:00:00:00:00:01"}, SetName: "lan0", Interface: Interface{
			MTU: 1400, Addresses: []string{"192.0.2.10/24", "2001:db8::10/64"},
			Routes: []RouteConfig{
				{To: "default", Via: "192.0.2.1", Metric: 100},
				{To: "203.0.113.0/24", Via: "192.0.2.2", Table: 100},
				{To: "default", Via: "2001:db8::1"},
			}}},
		"lan1": {Match: &Match{Name: "p2"}, SetName: "lan1", Interface: Interface{Addresses: []string{"198.51.100.10/24"}}},
		"q1":   {Interface: Interface{Addresses: []string{"192.0.2.1/24"}}},
		"q2":   {},
	}}
}

func hostBox(t *testing.T) *netlink.Handle {
	h, _ := hostNetns(t)
	veth(t, h, "p1", net.HardwareAddr{2, 0, 0, 0, 0, 1}, "q1")
	veth(t, h, "p2", net.HardwareAddr{2, 0, 0, 0, 0, 2}, "q2")
	return h
}

func TestHostApplyTwiceChangesNothing(t *testing.T) {
	h := hostBox(t)
	a := Applier{H: h, LinkWait: time.Second, Poll: 10 * time.Millisecond}
	want := desired(t, hostConfigA())
	changes, err := a.Apply(context.Background(), want)
	if err != nil {
		t.Fatalf("apply: %v (after %v)", err, changes)
	}
	// The kernel's own view, read with netlink directly.
	lan0, err := h.LinkByName("lan0")
	if err != nil {
		t.Fatalf("lan0: %v", err)
	}
	at := lan0.Attrs()
	if at.HardwareAddr.String() != "02:00:00:00:00:01" || at.MTU != 1400 || at.Flags&net.FlagUp == 0 || !slices.Contains(at.AltNames, "p1") {
		t.Errorf("lan0: mac %s mtu %d flags %v altnames %v", at.HardwareAddr, at.MTU, at.Flags, at.AltNames)
	}
	if _, err := h.LinkByName("lan1"); err != nil {
		t.Errorf("lan1 (matched by name pattern): %v", err)
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 100}, netlink.RT_FILTER_TABLE)
	if err != nil || len(routes) != 1 || routes[0].Dst.String() != "203.0.113.0/24" || !routes[0].Gw.Equal(net.ParseIP("192.0.2.2")) || routes[0].LinkIndex != at.Index {
		t.Errorf("table 100: %+v %v", routes, err)
	}
	v4, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: at.Index}, netlink.RT_FILTER_OIF)
	if err != nil || !slices.ContainsFunc(v4, func(r netlink.Route) bool { return r.Dst == nil || r.Dst.IP.IsUnspecified() && r.Priority == 100 }) {
		t.Errorf("IPv4 default route with metric 100 missing: %+v %v", v4, err)
	}

	p, err := a.Plan(context.Background(), want, nil)
	if err != nil || !p.Empty() {
		t.Fatalf("plan after apply: %v\n%s", err, p)
	}
	before := settled(t, h)
	changes, err = a.Apply(context.Background(), want)
	if err != nil || len(changes) != 0 {
		t.Fatalf("second apply changed %v (err %v)", changes, err)
	}
	if after := settled(t, h); !reflect.DeepEqual(before, after) {
		t.Fatalf("netlink state differs after the second apply:\n%s", snapDiff(before, after))
	}
}

// A configuration that renames the ports differently, moves addresses,
// drops routes and raises the MTU is rolled back by the transaction's
// deadline, and the kernel is as it was.
func TestHostTransactionRollsBack(t *testing.T) {
	h := hostBox(t)
	a := Applier{H: h, LinkWait: time.Second, Poll: 10 * time.Millisecond}
	ca := hostConfigA()
	if _, err := a.Apply(context.Background(), desired(t, ca)); err != nil {
		t.Fatal(err)
	}
	was := settled(t, h)
	cb := Config{Ethernets: map[string]EthernetConfig{
		// lan0 and lan1 swap ports, q1 leaves the configuration.
		"lan0": {Match: &Match{MACAddress: "02:00:00:00:00:02"}, SetName: "lan0", Interface: Interface{MTU: 9000, Addresses: []string{"192.0.2.99/24"}}},
		"lan1": {Match: &Match{MACAddress: "02:00:00:00:00:01"}, SetName: "lan1"},
		"q2":   {Interface: Interface{Addresses: []string{"192.0.2.98/24"}}},
	}}
	fire := make(chan time.Time, 1)
	var got []TxResult
	tx, err := Begin(context.Background(), TxOptions{
		Applier: a, Now: time.Now,
		After:     func(time.Duration) <-chan time.Time { return fire },
		OnOutcome: func(r TxResult) { got = append(got, r) },
	}, ca, cb, 2*time.Minute)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	mid, err := Take(h)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := linkNamed(mid, "lan0"); !ok || l.MAC != "02:00:00:00:00:02" || l.MTU != 9000 || !slices.Equal(l.Addresses, []string{"192.0.2.99/24"}) {
		t.Fatalf("configuration B not applied: lan0 %+v", l)
	}
	fire <- time.Now()
	<-tx.Done()
	if len(got) != 1 || got[0].Outcome != RolledBack {
		t.Fatalf("outcomes %+v", got)
	}
	if back := settled(t, h); !reflect.DeepEqual(was, back) {
		t.Fatalf("the rollback did not restore the kernel state:\n%s", snapDiff(was, back))
	}
}

func linkNamed(s Snapshot, name string) (LinkInfo, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return LinkInfo{}, false
}

// The link monitor sees a port lose its carrier when its peer goes down.
func TestHostMonitorReportsCarrier(t *testing.T) {
	h, ns := hostNetns(t)
	veth(t, h, "p1", net.HardwareAddr{2, 0, 0, 0, 0, 1}, "q1")
	for _, n := range []string{"p1", "q1"} {
		l, _ := h.LinkByName(n)
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan LinkChange, 64)
	errc := make(chan error, 1)
	go func() {
		errc <- monitorLinks(ctx, &ns, func(c LinkChange) { changes <- c }, func(err error) { t.Errorf("monitor: %v", err) })
	}()
	deadline := time.After(5 * time.Second)
	// Both ends are reported, and gain carrier (the kernel's linkwatch
	// sets the operational state up to a second after the link is up).
	carrier := map[string]bool{}
	for !carrier["p1"] || !carrier["q1"] {
		select {
		case c := <-changes:
			carrier[c.New.Name] = c.New.Carrier
		case <-deadline:
			t.Fatalf("the monitor did not report both ends with carrier: %v", carrier)
		}
	}
	q1, _ := h.LinkByName("q1")
	start := time.Now()
	if err := h.LinkSetDown(q1); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case c := <-changes:
			if c.New.Name == "p1" && c.Old.Carrier && !c.New.Carrier {
				if d := time.Since(start); d > time.Second {
					t.Errorf("carrier loss reported after %s", d)
				}
				cancel()
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				return
			}
		case <-deadline:
			t.Fatal("no carrier loss reported for p1")
		}
	}
}
