package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/pid1"
	"keep/appliance/service"
	"keep/netcfg/traffic"
)

// ReadyMarker starts the console line printed when the boot is complete.
// Tests and operators wait for it.
const ReadyMarker = "keep: READY"

// NotReadyMarker starts the console line printed when the services are
// up but the appliance cannot be ready (for example a rejected config).
const NotReadyMarker = "keep: NOT READY"

// Options are the appliance's paths and seams. Zero values are filled by
// withDefaults.
type Options struct {
	Version string
	// Console receives the log and the ready line (/dev/console).
	Console io.Writer
	// PID1 enables the duties of the first process: mounts, module
	// loading, reaping, the power button, the network, halting.
	PID1 bool
	// ConfigPath is the image's defaults file (/etc/keep/keep.yaml).
	ConfigPath string
	// ModuleList is the image's module list (/etc/keep/modules).
	ModuleList string
	// Cmdline is the kernel command line file (/proc/cmdline).
	Cmdline string
	// SysRoot and DevRoot are /sys and /dev.
	SysRoot, DevRoot string
	// ResolvConf is the resolver configuration the network writes.
	ResolvConf string
	// TestMarker is the file whose presence marks a QEMU test image
	// (/etc/keep/test-image); "" disables the test API.
	TestMarker string
	// ShutdownTimeout bounds the orderly stop of all services.
	ShutdownTimeout time.Duration
	// HostedEngine runs the engine on a directory outside PID 1
	// (`keep engine --data DIR`).
	HostedEngine *HostedEngine
	// APISocket, if set, replaces the configuration's API socket path.
	APISocket string
}

// NoConfigFile as Options.ConfigPath runs on the compiled-in defaults.
const NoConfigFile = "-"

// HostedEngine is the engine of hosted mode.
type HostedEngine struct {
	Dir            string
	Listen         string
	PassphraseFile string
}

func (o Options) withDefaults() Options {
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Console == nil {
		o.Console = os.Stderr
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ConfigPath, "/etc/keep/keep.yaml")
	def(&o.ModuleList, "/etc/keep/modules")
	def(&o.Cmdline, "/proc/cmdline")
	def(&o.SysRoot, "/sys")
	def(&o.DevRoot, "/dev")
	def(&o.ResolvConf, "/etc/resolv.conf")
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 60 * time.Second
	}
	return o
}

// Appliance is one boot of the box.
type Appliance struct {
	opts    Options
	start   time.Time
	log     hclog.InterceptLogger
	ring    *logring.Ring
	journal *events.Journal
	cfg     config.Loaded
	tree    *service.Tree
	// required are the services that must run for the box to be ready.
	required map[string]bool

	mu       sync.Mutex
	stage    string
	problems []string // boot steps that failed, for Status.NotReady
	// haltCh is closed when a shutdown is requested; action says what
	// follows it.
	haltCh chan struct{}
	action pid1.Action
	// leases are the DHCP leases held, by link.
	leases map[string]api.Lease
	// bmc is the BMC service (PID 1 only).
	bmc *bmcService
	// booted is set once the boot is over (the ready or not-ready line
	// is out): the BMC watchdog then leaves its boot timeout.
	booted   atomic.Bool
	bootDone chan struct{} // closed with booted
	// storage is the data vault service (PID 1 only).
	storage *storageService
	// traffic counts bytes by class for the bandwidth accounting; the
	// services that own sockets tag them.
	traffic traffic.Meter
	// engine is the media-agent engine service (nil when disabled).
	engine *engineService
	// tunnel is the NOC tunnel service (PID 1 with tunnel.enabled only).
	tunnel *tunnelService
	// network is the network service (PID 1 only).
	network *networkService
	// reaper runs external programs under PID 1 (nil otherwise).
	reaper *pid1.Reaper
}

// Run boots the appliance and supervises it until an orderly shutdown
// completes; it returns what the machine should do next (power off or
// reboot). Outside PID 1 it also returns when ctx is done. It does not
// halt the machine: the caller does, after Run returns.
func Run(ctx context.Context, opts Options) (pid1.Action, error) {
	a := &Appliance{opts: opts.withDefaults(), start: time.Now(), haltCh: make(chan struct{}), stage: "mount", bootDone: make(chan struct{})}
	return a.run(ctx)
}

