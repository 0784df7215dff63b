package netcfg

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func bondedLAN() Config {
	return Config{
		Ethernets: map[string]EthernetConfig{
			"lan0": {Match: &Match{MACAddress: "52:54:00:00:00:01"}, SetName: "lan0"},
			"lan1": {Match: &Match{Name: "enp*s1"}, SetName: "lan1"},
			"mgmt": {Interface: Interface{Addresses: []string{"10.0.2.15/24"}}},
		},
		Bonds: map[string]BondConfig{
			"bond0": {
				Interface:  Interface{Addresses: []string{"192.0.2.10/24"}, Routes: []RouteConfig{{To: "default", Via: "192.0.2.1", Metric: 100}}},
				Interfaces: []string{"lan0", "lan1"},
				Parameters: BondParameters{Mode: "active-backup", Primary: "lan0", MIIMonitorInterval: 100},
			},
		},
		VLANs: map[string]VLANConfig{
			"vlan100": {ID: 100, Link: "bond0", Interface: Interface{Addresses: []string{"198.51.100.2/24"}, Nameservers: Nameservers{Addresses: []string{"198.51.100.53"}, Search: []string{"example.net"}}}},
		},
	}
}

func TestValidateAcceptsABondedLAN(t *testing.T) {
	if err := bondedLAN().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"bad mac", func(c *Config) { c.Ethernets["lan0"] = EthernetConfig{Match: &Match{MACAddress: "zz"}} }, "ethernets.lan0.match.macaddress"},
		{"empty match", func(c *Config) { c.Ethernets["lan0"] = EthernetConfig{Match: &Match{}} }, "ethernets.lan0.match: names neither"},
		{"set-name without match", func(c *Config) { c.Ethernets["x"] = EthernetConfig{SetName: "y"} }, "ethernets.x.set-name: needs a match"},
		{"duplicate name", func(c *Config) { c.Ethernets["bond0"] = EthernetConfig{} }, `bonds.bond0: interface "bond0" is already declared at ethernets.bond0`},
		{"unknown member", func(c *Config) { b := c.Bonds["bond0"]; b.Interfaces = []string{"lan0", "lan9"}; c.Bonds["bond0"] = b }, `bonds.bond0.interfaces[1]: "lan9" is not an ethernet`},
		{"member with address", func(c *Config) {
			e := c.Ethernets["lan1"]
			e.Addresses = []string{"192.0.2.3/24"}
			c.Ethernets["lan1"] = e
		}, `bonds.bond0.interfaces[1]: "lan1" carries addresses`},
		{"member twice", func(c *Config) {
			c.Bonds["bond1"] = BondConfig{Interfaces: []string{"lan1"}}
		}, `bonds.bond1.interfaces[0]: "lan1" is already a member of bond0`},
		{"bad mode", func(c *Config) { b := c.Bonds["bond0"]; b.Parameters.Mode = "fastest"; c.Bonds["bond0"] = b }, "bonds.bond0.parameters.mode"},
		{"primary not member", func(c *Config) { b := c.Bonds["bond0"]; b.Parameters.Primary = "mgmt"; c.Bonds["bond0"] = b }, "bonds.bond0.parameters.primary: \"mgmt\" is not one of"},
		{"lacp without 802.3ad", func(c *Config) { b := c.Bonds["bond0"]; b.Parameters.LACPRate = "fast"; c.Bonds["bond0"] = b }, "bonds.bond0.parameters.lacp-rate: only applies"},
		{"bad hash policy", func(c *Config) { b := c.Bonds["bond0"]; b.Parameters.TransmitHashPolicy = "l4"; c.Bonds["bond0"] = b }, "transmit-hash-policy"},
		{"empty bond", func(c *Config) { c.Bonds["bond1"] = BondConfig{} }, "bonds.bond1.interfaces: a bond needs"},
		{"vlan id", func(c *Config) { v := c.VLANs["vlan100"]; v.ID = 4095; c.VLANs["vlan100"] = v }, "vlans.vlan100.id: 4095 is outside"},
		{"vlan link", func(c *Config) { v := c.VLANs["vlan100"]; v.Link = "bond7"; c.VLANs["vlan100"] = v }, `vlans.vlan100.link: "bond7"`},
		{"nameserver", func(c *Config) {
			v := c.VLANs["vlan100"]
			v.Nameservers.Addresses = []string{"dns.example"}
			c.VLANs["vlan100"] = v
		}, "vlans.vlan100.nameservers.addresses[0]"},
		{"search domain", func(c *Config) {
			v := c.VLANs["vlan100"]
			v.Nameservers.Search = []string{"bad domain"}
			c.VLANs["vlan100"] = v
		}, "vlans.vlan100.nameservers.search[0]"},
		{"bad name pattern", func(c *Config) { c.Ethernets["lan1"] = EthernetConfig{Match: &Match{Name: "enp[s1"}, SetName: "lan1"} }, "ethernets.lan1.match.name"},
		{"member mtu", func(c *Config) { e := c.Ethernets["lan1"]; e.MTU = 9000; c.Ethernets["lan1"] = e }, `bonds.bond0.interfaces[1]: "lan1" sets an mtu`},
		{"vlan on a member", func(c *Config) { v := c.VLANs["vlan100"]; v.Link = "lan1"; c.VLANs["vlan100"] = v }, `vlans.vlan100.link: "lan1" is a bond member`},
		{"vlan mtu above its link's", func(c *Config) {
			b := c.Bonds["bond0"]
			b.MTU = 1500
			c.Bonds["bond0"] = b
			v := c.VLANs["vlan100"]
			v.MTU = 9000
			c.VLANs["vlan100"] = v
		}, "vlans.vlan100.mtu: 9000 is more than bond0's mtu 1500"},
		{"route family", func(c *Config) {
			b := c.Bonds["bond0"]
			b.Routes = []RouteConfig{{To: "2001:db8::/32", Via: "192.0.2.1"}}
			c.Bonds["bond0"] = b
		}, "bonds.bond0.routes[0].via: 192.0.2.1 and 2001:db8::/32 are not of the same IP family"},
		{"same route twice", func(c *Config) {
			e := c.Ethernets["mgmt"]
			e.Routes = []RouteConfig{{To: "default", Via: "10.0.2.2", Metric: 100}}
			c.Ethernets["mgmt"] = e
		}, "bonds.bond0.routes[0]: the same destination, table and metric as ethernets.mgmt.routes[0]"},
		{"unspecified gateway", func(c *Config) {
			e := c.Ethernets["mgmt"]
			e.Routes = []RouteConfig{{To: "default", Via: "0.0.0.0"}}
			c.Ethernets["mgmt"] = e
		}, "ethernets.mgmt.routes[0].via: 0.0.0.0 cannot be a gateway"},
		{"gateway off the networks", func(c *Config) {
			e := c.Ethernets["mgmt"]
			e.Routes = []RouteConfig{{To: "192.0.2.0/24", Via: "10.0.3.1"}}
			c.Ethernets["mgmt"] = e
		}, "ethernets.mgmt.routes[0].via: 10.0.3.1 is not on any of the interface's networks (10.0.2.15/24)"},
		{"ntp server", func(c *Config) { c.NTP.Servers = []string{"ntp example"} }, `ntp.servers[0]: "ntp example"`},
		{"route metric", func(c *Config) {
			b := c.Bonds["bond0"]
			b.Routes = []RouteConfig{{To: "default", Via: "192.0.2.1", Metric: -1}}
			c.Bonds["bond0"] = b
		}, "bonds.bond0.routes[0].metric"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := bondedLAN()
			tc.change(&c)
			err := c.Validate()
			var fe *FieldError
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want a field error containing %q", err, tc.want)
			}
		})
	}
}

