package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Config is the network section of the appliance configuration, in the
// netplan style Linux administrators know: ethernets (matched by MAC or
// name and renamed to stable names), bonds and VLANs, each with static
// addresses and/or DHCPv4, routes, name servers and MTU.
type Config struct {
	Ethernets map[string]EthernetConfig `yaml:"ethernets,omitempty" json:"ethernets,omitempty"`
	Bonds     map[string]BondConfig     `yaml:"bonds,omitempty" json:"bonds,omitempty"`
	VLANs     map[string]VLANConfig     `yaml:"vlans,omitempty" json:"vlans,omitempty"`
	// NTP names the time servers; without any, the NTP client uses the
	// servers a DHCP lease offers (option 42).
	NTP NTPConfig `yaml:"ntp,omitempty" json:"ntp,omitempty"`
}

// NTPConfig configures the time client.
type NTPConfig struct {
	// Servers are host names or IP addresses (UDP port 123).
	Servers []string `yaml:"servers,omitempty" json:"servers,omitempty"`
}

// Interface is what every kind of interface may carry.
type Interface struct {
	DHCP4       bool          `yaml:"dhcp4,omitempty" json:"dhcp4,omitempty"`
	Addresses   []string      `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	Routes      []RouteConfig `yaml:"routes,omitempty" json:"routes,omitempty"`
	Nameservers Nameservers   `yaml:"nameservers,omitempty" json:"nameservers,omitempty"`
	MTU         int           `yaml:"mtu,omitempty" json:"mtu,omitempty"`
}

// EthernetConfig is a physical port. Without Match the key is the
// kernel's interface name. With Match the matched port is renamed to
// SetName, or to the key when SetName is empty: every port Keep
// configures ends up with the stable name the configuration gives it.
type EthernetConfig struct {
	Interface `yaml:",inline" json:",inline"`
	Match     *Match `yaml:"match,omitempty" json:"match,omitempty"`
	// SetName renames the matched port (only with Match).
	SetName string `yaml:"set-name,omitempty" json:"set-name,omitempty"`
}

// Match selects a port by MAC address and/or kernel name glob. The MAC
// is compared with the port's permanent address where the kernel knows
// it (a bond changes its members' current address). The glob is also
// tried on the kernel name a rename kept as an alternative name, and a
// port already carrying the configured name counts as matched unless
// its kept kernel name contradicts the glob, so renamed ports are found
// again. A match must select exactly one port.
type Match struct {
	MACAddress string `yaml:"macaddress,omitempty" json:"macaddress,omitempty"`
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
}

// BondConfig aggregates ethernets.
type BondConfig struct {
	Interface  `yaml:",inline" json:",inline"`
	Interfaces []string       `yaml:"interfaces" json:"interfaces"`
	Parameters BondParameters `yaml:"parameters,omitempty" json:"parameters,omitempty"`
}

// BondParameters are the bonding driver's settings.
type BondParameters struct {
	// Mode is active-backup (default), 802.3ad, balance-rr,
	// balance-xor, broadcast, balance-tlb or balance-alb.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Primary is the preferred slave in active-backup mode.
	Primary string `yaml:"primary,omitempty" json:"primary,omitempty"`
	// MIIMonitorInterval is the link check period in milliseconds
	// (default 100).
	MIIMonitorInterval int `yaml:"mii-monitor-interval,omitempty" json:"mii-monitor-interval,omitempty"`
	// LACPRate is slow or fast (802.3ad only).
	LACPRate string `yaml:"lacp-rate,omitempty" json:"lacp-rate,omitempty"`
	// TransmitHashPolicy is layer2, layer3+4, layer2+3, encap2+3 or
	// encap3+4.
	TransmitHashPolicy string `yaml:"transmit-hash-policy,omitempty" json:"transmit-hash-policy,omitempty"`
}

// VLANConfig is an 802.1Q VLAN on an ethernet or bond.
type VLANConfig struct {
	Interface `yaml:",inline" json:",inline"`
	ID        int    `yaml:"id" json:"id"`
	Link      string `yaml:"link" json:"link"`
}

// RouteConfig is a static route; To is a CIDR prefix or "default".
type RouteConfig struct {
	To     string `yaml:"to" json:"to"`
	Via    string `yaml:"via" json:"via"`
	Metric int    `yaml:"metric,omitempty" json:"metric,omitempty"`
	Table  int    `yaml:"table,omitempty" json:"table,omitempty"`
}

// Nameservers configure DNS.
type Nameservers struct {
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	Search    []string `yaml:"search,omitempty" json:"search,omitempty"`
}

// FieldError is a validation problem with one field; Path is relative to
// the network section (ethernets.lan0.mtu).
type FieldError struct {
	Path, Problem string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

var (
	ifnameRE   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	domainRE   = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	bondModes  = set("active-backup", "802.3ad", "balance-rr", "balance-xor", "broadcast", "balance-tlb", "balance-alb")
	hashPolicy = set("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4")
)

func set(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks the whole section and returns every problem as a
// *FieldError, joined in a stable order.
func (c Config) Validate() error {
	v := &validator{}
	names := map[string]string{} // interface name → where it is declared
	declare := func(path, name string) {
		if prev, ok := names[name]; ok {
			v.bad(path, "interface %q is already declared at %s", name, prev)
			return
		}
		names[name] = path
	}
	for _, key := range sortedKeys(c.Ethernets) {
		e := c.Ethernets[key]
		p := "ethernets." + key
		v.name(p, key)
		if e.Match != nil {
			if e.Match.MACAddress == "" && e.Match.Name == "" {
				v.bad(p+".match", "names neither macaddress nor name")
			}
			if e.Match.MACAddress != "" {
				if hw, err := net.ParseMAC(e.Match.MACAddress); err != nil || len(hw) != 6 {
					v.bad(p+".match.macaddress", "%q is not a MAC address like 52:54:00:12:34:56", e.Match.MACAddress)
				}
			}
			if e.Match.Name != "" {
				if _, err := path.Match(e.Match.Name, ""); err != nil {
					v.bad(p+".match.name", "%q is not a name pattern like enp*s0 (%v)", e.Match.Name, err)
				}
			}
		}
		if e.SetName != "" {
			if e.Match == nil {
				v.bad(p+".set-name", "needs a match to say which port to rename")
			}
			v.name(p+".set-name", e.SetName)
		}
		declare(p, e.Name(key))
		v.iface(p, e.Interface)
	}
	members := map[string]string{}
	for _, key := range sortedKeys(c.Bonds) {
		b := c.Bonds[key]
		p := "bonds." + key
		v.name(p, key)
		declare(p, key)
		v.iface(p, b.Interface)
		if len(b.Interfaces) == 0 {
			v.bad(p+".interfaces", "a bond needs at least one ethernet")
		}
		for i, m := range b.Interfaces {
			mp := fmt.Sprintf("%s.interfaces[%d]", p, i)
			eth, ok := c.ethernetNamed(m)
			switch {
			case !ok:
				v.bad(mp, "%q is not an ethernet declared under ethernets", m)
			case members[m] != "":
				v.bad(mp, "%q is already a member of %s", m, members[m])
			case eth.DHCP4 || len(eth.Addresses) > 0 || len(eth.Routes) > 0:
				v.bad(mp, "%q carries addresses, routes or dhcp4; a bond member must not (put them on the bond)", m)
			case eth.MTU != 0:
				v.bad(mp, "%q sets an mtu; the bond sets its members' MTU (put it on the bond)", m)
			}
			members[m] = key
		}
		bp := b.Parameters
		if bp.Mode != "" && !bondModes[bp.Mode] {
			v.bad(p+".parameters.mode", "%q is not one of active-backup, 802.3ad, balance-rr, balance-xor, broadcast, balance-tlb, balance-alb", bp.Mode)
		}
		if bp.Primary != "" && !contains(b.Interfaces, bp.Primary) {
			v.bad(p+".parameters.primary", "%q is not one of the bond's interfaces", bp.Primary)
		}
		if bp.Primary != "" && bp.Mode != "" && bp.Mode != "active-backup" && bp.Mode != "balance-tlb" && bp.Mode != "balance-alb" {
			v.bad(p+".parameters.primary", "only applies to active-backup, balance-tlb and balance-alb")
		}
		if bp.MIIMonitorInterval < 0 || bp.MIIMonitorInterval > 60000 {
			v.bad(p+".parameters.mii-monitor-interval", "%d ms is outside 0-60000", bp.MIIMonitorInterval)
		}
		if bp.LACPRate != "" && bp.LACPRate != "slow" && bp.LACPRate != "fast" {
			v.bad(p+".parameters.lacp-rate", "%q is neither slow nor fast", bp.LACPRate)
		}
		if bp.LACPRate != "" && bp.Mode != "802.3ad" {
			v.bad(p+".parameters.lacp-rate", "only applies to mode 802.3ad")
		}
		if bp.TransmitHashPolicy != "" && !hashPolicy[bp.TransmitHashPolicy] {
			v.bad(p+".parameters.transmit-hash-policy", "%q is not one of layer2, layer3+4, layer2+3, encap2+3, encap3+4", bp.TransmitHashPolicy)
		}
	}
	for _, key := range sortedKeys(c.VLANs) {
		vl := c.VLANs[key]
		p := "vlans." + key
		v.name(p, key)
		declare(p, key)
		v.iface(p, vl.Interface)
		if vl.ID < 1 || vl.ID > 4094 {
			v.bad(p+".id", "%d is outside 1-4094", vl.ID)
		}
		parentMTU := 0
		if eth, isEth := c.ethernetNamed(vl.Link); isEth {
			parentMTU = eth.MTU
			if _, member := members[vl.Link]; member {
				v.bad(p+".link", "%q is a bond member; put the VLAN on the bond", vl.Link)
			}
		} else if b, isBond := c.Bonds[vl.Link]; isBond {
			parentMTU = b.MTU
		} else {
			v.bad(p+".link", "%q is neither an ethernet nor a bond declared here", vl.Link)
		}
		if vl.MTU != 0 && parentMTU != 0 && vl.MTU > parentMTU {
			v.bad(p+".mtu", "%d is more than %s's mtu %d", vl.MTU, vl.Link, parentMTU)
		}
	}
	v.routeKeys(c)
	for i, s := range c.NTP.Servers {
		if _, err := netip.ParseAddr(s); err != nil && !domainRE.MatchString(strings.TrimSuffix(s, ".")) {
			v.bad(fmt.Sprintf("ntp.servers[%d]", i), "%q is neither an IP address nor a host name", s)
		}
	}
	return errors.Join(v.errs...)
}

// Name is the interface name an ethernet ends up with.
func (e EthernetConfig) Name(key string) string {
	if e.SetName != "" {
		return e.SetName
	}
	return key
}

// ethernetNamed finds an ethernet by its final interface name.
func (c Config) ethernetNamed(name string) (EthernetConfig, bool) {
	for key, e := range c.Ethernets {
		if e.Name(key) == name {
			return e, true
		}
	}
	return EthernetConfig{}, false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type validator struct{ errs []error }

func (v *validator) bad(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) name(path, name string) {
	if !ifnameRE.MatchString(name) {
		v.bad(path, "%q is not an interface name (1-15 letters, digits, '_', '.', '-')", name)
	}
}

func (v *validator) iface(p string, in Interface) {
	for i, a := range in.Addresses {
		if _, err := netip.ParsePrefix(a); err != nil {
			v.bad(fmt.Sprintf("%s.addresses[%d]", p, i), "%q is not an address in CIDR form like 192.0.2.10/24", a)
		}
	}
	for i, r := range in.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		if r.To != "default" {
			if _, err := netip.ParsePrefix(r.To); err != nil {
				v.bad(rp+".to", "%q is neither \"default\" nor a CIDR prefix", r.To)
			}
		}
		via, err := netip.ParseAddr(r.Via)
		switch {
		case err != nil:
			v.bad(rp+".via", "%q is not a gateway IP address", r.Via)
		case via.IsUnspecified() || via.IsMulticast() || via.IsLoopback() || via.Zone() != "":
			v.bad(rp+".via", "%s cannot be a gateway", r.Via)
		case !in.DHCP4 && !via.IsLinkLocalUnicast() && !onLink(in.Addresses, via):
			// The kernel wants the gateway on a network of the
			// interface (DHCP may bring one; IPv6 link-local always is).
			v.bad(rp+".via", "%s is not on any of the interface's networks (%s)", r.Via, strings.Join(in.Addresses, ", "))
		}
		if to, err := netip.ParsePrefix(r.To); err == nil && via.IsValid() && to.Addr().Is4() != via.Is4() {
			v.bad(rp+".via", "%s and %s are not of the same IP family", r.Via, r.To)
		}
		if r.Metric < 0 {
			v.bad(rp+".metric", "must not be negative")
		}
		if r.Table < 0 || r.Table > 0xfffffff0 {
			v.bad(rp+".table", "%d is not a routing table number", r.Table)
		}
	}
	for i, a := range in.Nameservers.Addresses {
		if _, err := netip.ParseAddr(a); err != nil {
			v.bad(fmt.Sprintf("%s.nameservers.addresses[%d]", p, i), "%q is not an IP address", a)
		}
	}
	for i, d := range in.Nameservers.Search {
		if !domainRE.MatchString(strings.TrimSuffix(d, ".")) {
			v.bad(fmt.Sprintf("%s.nameservers.search[%d]", p, i), "%q is not a domain name", d)
		}
	}
	if in.MTU != 0 && (in.MTU < 576 || in.MTU > 9216) {
		v.bad(p+".mtu", "%d is outside 576-9216", in.MTU)
	}
}

// routeKeys reports two routes the kernel would hold as one (same
// destination, table and metric): applying both would replace one with
// the other on every apply.
func (v *validator) routeKeys(c Config) {
	seen := map[routeKey]string{}
	check := func(p string, in Interface) {
		for i, r := range in.Routes {
			rc, err := routeFromConfig(r)
			if err != nil {
				continue // reported by iface
			}
			k := rc.key()
			rp := fmt.Sprintf("%s.routes[%d]", p, i)
			if prev, dup := seen[k]; dup {
				v.bad(rp, "the same destination, table and metric as %s; give one a different metric", prev)
				continue
			}
			seen[k] = rp
		}
	}
	for _, key := range sortedKeys(c.Ethernets) {
		check("ethernets."+key, c.Ethernets[key].Interface)
	}
	for _, key := range sortedKeys(c.Bonds) {
		check("bonds."+key, c.Bonds[key].Interface)
	}
	for _, key := range sortedKeys(c.VLANs) {
		check("vlans."+key, c.VLANs[key].Interface)
	}
}

// onLink reports whether gw lies in one of the CIDR addresses.
func onLink(addresses []string, gw netip.Addr) bool {
	for _, a := range addresses {
		if p, err := netip.ParsePrefix(a); err == nil && p.Masked().Contains(gw) {
			return true
		}
	}
	return false
}
