package appliance

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/appliance/kmsg"
	"keep/appliance/service"
	"keep/netcfg"
)

// services declares the service tree for cfg and which services the box
// needs to be ready.
func (a *Appliance) services(cfg config.Config) ([]service.Spec, map[string]bool) {
	specs := []service.Spec{
		// The API has no dependencies: it must answer even when
		// everything else is broken.
		{Service: &apiService{a: a, cfg: cfg.API, log: a.log.Named("api"), probe: api.NewUnixClient(cfg.API.Socket)}, HealthInterval: healthInterval},
	}
	required := map[string]bool{"api": true}
	if a.opts.PID1 {
		// The section is validated, so conversion cannot fail; the
		// service reports it if it does.
		eths, err := cfg.Network.Desired()
		specs = append(specs, service.Spec{Service: &networkService{
			eths: eths, convErr: err, log: a.log.Named("network"), emit: a.emitter("network"), onLease: a.recordLease,
			resolvConf: a.opts.ResolvConf, renewEvery: time.Duration(cfg.Testing.DHCPRenewEvery),
		}, HealthInterval: healthInterval})
		required["network"] = true
		a.bmc = &bmcService{
			path: filepath.Join(a.opts.DevRoot, "ipmi0"), timeout: time.Duration(cfg.BMC.WatchdogTimeout),
			petEvery: time.Duration(cfg.BMC.WatchdogTimeout) / 4, healthy: a.keepaliveDeserved(cfg.Testing.WithholdKeepalive),
			log: a.log.Named("bmc"), emit: a.emitter("bmc"), cfg: cfg.BMC,
			bootTimeout: time.Duration(cfg.BMC.BootTimeout), booted: a.booted.Load, bootDone: a.bootDone,
		}
		specs = append(specs, service.Spec{Service: a.bmc})
		a.storage = &storageService{a: a, cfg: cfg.Storage, log: a.log.Named("storage")}
		specs = append(specs, service.Spec{Service: a.storage})
		required["storage"] = true
		specs = append(specs, service.Spec{Service: &linkMonitorService{log: a.log.Named("links"), emit: a.emitter("network")}})
		specs = append(specs, service.Spec{Service: &kernelLogService{path: filepath.Join(a.opts.DevRoot, "kmsg"), log: a.kernelLogger()}})
	}
	for _, f := range cfg.Testing.FaultyServices {
		// Test-only: fails on purpose; never required, so the rest of
		// the box is proven to carry on without it.
		specs = append(specs, service.Spec{
			Service: &faultyService{name: f.Name, after: time.Duration(f.FailAfter)},
			Restart: service.Policy{InitialBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, MaxRestarts: 4},
		})
	}
	return specs, required
}

// healthInterval is how often the core services check themselves.
const healthInterval = 10 * time.Second

// apiService serves the management API on the Unix socket and TCP.
type apiService struct {
	a   *Appliance
	cfg config.API
	log hclog.Logger
	// probe is the health check's client, one for the service's life so
	// its connection is reused.
	probe *api.Client
}

func (s *apiService) Name() string { return "api" }

func (s *apiService) Run(ctx context.Context, ready func()) error {
	ls, err := api.Listen(s.cfg.Socket, s.cfg.Listen)
	if err != nil {
		return err
	}
	for _, l := range ls {
		s.log.Info("listening", "addr", l.Addr().String())
	}
	if s.cfg.Listen != "" {
		s.log.Warn("the TCP listener is plain HTTP without authentication until the NOC tunnel exists; keep it on a management network", "addr", s.cfg.Listen)
	}
	ready()
	return api.Serve(ctx, ls, api.Handler(s.a))
}

// Health asks the API over its own Unix socket: the server must answer.
func (s *apiService) Health(ctx context.Context) error {
	return s.probe.Health(ctx)
}

// networkService applies the network configuration, keeps DHCP leases,
// and holds.
type networkService struct {
	eths       []netcfg.Ethernet
	convErr    error
	log        hclog.Logger
	emit       func(sev events.Severity, kind, msg string, fields map[string]string)
	resolvConf string
	renewEvery time.Duration // test-only: renew leases this often
	onLease    func(link string, l netcfg.Lease, renewed bool)
}

func (s *networkService) Name() string { return "network" }

