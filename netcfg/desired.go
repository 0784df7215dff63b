package netcfg

import (
	"fmt"
	"net"
	"net/netip"
)

// Kind is what sort of interface a desired link is.
type Kind string

const (
	// KindEthernet is a port the hardware provides (the zero value).
	KindEthernet Kind = ""
	// KindBond is a bond Keep creates over ethernets.
	KindBond Kind = "bond"
	// KindVLAN is an 802.1Q VLAN Keep creates on an ethernet or a bond.
	KindVLAN Kind = "vlan"
)

// Ethernet is the desired state of one interface: a port, a bond or a
// VLAN (the type keeps the name it had when ports were all there was).
type Ethernet struct {
	// Name is the interface's final name.
	Name string
	Kind Kind
	// Match finds a port by address or name pattern and renames it to
	// Name; nil means the port is the link called Name.
	Match *PortMatch
	// Master is the bond this port is a member of.
	Master string
	// Bond holds a bond's settings (KindBond only).
	Bond *BondSpec
	// VLAN holds a VLAN's tag and parent (KindVLAN only).
	VLAN      *VLANSpec
	Addresses []netip.Prefix
	Routes    []Route
	MTU       int // 0 leaves the MTU alone
	// DHCP4 asks for an address by DHCP (see DHCP) in addition to the
	// static ones.
	DHCP4 bool
}

// PortMatch selects a port; every criterion given must hold.
type PortMatch struct {
	// MAC is compared with the permanent address where the kernel
	// reports one, else with the current address.
	MAC net.HardwareAddr
	// Name is a path.Match pattern over the kernel's name.
	Name string
}

// BondSpec is a bond's driver settings and members.
type BondSpec struct {
	// Mode is the kernel's name of the mode (active-backup, 802.3ad, …).
	Mode string
	// Members are the ports' final names.
	Members []string
	// Primary is the preferred member; "" means none.
	Primary string
	// MIIMon is the link check period in milliseconds.
	MIIMon int
	// LACPRate and HashPolicy are left as the kernel has them when "".
	LACPRate, HashPolicy string
}

// VLANSpec is a VLAN's tag and the link it rides on.
type VLANSpec struct {
	ID   int
	Link string
}

// Route is a static route; a zero To is the default route (of Via's
// family). Table 0 is the main table.
type Route struct {
	To     netip.Prefix
	Via    netip.Addr
	Metric int
	Table  int
}

// DNS is a resolver configuration: name servers in order of preference
// and search domains.
type DNS struct {
	Servers []netip.Addr
	Search  []string
}

// Desired converts a validated configuration into the interface states
// Apply works on: ethernets, then bonds, then VLANs, each sorted by name.
func (c Config) Desired() ([]Ethernet, error) {
	var out []Ethernet
	master := map[string]string{}
	for _, key := range sortedKeys(c.Bonds) {
		for _, m := range c.Bonds[key].Interfaces {
			master[m] = key
		}
	}
	for _, key := range sortedKeys(c.Ethernets) {
		e := c.Ethernets[key]
		ne, err := desiredIface(e.Name(key), e.Interface)
		if err != nil {
			return nil, fmt.Errorf("ethernets.%s%w", key, err)
		}
		ne.Master = master[ne.Name]
		if e.Match != nil {
			ne.Match = &PortMatch{Name: e.Match.Name}
			if e.Match.MACAddress != "" {
				if ne.Match.MAC, err = net.ParseMAC(e.Match.MACAddress); err != nil {
					return nil, fmt.Errorf("ethernets.%s.match.macaddress: %w", key, err)
				}
			}
		}
		out = append(out, ne)
	}
	for _, key := range sortedKeys(c.Bonds) {
		b := c.Bonds[key]
		nb, err := desiredIface(key, b.Interface)
		if err != nil {
			return nil, fmt.Errorf("bonds.%s%w", key, err)
		}
		p := b.Parameters
		nb.Kind = KindBond
		nb.Bond = &BondSpec{Mode: p.Mode, Members: append([]string(nil), b.Interfaces...), Primary: p.Primary,
			MIIMon: p.MIIMonitorInterval, LACPRate: p.LACPRate, HashPolicy: p.TransmitHashPolicy}
		if nb.Bond.Mode == "" {
			nb.Bond.Mode = "active-backup"
		}
		if nb.Bond.MIIMon == 0 {
			nb.Bond.MIIMon = 100
		}
		out = append(out, nb)
	}
	for _, key := range sortedKeys(c.VLANs) {
		v := c.VLANs[key]
		nv, err := desiredIface(key, v.Interface)
		if err != nil {
			return nil, fmt.Errorf("vlans.%s%w", key, err)
		}
		nv.Kind = KindVLAN
		nv.VLAN = &VLANSpec{ID: v.ID, Link: v.Link}
		out = append(out, nv)
	}
	return out, nil
}

