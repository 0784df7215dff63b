package netcfg

import (
	"net"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
)

func (f *fakeNet) LinkList() ([]netlink.Link, error) {
	var out []netlink.Link
	for _, l := range f.links {
		out = append(out, l)
	}
	return out, nil
}

func (f *fakeNet) RouteList(l netlink.Link, family int) ([]netlink.Route, error) {
	_, dst, _ := net.ParseCIDR("192.0.2.0/24")
	return []netlink.Route{
		{LinkIndex: 2, Gw: net.ParseIP("10.0.2.2").To4()},
		{LinkIndex: 2, Dst: dst, Priority: 100},
		{LinkIndex: 2, Table: 255}, // local table: not shown
	}, nil
}

func TestTake(t *testing.T) {
	f := newFakeNet("lo", "eth0")
	f.links["eth0"].Flags = net.FlagUp | net.FlagRunning
	f.links["eth0"].OperState = netlink.OperUp
	f.links["eth0"].HardwareAddr, _ = net.ParseMAC("52:54:00:12:34:56")
	f.links["eth0"].Statistics = &netlink.LinkStatistics{RxBytes: 1000, TxBytes: 2000, RxPackets: 10, TxPackets: 20}
	_, n, _ := net.ParseCIDR("10.0.2.15/24")
	n.IP = net.ParseIP("10.0.2.15").To4()
	f.addrs["eth0"] = []netlink.Addr{{IPNet: n}, {IPNet: &net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)}}}
	s, err := Take(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{
		Links: []LinkInfo{
			{Name: "lo", Index: 1, Kind: "dummy", MTU: 1500, Addresses: []string{}},
			{Name: "eth0", Index: 2, Kind: "dummy", MAC: "52:54:00:12:34:56", MTU: 1500, Up: true, Carrier: true,
				Addresses: []string{"10.0.2.15/24"}, Counters: LinkStats{RxBytes: 1000, TxBytes: 2000, RxPackets: 10, TxPackets: 20}},
		},
		Routes: []RouteInfo{{To: "default", Via: "10.0.2.2", Dev: "eth0"}, {To: "192.0.2.0/24", Dev: "eth0", Metric: 100}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
}
