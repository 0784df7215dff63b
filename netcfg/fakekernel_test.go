package netcfg

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel is an in-memory rtnetlink written from the kernel's
// behaviour, not from the planner's model, so applying a plan to it and
// planning again checks the planner against something else: renames
// need a closed link, enslaving closes nothing itself but needs a closed
// port and opens it, releasing closes it, closing drops routes and IPv6
// addresses, a bond's mode changes only closed and empty, an IPv6 route
// without metric gets 1024, a gateway must be on a connected prefix.
type fakeKernel struct {
	links  map[int]*fkLink
	next   int
	routes []fkRoute
	calls  []string
	// hidden links stay out of sight for that many LinkList calls (a
	// driver still probing).
	hidden map[string]int
	// fail makes the calls whose description starts with the key fail.
	fail map[string]error
}

type fkLink struct {
	index      int
	name, kind string
	mac, perm  net.HardwareAddr // perm: the address at creation
	hasPerm    bool             // the kernel reports perm (real hardware)
	alt        []string
	mtu        int
	origMTU    int // a member's MTU before it was enslaved
	up         bool
	master     int
	// bond
	mode               netlink.BondMode
	miimon             int
	primary            int
	primaryName        string
	lacp               netlink.BondLacpRate
	hash               netlink.BondXmitHashPolicy
	active             int
	macFromFirstMember bool
	// vlan
	vid, parent int
	addrs       []netip.Prefix
}

type fkRoute struct {
	dst                netip.Prefix
	gw                 netip.Addr
	dev, table, metric int
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{links: map[int]*fkLink{}, hidden: map[string]int{}, fail: map[string]error{}}
	k.add(&fkLink{name: "lo", kind: "device", mtu: 65536})
	return k
}

func mac(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(i)} }

func (k *fakeKernel) add(l *fkLink) *fkLink {
	k.next++
	l.index = k.next
	if l.mac == nil && l.name != "lo" {
		l.mac = mac(0x80 + l.index)
	}
	l.perm = slices.Clone(l.mac)
	k.links[l.index] = l
	return l
}

// port adds a NIC with a permanent address, as a real driver does.
func (k *fakeKernel) port(name string, m net.HardwareAddr) *fkLink {
	return k.add(&fkLink{name: name, kind: "device", mac: m, hasPerm: true, mtu: 1500})
}

// byName looks a link up by name or alternative name, as the kernel's
// RTM_GETLINK does.
func (k *fakeKernel) byName(name string) *fkLink {
	for _, l := range k.links {
		if (l.name == name || slices.Contains(l.alt, name)) && k.hidden[l.name] == 0 {
			return l
		}
	}
	return nil
}

func (k *fakeKernel) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	k.calls = append(k.calls, c)
	for prefix, err := range k.fail {
		if len(c) >= len(prefix) && c[:len(prefix)] == prefix {
			return err
		}
	}
	return nil
}

func (k *fakeKernel) slaves(bond int) []*fkLink {
	var out []*fkLink
	for _, l := range k.sorted() {
		if l.master == bond {
			out = append(out, l)
		}
	}
	return out
}

