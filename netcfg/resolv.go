package netcfg

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// WriteResolvConf replaces the resolver configuration at path (normally
// /etc/resolv.conf) atomically with the given servers and search domains.
func WriteResolvConf(path string, servers []netip.Addr, search []string) error {
	var b strings.Builder
	b.WriteString("# written by keep from the network configuration or DHCP\n")
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for i, s := range servers {
		if i == 3 { // the resolver reads at most three (MAXNS)
			break
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}
