package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/netcfg"
)

// networkService applies the network configuration (links, bonds,
// VLANs, addresses, routes; one event per kernel change), keeps DHCP
// leases and resolv.conf (static name servers first, then the leases'),
// samples the links' counters into rates, and runs confirm-or-rollback
// changes of the configuration (netcfg.Transaction).
//
// The running configuration is persisted only when a change is
// confirmed, to persistPath() (the data vault's .keep/network.yaml when
// the vault is mounted); with no vault it is kept in memory only and the
// next boot runs the image's or the command line's configuration.
type networkService struct {
	log        hclog.Logger
	emit       func(sev events.Severity, kind, msg string, fields map[string]string)
	onLease    func(link string, l netcfg.Lease, renewed bool)
	resolv     *netcfg.Resolv
	renewEvery time.Duration // test-only: renew leases this often
	// persistPath says where a confirmed configuration goes ("": memory
	// only).
	persistPath func() string
	rates       *rateSampler
	// time is the NTP service, which asks TimeServers.
	time *timeService

	// applyMu serialises changes of the configuration.
	applyMu sync.Mutex

	mu      sync.Mutex
	cfg     netcfg.Config // running
	convErr error         // the boot configuration does not convert
	ctx     context.Context
	leases  map[string]netcfg.Lease
	dhcp    map[string]context.CancelFunc
	errc    chan dhcpExit
	first   chan string
	tx      *netcfg.Transaction
	txSince time.Time
	changes []netcfg.Change // of the apply under way
}

type dhcpExit struct {
	link string
	err  error
}

func newNetworkService(cfg netcfg.Config, log hclog.Logger, emit func(events.Severity, string, string, map[string]string),
	onLease func(string, netcfg.Lease, bool), resolvConf string, renewEvery time.Duration, persistPath func() string) *networkService {
	_, err := cfg.Desired()
	return &networkService{
		cfg: cfg, convErr: err, log: log, emit: emit, onLease: onLease,
		resolv: &netcfg.Resolv{Path: resolvConf}, renewEvery: renewEvery, persistPath: persistPath,
		rates: newRateSampler(5*time.Second, 360),
	}
}

func (s *networkService) Name() string { return "network" }

// running is the configuration the network runs.
func (s *networkService) running() netcfg.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func (s *networkService) Run(ctx context.Context, ready func()) error {
	if s.convErr != nil {
		return s.convErr
	}
	s.mu.Lock()
	s.ctx = ctx
	s.leases = map[string]netcfg.Lease{}
	s.dhcp = map[string]context.CancelFunc{}
	s.errc = make(chan dhcpExit, 16)
	s.first = make(chan string, 16)
	cfg := s.cfg
	s.mu.Unlock()
	defer s.stopDHCP()

	// Boot (or restart): bring the kernel to the running configuration
	// from whatever it runs.
	s.applyMu.Lock()
	_, err := s.applyLocked(ctx, nil, cfg)
	s.applyMu.Unlock()
	if err != nil {
		return err
	}
	go s.rates.run(ctx, s.log)

	waiting := map[string]bool{}
	for _, e := range mustDesired(cfg) {
		if e.DHCP4 {
			waiting[e.Name] = true
		}
	}
	if len(waiting) == 0 {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case link := <-s.first:
			if waiting[link] {
				delete(waiting, link)
				if len(waiting) == 0 {
					ready()
				}
			}
		case x := <-s.errc:
			s.mu.Lock()
			_, wanted := s.dhcp[x.link]
			s.mu.Unlock()
			if x.err != nil && wanted && ctx.Err() == nil {
				return x.err
			}
		}
	}
}

func mustDesired(c netcfg.Config) []netcfg.Ethernet {
	eths, _ := c.Desired()
	return eths
}

// ApplyConfig implements netcfg.ConfigApplier: the kernel, then
// resolv.conf and the DHCP clients. The caller holds applyMu.
func (s *networkService) ApplyConfig(ctx context.Context, from, to netcfg.Config) error {
	_, err := s.applyLocked(ctx, &from, to)
	return err
}

