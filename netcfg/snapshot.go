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
	Name      string    `json:"name"`
	Index     int       `json:"index"`
	Kind      string    `json:"kind"` // device, bond, vlan, …
	MAC       string    `json:"mac,omitempty"`
	MTU       int       `json:"mtu"`
	Up        bool      `json:"up"`
	Carrier   bool      `json:"carrier"`
	Master    string    `json:"master,omitempty"`
	Addresses []string  `json:"addresses"`
	Counters  LinkStats `json:"counters"`
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

// RouteInfo is one IPv4/IPv6 route of the main table.
type RouteInfo struct {
	To     string `json:"to"` // "default" or a prefix
	Via    string `json:"via,omitempty"`
	Dev    string `json:"dev"`
	Metric int    `json:"metric,omitempty"`
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
	RouteList(link netlink.Link, family int) ([]netlink.Route, error)
}

// Take reads the running state: every link with its addresses and
// counters, and the main table's routes.
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
		if len(a.HardwareAddr) > 0 {
			li.MAC = a.HardwareAddr.String()
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
	routes, err := r.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return Snapshot{}, fmt.Errorf("list routes: %w", err)
	}
	for _, rt := range routes {
		if rt.Table != 0 && rt.Table != unix.RT_TABLE_MAIN {
			continue
		}
		ri := RouteInfo{To: "default", Dev: names[rt.LinkIndex], Metric: rt.Priority}
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
