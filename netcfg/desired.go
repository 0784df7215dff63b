package netcfg

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNotYet is returned for configuration the appliance accepts but does
// not apply yet; the network service fails with it rather than ignoring
// part of the configuration.
var ErrNotYet = errors.New("not applied by this firmware yet")

// Desired converts a validated configuration into the interface states
// Apply works on.
func (c Config) Desired() ([]Ethernet, error) {
	switch {
	case len(c.Bonds) > 0:
		return nil, fmt.Errorf("bonds: %w", ErrNotYet)
	case len(c.VLANs) > 0:
		return nil, fmt.Errorf("vlans: %w", ErrNotYet)
	}
	var out []Ethernet
	for _, key := range sortedKeys(c.Ethernets) {
		e := c.Ethernets[key]
		switch {
		case e.Match != nil:
			return nil, fmt.Errorf("ethernets.%s.match: %w", key, ErrNotYet)
		case len(e.Nameservers.Addresses) > 0 || len(e.Nameservers.Search) > 0:
			return nil, fmt.Errorf("ethernets.%s.nameservers: %w", key, ErrNotYet)
		}
		ne := Ethernet{Name: key, MTU: e.MTU, DHCP4: e.DHCP4}
		for _, s := range e.Addresses {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("ethernets.%s: %w", key, err)
			}
			ne.Addresses = append(ne.Addresses, p)
		}
		for i, r := range e.Routes {
			if r.Metric != 0 || r.Table != 0 {
				return nil, fmt.Errorf("ethernets.%s.routes[%d]: metric and table: %w", key, i, ErrNotYet)
			}
			var nr Route
			var err error
			if r.To != "default" {
				if nr.To, err = netip.ParsePrefix(r.To); err != nil {
					return nil, fmt.Errorf("ethernets.%s.routes[%d]: %w", key, i, err)
				}
			}
			if nr.Via, err = netip.ParseAddr(r.Via); err != nil {
				return nil, fmt.Errorf("ethernets.%s.routes[%d]: %w", key, i, err)
			}
			ne.Routes = append(ne.Routes, nr)
		}
		out = append(out, ne)
	}
	return out, nil
}