func (s *networkService) Run(ctx context.Context, ready func()) error {
	err := s.withNetlink(func(h *netlink.Handle) error {
		ap := netcfg.Applier{H: h, LinkWait: 10 * time.Second, Poll: 50 * time.Millisecond}
		changes, err := ap.Apply(ctx, s.eths)
		for _, c := range changes {
			s.log.Info("applied", "link", c.Link, "change", c.What)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.runDHCP(ctx, ready)
}

// runDHCP keeps a lease on every DHCP interface; the service is ready
// once each has its first lease (at once when none uses DHCP).
func (s *networkService) runDHCP(ctx context.Context, ready func()) error {
	var links []string
	for _, e := range s.eths {
		if e.DHCP4 {
			links = append(links, e.Name)
		}
	}
	if len(links) == 0 {
		ready()
		<-ctx.Done()
		return nil
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	// The clients stop with dctx, which ends when this returns, however
	// it returns; errc is drained so none outlives it.
	dctx, cancel := context.WithCancel(ctx)
	firstLease := make(chan string, len(links))
	errc := make(chan error, len(links))
	running := len(links)
	defer func() {
		cancel()
		for ; running > 0; running-- {
			<-errc
		}
	}()
	for _, link := range links {
		got := false
		d := &netcfg.DHCP{
			Link: link, H: h, Now: time.Now, After: time.After, RenewEvery: s.renewEvery,
			OnLease: func(l netcfg.Lease, renewed bool) { s.lease(link, l, renewed, &got, firstLease) },
			OnError: func(err error) {
				s.log.Warn("dhcp", "link", link, "error", err)
				s.emit(events.Warning, "network.dhcp_failed", fmt.Sprintf("DHCP on %s: %v", link, err), map[string]string{"link": link})
			},
		}
		go func() { errc <- d.Run(dctx) }()
	}
	waiting := len(links)
	for running > 0 {
		select {
		case <-firstLease:
			if waiting--; waiting == 0 {
				ready()
			}
		case err := <-errc:
			running--
			if err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	return nil
}

// lease records a new or renewed lease: log, event, resolv.conf.
func (s *networkService) lease(link string, l netcfg.Lease, renewed bool, got *bool, first chan<- string) {
	kind, verb := "network.lease_acquired", "acquired"
	if renewed {
		kind, verb = "network.lease_renewed", "renewed"
	}
	fields := map[string]string{"link": link, "address": l.Address.String(), "router": l.Router.String(),
		"server": l.Server.String(), "lease": l.Duration.String()}
	s.log.Info("dhcp lease "+verb, "link", link, "address", l.Address, "router", l.Router, "lease", l.Duration)
	s.emit(events.Info, kind, fmt.Sprintf("DHCP lease %s on %s: %s", verb, link, l.Address), fields)
	s.onLease(link, l, renewed)
	if len(l.DNS) > 0 {
		if err := netcfg.WriteResolvConf(s.resolvConf, l.DNS, l.Search); err != nil {
			s.log.Warn("dhcp", "error", err)
		}
	}
	if !*got {
		*got = true
		first <- link
	}
}

// Health checks that every configured interface is up with its
// addresses: a re-apply that would change something means drift.
func (s *networkService) Health(ctx context.Context) error {
	return s.withNetlink(func(h *netlink.Handle) error {
		for _, e := range s.eths {
			if err := netcfg.Check(h, e); err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
		}
		return nil
	})
}

// withNetlink runs f with a route netlink handle (only NETLINK_ROUTE: the
// default handle also opens families whose modules may be absent).
func (s *networkService) withNetlink(f func(h *netlink.Handle) error) error {
	if s.convErr != nil {
		return s.convErr
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	return f(h)
}

// linkMonitorService turns link transitions (carrier, admin state, bond
// membership) into log lines and events as the kernel reports them.
type linkMonitorService struct {
	log  hclog.Logger
	emit func(sev events.Severity, kind, msg string, fields map[string]string)
}

func (s *linkMonitorService) Name() string { return "link-monitor" }

func (s *linkMonitorService) Run(ctx context.Context, ready func()) error {
	ready()
	return netcfg.MonitorLinks(ctx, func(c netcfg.LinkChange) {
		sev, kind := events.Info, "network.link_changed"
		switch {
		case c.Added:
			sev, kind = events.Debug, "network.link_added"
		case c.Removed:
			sev, kind = events.Warning, "network.link_removed"
		case c.Old.Carrier && !c.New.Carrier:
			sev, kind = events.Warning, "network.carrier_lost"
		case !c.Old.Carrier && c.New.Carrier:
			sev, kind = events.Notice, "network.carrier_up"
		}
		msg := "link " + c.Describe()
		if sev >= events.Notice {
			s.log.Warn(msg)
		} else {
			s.log.Debug(msg)
		}
		s.emit(sev, kind, msg, map[string]string{"link": c.New.Name})
	}, func(err error) { s.log.Warn("link monitor", "error", err) })
}

// kernelLogService copies the kernel's log into the log ring (logger
// "kernel"), from the first record of this boot.
type kernelLogService struct {
	path string
	log  hclog.Logger
}

func (s *kernelLogService) Name() string { return "kernel-log" }

func (s *kernelLogService) Run(ctx context.Context, ready func()) error {
	ready()
	return kmsg.FollowFile(ctx, s.path, func(r kmsg.Record) {
		s.log.Log(kernelLevel(r.Priority), r.Message, "t", fmt.Sprintf("%.6f", r.Since.Seconds()))
	}, func(err error) {
		s.log.Debug("unreadable kernel log record", "error", err)
	})
}

// kernelLevel maps syslog priorities onto log levels.
func kernelLevel(pri int) hclog.Level {
	switch {
	case pri <= 3:
		return hclog.Error
	case pri == 4:
		return hclog.Warn
	case pri <= 6:
		return hclog.Info
	}
	return hclog.Debug
}

// faultyService is test-only fault injection (config testing section):
// it comes up, then fails after a while, every time.
type faultyService struct {
	name  string
	after time.Duration
}

func (s *faultyService) Name() string { return s.name }

func (s *faultyService) Run(ctx context.Context, ready func()) error {
	ready()
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(s.after):
		return fmt.Errorf("injected fault (testing.faulty_services)")
	}
}
