package appliance

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/appliance/kmsg"
	"keep/appliance/service"
	"keep/netcfg"
	"keep/netcfg/ntp"
	"keep/netcfg/traffic"
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
		a.network = newNetworkService(cfg.Network, a.log.Named("network"), a.emitter("network"), a.recordLease,
			a.opts.ResolvConf, time.Duration(cfg.Testing.DHCPRenewEvery), a.vaultNetworkPath)
		a.network.rates.classes = a.traffic.Snapshot
		a.network.time = newTimeService(a.log.Named("time"), a.emitter("time"), a.network.TimeServers, ntp.RTC{DevRoot: a.opts.DevRoot})
		specs = append(specs, service.Spec{Service: a.network, HealthInterval: healthInterval})
		specs = append(specs, service.Spec{Service: a.network.time})
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
		if cfg.Engine.Enabled {
			a.engine = &engineService{a: a, cfg: cfg.Engine, onVault: true, mountPoint: cfg.Storage.MountPoint,
				log: a.log.Named("engine"), emit: a.emitter("engine")}
			specs = append(specs, service.Spec{Service: a.engine, Deps: []string{"storage"}, HealthInterval: healthInterval, StopTimeout: 30 * time.Second})
			required["engine"] = true
		}
		if cfg.Tunnel.Enabled {
			// Not required: a tunnel that cannot start (a missing
			// secret, an old kernel) shows as degraded in the status,
			// and must not keep the box from being ready or have the
			// watchdog reset it; the NOC networks stay blocked either way.
			a.tunnel = newTunnelService(cfg.Tunnel, a.log.Named("tunnel"), a.emitter("tunnel"))
			specs = append(specs, service.Spec{Service: a.tunnel, Deps: []string{"network"}, HealthInterval: healthInterval})
		}
		specs = append(specs, service.Spec{Service: &linkMonitorService{log: a.log.Named("links"), emit: a.emitter("network")}})
		specs = append(specs, service.Spec{Service: &kernelLogService{path: filepath.Join(a.opts.DevRoot, "kmsg"), log: a.kernelLogger()}})
	}
	if h := a.opts.HostedEngine; h != nil && !a.opts.PID1 {
		// Hosted mode (keep engine --data DIR): the engine on a
		// directory, with the API on its own socket.
		ecfg := cfg.Engine
		ecfg.Listen = h.Listen
		ecfg.PassphraseFile = h.PassphraseFile
		a.engine = &engineService{a: a, cfg: ecfg, dir: h.Dir, log: a.log.Named("engine"), emit: a.emitter("engine")}
		specs = append(specs, service.Spec{Service: a.engine, HealthInterval: healthInterval, StopTimeout: 30 * time.Second})
		required["engine"] = true
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
		s.log.Warn("the plain TCP listener (api.listen) has no authentication: keep it on a service network or set it to an empty string (the NOC uses api.noc: mutual TLS through the tunnel)", "addr", s.cfg.Listen)
	}
	// The TCP listener's bytes count as management traffic (the Unix
	// socket's are local and count nowhere).
	for i, l := range ls {
		if l.Addr().Network() == "tcp" {
			ls[i] = s.a.traffic.Listener(l, traffic.Management)
		}
	}
	ready()
	return api.Serve(ctx, ls, api.Handler(s.a))
}

// Health asks the API over its own Unix socket: the server must answer.
func (s *apiService) Health(ctx context.Context) error {
	return s.probe.Health(ctx)
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
		case c.Failover:
			sev, kind = events.Warning, "network.bond_failover"
		case c.ActiveSlaveChanged() && c.NewActive == "":
			sev, kind = events.Error, "network.bond_no_active_slave"
		case c.ActiveSlaveChanged():
			sev, kind = events.Notice, "network.bond_active_slave"
		}
		fields := map[string]string{"link": c.New.Name}
		if c.ActiveSlaveChanged() {
			fields["from"], fields["to"] = c.OldActive, c.NewActive
		}
		msg := "link " + c.Describe()
		if sev >= events.Notice {
			s.log.Warn(msg)
		} else {
			s.log.Debug(msg)
		}
		s.emit(sev, kind, msg, fields)
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