func (k *fakeKernel) sorted() []*fkLink {
	var out []*fkLink
	for _, l := range k.links {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

func usesPrimaryMode(m netlink.BondMode) bool {
	return m == netlink.BOND_MODE_ACTIVE_BACKUP || m == netlink.BOND_MODE_BALANCE_TLB || m == netlink.BOND_MODE_BALANCE_ALB
}

// carrier: ports are cabled; a bond has carrier with an open member.
func (k *fakeKernel) carrier(l *fkLink) bool {
	switch l.kind {
	case "bond":
		for _, s := range k.slaves(l.index) {
			if s.up {
				return l.up
			}
		}
		return false
	case "vlan":
		if p := k.links[l.parent]; p != nil {
			return l.up && k.carrier(p)
		}
		return false
	}
	return l.up
}

func (k *fakeKernel) reselect(b *fkLink) {
	if b.mode != netlink.BOND_MODE_ACTIVE_BACKUP || !b.up {
		b.active = 0
		return
	}
	if p := k.links[b.primary]; p != nil && p.master == b.index && p.up {
		b.active = p.index
		return
	}
	if a := k.links[b.active]; a != nil && a.master == b.index && a.up {
		return
	}
	b.active = 0
	for _, s := range k.slaves(b.index) {
		if s.up {
			b.active = s.index
			return
		}
	}
}

func (k *fakeKernel) materialize(l *fkLink) netlink.Link {
	attrs := netlink.NewLinkAttrs()
	attrs.Index, attrs.Name, attrs.MTU, attrs.MasterIndex = l.index, l.name, l.mtu, l.master
	attrs.HardwareAddr = slices.Clone(l.mac)
	attrs.AltNames = slices.Clone(l.alt)
	if l.hasPerm {
		attrs.PermHWAddr = slices.Clone(l.perm)
	}
	if l.up {
		attrs.Flags |= net.FlagUp
	}
	attrs.OperState = netlink.OperDown
	if k.carrier(l) {
		attrs.Flags |= net.FlagRunning
		attrs.OperState = netlink.OperUp
	}
	if l.name == "lo" {
		attrs.Flags |= net.FlagLoopback
		attrs.OperState = netlink.OperUnknown
	}
	if m := k.links[l.master]; m != nil && m.kind == "bond" {
		attrs.Slave = &netlink.BondSlave{PermHardwareAddr: slices.Clone(l.perm)}
	}
	switch l.kind {
	case "bond":
		b := &netlink.Bond{LinkAttrs: attrs, Mode: l.mode, Miimon: l.miimon, LacpRate: l.lacp, XmitHashPolicy: l.hash, ActiveSlave: l.active}
		if p := k.links[l.primary]; p != nil && p.master == l.index {
			b.Primary = l.primary
		}
		return b
	case "vlan":
		attrs.ParentIndex = l.parent
		return &netlink.Vlan{LinkAttrs: attrs, VlanId: l.vid}
	case "veth":
		return &netlink.Veth{LinkAttrs: attrs}
	}
	return &netlink.Device{LinkAttrs: attrs}
}

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	var out []netlink.Link
	for _, l := range k.sorted() {
		if k.hidden[l.name] > 0 {
			k.hidden[l.name]--
			continue
		}
		out = append(out, k.materialize(l))
	}
	return out, nil
}

func (k *fakeKernel) LinkByName(name string) (netlink.Link, error) {
	l := k.byName(name)
	if l == nil {
		return nil, netlink.LinkNotFoundError{}
	}
	return k.materialize(l), nil
}

func (k *fakeKernel) of(link netlink.Link) (*fkLink, error) {
	l := k.links[link.Attrs().Index]
	if l == nil {
		return nil, unix.ENODEV
	}
	return l, nil
}

func (k *fakeKernel) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	l, err := k.of(link)
	if err != nil {
		return nil, err
	}
	var out []netlink.Addr
	for _, a := range l.addrs {
		out = append(out, netlink.Addr{IPNet: prefixNet(a)})
	}
	return out, nil
}

func (k *fakeKernel) RouteListFiltered(family int, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	if mask != netlink.RT_FILTER_TABLE || filter.Table != 0 {
		return nil, fmt.Errorf("fake: only the all-tables dump is implemented")
	}
	var out []netlink.Route
	for _, l := range k.sorted() {
		for _, a := range l.addrs {
			// Connected and local routes, as the kernel adds them.
			out = append(out, netlink.Route{LinkIndex: l.index, Dst: prefixNet(netip.PrefixFrom(a.Addr(), a.Addr().BitLen())), Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL})
			if l.up {
				m := 0
				if a.Addr().Is6() {
					m = 256
				}
				out = append(out, netlink.Route{LinkIndex: l.index, Dst: prefixNet(a.Masked()), Table: unix.RT_TABLE_MAIN, Priority: m, Type: unix.RTN_UNICAST})
			}
		}
	}
	for _, r := range k.routes {
		rt := netlink.Route{LinkIndex: r.dev, Gw: r.gw.AsSlice(), Table: r.table, Priority: r.metric, Type: unix.RTN_UNICAST}
		if r.dst.Bits() > 0 {
			rt.Dst = prefixNet(r.dst)
		} else if r.gw.Is4() {
			rt.Family = unix.AF_INET
		} else {
			rt.Family = unix.AF_INET6
		}
		out = append(out, rt)
	}
	return out, nil
}

