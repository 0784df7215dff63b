package netcfg

import (
	"net"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
)

func link(name string, flags net.Flags, oper netlink.LinkOperState, master int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Flags: flags, OperState: oper, MasterIndex: master}}
}

func TestLinkTrackerReportsTransitionsOnly(t *testing.T) {
	tr := &linkTracker{links: map[int]LinkState{}}
	up := net.FlagUp | net.FlagRunning
	steps := []struct {
		index   int
		l       netlink.Link
		deleted bool
		want    string // "" = no change reported
	}{
		{2, link("eth0", up, netlink.OperUp, 0), false, "eth0 appeared (up true, carrier true)"},
		{2, link("eth0", up, netlink.OperUp, 0), false, ""}, // the kernel repeats itself
		{2, link("eth0", net.FlagUp, netlink.OperDown, 0), false, "eth0 lost carrier"},
		{2, link("eth0", net.FlagUp, netlink.OperDown, 0), false, ""},
		{2, link("eth0", up, netlink.OperUp, 0), false, "eth0 has carrier"},
		{2, link("eth0", up, netlink.OperUp, 5), false, "eth0 master changed from 0 to 5"},
		{2, link("eth0", 0, netlink.OperDown, 5), false, "eth0 lost carrier"},
		{1, link("lo", net.FlagUp|net.FlagLoopback|net.FlagRunning, netlink.OperUnknown, 0), false, "lo appeared (up true, carrier true)"},
		{2, link("eth0", 0, netlink.OperDown, 5), true, "eth0 removed"},
		{9, link("ghost", 0, netlink.OperDown, 0), true, ""},
	}
	var got, want []string
	for _, s := range steps {
		c, changed := tr.update(s.index, stateOf(s.l), s.deleted)
		d := ""
		if changed {
			d = c.Describe()
		}
		got, want = append(got, d), append(want, s.want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func bond(name string, active int) netlink.Link {
	return &netlink.Bond{LinkAttrs: netlink.LinkAttrs{Name: name, Flags: net.FlagUp | net.FlagRunning, OperState: netlink.OperUp}, ActiveSlave: active}
}

func TestLinkTrackerReportsBondFailover(t *testing.T) {
	tr := &linkTracker{links: map[int]LinkState{}}
	up := net.FlagUp | net.FlagRunning
	steps := []struct {
		index             int
		l                 netlink.Link
		want              string
		failover, changed bool
	}{
		{3, link("lan0", up, netlink.OperUp, 5), "lan0 appeared (up true, carrier true)", false, false},
		{4, link("lan1", up, netlink.OperUp, 5), "lan1 appeared (up true, carrier true)", false, false},
		{5, bond("bond0", 3), "bond0 appeared (up true, carrier true)", false, false},
		{3, link("lan0", net.FlagUp, netlink.OperDown, 5), "lan0 lost carrier", false, false},
		// The kernel's RTM_NEWLINK for the bond carries the new
		// IFLA_BOND_ACTIVE_SLAVE.
		{5, bond("bond0", 4), "bond0 failover: active slave lan0 -> lan1", true, true},
		{5, bond("bond0", 4), "", false, false},
		{4, link("lan1", net.FlagUp, netlink.OperDown, 5), "lan1 lost carrier", false, false},
		{5, bond("bond0", 0), "bond0 has no active slave (was lan1)", false, true},
		{5, bond("bond0", 9), "bond0 active slave is index 9", false, true},
	}
	for i, s := range steps {
		c, changed := tr.update(s.index, stateOf(s.l), false)
		d := ""
		if changed {
			d = c.Describe()
		}
		if d != s.want || c.Failover != s.failover || c.ActiveSlaveChanged() != s.changed {
			t.Errorf("step %d: %q failover %v active changed %v, want %q %v %v", i, d, c.Failover, c.ActiveSlaveChanged(), s.want, s.failover, s.changed)
		}
	}
}
