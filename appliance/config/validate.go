package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"keep/netcfg"
)

// FieldError is a validation error about one field.
type FieldError struct {
	// Path is the field's YAML path, e.g. network.ethernets.eth0.mtu.
	Path string
	// Problem says what is wrong and, where it helps, what is allowed.
	Problem string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every field error.
func (e *FieldError) Unwrap() error { return ErrInvalid }

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	serviceRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// Validate checks every field and returns all problems found, each a
// *FieldError, joined in a stable order.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
	}

	if !hostnameRE.MatchString(c.Appliance.Hostname) {
		bad("appliance.hostname", "%q is not a host name: use 1-63 lower-case letters, digits and inner hyphens", c.Appliance.Hostname)
	}

	if c.API.Listen != "" {
		if _, port, err := net.SplitHostPort(c.API.Listen); err != nil || port == "" {
			bad("api.listen", "%q is not host:port (for example :8080 or 10.0.2.15:8080)", c.API.Listen)
		}
	}
	if !strings.HasPrefix(c.API.Socket, "/") {
		bad("api.socket", "%q is not an absolute path", c.API.Socket)
	}
	c.API.NOC.validate(c, bad)

	if err := c.Network.Validate(); err != nil {
		for _, e := range flatten(err) {
			var fe *netcfg.FieldError
			if errors.As(e, &fe) {
				bad("network."+fe.Path, "%s", fe.Problem)
			} else {
				bad("network", "%v", e)
			}
		}
	}

	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of trace, debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Lines < 16 || c.Log.Lines > 1<<20 {
		bad("log.lines", "%d is outside 16-1048576", c.Log.Lines)
	}

	seen := map[string]bool{}
	for i, f := range c.Testing.FaultyServices {
		p := fmt.Sprintf("testing.faulty_services[%d]", i)
		if !serviceRE.MatchString(f.Name) {
			bad(p+".name", "%q is not a service name (lower-case letters, digits, '-')", f.Name)
		}
		if seen[f.Name] {
			bad(p+".name", "%q is named twice", f.Name)
		}
		seen[f.Name] = true
		if f.FailAfter < 0 {
			bad(p+".fail_after", "must not be negative")
		}
	}
	if bt := time.Duration(c.BMC.BootTimeout); bt < 30*time.Second || bt > 6553*time.Second {
		bad("bmc.boot_timeout", "%s is outside 30s-6553s", bt)
	}
	if wt := time.Duration(c.BMC.WatchdogTimeout); wt < 5*time.Second || wt > 6553*time.Second {
		bad("bmc.watchdog_timeout", "%s is outside 5s-6553s (the BMC counts in 100 ms units up to 6553.5 s)", wt)
	}
	if se := time.Duration(c.BMC.SensorEvery); se < time.Second || se > time.Hour {
		bad("bmc.sensor_every", "%s is outside 1s-1h", se)
	}
	c.BMC.LAN.validate(bad)
	c.Storage.validate(bad)
	c.Engine.validate(bad)
	c.Tunnel.validate(bad)
	if c.Testing.DHCPRenewEvery < 0 {
		bad("testing.dhcp_renew_every", "must not be negative")
	}
	return errors.Join(errs...)
}

// flatten undoes errors.Join.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// tiers are the storage presets' names (raid.Tiers; listed here so the
// config package stays free of the raid package).
var tiers = []string{"small", "compact", "standard", "performance"}

func (s Storage) validate(bad func(path, format string, args ...any)) {
	if !slices.Contains(tiers, s.Tier) {
		bad("storage.tier", "%q is not one of %s", s.Tier, strings.Join(tiers, ", "))
	}
	if s.Name == "" || len(s.Name) > 32 {
		bad("storage.name", "%q must be 1-32 bytes (it is stored in the md superblock)", s.Name)
	}
	if s.Create != "blank" && s.Create != "never" {
		bad("storage.create", "%q is not blank or never", s.Create)
	}
	if !strings.HasPrefix(s.MountPoint, "/") || s.MountPoint == "/" {
		bad("storage.mount_point", "%q is not an absolute path below /", s.MountPoint)
	}
	for i, p := range append(slices.Clone(s.Exclude), s.DBDisk...) {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			field := fmt.Sprintf("storage.exclude[%d]", i)
			if i >= len(s.Exclude) {
				field = fmt.Sprintf("storage.db_disk[%d]", i-len(s.Exclude))
			}
			bad(field, "%q is not a glob pattern", p)
		}
	}
	if s.ScrubEvery < 0 || (s.ScrubEvery > 0 && time.Duration(s.ScrubEvery) < time.Hour) {
		bad("storage.scrub_every", "%s: use 0s (never) or at least 1h", time.Duration(s.ScrubEvery))
	}
	if time.Duration(s.SMARTEvery) < 10*time.Second {
		bad("storage.smart_every", "%s: read SMART at most every 10s", time.Duration(s.SMARTEvery))
	}
	for i, w := range s.SpaceWarn {
		if w < 1 || w > 99 {
			bad(fmt.Sprintf("storage.space_warn[%d]", i), "%d is not a percentage 1-99", w)
		}
	}
}