func (k *fakeKernel) LinkAdd(link netlink.Link) error {
	a := link.Attrs()
	if err := k.call("add %s %s", link.Type(), a.Name); err != nil {
		return err
	}
	if a.TxQLen == 0 {
		return fmt.Errorf("fake: the request sets txqueuelen 0 (use netlink.NewLinkAttrs)")
	}
	if k.byName(a.Name) != nil {
		return unix.EEXIST
	}
	switch l := link.(type) {
	case *netlink.Bond:
		b := &fkLink{name: a.Name, kind: "bond", mtu: 1500, mode: netlink.BOND_MODE_BALANCE_RR, macFromFirstMember: true}
		if l.Mode >= 0 {
			b.mode = l.Mode
		}
		if l.Miimon >= 0 {
			b.miimon = l.Miimon
		}
		if l.LacpRate >= 0 {
			b.lacp = l.LacpRate
		}
		if l.XmitHashPolicy >= 0 {
			b.hash = l.XmitHashPolicy
		}
		k.add(b)
	case *netlink.Vlan:
		p := k.links[a.ParentIndex]
		if p == nil {
			return unix.ENODEV
		}
		v := k.add(&fkLink{name: a.Name, kind: "vlan", mtu: p.mtu, vid: l.VlanId, parent: p.index})
		v.mac = slices.Clone(p.mac)
	default:
		return unix.EOPNOTSUPP
	}
	return nil
}

func (k *fakeKernel) LinkModify(link netlink.Link) error {
	b, ok := link.(*netlink.Bond)
	if !ok {
		return unix.EOPNOTSUPP
	}
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("modify bond %s mode %d miimon %d lacp %d hash %d primary %d", l.name, b.Mode, b.Miimon, b.LacpRate, b.XmitHashPolicy, b.Primary); err != nil {
		return err
	}
	if b.Mode >= 0 && b.Mode != l.mode {
		if l.up || len(k.slaves(l.index)) > 0 {
			return unix.EBUSY
		}
		l.mode = b.Mode
	}
	if b.LacpRate >= 0 && b.LacpRate != l.lacp {
		if l.up {
			return unix.EBUSY
		}
		if l.mode != netlink.BOND_MODE_802_3AD {
			return unix.EACCES
		}
		l.lacp = b.LacpRate
	}
	if b.Miimon >= 0 {
		l.miimon = b.Miimon
	}
	if b.XmitHashPolicy >= 0 {
		l.hash = b.XmitHashPolicy
	}
	if b.Primary >= 0 {
		if !usesPrimaryMode(l.mode) {
			return unix.EACCES
		}
		l.primary, l.primaryName = 0, ""
		if p := k.links[b.Primary]; p != nil {
			l.primaryName = p.name
			if p.master == l.index {
				l.primary = p.index
			}
		}
		k.reselect(l)
	}
	return nil
}

func (k *fakeKernel) close(l *fkLink) {
	l.up = false
	l.addrs = slices.DeleteFunc(l.addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
	k.routes = slices.DeleteFunc(k.routes, func(r fkRoute) bool { return r.dev == l.index })
	if b := k.links[l.master]; b != nil {
		k.reselect(b)
	}
	if l.kind == "bond" {
		k.reselect(l)
	}
}

func (k *fakeKernel) release(s *fkLink) {
	b := k.links[s.master]
	k.close(s) // __bond_release_one closes the port
	s.master = 0
	s.mac = slices.Clone(s.perm)
	s.mtu = s.origMTU
	if b.primary == s.index {
		b.primary = 0
	}
	k.reselect(b)
}

func (k *fakeKernel) LinkDel(link netlink.Link) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("del %s", l.name); err != nil {
		return err
	}
	if l.kind != "bond" && l.kind != "vlan" {
		return unix.EOPNOTSUPP
	}
	k.remove(l)
	return nil
}

