package appliance

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/pid1"
	"keep/appliance/service"
	"keep/netcfg"
)

// Status implements api.Backend.
func (a *Appliance) Status() api.Status {
	host, _ := os.Hostname()
	a.mu.Lock()
	st := api.Status{
		Hostname:      host,
		Version:       a.opts.Version,
		Boot:          a.journal.Boot(),
		UptimeSeconds: a.uptime(),
		Stage:         a.stage,
		NotReady:      append([]string(nil), a.problems...),
		ConfigSources: a.cfg.Sources,
	}
	a.mu.Unlock()
	if a.tree == nil {
		st.NotReady = append(st.NotReady, "the service tree is not running")
		return st
	}
	st.Services = a.tree.Status()
	if a.bmc != nil {
		b := a.bmc.Info()
		st.BMC = &b
	}
	missing := a.missingRequired(st.Services)
	if p := a.storageProblem(); p != "" {
		missing = append(missing, p)
	}
	st.NotReady = append(st.NotReady, missing...)
	for _, s := range st.Services {
		if !a.required[s.Name] && s.State == service.StateFailed {
			st.NotReady = append(st.NotReady, fmt.Sprintf("degraded: optional service %s failed: %s", s.Name, s.LastError))
		}
	}
	st.Ready = len(a.problems) == 0 && len(missing) == 0 && (st.Stage == "ready")
	return st
}

// missingRequired says which required services are not running and why.
func (a *Appliance) missingRequired(ss []service.ServiceStatus) []string {
	var out []string
	for _, s := range ss {
		if !a.required[s.Name] || s.Ready {
			continue
		}
		why := string(s.State)
		if s.Detail != "" {
			why += ": " + s.Detail
		}
		if s.LastError != "" {
			why += " (last error: " + s.LastError + ")"
		}
		out = append(out, fmt.Sprintf("service %s is %s", s.Name, why))
	}
	return out
}

// Events implements api.Backend.
func (a *Appliance) Events(f events.Filter) []events.Event { return a.journal.Query(f) }

// Logs implements api.Backend.
func (a *Appliance) Logs(logger string, limit int) ([]logring.Line, uint64) {
	return a.ring.Query(logger, limit)
}

// RestartService implements api.Backend.
func (a *Appliance) RestartService(ctx context.Context, name string) error {
	if a.tree == nil {
		return fmt.Errorf("the service tree is not running")
	}
	return a.tree.Restart(ctx, name)
}

// Halt implements api.Backend.
func (a *Appliance) Halt(reboot bool) error {
	act := pid1.PowerOff
	if reboot {
		act = pid1.Reboot
	}
	return a.requestHalt(act, "api")
}

// announceReady waits until the required services run, then prints the
// ready line (or why the box cannot be ready) once.
func (a *Appliance) announceReady(ctx context.Context) {
	sub := a.journal.Subscribe(ctx)
	for {
		ss := a.tree.Status()
		if len(a.missingRequired(ss)) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-a.haltCh:
			return
		case <-sub:
		}
	}
	a.mu.Lock()
	problems := append([]string(nil), a.problems...)
	a.mu.Unlock()
	if p := a.storageProblem(); p != "" {
		problems = append(problems, p)
	}
	up := a.uptime()
	defer func() {
		a.booted.Store(true)
		close(a.bootDone)
	}()
	if len(problems) > 0 {
		fmt.Fprintf(a.opts.Console, "%s after %.2fs: %s\n", NotReadyMarker, up, strings.Join(problems, "; "))
		a.emit(events.Error, "boot.not_ready", strings.Join(problems, "; "), nil)
		return
	}
	a.setStage("ready")
	a.emit(events.Notice, "boot.ready", fmt.Sprintf("ready after %.2fs", up), nil)
	fmt.Fprintf(a.opts.Console, "%s in %.2fs (kernel uptime) boot %s\n", ReadyMarker, up, a.journal.Boot())
}

// uptime is, as PID 1, the time since the kernel started (what
// boot-to-ready means on the box), else the time since Run began.
func (a *Appliance) uptime() float64 {
	fallback := time.Since(a.start).Seconds()
	if !a.opts.PID1 {
		return fallback
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return fallback
	}
	var up float64
	if _, err := fmt.Sscanf(string(b), "%f", &up); err != nil {
		return fallback
	}
	return up
}

// recordLease keeps the latest DHCP lease of a link for the API.
func (a *Appliance) recordLease(link string, l netcfg.Lease, renewed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leases == nil {
		a.leases = map[string]api.Lease{}
	}
	renewals := 0
	if renewed {
		renewals = a.leases[link].Renewals + 1
	}
	a.leases[link] = api.Lease{
		Link: link, Address: l.Address.String(), Router: l.Router.String(), Server: l.Server.String(),
		Obtained: l.Obtained, Expires: l.Obtained.Add(l.Duration), Renewals: renewals,
	}
}

// Network implements api.Backend: the kernel's view, the leases held and
// the resolver's servers.
func (a *Appliance) Network(ctx context.Context) (api.Network, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return api.Network{}, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	snap, err := netcfg.Take(h)
	if err != nil {
		return api.Network{}, err
	}
	n := api.Network{Snapshot: snap, Leases: []api.Lease{}, DNS: []string{}}
	a.mu.Lock()
	for _, l := range a.leases {
		n.Leases = append(n.Leases, l)
	}
	a.mu.Unlock()
	sort.Slice(n.Leases, func(i, j int) bool { return n.Leases[i].Link < n.Leases[j].Link })
	if b, err := os.ReadFile(a.opts.ResolvConf); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
				n.DNS = append(n.DNS, f[1])
			}
		}
	}
	if s := a.network; s != nil {
		c := s.running()
		n.Config = &c
		n.Pending = s.pending()
		n.Rates = s.rates.latest()
		n.RateInterval = s.rates.interval.String()
		if s.time != nil {
			n.Time = s.time.status()
		}
	}
	return n, nil
}

// keepaliveDeserved returns the watchdog's health gate: the box earns a
// keepalive only while every required service runs and passes its
// health check. withhold is test-only (testing.withhold_keepalive).
func (a *Appliance) keepaliveDeserved(withhold bool) func() error {
	return func() error {
		if withhold {
			return fmt.Errorf("testing.withhold_keepalive is set")
		}
		for _, s := range a.tree.Status() {
			if !a.required[s.Name] {
				continue
			}
			if !s.Ready {
				if s.Name == "engine" {
					// Failing to open (a wrong passphrase, a damaged
					// key file): the box says so in its status; a
					// reset would not help. A running engine that
					// stops answering does withhold the keepalive
					// (its health below).
					continue
				}
				return fmt.Errorf("service %s is %s", s.Name, s.State)
			}
			if s.Health != nil && !s.Health.OK {
				return fmt.Errorf("service %s is unhealthy: %s", s.Name, s.Health.Message)
			}
		}
		return nil
	}
}