func (e Engine) validate(bad func(path, format string, args ...any)) {
	if e.Listen != "" {
		if _, port, err := net.SplitHostPort(e.Listen); err != nil || port == "" {
			bad("engine.listen", "%q is not host:port (use :7443 for every address)", e.Listen)
		}
	}
	if e.Dir == "" || strings.Contains(e.Dir, "..") {
		bad("engine.dir", "%q must be a directory name below the mount point, or an absolute path", e.Dir)
	}
	if e.PassphraseFile != "" && !strings.HasPrefix(e.PassphraseFile, "/") {
		bad("engine.passphrase_file", "%q is not an absolute path", e.PassphraseFile)
	}
	for i, n := range e.ServerNames {
		if n == "" || strings.ContainsAny(n, " /\t") {
			bad(fmt.Sprintf("engine.server_names[%d]", i), "%q is not a DNS name or IP address", n)
		}
	}
}

// validate checks the BMC LAN section (nil: not configured).
func (l *BMCLAN) validate(bad func(field, format string, args ...any)) {
	if l == nil {
		return
	}
	switch l.Source {
	case "dhcp":
		if l.Address != "" || l.Netmask != "" || l.Gateway != "" {
			bad("bmc.lan", "source dhcp takes no address, netmask or gateway")
		}
	case "static":
		for _, f := range []struct{ name, v string }{{"address", l.Address}, {"netmask", l.Netmask}, {"gateway", l.Gateway}} {
			a, err := netip.ParseAddr(f.v)
			if err != nil || !a.Is4() {
				bad("bmc.lan."+f.name, "%q is not an IPv4 address (static addressing needs address, netmask and gateway)", f.v)
			}
		}
		if m, err := netip.ParseAddr(l.Netmask); err == nil && m.Is4() {
			b := m.As4()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			if inv := ^v; v == 0 || inv&(inv+1) != 0 {
				bad("bmc.lan.netmask", "%s is not a contiguous netmask", l.Netmask)
			}
		}
	default:
		bad("bmc.lan.source", "%q is neither static nor dhcp", l.Source)
	}
}

// validate checks the NOC listener (nil: not configured) on its own and
// against the tunnel and the other listeners of c.
func (n *NOCAPI) validate(c Config, bad func(path, format string, args ...any)) {
	if n == nil {
		return
	}
	for _, f := range []struct{ name, v string }{{"listen", n.Listen}, {"cert_file", n.CertFile}, {"key_file", n.KeyFile}, {"client_ca_file", n.ClientCAFile}} {
		switch {
		case f.v == "":
			bad("api.noc."+f.name, "required: the NOC listener needs listen, cert_file, key_file and client_ca_file (remove api.noc to turn it off)")
		case f.name != "listen" && !strings.HasPrefix(f.v, "/"):
			bad("api.noc."+f.name, "%q is not an absolute path", f.v)
		}
	}
	if n.Listen == "" {
		return
	}
	ap, err := netip.ParseAddrPort(n.Listen)
	switch {
	case err != nil:
		bad("api.noc.listen", "%q is not IP:port with an IP literal (for example 10.2.0.1:8443 or [fd00:2::1]:8443)", n.Listen)
		return
	case ap.Port() == 0:
		bad("api.noc.listen", "%q has port 0: the NOC dials a fixed port (for example 8443)", n.Listen)
		return
	case ap.Addr().IsUnspecified():
		bad("api.noc.listen", "%s is every address: use the appliance's address inside tunnel.local_ts, so that only the tunnel reaches the listener", ap.Addr())
		return
	}
	ip := ap.Addr().Unmap()
	if c.Tunnel.Enabled && len(c.Tunnel.LocalTS) > 0 && !slices.ContainsFunc(c.Tunnel.LocalTS, func(s string) bool {
		p, err := netip.ParsePrefix(s)
		return err == nil && p.Contains(ip)
	}) {
		bad("api.noc.listen", "%s is not inside tunnel.local_ts [%s]: the NOC reaches the API only through the tunnel", ip, strings.Join(c.Tunnel.LocalTS, ", "))
	}
	others := []struct{ name, v string }{{"api.listen", c.API.Listen}}
	if c.Engine.Enabled {
		others = append(others, struct{ name, v string }{"engine.listen", c.Engine.Listen})
	}
	for _, o := range others {
		if listenersClash(ap, o.v) {
			bad("api.noc.listen", "port %d is also %s's (%s): use another port", ap.Port(), o.name, o.v)
		}
	}
}

// listenersClash reports whether a TCP listener on other (host:port, ""
// for none) would take ap's port on ap's address.
func listenersClash(ap netip.AddrPort, other string) bool {
	host, port, err := net.SplitHostPort(other)
	if err != nil || port != fmt.Sprint(ap.Port()) {
		return false
	}
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && (a.IsUnspecified() || a.Unmap() == ap.Addr().Unmap())
}

// identityRE is what an IKE identity may look like here: an IP address,
// user@fqdn or an FQDN (printable, no spaces).
var identityRE = regexp.MustCompile(`^[A-Za-z0-9.:@_-]{1,253}$`)