func (k *fakeKernel) remove(l *fkLink) {
	for _, s := range k.slaves(l.index) {
		k.release(s)
	}
	for _, v := range k.sorted() {
		if v.kind == "vlan" && v.parent == l.index {
			k.remove(v)
		}
	}
	k.routes = slices.DeleteFunc(k.routes, func(r fkRoute) bool { return r.dev == l.index })
	delete(k.links, l.index)
}

func (k *fakeKernel) LinkSetUp(link netlink.Link) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("up %s", l.name); err != nil {
		return err
	}
	l.up = true
	if l.kind == "bond" {
		k.reselect(l)
	}
	if b := k.links[l.master]; b != nil {
		k.reselect(b)
	}
	return nil
}

func (k *fakeKernel) LinkSetDown(link netlink.Link) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("down %s", l.name); err != nil {
		return err
	}
	k.close(l)
	return nil
}

func (k *fakeKernel) LinkSetName(link netlink.Link, name string) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("rename %s %s", l.name, name); err != nil {
		return err
	}
	if l.up {
		return unix.EBUSY
	}
	if k.byName(name) != nil {
		return unix.EEXIST
	}
	l.name = name
	return nil
}

func (k *fakeKernel) LinkAddAltName(link netlink.Link, name string) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("altname add %s %s", l.name, name); err != nil {
		return err
	}
	if k.byName(name) != nil {
		return unix.EEXIST
	}
	l.alt = append(l.alt, name)
	return nil
}

func (k *fakeKernel) LinkDelAltName(link netlink.Link, name string) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("altname del %s %s", l.name, name); err != nil {
		return err
	}
	if !slices.Contains(l.alt, name) {
		return unix.ENOENT
	}
	l.alt = slices.DeleteFunc(l.alt, func(a string) bool { return a == name })
	return nil
}

func (k *fakeKernel) LinkSetMTU(link netlink.Link, mtu int) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("mtu %s %d", l.name, mtu); err != nil {
		return err
	}
	if p := k.links[l.parent]; l.kind == "vlan" && p != nil && mtu > p.mtu {
		return unix.ERANGE
	}
	l.mtu = mtu
	for _, o := range k.links {
		if o.master == l.index {
			o.mtu = mtu
		}
		if o.kind == "vlan" && o.parent == l.index && o.mtu > mtu {
			o.mtu = mtu
		}
	}
	return nil
}

func (k *fakeKernel) LinkSetMasterByIndex(link netlink.Link, master int) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if master == 0 {
		return k.LinkSetNoMaster(link)
	}
	b := k.links[master]
	if b == nil {
		return unix.ENODEV
	}
	if err := k.call("enslave %s %s", l.name, b.name); err != nil {
		return err
	}
	switch {
	case b.kind != "bond" || l.kind == "bond" || l.kind == "vlan":
		return unix.EOPNOTSUPP
	case l.up: // Keep closes ports before enslaving them
		return unix.EBUSY
	case l.master != 0:
		return unix.EBUSY
	}
	if b.macFromFirstMember && len(k.slaves(b.index)) == 0 {
		b.mac = slices.Clone(l.mac)
	}
	l.origMTU = l.mtu
	l.master, l.up, l.mtu = b.index, true, b.mtu // bond_enslave opens it
	if b.mode == netlink.BOND_MODE_ACTIVE_BACKUP {
		l.mac = slices.Clone(b.mac) // fail_over_mac none
	}
	if b.primaryName == l.name && usesPrimaryMode(b.mode) {
		b.primary = l.index
	}
	k.reselect(b)
	return nil
}