// desiredIface converts what every kind of interface carries; errors
// start with the field's path below the interface.
func desiredIface(name string, in Interface) (Ethernet, error) {
	ne := Ethernet{Name: name, MTU: in.MTU, DHCP4: in.DHCP4}
	for i, s := range in.Addresses {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Ethernet{}, fmt.Errorf(".addresses[%d]: %w", i, err)
		}
		ne.Addresses = append(ne.Addresses, p)
	}
	for i, r := range in.Routes {
		nr, err := routeFromConfig(r)
		if err != nil {
			return Ethernet{}, fmt.Errorf(".routes[%d]: %w", i, err)
		}
		ne.Routes = append(ne.Routes, nr)
	}
	return ne, nil
}

func routeFromConfig(r RouteConfig) (Route, error) {
	nr := Route{Metric: r.Metric, Table: r.Table}
	var err error
	if r.To != "default" {
		if nr.To, err = netip.ParsePrefix(r.To); err != nil {
			return Route{}, err
		}
	}
	if nr.Via, err = netip.ParseAddr(r.Via); err != nil {
		return Route{}, err
	}
	return nr, nil
}

// routeKey is what the kernel tells routes apart by (with TOS, which
// Keep does not set): a second route with the same key replaces the
// first.
type routeKey struct {
	to     netip.Prefix // masked; 0.0.0.0/0 or ::/0 for a default route
	table  int          // 0 is main
	metric int          // IPv6's implicit 1024 made explicit
}

func (r Route) key() routeKey {
	to := r.To
	if !to.IsValid() || to.Bits() == 0 {
		if r.Via.Is4() || r.Via.Is4In6() {
			to = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		} else {
			to = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	to = to.Masked()
	k := routeKey{to: to, table: r.Table, metric: r.Metric}
	if k.table == 254 { // RT_TABLE_MAIN
		k.table = 0
	}
	if to.Addr().Is6() && k.metric == 0 {
		k.metric = 1024 // the kernel's IP6_RT_PRIO_USER
	}
	return k
}

// DNS gathers the configuration's static name servers and search
// domains: ethernets, then bonds, then VLANs, each sorted by name,
// without repeats.
func (c Config) DNS() DNS {
	var all []Nameservers
	for _, key := range sortedKeys(c.Ethernets) {
		all = append(all, c.Ethernets[key].Nameservers)
	}
	for _, key := range sortedKeys(c.Bonds) {
		all = append(all, c.Bonds[key].Nameservers)
	}
	for _, key := range sortedKeys(c.VLANs) {
		all = append(all, c.VLANs[key].Nameservers)
	}
	var d DNS
	for _, ns := range all {
		for _, s := range ns.Addresses {
			if a, err := netip.ParseAddr(s); err == nil {
				d.Servers = append(d.Servers, a)
			}
		}
		d.Search = append(d.Search, ns.Search...)
	}
	return MergeDNS(d)
}

// TimeServers is what the NTP client asks: the configured servers, or
// else those the DHCP leases offer (option 42), without repeats.
func (c Config) TimeServers(leases ...Lease) []string {
	if len(c.NTP.Servers) > 0 {
		return append([]string(nil), c.NTP.Servers...)
	}
	var out []string
	seen := map[netip.Addr]bool{}
	for _, l := range leases {
		for _, a := range l.NTP {
			if !seen[a] {
				seen[a] = true
				out = append(out, a.String())
			}
		}
	}
	return out
}