// proposalRE is strongSwan's proposal syntax: algorithms joined by '-',
// proposals by ','.
var proposalRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(,[a-z0-9]+(-[a-z0-9]+)*)*$`)

func (t Tunnel) validate(bad func(path, format string, args ...any)) {
	if il := time.Duration(t.IKELifetime); il < 10*time.Minute || il > 7*24*time.Hour {
		bad("tunnel.ike_lifetime", "%s is outside 10m-168h", il)
	}
	cl := time.Duration(t.ChildLifetime)
	if cl < 5*time.Minute || cl > 24*time.Hour {
		bad("tunnel.child_lifetime", "%s is outside 5m-24h", cl)
	}
	if d := time.Duration(t.RetransmitTimeout); d < 500*time.Millisecond || d > time.Minute {
		bad("tunnel.retransmit_timeout", "%s is outside 500ms-1m", d)
	}
	if t.RetransmitTries < 1 || t.RetransmitTries > 10 {
		bad("tunnel.retransmit_tries", "%d is outside 1-10", t.RetransmitTries)
	}
	if d := time.Duration(t.NATKeepalive); d < 5*time.Second || d > 5*time.Minute {
		bad("tunnel.nat_keepalive", "%s is outside 5s-5m", d)
	}
	if d := time.Duration(t.DPDInterval); d != 0 && (d < 5*time.Second || d > time.Hour) {
		bad("tunnel.dpd_interval", "%s: use 0s (off) or 5s-1h", d)
	}
	for _, f := range []struct{ name, v string }{{"ike_proposals", t.IKEProposals}, {"esp_proposals", t.ESPProposals}} {
		if f.v != "" && !proposalRE.MatchString(f.v) {
			bad("tunnel."+f.name, "%q is not strongSwan proposal syntax (like aes256gcm16-prfsha384-curve25519)", f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"psk_file", t.PSKFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
		if f.v != "" && !strings.HasPrefix(f.v, "/") {
			bad("tunnel."+f.name, "%q is not an absolute path", f.v)
		}
	}
	if t.LocalAddress != "" {
		if _, err := netip.ParseAddr(t.LocalAddress); err != nil {
			bad("tunnel.local_address", "%q is not an IP address", t.LocalAddress)
		}
	}
	prefixes := func(field string, list []string) {
		for i, s := range list {
			p := fmt.Sprintf("tunnel.%s[%d]", field, i)
			pf, err := netip.ParsePrefix(s)
			switch {
			case err != nil:
				bad(p, "%q is not a network prefix like 10.20.0.0/16", s)
			case pf.Masked() != pf:
				bad(p, "%q has host bits set; write %s", s, pf.Masked())
			case pf.Bits() == 0:
				bad(p, "%q is a default route: the tunnel carries management networks only, and fail-closed blocking must not cut everything", s)
			}
		}
	}
	prefixes("local_ts", t.LocalTS)
	prefixes("remote_ts", t.RemoteTS)
	if !t.Enabled {
		return
	}
	if t.NOCAddress == "" {
		bad("tunnel.noc_address", "required: the NOC gateway's IP (or IP:port)")
	} else if _, err := netip.ParseAddr(t.NOCAddress); err != nil {
		if ap, err := netip.ParseAddrPort(t.NOCAddress); err != nil || ap.Port() == 0 {
			bad("tunnel.noc_address", "%q is not an IP address or IP:port", t.NOCAddress)
		}
	}
	if t.LocalAddress == "" {
		noc, err := netip.ParseAddr(t.NOCAddress)
		if err != nil {
			ap, _ := netip.ParseAddrPort(t.NOCAddress)
			noc = ap.Addr()
		}
		for _, s := range t.RemoteTS {
			if p, err := netip.ParsePrefix(s); err == nil && noc.IsValid() && p.Contains(noc) {
				bad("tunnel.local_address", "required: the NOC address %s lies in remote_ts %s, which is blocked while the tunnel is down, so the local address cannot be found by route lookup", noc, s)
				break
			}
		}
	}
	for _, f := range []struct{ name, v string }{{"noc_id", t.NOCID}, {"local_id", t.LocalID}} {
		if !identityRE.MatchString(f.v) {
			bad("tunnel."+f.name, "%q is not an IKE identity (an IP address, user@fqdn or an FQDN)", f.v)
		}
	}
	certs := t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
	switch {
	case t.PSKFile != "" && certs:
		bad("tunnel.psk_file", "set psk_file or cert_file/key_file/ca_file, not both")
	case t.PSKFile == "" && !certs:
		bad("tunnel.psk_file", "required: psk_file, or cert_file, key_file and ca_file")
	case certs:
		for _, f := range []struct{ name, v string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
			if f.v == "" {
				bad("tunnel."+f.name, "required with certificate authentication (cert_file, key_file and ca_file)")
			}
		}
	}
	if len(t.LocalTS) == 0 {
		bad("tunnel.local_ts", "required: the appliance's management networks")
	}
	if len(t.RemoteTS) == 0 {
		bad("tunnel.remote_ts", "required: the NOC networks (blocked while the tunnel is down)")
	}
}
