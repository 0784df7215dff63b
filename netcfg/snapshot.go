package netcfg

import (
	"fmt"
	"net"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkInfo is one interface as `keep ctl net` shows it.
type LinkInfo struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	Kind  string `json:"kind"` // device, bond, vlan, …
	// AltNames are alternative names; a port Keep renamed keeps the
	// name the kernel gave it as one.
	AltNames []string `json:"alt_names,omitempty"`
	MAC      string   `json:"mac,omitempty"`
	// PermMAC is the port's permanent address where the kernel reports
	// one (a bond rewrites its members' current address).
	PermMAC   string    `json:"perm_mac,omitempty"`
	MTU       int       `json:"mtu"`
	Up        bool      `json:"up"`
	Carrier   bool      `json:"carrier"`
	Master    string    `json:"master,omitempty"`
	Addresses []string  `json:"addresses"`
	Counters  LinkStats `json:"counters"`
	Bond      *BondInfo `json:"bond,omitempty"`
	VLAN      *VLANInfo `json:"vlan,omitempty"`
}

// BondInfo is a bond's driver state.
type BondInfo struct {
	Mode       string `json:"mode"`
	MIIMon     int    `json:"miimon"`
	Primary    string `json:"primary,omitempty"`
	LACPRate   string `json:"lacp_rate,omitempty"` // 802.3ad only
	HashPolicy string `json:"transmit_hash_policy"`
	// ActiveSlave is the member carrying the traffic (active-backup,
	// balance-tlb/alb), "" when none is.
	ActiveSlave string `json:"active_slave,omitempty"`
}

// VLANInfo is a VLAN's tag and the link it rides on.
type VLANInfo struct {
	ID   int    `json:"id"`
	Link string `json:"link"`
}

// LinkStats are the kernel's interface counters since boot.
type LinkStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// RouteInfo is one IPv4/IPv6 unicast route of the main table or of a
// numbered table (the local and default tables are not shown).
type RouteInfo struct {
	To     string `json:"to"` // "default" or a prefix
	Via    string `json:"via,omitempty"`
	Dev    string `json:"dev"`
	Metric int    `json:"metric,omitempty"`
	// Table is 0 for the main table.
	Table int `json:"table,omitempty"`
	// IPv6 tells an IPv6 default route from an IPv4 one.
	IPv6 bool `json:"ipv6,omitempty"`
}

// Snapshot is the running network state.
type Snapshot struct {
	Links  []LinkInfo  `json:"links"`
	Routes []RouteInfo `json:"routes"`
}

// Reader is the part of netlink that Snapshot reads; *netlink.Handle
// implements it.
type Reader interface {
	LinkList() ([]netlink.Link, error)
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
}

// Take reads the running state: every link with its addresses,
// counters and bond or VLAN settings, and the routes of every table but
// the local and default ones. It is also what Plan compares the
// configuration with.
func Take(r Reader) (Snapshot, error) {
	links, err := r.LinkList()
	if err != nil {
		return Snapshot{}, fmt.Errorf("list links: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var s Snapshot
	for _, l := range links {
		a := l.Attrs()
		st := stateOf(l)
		li := LinkInfo{Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, Up: st.Up, Carrier: st.Carrier,
			Master: names[a.MasterIndex], Addresses: []string{}}
		if len(a.AltNames) > 0 {
			li.AltNames = a.AltNames
		}
		if len(a.HardwareAddr) > 0 {
			li.MAC = a.HardwareAddr.String()
		}
		if len(a.PermHWAddr) > 0 {
			li.PermMAC = a.PermHWAddr.String()
		} else if bs, ok := a.Slave.(*netlink.BondSlave); ok && len(bs.PermHardwareAddr) > 0 {
			li.PermMAC = bs.PermHardwareAddr.String()
		}
		switch l := l.(type) {
		case *netlink.Bond:
			li.Bond = &BondInfo{Mode: l.Mode.String(), MIIMon: l.Miimon, Primary: names[l.Primary],
				HashPolicy: l.XmitHashPolicy.String(), ActiveSlave: names[l.ActiveSlave]}
			if l.Mode == netlink.BOND_MODE_802_3AD {
				li.Bond.LACPRate = l.LacpRate.String()
			}
		case *netlink.Vlan:
			li.VLAN = &VLANInfo{ID: l.VlanId, Link: names[a.ParentIndex]}
		}
		if c := a.Statistics; c != nil {
			li.Counters = LinkStats{c.RxBytes, c.TxBytes, c.RxPackets, c.TxPackets, c.RxErrors, c.TxErrors, c.RxDropped, c.TxDropped}
		}
		addrs, err := r.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return Snapshot{}, fmt.Errorf("%s: list addresses: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.IPNet != nil && !ad.IP.IsLinkLocalUnicast() {
				li.Addresses = append(li.Addresses, ad.IPNet.String())
			}
		}
		s.Links = append(s.Links, li)
	}
	// Table 0 (RT_TABLE_UNSPEC) with the table filter asks for every table.
	routes, err := r.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return Snapshot{}, fmt.Errorf("list routes: %w", err)
	}
	for _, rt := range routes {
		if rt.Table == unix.RT_TABLE_LOCAL || rt.Table == unix.RT_TABLE_DEFAULT || (rt.Type != 0 && rt.Type != unix.RTN_UNICAST) {
			continue
		}
		ri := RouteInfo{To: "default", Dev: names[rt.LinkIndex], Metric: rt.Priority, IPv6: isIPv6Route(rt)}
		if rt.Table != unix.RT_TABLE_MAIN {
			ri.Table = rt.Table
		}
		if rt.Dst != nil && !isDefault(rt.Dst) {
			ri.To = rt.Dst.String()
		}
		if rt.Gw != nil {
			ri.Via = rt.Gw.String()
		}
		s.Routes = append(s.Routes, ri)
	}
	if s.Routes == nil {
		s.Routes = []RouteInfo{}
	}
	return s, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func isIPv6Route(rt netlink.Route) bool {
	switch {
	case rt.Family != 0:
		return rt.Family == unix.AF_INET6
	case rt.Dst != nil:
		return rt.Dst.IP.To4() == nil
	default:
		return rt.Gw != nil && rt.Gw.To4() == nil
	}
}