func (a *Appliance) run(ctx context.Context) (pid1.Action, error) {
	var mountErr error
	if a.opts.PID1 {
		mountErr = pid1.MountAll(pid1.EarlyMounts())
	}

	a.setStage("config")
	cmdline, _ := os.ReadFile(a.opts.Cmdline)
	readFile := os.ReadFile
	if a.opts.ConfigPath == NoConfigFile {
		// Hosted mode without a file: the compiled-in defaults.
		readFile = func(string) ([]byte, error) { return []byte("{}\n"), nil }
	}
	a.cfg = config.Load(readFile, a.opts.ConfigPath, string(cmdline))
	cfg := a.cfg.Config
	if a.opts.APISocket != "" {
		cfg.API.Socket, cfg.API.Listen, cfg.API.NOC = a.opts.APISocket, "", nil
	}

	a.ring = logring.New(cfg.Log.Lines, hclog.LevelFromString(cfg.Log.Level), time.Now)
	a.log = hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: "keep", Output: a.opts.Console, Level: hclog.LevelFromString(cfg.Log.Level),
		TimeFormat: "15:04:05.000",
	})
	a.log.RegisterSink(a.ring)
	a.journal = events.NewJournal(events.Options{})
	defer a.journal.Close()
	a.log.Info("keep starting", "version", a.opts.Version, "pid1", a.opts.PID1, "boot", a.journal.Boot())
	a.emit(events.Info, "boot.started", "keep "+a.opts.Version+" starting", nil)

	if mountErr != nil {
		a.fail("mount", "mount.failed", mountErr)
	}
	if a.cfg.Err != nil {
		a.fail("configuration rejected", "config.rejected", a.cfg.Err)
		a.log.Error("running on the previous configuration layer until this is fixed", "sources", fmt.Sprint(a.cfg.Sources))
	}

	// Signals first: a shutdown asked for during module loading is
	// honoured once the services are up.
	sigCtx, stopSignals := context.WithCancel(ctx)
	defer stopSignals()
	go a.watchSignals(sigCtx)

	if a.opts.PID1 {
		a.pid1Setup(sigCtx, cfg)
		a.setStage("modules")
		a.loadModules(ctx, string(cmdline))
		go a.watchPowerButton(sigCtx)
	}

	a.setStage("services")
	specs, required := a.services(cfg)
	if cfg.API.NOC != nil {
		// Optional: a bad file must not keep the box from booting, nor
		// stop the other listeners.
		specs = append(specs, service.Spec{Service: &nocAPIService{a: a, cfg: *cfg.API.NOC, log: a.log.Named("api"), emit: a.emitter("api")}})
	}
	tree, err := service.New(specs, service.Options{Logger: a.log.Named("supervisor"), Events: a.journal})
	if err != nil {
		// The specs are ours: this is a programming error, but PID 1
		// must not die of it. Report and wait for a shutdown.
		a.fail("service tree", "supervisor.invalid", err)
		return a.waitHalt(ctx), err
	}
	a.tree, a.required = tree, required
	treeCtx, stopTree := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTree()
	treeDone := make(chan error, 1)
	go func() { treeDone <- tree.Run(treeCtx) }()

	a.announceReady(ctx)
	action := a.waitHalt(ctx)

	a.setStage("stopping")
	a.emit(events.Notice, "shutdown.started", "orderly shutdown: "+action.String(), nil)
	a.log.Info("shutting down", "then", action.String())
	stopTree()
	select {
	case err := <-treeDone:
		if err != nil {
			a.log.Error("services did not all stop cleanly", "error", err)
		}
	case <-time.After(a.opts.ShutdownTimeout):
		a.log.Error("services still stopping; halting anyway", "timeout", a.opts.ShutdownTimeout)
	}
	if a.opts.PID1 {
		if err := pid1.UnmountData(); err != nil {
			a.log.Error("unmount", "error", err)
		}
	}
	a.log.Info("all services stopped", "then", action.String())
	return action, nil
}

// kernelLogger logs into the ring only: the kernel already printed what
// its console level allows, and printing it again would double it.
func (a *Appliance) kernelLogger() hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "keep.kernel", Output: io.Discard, Level: hclog.Trace})
	l.RegisterSink(a.ring)
	return l
}