// applyLocked switches from (nil: apply without removing anything) to
// to, and makes it the running configuration.
func (s *networkService) applyLocked(ctx context.Context, from *netcfg.Config, to netcfg.Config) ([]netcfg.Change, error) {
	want, err := to.Desired()
	if err != nil {
		return nil, err
	}
	var prev []netcfg.Ethernet
	if from != nil {
		if prev, err = from.Desired(); err != nil {
			return nil, fmt.Errorf("previous configuration: %w", err)
		}
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	ap := netcfg.Applier{H: h, LinkWait: 10 * time.Second, Poll: 50 * time.Millisecond, OnChange: s.changed}
	changes, err := ap.Replace(ctx, want, prev)
	s.mu.Lock()
	s.changes = append(s.changes, changes...)
	s.mu.Unlock()
	if err != nil {
		return changes, err
	}
	s.mu.Lock()
	s.cfg = to
	s.mu.Unlock()
	if _, err := s.resolv.SetStatic(to.DNS()); err != nil {
		s.log.Warn("resolv.conf", "error", err)
	}
	s.reconcileDHCP(want)
	return changes, nil
}

// changed reports one kernel change.
func (s *networkService) changed(c netcfg.Change) {
	s.log.Info("applied", "link", c.Link, "change", c.What)
	s.emit(events.Info, "network.changed", fmt.Sprintf("%s: %s", c.Link, c.What), map[string]string{"link": c.Link, "change": c.What})
}

// reconcileDHCP runs a client on exactly the links that want DHCP.
func (s *networkService) reconcileDHCP(want []netcfg.Ethernet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return
	}
	wanted := map[string]bool{}
	for _, e := range want {
		if e.DHCP4 {
			wanted[e.Name] = true
		}
	}
	for link, cancel := range s.dhcp {
		if !wanted[link] {
			cancel()
			delete(s.dhcp, link)
			delete(s.leases, link)
			s.resolv.DropLease(link)
		}
	}
	for link := range wanted {
		if _, ok := s.dhcp[link]; ok {
			continue
		}
		dctx, cancel := context.WithCancel(s.ctx)
		s.dhcp[link] = cancel
		go s.runDHCP(dctx, link)
	}
}

func (s *networkService) stopDHCP() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for link, cancel := range s.dhcp {
		cancel()
		delete(s.dhcp, link)
	}
}

// runDHCP keeps link's lease until ctx ends.
func (s *networkService) runDHCP(ctx context.Context, link string) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		s.errc <- dhcpExit{link, fmt.Errorf("netlink: %w", err)}
		return
	}
	defer h.Close()
	got := false
	d := &netcfg.DHCP{
		Link: link, H: h, Now: time.Now, After: time.After, RenewEvery: s.renewEvery,
		OnLease: func(l netcfg.Lease, renewed bool) {
			s.lease(link, l, renewed)
			if !got {
				got = true
				select {
				case s.first <- link:
				default:
				}
			}
		},
		OnError: func(err error) {
			s.log.Warn("dhcp", "link", link, "error", err)
			s.emit(events.Warning, "network.dhcp_failed", fmt.Sprintf("DHCP on %s: %v", link, err), map[string]string{"link": link})
		},
	}
	err = d.Run(ctx)
	select {
	case s.errc <- dhcpExit{link, err}:
	default:
		s.log.Warn("dhcp client ended", "link", link, "error", err)
	}
}

// lease records a new or renewed lease: log, event, resolv.conf, NTP.
func (s *networkService) lease(link string, l netcfg.Lease, renewed bool) {
	kind, verb := "network.lease_acquired", "acquired"
	if renewed {
		kind, verb = "network.lease_renewed", "renewed"
	}
	fields := map[string]string{"link": link, "address": l.Address.String(), "router": l.Router.String(),
		"server": l.Server.String(), "lease": l.Duration.String()}
	s.log.Info("dhcp lease "+verb, "link", link, "address", l.Address, "router", l.Router, "lease", l.Duration)
	s.emit(events.Info, kind, fmt.Sprintf("DHCP lease %s on %s: %s", verb, link, l.Address), fields)
	s.onLease(link, l, renewed)
	s.mu.Lock()
	if s.leases != nil {
		s.leases[link] = l
	}
	s.mu.Unlock()
	if _, err := s.resolv.SetLease(link, l); err != nil {
		s.log.Warn("dhcp", "error", err)
	}
}

