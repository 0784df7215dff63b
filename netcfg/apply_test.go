package netcfg

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func eth0() Ethernet {
	return Ethernet{
		Name:      "eth0",
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")},
		Routes:    []Route{{Via: netip.MustParseAddr("10.0.2.2")}, {To: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("10.0.2.3")}},
		MTU:       1400,
	}
}

func desired(t *testing.T, c Config) []Ethernet {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("config does not validate: %v", err)
	}
	d, err := c.Desired()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func applier(k *fakeKernel) Applier {
	return Applier{H: k, LinkWait: time.Second, Poll: time.Millisecond}
}

// mutating lists the calls that change something (the fake records
// only those).
func take(t *testing.T, k *fakeKernel) Snapshot {
	t.Helper()
	s, err := Take(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lines(p Plan) []string {
	out := []string{}
	for _, s := range p.Steps {
		out = append(out, s.Link+": "+s.What)
	}
	return out
}

// link is a running link for PlanFor tables.
func li(name, kind string, up bool, mtu int, addrs ...string) LinkInfo {
	if addrs == nil {
		addrs = []string{}
	}
	return LinkInfo{Name: name, Kind: kind, Up: up, MTU: mtu, Addresses: addrs}
}

func withMAC(l LinkInfo, mac, perm string) LinkInfo { l.MAC, l.PermMAC = mac, perm; return l }
func withMaster(l LinkInfo, m string) LinkInfo      { l.Master = m; return l }

func TestPlanFor(t *testing.T) {
	lo := li("lo", "device", true, 65536)
	pfx := netip.MustParsePrefix
	ip := netip.MustParseAddr
	lan0Match := Ethernet{Name: "lan0", Match: &PortMatch{MAC: mac(1)}}
	bond := func(mode string, members ...string) Ethernet {
		return Ethernet{Name: "bond0", Kind: KindBond, Bond: &BondSpec{Mode: mode, Members: members, MIIMon: 100},
			Addresses: []netip.Prefix{pfx("192.0.2.10/24")}}
	}
	member := func(name string) Ethernet { return Ethernet{Name: name, Master: "bond0"} }
	runningBond := func(mode string, up bool) LinkInfo {
		l := li("bond0", "bond", up, 1500)
		l.Bond = &BondInfo{Mode: mode, MIIMon: 100, HashPolicy: "layer2"}
		return l
	}
	tests := []struct {
		name       string
		running    Snapshot
		want, prev []Ethernet
		steps      []string
		err        error
	}{
		{
			name:    "boot: loopback, MTU, up, address, routes",
			running: Snapshot{Links: []LinkInfo{li("lo", "device", false, 65536), li("eth0", "device", false, 1500)}},
			want:    []Ethernet{eth0()},
			steps: []string{"lo: up", "eth0: mtu 1400", "eth0: up", "eth0: address 10.0.2.15/24",
				"eth0: route default via 10.0.2.2", "eth0: route 192.0.2.0/24 via 10.0.2.3"},
		},
		{
			name: "already applied: nothing",
			running: Snapshot{Links: []LinkInfo{lo, li("eth0", "device", true, 1400, "10.0.2.15/24")},
				Routes: []RouteInfo{{To: "default", Via: "10.0.2.2", Dev: "eth0"}, {To: "192.0.2.0/24", Via: "10.0.2.3", Dev: "eth0"}, {To: "10.0.2.0/24", Dev: "eth0"}}},
			want:  []Ethernet{eth0()},
			steps: []string{},
		},
		{
			name: "a route through the wrong gateway is replaced, unknown routes and addresses stay",
			running: Snapshot{Links: []LinkInfo{lo, li("eth0", "device", true, 1400, "10.0.2.15/24", "10.0.2.99/24")},
				Routes: []RouteInfo{{To: "default", Via: "10.0.2.9", Dev: "eth0"}, {To: "192.0.2.0/24", Via: "10.0.2.3", Dev: "eth0"}, {To: "198.51.100.0/24", Via: "10.0.2.4", Dev: "eth0"}}},
			want:  []Ethernet{eth0()},
			steps: []string{"eth0: route default via 10.0.2.2"},
		},
		{
			name:    "metric and table; IPv6 routes get the kernel's 1024",
			running: Snapshot{Links: []LinkInfo{lo, li("eth0", "device", true, 1500, "10.0.2.15/24", "2001:db8::15/64")}, Routes: []RouteInfo{{To: "default", Via: "2001:db8::1", Dev: "eth0", Metric: 1024, IPv6: true}}},
			want: []Ethernet{{Name: "eth0", Addresses: []netip.Prefix{pfx("10.0.2.15/24"), pfx("2001:db8::15/64")}, Routes: []Route{
				{Via: ip("2001:db8::1")}, {Via: ip("10.0.2.2"), Metric: 100, Table: 200}}}},
			steps: []string{"eth0: route default via 10.0.2.2 metric 100 table 200"},
		},
		{
			name:    "rename by permanent MAC (the current one may be a bond's)",
			running: Snapshot{Links: []LinkInfo{lo, withMAC(li("enp1s0", "device", true, 1500), mac(9).String(), mac(1).String()), withMAC(li("enp2s0", "device", false, 1500), mac(1).String(), mac(2).String())}},
			want:    []Ethernet{lan0Match},
			steps:   []string{"enp1s0: down", "enp1s0: rename to lan0", "lan0: altname enp1s0", "lan0: up"},
		},
		{
			name:    "renamed by an earlier apply: matched by name pattern and kept",
			running: Snapshot{Links: []LinkInfo{lo, li("lan1", "device", true, 1500), li("enp3s0", "device", true, 1500)}},
			want:    []Ethernet{{Name: "lan1", Match: &PortMatch{Name: "enp*"}}, {Name: "lan2", Match: &PortMatch{Name: "enp*"}}},
			steps:   []string{"enp3s0: down", "enp3s0: rename to lan2", "lan2: altname enp3s0", "lan2: up"},
		},
		{
			name:    "two ports swap names through a temporary one",
			running: Snapshot{Links: []LinkInfo{lo, withMAC(li("eth0", "device", false, 1500), mac(1).String(), ""), withMAC(li("eth1", "device", false, 1500), mac(2).String(), "")}},
			want:    []Ethernet{{Name: "eth1", Match: &PortMatch{MAC: mac(1)}}, {Name: "eth0", Match: &PortMatch{MAC: mac(2)}}},
			steps:   []string{"eth0: rename to kt0", "eth1: rename to eth0", "kt0: rename to eth1", "eth1: up", "eth0: up"},
		},
		{
			name: "a port named by its kernel name is found by the altname an earlier rename left and renamed back",
			running: Snapshot{Links: []LinkInfo{lo, func() LinkInfo {
				l := li("lan0", "device", true, 1500, "10.0.2.15/24")
				l.AltNames = []string{"enp1s0"}
				return l
			}()}},
			want:  []Ethernet{{Name: "enp1s0"}},
			steps: []string{"lan0: down", "lan0: drop altname enp1s0", "lan0: rename to enp1s0", "enp1s0: up"},
		},
		{
			name: "a name pattern also matches the kernel name kept as altname",
			running: Snapshot{Links: []LinkInfo{lo, func() LinkInfo {
				l := li("lan0", "device", true, 1500)
				l.AltNames = []string{"p2"}
				return l
			}(), func() LinkInfo {
				l := li("lan1", "device", true, 1500)
				l.AltNames = []string{"p1"}
				return l
			}()}},
			want:  []Ethernet{{Name: "lan1", Match: &PortMatch{Name: "p2"}}, {Name: "lan0", Match: &PortMatch{Name: "p1"}}},
			steps: []string{"lan0: down", "lan0: rename to kt0", "lan1: down", "lan1: rename to lan0", "kt0: rename to lan1", "lan1: up", "lan0: up"},
		},
		{
			name: "a target held as another renamed port's kernel name is refused, not looped on",
			running: Snapshot{Links: []LinkInfo{lo, func() LinkInfo {
				l := withMAC(li("lan0", "device", false, 1500), "", mac(1).String())
				l.AltNames = []string{"enp2s0"}
				return l
			}(), func() LinkInfo {
				l := withMAC(li("lan1", "device", false, 1500), "", mac(2).String())
				l.AltNames = []string{"enp1s0"}
				return l
			}()}},
			want: []Ethernet{{Name: "enp1s0", Match: &PortMatch{MAC: mac(1)}}, {Name: "enp2s0", Match: &PortMatch{MAC: mac(2)}}},
			err:  ErrConflict,
		},
		{
			name:    "a pattern selecting two ports is refused",
			running: Snapshot{Links: []LinkInfo{lo, li("enp1s0", "device", false, 1500), li("enp2s0", "device", false, 1500)}},
			want:    []Ethernet{{Name: "lan0", Match: &PortMatch{Name: "enp*"}}},
			err:     ErrConflict,
		},
		{
			name:    "a target name held by an unconfigured interface is refused",
			running: Snapshot{Links: []LinkInfo{lo, withMAC(li("enp1s0", "device", false, 1500), mac(1).String(), ""), li("lan0", "veth", false, 1500)}},
			want:    []Ethernet{lan0Match},
			err:     ErrConflict,
		},
		{
			name:    "a missing port is named",
			running: Snapshot{Links: []LinkInfo{lo}},
			want:    []Ethernet{{Name: "eth0"}, lan0Match},
			err:     ErrNoLink,
		},
		{
			name:    "a new bond: members closed and enslaved, primary after, bond opened",
			running: Snapshot{Links: []LinkInfo{lo, li("lan0", "device", true, 1500), li("lan1", "device", false, 1500)}},
			want: []Ethernet{member("lan0"), member("lan1"), func() Ethernet {
				b := bond("active-backup", "lan0", "lan1")
				b.Bond.Primary, b.MTU = "lan0", 9000
				return b
			}()},
			steps: []string{"bond0: create bond mode active-backup miimon 100", "bond0: mtu 9000",
				"lan0: down", "lan0: enslave to bond0", "lan1: enslave to bond0", "bond0: primary lan0", "bond0: up", "bond0: address 192.0.2.10/24"},
		},
		{
			name: "the bonding module's own bond0 (balance-rr) changes mode closed and empty",
			running: Snapshot{Links: []LinkInfo{lo, withMaster(li("lan0", "device", true, 1500), "bond0"), li("lan1", "device", true, 1500),
				runningBond("balance-rr", true)}},
			want: []Ethernet{member("lan0"), member("lan1"), bond("802.3ad", "lan0", "lan1")},
			steps: []string{"bond0: down", "lan0: release from bond0", "bond0: set bond mode 802.3ad",
				"lan0: enslave to bond0", "lan1: down", "lan1: enslave to bond0", "bond0: up", "bond0: address 192.0.2.10/24"},
		},
		{
			name: "a bond's members are exactly the configured ones",
			running: Snapshot{Links: []LinkInfo{lo, withMaster(li("lan0", "device", true, 1500), "bond0"), withMaster(li("lan9", "device", true, 1500), "bond0"),
				runningBond("active-backup", true)}},
			want:  []Ethernet{member("lan0"), {Name: "bond0", Kind: KindBond, Bond: &BondSpec{Mode: "active-backup", Members: []string{"lan0"}, MIIMon: 100}}},
			steps: []string{"lan9: release from bond0"},
		},
		{
			name:    "a VLAN with the wrong tag is made again",
			running: Snapshot{Links: []LinkInfo{lo, li("eth0", "device", true, 1500), {Name: "vlan100", Kind: "vlan", Up: true, MTU: 1500, Addresses: []string{"198.51.100.2/24"}, VLAN: &VLANInfo{ID: 101, Link: "eth0"}}}},
			want:    []Ethernet{{Name: "eth0"}, {Name: "vlan100", Kind: KindVLAN, VLAN: &VLANSpec{ID: 100, Link: "eth0"}, Addresses: []netip.Prefix{pfx("198.51.100.2/24")}}},
			steps:   []string{"vlan100: delete", "vlan100: create vlan 100 on eth0", "vlan100: up", "vlan100: address 198.51.100.2/24"},
		},
		{
			name: "what the previous configuration declared and this one does not is removed",
			running: Snapshot{
				Links: []LinkInfo{lo, li("eth0", "device", true, 1500, "10.0.2.15/24", "10.0.2.16/24", "10.0.2.17/24"),
					{Name: "vlan7", Kind: "vlan", Up: true, MTU: 1500, Addresses: []string{}, VLAN: &VLANInfo{ID: 7, Link: "eth0"}}},
				Routes: []RouteInfo{{To: "default", Via: "10.0.2.2", Dev: "eth0", Metric: 5}, {To: "default", Via: "10.0.2.2", Dev: "eth0"}}},
			want: []Ethernet{{Name: "eth0", Addresses: []netip.Prefix{pfx("10.0.2.15/24")}, Routes: []Route{{Via: ip("10.0.2.2")}}}},
			prev: []Ethernet{{Name: "eth0", Addresses: []netip.Prefix{pfx("10.0.2.15/24"), pfx("10.0.2.16/24")}, Routes: []Route{{Via: ip("10.0.2.2"), Metric: 5}}},
				{Name: "vlan7", Kind: KindVLAN, VLAN: &VLANSpec{ID: 7, Link: "eth0"}}},
			steps: []string{"vlan7: delete", "eth0: remove address 10.0.2.16/24", "eth0: remove route default via 10.0.2.2 metric 5"},
		},
		{
			name:    "a bond name held by a port is refused",
			running: Snapshot{Links: []LinkInfo{lo, li("lan0", "device", true, 1500), li("bond0", "device", true, 1500)}},
			want:    []Ethernet{member("lan0"), bond("active-backup", "lan0")},
			err:     ErrConflict,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanFor(tc.running, tc.want, tc.prev)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(p); !reflect.DeepEqual(got, tc.steps) {
				t.Fatalf("plan:\n got %q\nwant %q", got, tc.steps)
			}
		})
	}
}

func TestMissingPortsAreNamed(t *testing.T) {
	_, err := PlanFor(Snapshot{}, []Ethernet{{Name: "eth1"}, {Name: "lan0", Match: &PortMatch{Name: "enp*"}}}, nil)
	var m *MissingLinksError
	if !errors.As(err, &m) || !reflect.DeepEqual(m.Names, []string{"eth1", "lan0"}) || !errors.Is(err, ErrNoLink) {
		t.Fatalf("err = %v", err)
	}
}

// The configurations the convergence tests apply, on a box with four
// ports whose kernel names differ from the configured ones.
func configs() map[string]Config {
	lanPorts := func() map[string]EthernetConfig {
		return map[string]EthernetConfig{
			"lan0": {Match: &Match{MACAddress: mac(1).String()}, SetName: "lan0"},
			"lan1": {Match: &Match{Name: "enp2*"}, SetName: "lan1"},
			"mgmt": {Match: &Match{MACAddress: mac(3).String()}, Interface: Interface{Addresses: []string{"10.0.2.15/24"},
				Routes: []RouteConfig{{To: "default", Via: "10.0.2.2", Metric: 200}, {To: "203.0.113.0/24", Via: "10.0.2.3", Table: 100}}}},
		}
	}
	plain := Config{Ethernets: map[string]EthernetConfig{
		"enp1s0": {Interface: Interface{Addresses: []string{"192.0.2.10/24", "2001:db8::10/64"}, MTU: 9000,
			Routes: []RouteConfig{{To: "default", Via: "192.0.2.1"}, {To: "default", Via: "2001:db8::1"}}}},
		"enp4s0": {Interface: Interface{MTU: 9000}},
	}, VLANs: map[string]VLANConfig{
		"vlan30": {ID: 30, Link: "enp4s0", Interface: Interface{MTU: 1500, Addresses: []string{"203.0.113.30/24"},
			Routes: []RouteConfig{{To: "198.51.100.0/24", Via: "203.0.113.1", Metric: 10, Table: 30}}}},
	}}
	bonded := bondedLAN()
	bonded.Ethernets = lanPorts()
	b := bonded.Bonds["bond0"]
	b.MTU = 9000
	bonded.Bonds["bond0"] = b
	v := bonded.VLANs["vlan100"]
	v.MTU = 1500
	bonded.VLANs["vlan100"] = v
	lacp := Config{Ethernets: lanPorts(), Bonds: map[string]BondConfig{"bond0": {
		Interface:  Interface{Addresses: []string{"192.0.2.11/24"}, Routes: []RouteConfig{{To: "default", Via: "192.0.2.1", Metric: 50}}},
		Interfaces: []string{"lan0", "lan1"},
		Parameters: BondParameters{Mode: "802.3ad", LACPRate: "fast", TransmitHashPolicy: "layer3+4", MIIMonitorInterval: 50},
	}}, VLANs: map[string]VLANConfig{"vlan200": {ID: 200, Link: "bond0", Interface: Interface{Addresses: []string{"198.51.100.3/24"}}}}}
	onePort := Config{Ethernets: lanPorts(), Bonds: map[string]BondConfig{"bond0": {
		Interface: Interface{DHCP4: true}, Interfaces: []string{"lan1"}, Parameters: BondParameters{Primary: "lan1"}}}}
	return map[string]Config{"plain": plain, "bonded": bonded, "lacp": lacp, "one-port bond": onePort}
}

func boxKernel() *fakeKernel {
	k := newFakeKernel()
	k.port("enp1s0", mac(1))
	k.port("enp2s0", mac(2))
	k.port("enp3s0", mac(3))
	k.port("enp4s0", mac(4))
	return k
}

// Applying a configuration converges: planning again finds nothing,
// applying again calls nothing that changes the kernel, and the kernel
// state read before and after the second apply is the same.
func TestApplyConverges(t *testing.T) {
	for name, c := range configs() {
		t.Run(name, func(t *testing.T) {
			k := boxKernel()
			want := desired(t, c)
			a := applier(k)
			changes, err := a.Apply(context.Background(), want)
			if err != nil {
				t.Fatalf("apply: %v\ncalls: %q", err, k.calls)
			}
			if len(changes) == 0 {
				t.Fatal("the first apply changed nothing")
			}
			p, err := a.Plan(context.Background(), want, nil)
			if err != nil || !p.Empty() {
				t.Fatalf("plan after apply: %v\n%s", err, p)
			}
			before := take(t, k)
			k.calls = nil
			changes, err = a.Apply(context.Background(), want)
			if err != nil || len(changes) != 0 || len(k.calls) != 0 {
				t.Fatalf("second apply: changes %v, calls %q, err %v", changes, k.calls, err)
			}
			if after := take(t, k); !reflect.DeepEqual(before, after) {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
			for _, e := range want {
				if err := Check(k, e); err != nil {
					t.Errorf("check %s: %v", e.Name, err)
				}
			}
		})
	}
}

// Switching between any two configurations converges too, and going
// back restores the first state exactly: what confirm-or-rollback
// relies on.
func TestReplaceAndBack(t *testing.T) {
	cs := configs()
	for from, cf := range cs {
		for to, ct := range cs {
			if from == to {
				continue
			}
			t.Run(from+" to "+to, func(t *testing.T) {
				k := boxKernel()
				a := applier(k)
				wf, wt := desired(t, cf), desired(t, ct)
				if _, err := a.Apply(context.Background(), wf); err != nil {
					t.Fatal(err)
				}
				first := take(t, k)
				if _, err := a.Replace(context.Background(), wt, wf); err != nil {
					t.Fatalf("replace: %v\ncalls %q", err, k.calls)
				}
				if p, err := a.Plan(context.Background(), wt, wf); err != nil || !p.Empty() {
					t.Fatalf("plan after replace: %v\n%s", err, p)
				}
				if _, err := a.Replace(context.Background(), wf, wt); err != nil {
					t.Fatalf("replace back: %v", err)
				}
				if p, err := a.Plan(context.Background(), wf, wt); err != nil || !p.Empty() {
					t.Fatalf("plan after going back: %v\n%s", err, p)
				}
				if back := take(t, k); !reflect.DeepEqual(stateOnly(first), stateOnly(back)) {
					t.Fatalf("going back did not restore the state:\n%s", snapDiff(stateOnly(first), stateOnly(back)))
				}
			})
		}
	}
}

// stateOnly drops what is allowed to differ after a round trip: link
// indexes (a recreated bond or VLAN gets a new one) and addresses a
// recreated bond copies from its first member.
func stateOnly(s Snapshot) Snapshot {
	for i := range s.Links {
		s.Links[i].Index = 0
		if s.Links[i].Kind == "bond" || s.Links[i].Kind == "vlan" {
			s.Links[i].MAC = ""
		}
	}
	return s
}

// snapDiff shows the links and routes that differ.
func snapDiff(a, b Snapshot) string {
	js := func(v any) string { j, _ := json.Marshal(v); return string(j) }
	var out []string
	for i := 0; i < max(len(a.Links), len(b.Links)); i++ {
		var x, y any
		if i < len(a.Links) {
			x = a.Links[i]
		}
		if i < len(b.Links) {
			y = b.Links[i]
		}
		if js(x) != js(y) {
			out = append(out, "- "+js(x), "+ "+js(y))
		}
	}
	if js(a.Routes) != js(b.Routes) {
		out = append(out, "- "+js(a.Routes), "+ "+js(b.Routes))
	}
	return strings.Join(out, "\n")
}

func TestApplyWaitsForLatePorts(t *testing.T) {
	k := boxKernel()
	k.hidden["enp2s0"] = 5 // still probing
	a := applier(k)
	if _, err := a.Apply(context.Background(), desired(t, configs()["bonded"])); err != nil {
		t.Fatalf("late port: %v", err)
	}
	if k.byName("lan1") == nil {
		t.Fatal("the late port was not renamed")
	}
}

func TestApplyMissingPortNamesIt(t *testing.T) {
	k := newFakeKernel()
	a := Applier{H: k, LinkWait: 5 * time.Millisecond, Poll: time.Millisecond}
	_, err := a.Apply(context.Background(), []Ethernet{{Name: "eth7"}})
	if !errors.Is(err, ErrNoLink) || !strings.HasPrefix(err.Error(), "eth7: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyReportsKernelErrorsWithTheStep(t *testing.T) {
	k := newFakeKernel()
	k.port("eth0", mac(1))
	k.fail["addr add eth0"] = unix.EPERM
	var logged []Change
	a := applier(k)
	a.OnChange = func(c Change) { logged = append(logged, c) }
	changes, err := a.Apply(context.Background(), []Ethernet{eth0()})
	if !errors.Is(err, unix.EPERM) || err.Error() != "eth0: address 10.0.2.15/24: operation not permitted" {
		t.Fatalf("err = %v", err)
	}
	want := []Change{{"lo", "up"}, {"eth0", "mtu 1400"}, {"eth0", "up"}}
	if !reflect.DeepEqual(changes, want) || !reflect.DeepEqual(logged, want) {
		t.Fatalf("changes %v, logged %v", changes, logged)
	}
}

func TestCheckFindsDrift(t *testing.T) {
	k := newFakeKernel()
	k.port("eth0", mac(1))
	e := eth0()
	if err := Check(k, Ethernet{Name: "eth9"}); !errors.Is(err, ErrNoLink) {
		t.Errorf("missing link: %v", err)
	}
	if err := Check(k, e); err == nil || err.Error() != "link is down" {
		t.Errorf("down link: %v", err)
	}
	if _, err := applier(k).Apply(context.Background(), []Ethernet{e}); err != nil {
		t.Fatal(err)
	}
	if err := Check(k, e); err != nil {
		t.Errorf("after apply: %v", err)
	}
	k.byName("eth0").addrs = nil
	if err := Check(k, e); err == nil || err.Error() != "address 10.0.2.15/24 is missing" {
		t.Errorf("lost address: %v", err)
	}
	if err := Check(k, Ethernet{Name: "eth0", Master: "bond0"}); err == nil || err.Error() != "not a member of bond0" {
		t.Errorf("not enslaved: %v", err)
	}
}

func TestNlRoute(t *testing.T) {
	r := nlRoute(Route{Via: netip.MustParseAddr("2001:db8::1")}, 3)
	if r.Dst != nil || r.Priority != 1024 || r.Table != 0 || !r.Gw.Equal(net.ParseIP("2001:db8::1")) || r.LinkIndex != 3 {
		t.Errorf("IPv6 default: %+v", r)
	}
	r = nlRoute(Route{To: netip.MustParsePrefix("192.0.2.7/24"), Via: netip.MustParseAddr("10.0.0.1"), Metric: 7, Table: 254}, 2)
	if r.Dst.String() != "192.0.2.0/24" || r.Priority != 7 || r.Table != 0 {
		t.Errorf("prefix route: %+v", r)
	}
}