func TestDesiredConvertsBondsAndVLANs(t *testing.T) {
	got, err := bondedLAN().Desired()
	if err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix
	want := []Ethernet{
		{Name: "lan0", Match: &PortMatch{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}}, Master: "bond0"},
		{Name: "lan1", Match: &PortMatch{Name: "enp*s1"}, Master: "bond0"},
		{Name: "mgmt", Addresses: []netip.Prefix{pfx("10.0.2.15/24")}},
		{Name: "bond0", Kind: KindBond, Addresses: []netip.Prefix{pfx("192.0.2.10/24")},
			Routes: []Route{{Via: netip.MustParseAddr("192.0.2.1"), Metric: 100}},
			Bond:   &BondSpec{Mode: "active-backup", Members: []string{"lan0", "lan1"}, Primary: "lan0", MIIMon: 100}},
		{Name: "vlan100", Kind: KindVLAN, Addresses: []netip.Prefix{pfx("198.51.100.2/24")}, VLAN: &VLANSpec{ID: 100, Link: "bond0"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Defaults: active-backup, 100 ms; a match without set-name renames
	// to the key.
	c := Config{Ethernets: map[string]EthernetConfig{"uplink": {Match: &Match{Name: "en*"}}},
		Bonds: map[string]BondConfig{"b": {Interfaces: []string{"uplink"}}}}
	got, err = c.Desired()
	if err != nil || got[0].Name != "uplink" || got[0].Match == nil || got[1].Bond.Mode != "active-backup" || got[1].Bond.MIIMon != 100 {
		t.Fatalf("defaults: %+v %v", got, err)
	}
}

func TestConfigDNSAndTimeServers(t *testing.T) {
	c := bondedLAN()
	b := c.Bonds["bond0"]
	b.Nameservers = Nameservers{Addresses: []string{"192.0.2.53", "198.51.100.53"}, Search: []string{"Example.net."}}
	c.Bonds["bond0"] = b
	want := DNS{Servers: []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("198.51.100.53")}, Search: []string{"Example.net."}}
	if got := c.DNS(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DNS = %+v, want %+v", got, want)
	}
	leases := []Lease{{NTP: []netip.Addr{netip.MustParseAddr("10.0.2.4")}}, {NTP: []netip.Addr{netip.MustParseAddr("10.0.2.4"), netip.MustParseAddr("10.0.3.4")}}}
	if got := c.TimeServers(leases...); !reflect.DeepEqual(got, []string{"10.0.2.4", "10.0.3.4"}) {
		t.Errorf("from DHCP: %q", got)
	}
	c.NTP.Servers = []string{"ntp.example.net"}
	if got := c.TimeServers(leases...); !reflect.DeepEqual(got, []string{"ntp.example.net"}) {
		t.Errorf("configured: %q", got)
	}
}

func TestDesiredConvertsStaticEthernets(t *testing.T) {
	c := Config{Ethernets: map[string]EthernetConfig{
		"eth1": {Interface: Interface{MTU: 9000, DHCP4: true}},
		"eth0": {Interface: Interface{
			Addresses: []string{"10.0.2.15/24"},
			Routes:    []RouteConfig{{To: "default", Via: "10.0.2.2"}, {To: "192.0.2.0/24", Via: "10.0.2.3"}},
		}},
	}}
	got, err := c.Desired()
	if err != nil {
		t.Fatal(err)
	}
	want := []Ethernet{
		{Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")},
			Routes: []Route{{Via: netip.MustParseAddr("10.0.2.2")}, {To: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("10.0.2.3")}}},
		{Name: "eth1", MTU: 9000, DHCP4: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
