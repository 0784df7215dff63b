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

// Ethernet is the desired state of one interface.
type Ethernet struct {
	Name      string
	Addresses []netip.Prefix
	Routes    []Route
	MTU       int // 0 leaves the MTU alone
	// DHCP4 asks for an address by DHCP (see DHCP) in addition to the
	// static ones.
	DHCP4 bool
}

// Route is a static route; a zero To is the default route.
type Route struct {
	To  netip.Prefix
	Via netip.Addr
}

// Handle is the part of netlink that Apply uses. *netlink.Handle
// implements it. Errors are the kernel's (unix.Errno) wrapped by netlink.
type Handle interface {
	LinkByName(name string) (netlink.Link, error)
	LinkSetUp(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrReplace(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	RouteReplace(route *netlink.Route) error
}

// Change is one thing Apply did, for the log.
type Change struct {
	Link, What string
}

// Applier applies configurations through a Handle.
type Applier struct {
	H Handle
	// LinkWait bounds how long Apply waits for a named link to appear
	// (drivers probe asynchronously at boot).
	LinkWait time.Duration
	// Poll is how often it looks again while waiting.
	Poll time.Duration
}

// ErrNoLink is returned when a configured interface does not exist.
var ErrNoLink = errors.New("no such network interface")

// Apply brings loopback and every ethernet up and adds their missing
// addresses and routes. It returns what it changed.
func (a Applier) Apply(ctx context.Context, eths []Ethernet) ([]Change, error) {
	var changes []Change
	lo, err := a.H.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := a.H.LinkSetUp(lo); err != nil {
			return nil, fmt.Errorf("loopback up: %w", err)
		}
		changes = append(changes, Change{"lo", "up"})
	}
	for _, e := range eths {
		c, err := a.applyOne(ctx, e)
		changes = append(changes, c...)
		if err != nil {
			return changes, fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return changes, nil
}

func (a Applier) waitLink(ctx context.Context, name string) (netlink.Link, error) {
	deadline := time.Now().Add(a.LinkWait)
	for {
		l, err := a.H.LinkByName(name)
		if err == nil {
			return l, nil
		}
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w after %s (is its driver loaded? `keep ctl logs` shows module loading)", ErrNoLink, a.LinkWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(a.Poll):
		}
	}
}

func (a Applier) applyOne(ctx context.Context, e Ethernet) ([]Change, error) {
	var changes []Change
	link, err := a.waitLink(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	if e.MTU != 0 && link.Attrs().MTU != e.MTU {
		if err := a.H.LinkSetMTU(link, e.MTU); err != nil {
			return changes, fmt.Errorf("set mtu %d: %w", e.MTU, err)
		}
		changes = append(changes, Change{e.Name, fmt.Sprintf("mtu %d", e.MTU)})
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := a.H.LinkSetUp(link); err != nil {
			return changes, fmt.Errorf("set up: %w", err)
		}
		changes = append(changes, Change{e.Name, "up"})
	}
	have, err := a.H.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return changes, fmt.Errorf("list addresses: %w", err)
	}
	for _, p := range e.Addresses {
		if hasAddr(have, p) {
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := a.H.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return changes, fmt.Errorf("add address %s: %w", p, err)
		}
		changes = append(changes, Change{e.Name, "address " + p.String()})
	}
	for _, r := range e.Routes {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: r.Via.AsSlice()}
		if r.To.IsValid() && r.To.Bits() > 0 {
			route.Dst = &net.IPNet{IP: r.To.Masked().Addr().AsSlice(), Mask: net.CIDRMask(r.To.Bits(), r.To.Addr().BitLen())}
		}
		if err := a.H.RouteReplace(route); err != nil {
			return changes, fmt.Errorf("route %s via %s: %w", routeName(r), r.Via, err)
		}
		changes = append(changes, Change{e.Name, fmt.Sprintf("route %s via %s", routeName(r), r.Via)})
	}
	return changes, nil
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
		ip, ok := netip.AddrFromSlice(a.IPNet.IP)
		ones, _ := a.IPNet.Mask.Size()
		if ok && ip.Unmap() == p.Addr().Unmap() && ones == p.Bits() {
			return true
		}
	}
	return false
}

// Check reports how a link differs from e: missing, down, or lacking a
// configured address. It changes nothing.
func Check(h Handle, e Ethernet) error {
	link, err := h.LinkByName(e.Name)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoLink, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return errors.New("link is down")
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
