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
