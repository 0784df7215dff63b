package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Lease is what a DHCPv4 server granted, in the terms Apply uses.
type Lease struct {
	Address netip.Prefix
	Router  netip.Addr // zero when the server named none
	DNS     []netip.Addr
	Search  []string
	// NTP are the time servers the server offers (option 42).
	NTP      []netip.Addr
	Server   netip.Addr
	Obtained time.Time
	// Duration is the lease time; Renew (T1) and Rebind (T2) are when
	// the client renews with its server and with any server.
	Duration, Renew, Rebind time.Duration
}

// ErrBadLease is returned for an ACK that lacks what a lease needs.
var ErrBadLease = errors.New("unusable DHCP lease")

// leaseFrom reads a lease out of a server's ACK (outside bytes: every
// field is checked).
func leaseFrom(ack *dhcpv4.DHCPv4, now time.Time) (Lease, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsGlobalUnicast() {
		return Lease{}, fmt.Errorf("%w: no usable address (yiaddr %v)", ErrBadLease, ack.YourIPAddr)
	}
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		ones, size := m.Size()
		if size != 32 || ones == 0 {
			return Lease{}, fmt.Errorf("%w: subnet mask %v", ErrBadLease, m)
		}
		bits = ones
	}
	l := Lease{Address: netip.PrefixFrom(ip, bits), Obtained: now}
	if rs := ack.Router(); len(rs) > 0 {
		if r, ok := netip.AddrFromSlice(rs[0].To4()); ok {
			l.Router = r
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			l.DNS = append(l.DNS, a)
		}
	}
	for _, n := range ack.NTPServers() {
		if a, ok := netip.AddrFromSlice(n.To4()); ok && !a.IsUnspecified() {
			l.NTP = append(l.NTP, a)
		}
	}
	if s := ack.DomainSearch(); s != nil {
		l.Search = s.Labels
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.Server = s
	}
	l.Duration = ack.IPAddressLeaseTime(time.Hour)
	if l.Duration < 10*time.Second {
		l.Duration = 10 * time.Second // a lease shorter than a renewal round trip is useless
	}
	l.Renew = ack.IPAddressRenewalTime(l.Duration / 2)
	l.Rebind = ack.IPAddressRebindingTime(l.Duration * 7 / 8)
	if l.Renew <= 0 || l.Renew > l.Duration {
		l.Renew = l.Duration / 2
	}
	if l.Rebind <= l.Renew || l.Rebind > l.Duration {
		l.Rebind = l.Duration * 7 / 8
	}
	return l, nil
}

// exchanger is the DHCP conversation; nclient4 implements it over a raw
// socket, tests script it.
type exchanger interface {
	Request(ctx context.Context, modifiers ...dhcpv4.Modifier) (*nclient4.Lease, error)
	Renew(ctx context.Context, lease *nclient4.Lease, modifiers ...dhcpv4.Modifier) (*nclient4.Lease, error)
	Close() error
}

// DHCP keeps an interface's DHCPv4 lease: acquire, apply, renew at T1
// (or RenewEvery if set), start over when a renewal fails past T2.
type DHCP struct {
	Link string
	H    Handle
	// Now and After are the clock (time.Now and time.After outside tests).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// RenewEvery, when non-zero, renews earlier than the server asks
	// (RFC 2131 lets a client renew at any time); tests use it.
	RenewEvery time.Duration
	// OnLease is called after each lease is applied; renewed says
	// whether it extends the previous one.
	OnLease func(l Lease, renewed bool)
	// OnError is called when an exchange fails and will be retried.
	OnError func(err error)

	dial func(link string) (exchanger, error)
}

// Run keeps the lease until ctx is done. It returns only then, or when
// the interface cannot be used at all.
func (d *DHCP) Run(ctx context.Context) error {
	dial := d.dial
	if dial == nil {
		dial = func(link string) (exchanger, error) {
			return nclient4.New(link, nclient4.WithTimeout(3*time.Second), nclient4.WithRetry(3))
		}
	}
	c, err := dial(d.Link)
	if err != nil {
		return fmt.Errorf("dhcp on %s: %w", d.Link, err)
	}
	defer c.Close()
	// Beyond nclient4's mask, router, domain name and DNS: the search
	// list and the NTP servers.
	requested := dhcpv4.WithRequestedOptions(dhcpv4.OptionDNSDomainSearchList, dhcpv4.OptionNTPServers)
	var cur *nclient4.Lease
	var lease Lease
	backoff := time.Second
	for {
		var next *nclient4.Lease
		var err error
		renewing := cur != nil
		if renewing {
			next, err = c.Renew(ctx, cur, requested)
		} else {
			next, err = c.Request(ctx, requested)
		}
		if err == nil {
			var l Lease
			l, err = leaseFrom(next.ACK, d.Now())
			if err == nil {
				err = d.apply(l, lease)
			}
			if err == nil {
				cur, lease, backoff = next, l, time.Second
				d.OnLease(l, renewing)
			}
		}
		wait := lease.Renew
		if d.RenewEvery > 0 && d.RenewEvery < wait {
			wait = d.RenewEvery
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.OnError(err)
			wait = backoff
			backoff = min(backoff*2, time.Minute)
			if renewing && d.Now().Sub(lease.Obtained) >= lease.Rebind {
				cur = nil // past T2: start over with DISCOVER
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.After(wait):
		}
	}
}

// apply installs l (address with its lifetime, default route) and drops
// the previous lease's address if it changed.
func (d *DHCP) apply(l, prev Lease) error {
	link, err := d.H.LinkByName(d.Link)
	if err != nil {
		return err
	}
	secs := int(l.Duration / time.Second)
	addr := &netlink.Addr{IPNet: prefixNet(l.Address), ValidLft: secs, PreferedLft: secs}
	if err := d.H.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s: %w", l.Address, err)
	}
	if prev.Address.IsValid() && prev.Address != l.Address {
		if err := d.H.AddrDel(link, &netlink.Addr{IPNet: prefixNet(prev.Address)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("drop old address %s: %w", prev.Address, err)
		}
	}
	if l.Router.IsValid() {
		if err := d.H.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.Router.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s: %w", l.Router, err)
		}
	}
	return nil
}

// Resolver is what the lease offers the resolver.
func (l Lease) Resolver() DNS { return DNS{Servers: l.DNS, Search: l.Search} }

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