func (k *fakeKernel) LinkSetNoMaster(link netlink.Link) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	if err := k.call("nomaster %s", l.name); err != nil {
		return err
	}
	if l.master != 0 {
		k.release(l)
	}
	return nil
}

func addrPrefix(a *netlink.Addr) netip.Prefix {
	p, _ := prefixOf(a.IPNet)
	return p
}

func (k *fakeKernel) AddrAdd(link netlink.Link, a *netlink.Addr) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	p := addrPrefix(a)
	if err := k.call("addr add %s %s", l.name, p); err != nil {
		return err
	}
	if slices.Contains(l.addrs, p) {
		return unix.EEXIST
	}
	l.addrs = append(l.addrs, p)
	return nil
}

func (k *fakeKernel) AddrReplace(link netlink.Link, a *netlink.Addr) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	p := addrPrefix(a)
	if err := k.call("addr replace %s %s lft %d", l.name, p, a.ValidLft); err != nil {
		return err
	}
	if !slices.Contains(l.addrs, p) {
		l.addrs = append(l.addrs, p)
	}
	return nil
}

func (k *fakeKernel) AddrDel(link netlink.Link, a *netlink.Addr) error {
	l, err := k.of(link)
	if err != nil {
		return err
	}
	p := addrPrefix(a)
	if err := k.call("addr del %s %s", l.name, p); err != nil {
		return err
	}
	if !slices.Contains(l.addrs, p) {
		return unix.EADDRNOTAVAIL
	}
	l.addrs = slices.DeleteFunc(l.addrs, func(h netip.Prefix) bool { return h == p })
	return nil
}

func (k *fakeKernel) routeOf(r *netlink.Route) (fkRoute, error) {
	gw, ok := netip.AddrFromSlice(r.Gw)
	if !ok {
		return fkRoute{}, fmt.Errorf("fake: only gateway routes")
	}
	gw = gw.Unmap()
	fr := fkRoute{gw: gw, dev: r.LinkIndex, table: r.Table, metric: r.Priority}
	if fr.table == 0 {
		fr.table = unix.RT_TABLE_MAIN
	}
	if r.Dst != nil {
		p, _ := prefixOf(r.Dst)
		fr.dst = p.Masked()
	} else if gw.Is4() {
		fr.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	} else {
		fr.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if fr.dst.Addr().Is6() && fr.metric == 0 {
		fr.metric = 1024
	}
	return fr, nil
}

func (k *fakeKernel) RouteReplace(r *netlink.Route) error {
	fr, err := k.routeOf(r)
	if err != nil {
		return err
	}
	l := k.links[fr.dev]
	if err := k.call("route replace %s via %s dev %d table %d metric %d", fr.dst, fr.gw, fr.dev, fr.table, fr.metric); err != nil {
		return err
	}
	if l == nil || !l.up {
		return unix.ENETDOWN
	}
	if !fr.gw.IsLinkLocalUnicast() && !slices.ContainsFunc(l.addrs, func(a netip.Prefix) bool { return a.Masked().Contains(fr.gw) }) {
		return unix.ENETUNREACH
	}
	k.routes = slices.DeleteFunc(k.routes, func(o fkRoute) bool {
		return o.dst == fr.dst && o.table == fr.table && o.metric == fr.metric
	})
	k.routes = append(k.routes, fr)
	return nil
}

func (k *fakeKernel) RouteDel(r *netlink.Route) error {
	fr, err := k.routeOf(r)
	if err != nil {
		return err
	}
	if err := k.call("route del %s via %s dev %d table %d metric %d", fr.dst, fr.gw, fr.dev, fr.table, fr.metric); err != nil {
		return err
	}
	n := len(k.routes)
	k.routes = slices.DeleteFunc(k.routes, func(o fkRoute) bool { return o == fr })
	if len(k.routes) == n {
		return unix.ESRCH
	}
	return nil
}
