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
