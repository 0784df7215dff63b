package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// kernel's interface name.
type EthernetConfig struct {
	Interface `yaml:",inline" json:",inline"`
	Match     *Match `yaml:"match,omitempty" json:"match,omitempty"`
	// SetName renames the matched port (only with Match).
	SetName string `yaml:"set-name,omitempty" json:"set-name,omitempty"`
}

// Match selects a port by MAC address and/or kernel name glob.
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
			case eth.DHCP4 || len(eth.Addresses) > 0:
				v.bad(mp, "%q carries addresses or dhcp4; a bond member must not (put them on the bond)", m)
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
		if _, isEth := c.ethernetNamed(vl.Link); !isEth {
			if _, isBond := c.Bonds[vl.Link]; !isBond {
				v.bad(p+".link", "%q is neither an ethernet nor a bond declared here", vl.Link)
			}
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
		if _, err := netip.ParseAddr(r.Via); err != nil {
			v.bad(rp+".via", "%q is not a gateway IP address", r.Via)
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
