package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Handle is the part of netlink that Apply uses. *netlink.Handle
// implements it (open it with netlink.NewHandle(unix.NETLINK_ROUTE):
// the default handle also opens netlink families the appliance's
// kernel may lack). Errors are the kernel's (unix.Errno) wrapped by
// netlink.
type Handle interface {
	Reader
	LinkByName(name string) (netlink.Link, error)
	LinkAdd(link netlink.Link) error
	LinkModify(link netlink.Link) error
	LinkDel(link netlink.Link) error
	LinkSetUp(link netlink.Link) error
	LinkSetDown(link netlink.Link) error
	LinkSetName(link netlink.Link, name string) error
	LinkAddAltName(link netlink.Link, name string) error
	LinkDelAltName(link netlink.Link, name string) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetMasterByIndex(link netlink.Link, masterIndex int) error
	LinkSetNoMaster(link netlink.Link) error
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrReplace(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	RouteReplace(route *netlink.Route) error
	RouteDel(route *netlink.Route) error
}

// Change is one thing Apply did, for the log.
type Change struct {
	Link, What string
}

// Applier applies configurations through a Handle.
type Applier struct {
	H Handle
	// LinkWait bounds how long Apply waits for configured ports to
	// appear (drivers probe asynchronously at boot).
	LinkWait time.Duration
	// Poll is how often it looks again while waiting.
	Poll time.Duration
	// OnChange, when set, is called after each change is made.
	OnChange func(Change)
}

// ErrNoLink is returned when a configured interface does not exist.
var ErrNoLink = errors.New("no such network interface")

// Apply brings the kernel to want (from whatever it runs, removing
// nothing the configuration does not name) and returns what it changed.
// Applying the same configuration again changes nothing.
func (a Applier) Apply(ctx context.Context, want []Ethernet) ([]Change, error) {
	return a.Replace(ctx, want, nil)
}

// Replace brings the kernel from prev to want: like Apply, and it also
// removes the bonds, VLANs, addresses and routes prev declared and want
// does not.
func (a Applier) Replace(ctx context.Context, want, prev []Ethernet) ([]Change, error) {
	p, err := a.Plan(ctx, want, prev)
	if err != nil {
		return nil, err
	}
	return a.Execute(ctx, p)
}

// ApplyConfig switches the kernel from the configuration from to the
// configuration to (the network part of a confirm-or-rollback
// Transaction; resolv.conf and DHCP clients are the caller's).
func (a Applier) ApplyConfig(ctx context.Context, from, to Config) error {
	want, err := to.Desired()
	if err != nil {
		return err
	}
	prev, err := from.Desired()
	if err != nil {
		return fmt.Errorf("previous configuration: %w", err)
	}
	_, err = a.Replace(ctx, want, prev)
	return err
}

// Plan reads the running state and computes what Replace would change,
// changing nothing. It waits up to LinkWait for missing ports.
func (a Applier) Plan(ctx context.Context, want, prev []Ethernet) (Plan, error) {
	deadline := time.Now().Add(a.LinkWait)
	for {
		snap, err := Take(a.H)
		if err != nil {
			return Plan{}, err
		}
		p, err := PlanFor(snap, want, prev)
		var missing *MissingLinksError
		if !errors.As(err, &missing) {
			return p, err
		}
		if time.Now().After(deadline) {
			return Plan{}, fmt.Errorf("%w after %s (is its driver loaded? `keep ctl logs` shows module loading)", err, a.LinkWait)
		}
		select {
		case <-ctx.Done():
			return Plan{}, ctx.Err()
		case <-time.After(a.Poll):
		}
	}
}

// Execute makes the plan's changes in order and stops at the first
// error, returning what it changed until then.
func (a Applier) Execute(ctx context.Context, p Plan) ([]Change, error) {
	var done []Change
	for _, s := range p.Steps {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		if err := a.do(s); err != nil {
			return done, fmt.Errorf("%s: %s: %w", s.Link, s.What, err)
		}
		done = append(done, s.Change)
		if a.OnChange != nil {
			a.OnChange(s.Change)
		}
	}
	return done, nil
}

func (a Applier) do(s Step) error {
	switch s.op {
	case opAddBond:
		err := a.H.LinkAdd(bondLink(s.Link, 0, s.bond))
		if errors.Is(err, unix.EEXIST) {
			// Loading the bonding driver on demand (the LinkAdd above)
			// makes bond0 unless max_bonds=0 was given: take that
			// empty, closed bond and set it as planned.
			l, lerr := a.H.LinkByName(s.Link)
			if lerr == nil && l.Type() == "bond" && l.Attrs().Flags&net.FlagUp == 0 {
				return a.H.LinkModify(bondLink(s.Link, l.Attrs().Index, s.bond))
			}
		}
		return err
	case opAddVLAN:
		parent, err := a.H.LinkByName(s.vlan.Link)
		if err != nil {
			return err
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex = s.Link, parent.Attrs().Index
		return a.H.LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: s.vlan.ID, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q})
	}
	l, err := a.H.LinkByName(s.Link)
	if err != nil {
		return err
	}
	switch s.op {
	case opUp:
		return a.H.LinkSetUp(l)
	case opDown:
		return a.H.LinkSetDown(l)
	case opRename:
		return a.H.LinkSetName(l, s.arg)
	case opAddAltName:
		return a.H.LinkAddAltName(l, s.arg)
	case opDelAltName:
		return a.H.LinkDelAltName(l, s.arg)
	case opMTU:
		return a.H.LinkSetMTU(l, s.mtu)
	case opSetBond:
		return a.H.LinkModify(bondLink(s.Link, l.Attrs().Index, s.bond))
	case opPrimary:
		b := bondLink(s.Link, l.Attrs().Index, bondChange{})
		b.Primary = 0 // no primary
		if s.arg != "" {
			m, err := a.H.LinkByName(s.arg)
			if err != nil {
				return err
			}
			b.Primary = m.Attrs().Index
		}
		return a.H.LinkModify(b)
	case opDelete:
		return a.H.LinkDel(l)
	case opEnslave:
		m, err := a.H.LinkByName(s.arg)
		if err != nil {
			return err
		}
		return a.H.LinkSetMasterByIndex(l, m.Attrs().Index)
	case opRelease:
		return a.H.LinkSetNoMaster(l)
	case opAddAddr:
		if err := a.H.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(s.addr)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	case opDelAddr:
		if err := a.H.AddrDel(l, &netlink.Addr{IPNet: prefixNet(s.addr)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return err
		}
		return nil
	case opRoute:
		return a.H.RouteReplace(nlRoute(s.route, l.Attrs().Index))
	case opDelRoute:
		if err := a.H.RouteDel(nlRoute(s.route, l.Attrs().Index)); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
		return nil
	}
	return fmt.Errorf("unknown step %d", s.op)
}

// bondLink is a bond message that sets only what c names (index 0:
// create).
func bondLink(name string, index int, c bondChange) *netlink.Bond {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Index = name, index
	b := netlink.NewLinkBond(attrs)
	if c.Mode != "" {
		b.Mode = netlink.StringToBondMode(c.Mode)
	}
	if c.MIIMon != 0 {
		b.Miimon = c.MIIMon
	}
	if c.LACPRate != "" {
		b.LacpRate = netlink.StringToBondLacpRate(c.LACPRate)
	}
	if c.HashPolicy != "" {
		b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(c.HashPolicy)
	}
	return b
}

func nlRoute(r Route, dev int) *netlink.Route {
	k := r.key()
	rt := &netlink.Route{LinkIndex: dev, Gw: r.Via.AsSlice(), Priority: k.metric, Table: k.table}
	if k.to.Bits() > 0 {
		rt.Dst = prefixNet(k.to)
	}
	return rt
}

func routeName(r Route) string {
	if !r.To.IsValid() || r.To.Bits() == 0 {
		return "default"
	}
	return r.To.String()
}

func hasAddr(have []netlink.Addr, p netip.Prefix) bool {
	for _, a := range have {
		if a.IPNet == nil {
			continue
		}
		if pr, ok := prefixOf(a.IPNet); ok && hasPrefix([]netip.Prefix{pr}, p) {
			return true
		}
	}
	return false
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// Check reports how a link differs from e: missing, down, outside its
// bond, or lacking a configured address. It changes nothing.
func Check(h Handle, e Ethernet) error {
	link, err := h.LinkByName(e.Name)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoLink, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return errors.New("link is down")
	}
	if e.Master != "" {
		m, err := h.LinkByName(e.Master)
		if err != nil || m.Attrs().Index != link.Attrs().MasterIndex {
			return fmt.Errorf("not a member of %s", e.Master)
		}
	}
	have, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, p := range e.Addresses {
		if !hasAddr(have, p) {
			return fmt.Errorf("address %s is missing", p)
		}
	}
	return nil
}