// TimeServers is what the NTP client asks: the configuration's servers,
// else those the DHCP leases offer.
func (s *networkService) TimeServers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	links := make([]string, 0, len(s.leases))
	for l := range s.leases {
		links = append(links, l)
	}
	sort.Strings(links)
	leases := make([]netcfg.Lease, 0, len(links))
	for _, l := range links {
		leases = append(leases, s.leases[l])
	}
	return s.cfg.TimeServers(leases...)
}

// Health checks that every configured interface is up with its
// addresses: a re-apply that would change something means drift.
func (s *networkService) Health(ctx context.Context) error {
	eths, err := s.running().Desired()
	if err != nil {
		return err
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	for _, e := range eths {
		if err := netcfg.Check(h, e); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return nil
}

// ParseNetworkSection reads a network section: the section itself or a
// document with a network: key. Unknown fields are errors.
func ParseNetworkSection(text string) (netcfg.Config, error) {
	var probe map[string]any
	if err := yaml.Unmarshal([]byte(text), &probe); err != nil {
		return netcfg.Config{}, fmt.Errorf("%w: %v", api.ErrBadNetworkConfig, err)
	}
	body := []byte(text)
	if _, ok := probe["network"]; ok {
		var doc struct {
			Network yaml.Node `yaml:"network"`
		}
		if err := yaml.Unmarshal(body, &doc); err != nil {
			return netcfg.Config{}, fmt.Errorf("%w: %v", api.ErrBadNetworkConfig, err)
		}
		out, err := yaml.Marshal(&doc.Network)
		if err != nil {
			return netcfg.Config{}, fmt.Errorf("%w: %v", api.ErrBadNetworkConfig, err)
		}
		body = out
	}
	var c netcfg.Config
	dec := yaml.NewDecoder(strings.NewReader(string(body)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return netcfg.Config{}, fmt.Errorf("%w: %v", api.ErrBadNetworkConfig, err)
	}
	if err := c.Validate(); err != nil {
		return netcfg.Config{}, fmt.Errorf("%w: %v", api.ErrBadNetworkConfig, err)
	}
	return c, nil
}

// Propose applies next, on probation for within (0: kept at once).
func (s *networkService) Propose(next netcfg.Config, within time.Duration) (api.NetworkApplyResult, error) {
	s.mu.Lock()
	ctx, tx := s.ctx, s.tx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return api.NetworkApplyResult{}, fmt.Errorf("%w: the network service is not running", api.ErrNetworkConflict)
	}
	if tx != nil {
		return api.NetworkApplyResult{}, fmt.Errorf("%w: a configuration is on probation until %s; confirm or revert it first",
			api.ErrNetworkConflict, tx.Deadline().Format(time.RFC3339))
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	s.changes = nil
	prev := s.cfg
	s.mu.Unlock()
	if within <= 0 {
		_, err := s.applyLocked(ctx, &prev, next)
		if err != nil {
			// Put the previous configuration back as well as it goes.
			if _, rerr := s.applyLocked(ctx, &next, prev); rerr != nil {
				err = errors.Join(err, fmt.Errorf("revert: %w", rerr))
			}
			return api.NetworkApplyResult{Outcome: "rolled back", Changes: s.takeChanges()}, fmt.Errorf("apply: %w", err)
		}
		where := s.persist(next)
		s.emit(events.Notice, "network.applied", "network configuration applied and kept", map[string]string{"persisted": where})
		return api.NetworkApplyResult{Outcome: "applied", Changes: s.takeChanges(), Persisted: where}, nil
	}
	t, err := netcfg.Begin(ctx, netcfg.TxOptions{Applier: s, Now: time.Now, After: time.After, OnOutcome: s.outcome}, prev, next, within)
	if err != nil {
		return api.NetworkApplyResult{Outcome: "rolled back", Changes: s.takeChanges(), Message: err.Error()}, err
	}
	s.mu.Lock()
	s.tx, s.txSince = t, time.Now()
	s.mu.Unlock()
	s.emit(events.Notice, "network.pending", fmt.Sprintf("network configuration applied on probation: rolled back unless confirmed by %s",
		t.Deadline().Format(time.RFC3339)), map[string]string{"deadline": t.Deadline().Format(time.RFC3339)})
	return api.NetworkApplyResult{Outcome: "pending", Changes: s.takeChanges(), Deadline: t.Deadline()}, nil
}

func (s *networkService) takeChanges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, c := range s.changes {
		out = append(out, c.Link+": "+c.What)
	}
	s.changes = nil
	return out
}

// outcome ends a transaction: persist when confirmed, an event always.
func (s *networkService) outcome(r netcfg.TxResult) {
	s.mu.Lock()
	s.tx = nil
	s.mu.Unlock()
	switch r.Outcome {
	case netcfg.Confirmed:
		where := s.persist(r.Running)
		s.emit(events.Notice, "network.confirmed", "network configuration confirmed and kept", map[string]string{"persisted": where})
	case netcfg.RolledBack:
		s.log.Warn("network configuration rolled back", "why", r.Err)
		s.emit(events.Warning, "network.rolled_back", fmt.Sprintf("network configuration rolled back to the previous one: %v", r.Err),
			map[string]string{"reason": fmt.Sprint(r.Err)})
	case netcfg.RollbackFailed:
		s.log.Error("network configuration rollback failed", "error", r.Err)
		s.emit(events.Error, "network.rollback_failed", fmt.Sprintf("network configuration rollback failed: %v", r.Err), nil)
	case netcfg.Abandoned:
		s.log.Warn("network configuration on probation abandoned (service stopping); the persisted one runs at next boot")
	}
}

// Decide confirms (or reverts) the configuration on probation.
func (s *networkService) Decide(confirm bool) (api.NetworkApplyResult, error) {
	s.mu.Lock()
	t := s.tx
	s.mu.Unlock()
	if t == nil {
		return api.NetworkApplyResult{}, fmt.Errorf("%w: no network configuration is on probation", api.ErrNetworkConflict)
	}
	s.mu.Lock()
	s.changes = nil
	s.mu.Unlock()
	var err error
	if confirm {
		err = t.Confirm()
	} else {
		s.applyMu.Lock()
		err = t.Revert()
		s.applyMu.Unlock()
	}
	if errors.Is(err, netcfg.ErrTxOver) {
		return api.NetworkApplyResult{}, fmt.Errorf("%w: %v", api.ErrNetworkConflict, err)
	}
	r, _ := t.Result()
	res := api.NetworkApplyResult{Outcome: r.Outcome.String(), Changes: s.takeChanges()}
	if r.Err != nil {
		res.Message = r.Err.Error()
	}
	if r.Outcome == netcfg.Confirmed {
		res.Persisted = s.persistedPath()
	}
	return res, err
}

// pending is the configuration on probation, if any.
func (s *networkService) pending() *api.NetworkPending {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx == nil {
		return nil
	}
	return &api.NetworkPending{Deadline: s.tx.Deadline(), Since: s.txSince}
}

func (s *networkService) persistedPath() string {
	if s.persistPath == nil {
		return ""
	}
	return s.persistPath()
}

// persist writes c where confirmed configurations go; it returns the
// path, "" when kept in memory only (or on failure, logged).
func (s *networkService) persist(c netcfg.Config) string {
	path := s.persistedPath()
	if path == "" {
		s.log.Info("network configuration kept in memory only (no data vault mounted)")
		return ""
	}
	b, err := yaml.Marshal(struct {
		Network netcfg.Config `yaml:"network"`
	}{c})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = writeDurably(path, b)
	}
	if err != nil {
		s.log.Error("persist network configuration", "path", path, "error", err)
		s.emit(events.Error, "network.persist_failed", fmt.Sprintf("could not persist the network configuration: %v", err), nil)
		return ""
	}
	return path
}

// restorePersisted applies the configuration an operator confirmed on an
// earlier boot (kept on the data vault), once the vault is mounted: the
// box comes up on its image's configuration and then moves to the
// confirmed one. A missing file is the normal first boot; a file that no
// longer parses or applies is reported and the running one stays.
func (s *networkService) restorePersisted(path string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	fail := func(err error) {
		s.log.Error("the confirmed network configuration was not restored", "path", path, "error", err)
		s.emit(events.Error, "network.restore_failed", fmt.Sprintf("the confirmed network configuration in %s was not restored: %v", path, err), nil)
	}
	if err != nil {
		fail(err)
		return
	}
	saved, err := ParseNetworkSection(string(b))
	if err != nil {
		fail(err)
		return
	}
	// The storage stage may finish before the network service has
	// started: wait for it (bounded).
	var ctx context.Context
	for range 300 {
		s.mu.Lock()
		ctx = s.ctx
		s.mu.Unlock()
		if ctx != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx == nil || ctx.Err() != nil {
		fail(errors.New("the network service is not running"))
		return
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	prev := s.cfg
	s.mu.Unlock()
	changes, err := s.applyLocked(ctx, &prev, saved)
	if err != nil {
		if _, rerr := s.applyLocked(ctx, &saved, prev); rerr != nil {
			err = errors.Join(err, fmt.Errorf("back to the image's configuration: %w", rerr))
		}
		fail(err)
		return
	}
	s.emit(events.Notice, "network.restored", fmt.Sprintf("the confirmed network configuration from %s is running (%d changes)", path, len(changes)),
		map[string]string{"path": path})
}

// The appliance's side of the network API.

// ApplyNetwork implements api.NetworkBackend.
func (a *Appliance) ApplyNetwork(ctx context.Context, req api.NetworkApplyRequest) (api.NetworkApplyResult, error) {
	if a.network == nil {
		return api.NetworkApplyResult{}, api.ErrNoNetworkService
	}
	var within time.Duration
	if req.ConfirmWithin != "" {
		d, err := time.ParseDuration(req.ConfirmWithin)
		if err != nil || d < 0 {
			return api.NetworkApplyResult{}, fmt.Errorf("%w: confirm_within %q is not a duration like 120s", api.ErrBadNetworkConfig, req.ConfirmWithin)
		}
		within = d
	}
	c, err := ParseNetworkSection(req.YAML)
	if err != nil {
		return api.NetworkApplyResult{}, err
	}
	return a.network.Propose(c, within)
}

// ConfirmNetwork implements api.NetworkBackend.
func (a *Appliance) ConfirmNetwork(ctx context.Context) (api.NetworkApplyResult, error) {
	if a.network == nil {
		return api.NetworkApplyResult{}, api.ErrNoNetworkService
	}
	return a.network.Decide(true)
}

// RevertNetwork implements api.NetworkBackend.
func (a *Appliance) RevertNetwork(ctx context.Context) (api.NetworkApplyResult, error) {
	if a.network == nil {
		return api.NetworkApplyResult{}, api.ErrNoNetworkService
	}
	return a.network.Decide(false)
}

// NetworkHistory implements api.NetworkBackend.
func (a *Appliance) NetworkHistory(limit int) api.NetworkHistory {
	if a.network == nil {
		return api.NetworkHistory{Links: map[string][]api.LinkRate{}}
	}
	return a.network.rates.history(limit)
}

// vaultNetworkPath is where confirmed network configurations go: the
// data vault's .keep/network.yaml while the vault is mounted.
func (a *Appliance) vaultNetworkPath() string {
	if a.storage == nil {
		return ""
	}
	st, ok := a.Storage()
	if !ok || st.Filesystem == nil || !st.Filesystem.Mounted || st.Filesystem.MountPoint == "" {
		return ""
	}
	return filepath.Join(st.Filesystem.MountPoint, ".keep", "network.yaml")
}

// writeDurably replaces path with b: a synced temporary file renamed over
// it, then the directory synced, so a crash leaves the old or the new
// file, never a torn one.
func writeDurably(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