// fail records a boot step that failed: console, event, not-ready reason.
func (a *Appliance) fail(step, kind string, err error) {
	a.log.Error(step, "error", err)
	a.emit(events.Error, kind, fmt.Sprintf("%s: %v", step, err), nil)
	a.mu.Lock()
	a.problems = append(a.problems, fmt.Sprintf("%s: %v", step, err))
	a.mu.Unlock()
}

func (a *Appliance) emit(sev events.Severity, kind, msg string, fields map[string]string) {
	a.emitter("boot")(sev, kind, msg, fields)
}

// emitter returns an event function for one source (a service).
func (a *Appliance) emitter(source string) func(sev events.Severity, kind, msg string, fields map[string]string) {
	return func(sev events.Severity, kind, msg string, fields map[string]string) {
		a.journal.Emit(events.Event{Severity: sev, Source: source, Kind: kind, Message: msg, Fields: fields})
	}
}

func (a *Appliance) setStage(s string) {
	a.mu.Lock()
	a.stage = s
	a.mu.Unlock()
}

// requestHalt asks for an orderly shutdown; only the first request wins.
func (a *Appliance) requestHalt(action pid1.Action, why string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.haltCh:
		return errors.New("a shutdown is already under way")
	default:
	}
	a.action = action
	close(a.haltCh)
	if a.log != nil {
		a.log.Info("shutdown requested", "by", why, "then", action.String())
	}
	return nil
}

// waitHalt blocks until a shutdown is requested. Outside PID 1 a done
// ctx counts as a request to power off.
func (a *Appliance) waitHalt(ctx context.Context) pid1.Action {
	done := ctx.Done()
	if a.opts.PID1 {
		done = nil // PID 1 never gives up on its own
	}
	select {
	case <-a.haltCh:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.action
	case <-done:
		return pid1.PowerOff
	}
}

// nocAPIService serves the management API to the NOC (api.noc): mutual
// TLS on the appliance's address inside the tunnel, every request
// attributed to the operator certificate's subject. A listener that
// cannot open (a bad certificate, key or CA file) is an api.noc_failed
// event, retried with backoff and then a degraded status; the api
// service's listeners are not affected.
type nocAPIService struct {
	a    *Appliance
	cfg  config.NOCAPI
	log  hclog.Logger
	emit func(sev events.Severity, kind, msg string, fields map[string]string)
	// reported is the failure last emitted: retries that fail the same
	// way are not new events.
	reported string
}

func (s *nocAPIService) Name() string { return "api-noc" }

func (s *nocAPIService) Run(ctx context.Context, ready func()) error {
	l, err := s.listen(ctx)
	if err != nil {
		s.log.Error("NOC listener not opened; the other API listeners serve on", "listen", s.cfg.Listen, "error", err)
		if msg := fmt.Sprintf("NOC API listener on %s not opened: %v", s.cfg.Listen, err); msg != s.reported {
			s.reported = msg
			s.emit(events.Error, "api.noc_failed", msg, map[string]string{"listen": s.cfg.Listen})
		}
		return err
	}
	s.reported = ""
	s.log.Info(fmt.Sprintf("NOC listener on %s (mutual TLS)", l.Addr()))
	ready()
	// Refused handshakes (no or an untrusted certificate) go to the api
	// log, not raw to the process's standard error.
	errLog := s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Info})
	return api.ServeLog(ctx, []net.Listener{l}, s.logRequests(api.Handler(s.a)), errLog)
}

// listen reads the TLS files and opens the listener; its bytes count as
// management traffic.
func (s *nocAPIService) listen(ctx context.Context) (net.Listener, error) {
	tc, err := api.ServerTLSConfig(api.NOCFiles{CertFile: s.cfg.CertFile, KeyFile: s.cfg.KeyFile, ClientCAFile: s.cfg.ClientCAFile})
	if err != nil {
		return nil, err
	}
	return api.ListenNOC(ctx, s.cfg.Listen, tc, func(l net.Listener) net.Listener {
		return s.a.traffic.Listener(l, traffic.Management)
	})
}

// logRequests logs every request that may change something (not a GET)
// with the operator who made it.
func (s *nocAPIService) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			s.log.Info("NOC request", "operator", api.RequestOperator(r), "method", r.Method, "path", r.URL.Path)
		}
		h.ServeHTTP(w, r)
	})
}
