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
