package netcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// maxNameservers is how many servers the resolver reads (MAXNS).
const maxNameservers = 3

// WriteResolvConf replaces the resolver configuration at path (normally
// /etc/resolv.conf) atomically with the given servers and search domains.
func WriteResolvConf(path string, servers []netip.Addr, search []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, resolvConf(DNS{Servers: servers, Search: search}), 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}

func resolvConf(d DNS) []byte {
	var b strings.Builder
	b.WriteString("# written by keep from the network configuration or DHCP\n")
	if len(d.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
	}
	for i, s := range d.Servers {
		if i == maxNameservers {
			break
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return []byte(b.String())
}

// MergeDNS joins resolver configurations in order of preference,
// dropping repeated servers and domains.
func MergeDNS(ds ...DNS) DNS {
	var out DNS
	seenS := map[netip.Addr]bool{}
	seenD := map[string]bool{}
	for _, d := range ds {
		for _, s := range d.Servers {
			if s.IsValid() && !seenS[s] {
				seenS[s] = true
				out.Servers = append(out.Servers, s)
			}
		}
		for _, dom := range d.Search {
			k := strings.ToLower(strings.TrimSuffix(dom, "."))
			if k != "" && !seenD[k] {
				seenD[k] = true
				out.Search = append(out.Search, dom)
			}
		}
	}
	return out
}

// Resolv keeps the resolver configuration file: the configuration's
// static servers first, then those of each DHCP lease (by link name).
// It rewrites the file only when its content would change. Safe for
// concurrent use (the DHCP clients of several links call it).
type Resolv struct {
	// Path is the file, normally /etc/resolv.conf.
	Path string

	mu     sync.Mutex
	static DNS
	leases map[string]DNS
}

// SetStatic replaces the configuration's servers (after an apply) and
// rewrites the file if that changes it.
func (r *Resolv) SetStatic(d DNS) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.static = d
	return r.write()
}

// SetLease records what a DHCP lease on link offers.
func (r *Resolv) SetLease(link string, l Lease) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.leases == nil {
		r.leases = map[string]DNS{}
	}
	r.leases[link] = DNS{Servers: l.DNS, Search: l.Search}
	return r.write()
}

// DropLease forgets link's lease (its client stopped).
func (r *Resolv) DropLease(link string) (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.leases, link)
	return r.write()
}

// Merged is what the file says (or will say): static, then leases by
// link name.
func (r *Resolv) Merged() DNS {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.merged()
}

func (r *Resolv) merged() DNS {
	links := make([]string, 0, len(r.leases))
	for l := range r.leases {
		links = append(links, l)
	}
	sort.Strings(links)
	all := []DNS{r.static}
	for _, l := range links {
		all = append(all, r.leases[l])
	}
	return MergeDNS(all...)
}

// write puts the merged configuration in place unless the file already
// says it. With nothing to say and no file, it writes nothing.
func (r *Resolv) write() (bool, error) {
	d := r.merged()
	want := resolvConf(d)
	have, err := os.ReadFile(r.Path)
	switch {
	case err == nil && bytes.Equal(have, want):
		return false, nil
	case errors.Is(err, fs.ErrNotExist) && len(d.Servers) == 0 && len(d.Search) == 0:
		return false, nil
	}
	if err := WriteResolvConf(r.Path, d.Servers, d.Search); err != nil {
		return false, err
	}
	return true, nil
}
