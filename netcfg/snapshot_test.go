package netcfg

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestTake(t *testing.T) {
	k := newFakeKernel()
	k.links[1].up = true
	eth0 := k.port("eth0", mac(1))
	eth0.up = true
	eth0.addrs = []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24"), netip.MustParsePrefix("fe80::1/64")}
	k.routes = []fkRoute{
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("10.0.2.2"), dev: 2, table: 254},
		{dst: netip.MustParsePrefix("192.0.2.0/24"), gw: netip.MustParseAddr("10.0.2.3"), dev: 2, table: 100, metric: 100},
		{dst: netip.MustParsePrefix("::/0"), gw: netip.MustParseAddr("fe80::2"), dev: 2, table: 254, metric: 1024},
	}
	lan0, lan1 := k.port("lan0", mac(2)), k.port("lan1", mac(3))
	b := k.add(&fkLink{name: "bond0", kind: "bond", mtu: 1500, mode: netlink.BOND_MODE_ACTIVE_BACKUP, miimon: 100, macFromFirstMember: true})
	b.up = true
	b.primaryName = "lan1"
	for _, l := range []*fkLink{lan0, lan1} {
		if err := k.LinkSetMasterByIndex(k.materialize(l), b.index); err != nil {
			t.Fatal(err)
		}
	}
	v := k.add(&fkLink{name: "bond0.7", kind: "vlan", mtu: 1500, vid: 7, parent: b.index, mac: mac(2)})
	s, err := Take(k)
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{
		Links: []LinkInfo{
			{Name: "lo", Index: 1, Kind: "device", MTU: 65536, Up: true, Carrier: true, Addresses: []string{}},
			{Name: "eth0", Index: 2, Kind: "device", MAC: mac(1).String(), PermMAC: mac(1).String(), MTU: 1500, Up: true, Carrier: true,
				Addresses: []string{"10.0.2.15/24"}},
			// Active-backup gives the members the bond's (first member's) address.
			{Name: "lan0", Index: 3, Kind: "device", MAC: mac(2).String(), PermMAC: mac(2).String(), MTU: 1500, Up: true, Carrier: true, Master: "bond0", Addresses: []string{}},
			{Name: "lan1", Index: 4, Kind: "device", MAC: mac(2).String(), PermMAC: mac(3).String(), MTU: 1500, Up: true, Carrier: true, Master: "bond0", Addresses: []string{}},
			{Name: "bond0", Index: 5, Kind: "bond", MAC: mac(2).String(), MTU: 1500, Up: true, Carrier: true, Addresses: []string{},
				Bond: &BondInfo{Mode: "active-backup", MIIMon: 100, Primary: "lan1", HashPolicy: "layer2", ActiveSlave: "lan1"}},
			{Name: "bond0.7", Index: v.index, Kind: "vlan", MAC: mac(2).String(), MTU: 1500, Addresses: []string{}, VLAN: &VLANInfo{ID: 7, Link: "bond0"}},
		},
		Routes: []RouteInfo{
			{To: "10.0.2.0/24", Dev: "eth0"},
			{To: "fe80::/64", Dev: "eth0", Metric: 256, IPv6: true},
			{To: "default", Via: "10.0.2.2", Dev: "eth0"},
			{To: "192.0.2.0/24", Via: "10.0.2.3", Dev: "eth0", Metric: 100, Table: 100},
			{To: "default", Via: "fe80::2", Dev: "eth0", Metric: 1024, IPv6: true},
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
	_ = net.FlagUp
}
