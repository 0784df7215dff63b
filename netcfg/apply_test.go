package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// fakeNet is an in-memory kernel: links by name with flags, MTU,
// addresses and a route table.
type fakeNet struct {
	links  map[string]*netlink.Dummy
	addrs  map[string][]netlink.Addr
	routes []string
	calls  []string
	// appearAfter makes a link show up only after that many lookups.
	appearAfter map[string]int
	addErr      error
}

func newFakeNet(names ...string) *fakeNet {
	f := &fakeNet{links: map[string]*netlink.Dummy{}, addrs: map[string][]netlink.Addr{}, appearAfter: map[string]int{}}
	for i, n := range names {
		f.links[n] = &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: n, Index: i + 1, MTU: 1500}}
	}
	return f
}

func (f *fakeNet) LinkByName(name string) (netlink.Link, error) {
	if n := f.appearAfter[name]; n > 0 {
		f.appearAfter[name] = n - 1
		return nil, netlink.LinkNotFoundError{}
	}
	l, ok := f.links[name]
	if !ok {
		return nil, netlink.LinkNotFoundError{}
	}
	return l, nil
}
func (f *fakeNet) LinkSetUp(l netlink.Link) error {
	f.calls = append(f.calls, "up "+l.Attrs().Name)
	f.links[l.Attrs().Name].Flags |= net.FlagUp
	return nil
}
func (f *fakeNet) LinkSetMTU(l netlink.Link, mtu int) error {
	f.calls = append(f.calls, fmt.Sprintf("mtu %s %d", l.Attrs().Name, mtu))
	f.links[l.Attrs().Name].MTU = mtu
	return nil
}
func (f *fakeNet) AddrList(l netlink.Link, family int) ([]netlink.Addr, error) {
	return f.addrs[l.Attrs().Name], nil
}
func (f *fakeNet) AddrAdd(l netlink.Link, a *netlink.Addr) error {
	if f.addErr != nil {
		return f.addErr
	}
	f.calls = append(f.calls, "addr "+l.Attrs().Name+" "+a.IPNet.String())
	f.addrs[l.Attrs().Name] = append(f.addrs[l.Attrs().Name], *a)
	return nil
}
func (f *fakeNet) AddrReplace(l netlink.Link, a *netlink.Addr) error {
	name := l.Attrs().Name
	f.calls = append(f.calls, fmt.Sprintf("replace %s %s lft %d", name, a.IPNet, a.ValidLft))
	for i, have := range f.addrs[name] {
		if have.IPNet.String() == a.IPNet.String() {
			f.addrs[name][i] = *a
			return nil
		}
	}
	f.addrs[name] = append(f.addrs[name], *a)
	return nil
}
func (f *fakeNet) AddrDel(l netlink.Link, a *netlink.Addr) error {
	name := l.Attrs().Name
	f.calls = append(f.calls, "del "+name+" "+a.IPNet.String())
	kept := f.addrs[name][:0]
	for _, have := range f.addrs[name] {
		if have.IPNet.String() != a.IPNet.String() {
			kept = append(kept, have)
		}
	}
	f.addrs[name] = kept
	return nil
}
func (f *fakeNet) RouteReplace(r *netlink.Route) error {
	f.calls = append(f.calls, fmt.Sprintf("route %v via %v dev %d", r.Dst, r.Gw, r.LinkIndex))
	return nil
}

func eth0() Ethernet {
	return Ethernet{
		Name:      "eth0",
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")},
		Routes:    []Route{{Via: netip.MustParseAddr("10.0.2.2")}, {To: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("10.0.2.3")}},
		MTU:       1400,
	}
}

func TestApplyThenReapplyIsIdempotent(t *testing.T) {
	f := newFakeNet("lo", "eth0")
	a := Applier{H: f, LinkWait: time.Second, Poll: time.Millisecond}
	changes, err := a.Apply(context.Background(), []Ethernet{eth0()})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{
		"up lo", "mtu eth0 1400", "up eth0", "addr eth0 10.0.2.15/24",
		"route <nil> via 10.0.2.2 dev 2", "route 192.0.2.0/24 via 10.0.2.3 dev 2",
	}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Fatalf("calls:\n got %q\nwant %q", f.calls, wantCalls)
	}
	if len(changes) != 6 {
		t.Errorf("changes = %v", changes)
	}
	f.calls = nil
	changes, err = a.Apply(context.Background(), []Ethernet{eth0()})
	if err != nil {
		t.Fatal(err)
	}
	// Routes are replaced (a no-op for the kernel when equal); nothing else.
	for _, c := range f.calls {
		if c[:5] != "route" {
			t.Errorf("second apply changed %q", c)
		}
	}
	for _, c := range changes {
		if c.What[:5] != "route" {
			t.Errorf("second apply reported %v", c)
		}
	}
}

func TestApplyWaitsForLateLink(t *testing.T) {
	f := newFakeNet("lo", "eth0")
	f.appearAfter["eth0"] = 3
	a := Applier{H: f, LinkWait: 10 * time.Second, Poll: time.Millisecond}
	if _, err := a.Apply(context.Background(), []Ethernet{{Name: "eth0"}}); err != nil {
		t.Fatalf("late link: %v", err)
	}
}

func TestApplyMissingLinkNamesIt(t *testing.T) {
	f := newFakeNet("lo")
	a := Applier{H: f, LinkWait: 5 * time.Millisecond, Poll: time.Millisecond}
	_, err := a.Apply(context.Background(), []Ethernet{{Name: "eth7"}})
	if !errors.Is(err, ErrNoLink) || err.Error()[:5] != "eth7:" {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyReportsKernelErrors(t *testing.T) {
	f := newFakeNet("lo", "eth0")
	f.addErr = errors.New("permission denied")
	a := Applier{H: f, LinkWait: time.Second, Poll: time.Millisecond}
	_, err := a.Apply(context.Background(), []Ethernet{eth0()})
	if err == nil || err.Error() != "eth0: add address 10.0.2.15/24: permission denied" {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckFindsDrift(t *testing.T) {
	f := newFakeNet("lo", "eth0")
	e := eth0()
	if err := Check(f, Ethernet{Name: "eth9"}); !errors.Is(err, ErrNoLink) {
		t.Errorf("missing link: %v", err)
	}
	if err := Check(f, e); err == nil || err.Error() != "link is down" {
		t.Errorf("down link: %v", err)
	}
	a := Applier{H: f, LinkWait: time.Second, Poll: time.Millisecond}
	if _, err := a.Apply(context.Background(), []Ethernet{e}); err != nil {
		t.Fatal(err)
	}
	if err := Check(f, e); err != nil {
		t.Errorf("after apply: %v", err)
	}
	f.addrs["eth0"] = nil
	if err := Check(f, e); err == nil || err.Error() != "address 10.0.2.15/24 is missing" {
		t.Errorf("lost address: %v", err)
	}
}
