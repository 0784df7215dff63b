package netcfg

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "etc", "resolv.conf")
	var servers []netip.Addr
	for _, s := range []string{"10.0.2.3", "192.0.2.53", "2001:db8::53", "198.51.100.53"} {
		servers = append(servers, netip.MustParseAddr(s))
	}
	if err := WriteResolvConf(p, servers, []string{"example.net", "corp.example"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "# written by keep from the network configuration or DHCP\nsearch example.net corp.example\nnameserver 10.0.2.3\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestResolvMergesStaticAndLeases(t *testing.T) {
	p := filepath.Join(t.TempDir(), "etc", "resolv.conf")
	r := &Resolv{Path: p}
	a := netip.MustParseAddr
	read := func() string {
		b, err := os.ReadFile(p)
		if err != nil {
			return "(none)"
		}
		return string(b)
	}
	steps := []struct {
		name    string
		do      func() (bool, error)
		changed bool
		file    string
	}{
		{"nothing to say: no file", func() (bool, error) { return r.SetStatic(DNS{}) }, false, "(none)"},
		{"a lease", func() (bool, error) {
			return r.SetLease("eth1", Lease{DNS: []netip.Addr{a("10.0.2.3")}, Search: []string{"lan.example"}})
		}, true, "# written by keep from the network configuration or DHCP\nsearch lan.example\nnameserver 10.0.2.3\n"},
		{"static servers go first, repeats dropped", func() (bool, error) {
			return r.SetStatic(DNS{Servers: []netip.Addr{a("192.0.2.53"), a("10.0.2.3")}, Search: []string{"corp.example", "LAN.example."}})
		}, true, "# written by keep from the network configuration or DHCP\nsearch corp.example LAN.example.\nnameserver 192.0.2.53\nnameserver 10.0.2.3\n"},
		{"the same lease again (a renewal): the file stays", func() (bool, error) {
			return r.SetLease("eth1", Lease{DNS: []netip.Addr{a("10.0.2.3")}, Search: []string{"lan.example"}})
		}, false, "# written by keep from the network configuration or DHCP\nsearch corp.example LAN.example.\nnameserver 192.0.2.53\nnameserver 10.0.2.3\n"},
		{"a second link's lease, at most three servers", func() (bool, error) {
			return r.SetLease("bond0", Lease{DNS: []netip.Addr{a("198.51.100.53"), a("198.51.100.54")}})
		}, true, "# written by keep from the network configuration or DHCP\nsearch corp.example LAN.example.\nnameserver 192.0.2.53\nnameserver 10.0.2.3\nnameserver 198.51.100.53\n"},
		{"links drop out", func() (bool, error) {
			c1, _ := r.DropLease("bond0")
			c2, err := r.DropLease("eth1") // its servers are static ones too
			return c1 || c2, err
		}, true, "# written by keep from the network configuration or DHCP\nsearch corp.example LAN.example.\nnameserver 192.0.2.53\nnameserver 10.0.2.3\n"},
	}
	for _, s := range steps {
		changed, err := s.do()
		if err != nil || changed != s.changed || read() != s.file {
			t.Fatalf("%s: changed %v err %v, file:\n%s\nwant changed %v, file:\n%s", s.name, changed, err, read(), s.changed, s.file)
		}
	}
	if m := r.Merged(); len(m.Servers) != 2 || m.Servers[0] != a("192.0.2.53") {
		t.Errorf("Merged = %+v", m)
	}
}
