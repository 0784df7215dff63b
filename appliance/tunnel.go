package appliance

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/appliance/kmod"
	"keep/ipsec/ike"
	"keep/ipsec/xfrm"
)

// tunnelConn is the name of the NOC connection in events and status.
const tunnelConn = "noc"

// tunnelBlockPriority is the priority of the fail-closed block policies:
// the bottom of Keep's block band (xfrm.DefaultOwner), above (weaker than)
// the tunnel policies' ike PriorityBase, so the tunnel's policies win
// while it is up and the block catches everything else.
var tunnelBlockPriority = xfrm.DefaultOwner().PriorityMin

// tunnelService runs the IKEv2 tunnel to the NOC (DESIGN §3 step 6).
//
// Fail closed: before any IKE datagram is sent, the service installs one
// block policy per NOC network (tunnel.remote_ts), so management traffic
// to the NOC is dropped, never sent in clear, whenever no tunnel policy
// covers it. The block policies are never removed by the service: not
// when the tunnel goes down, not when the service stops or restarts, not
// at an orderly shutdown. They go with the kernel at power-off. Removing
// them at stop would be wrong for fail-closed: between the stop and the
// power-off (or the next start of a restarted service) the NOC networks
// would be reachable in clear through the default route. The start adopts
// block policies already there (it adds before it cleans, so there is no
// window either), and since the configuration is read at boot only, a
// tunnel disabled in the configuration never sees the previous boot's
// policies.
//
// Policy-based, not route-based: the tunnel's policies carry no if_id and
// no xfrm interface is made, although the ike and xfrm packages support
// both (tested in the Debian guests, qemu/noc). Fail closed by the policy
// database holds whatever the routes say (a wrong or DHCP-pushed route
// cannot leak), and it cannot be combined with an xfrm interface for the
// same networks: measured on Debian's 6.1 kernel, a block policy without
// if_id applies to a packet routed into the xfrm interface too (the
// route lookup's policy check runs with if_id 0), so the ping fails with
// EPERM before it reaches the interface; without the block the same
// packet goes through the if_id SA. Route-based fail-closed would rest on
// blackhole routes instead, i.e. on routing being right.
//
// Health is "the IKE daemon runs and answers", not "the tunnel is up": the
// NOC may be unreachable for reasons a reset cannot fix (its side, the
// WAN), and an unhealthy service would have the BMC watchdog reset a box
// that is otherwise fine. Tunnel state is in events and `keep ctl tunnel`.
type tunnelService struct {
	cfg  config.Tunnel
	log  hclog.Logger
	emit func(sev events.Severity, kind, msg string, fields map[string]string)
	// openKernel opens the xfrm data plane: the netlink adapter on the
	// appliance, an xfrm.Fake in tests. The closer may be nil.
	openKernel func() (xfrm.Kernel, io.Closer, error)
	// readFile reads the secret files (os.ReadFile).
	readFile func(string) ([]byte, error)
	// daemonHook adjusts the daemon's configuration (tests: loopback
	// sockets and a fast clock). nil on the appliance.
	daemonHook func(*ike.DaemonConfig)

	mu     sync.Mutex
	kernel xfrm.Kernel
	blocks []xfrm.Policy
	daemon *ike.Daemon
	// view is the connection as the status shows it (no secrets).
	view api.TunnelStatus
	last *api.TunnelEvent
}

func newTunnelService(cfg config.Tunnel, log hclog.Logger, emit func(events.Severity, string, string, map[string]string)) *tunnelService {
	return &tunnelService{
		cfg: cfg, log: log, emit: emit, readFile: os.ReadFile,
		openKernel: func() (xfrm.Kernel, io.Closer, error) {
			loadTunnelModules(log)
			n, err := xfrm.Open(xfrm.Options{Log: log.Named("xfrm")})
			if err != nil {
				return nil, nil, err
			}
			return n, n, nil
		},
	}
}

func (s *tunnelService) Name() string { return "tunnel" }

func (s *tunnelService) Run(ctx context.Context, ready func()) error {
	remoteTS, err := parsePrefixes(s.cfg.RemoteTS)
	if err != nil {
		return s.startFailed(fmt.Errorf("tunnel.remote_ts: %w", err))
	}
	k, closer, err := s.openKernel()
	if err != nil {
		return s.startFailed(fmt.Errorf("open the kernel's xfrm interface: %w", err))
	}
	if closer != nil {
		defer closer.Close()
	}
	// Fail closed first: nothing below (reading secrets, opening
	// sockets, IKE) may happen while the NOC networks are reachable in
	// clear.
	blocks := (&ike.Config{RemoteTS: remoteTS}).FailClosedPolicies(tunnelBlockPriority)
	stalePol, staleSA, err := installFailClosed(ctx, k, blocks)
	if err != nil {
		return s.startFailed(err)
	}
	s.mu.Lock()
	s.kernel, s.blocks = k, blocks
	s.mu.Unlock()
	if stalePol+staleSA > 0 {
		s.log.Info("removed stale tunnel state", "policies", stalePol, "sas", staleSA)
	}
	s.log.Info("fail-closed: traffic to the NOC networks is blocked unless the tunnel carries it", "networks", strings.Join(s.cfg.RemoteTS, ","))
	s.emit(events.Info, "tunnel.fail_closed", "traffic to the NOC networks "+strings.Join(s.cfg.RemoteTS, ", ")+" is blocked unless the tunnel carries it",
		map[string]string{"networks": strings.Join(s.cfg.RemoteTS, ",")})

	conn, err := tunnelConfig(s.cfg, s.readFile)
	if err != nil {
		return s.startFailed(err)
	}
	s.mu.Lock()
	s.view = tunnelView(conn)
	s.mu.Unlock()
	dc := ike.DaemonConfig{
		Options: ike.Options{Kernel: k, Logger: s.log.Named("ike"), OnEvent: s.onEvent},
		Conns:   []ike.Config{conn},
	}
	if s.daemonHook != nil {
		s.daemonHook(&dc)
	}
	d, err := ike.NewDaemon(dc)
	if err != nil {
		return s.startFailed(err)
	}
	s.mu.Lock()
	s.daemon = d
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.daemon = nil
		s.mu.Unlock()
	}()
	s.log.Info("IKE daemon started", "conn", conn.String())
	ready()
	err = d.Run(ctx)
	// The block policies stay (see the type's documentation).
	s.log.Info("IKE daemon stopped; traffic to the NOC networks stays blocked")
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("the IKE daemon stopped")
	}
	return err
}

// startFailed reports a start that did not get the daemon running.
func (s *tunnelService) startFailed(err error) error {
	s.emit(events.Error, "tunnel.start_failed", "tunnel not started: "+err.Error(), nil)
	return err
}

// Health: the daemon runs and its engine answers (see the type's
// documentation for why an established tunnel is not required).
func (s *tunnelService) Health(ctx context.Context) error {
	s.mu.Lock()
	d := s.daemon
	s.mu.Unlock()
	if d == nil {
		return errors.New("the IKE daemon is not running")
	}
	answered := make(chan struct{})
	go func() { d.Status(context.WithoutCancel(ctx)); close(answered) }()
	select {
	case <-answered:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the IKE daemon does not answer: %w", ctx.Err())
	}
}

// onEvent records an IKE event in the journal. It runs on the daemon's
// goroutines: it must not block or call into the daemon.
func (s *tunnelService) onEvent(ev ike.Event) {
	sev, kind, msg, fields := tunnelEvent(ev)
	s.mu.Lock()
	s.last = &api.TunnelEvent{Kind: kind, Time: ev.Time, Reason: ev.Reason}
	s.mu.Unlock()
	switch {
	case sev >= events.Error:
		s.log.Error(msg)
	case sev >= events.Warning:
		s.log.Warn(msg)
	default:
		s.log.Info(msg)
	}
	s.emit(sev, kind, msg, fields)
}

// tunnelEvent maps an IKE event to a journal event. Events never carry
// keys (ike.Event has none).
func tunnelEvent(ev ike.Event) (sev events.Severity, kind, msg string, fields map[string]string) {
	fields = map[string]string{"conn": ev.Conn}
	if ev.Reason != "" {
		fields["reason"] = ev.Reason
	}
	if ev.Notify != 0 {
		fields["notify"] = ev.Notify.String()
	}
	if ev.SPIIn != 0 || ev.SPIOut != 0 {
		fields["spi_in"], fields["spi_out"] = fmt.Sprintf("%08x", ev.SPIIn), fmt.Sprintf("%08x", ev.SPIOut)
	}
	because := func(m string) string {
		if ev.Reason != "" {
			return m + ": " + ev.Reason
		}
		return m
	}
	switch ev.Kind {
	case ike.EventUp:
		return events.Notice, "tunnel.up", "tunnel to the NOC is up", fields
	case ike.EventDown:
		return events.Warning, "tunnel.down", because("tunnel to the NOC is down") + "; traffic to the NOC networks is blocked until it is back", fields
	case ike.EventRekeyed:
		what := "child"
		if ev.IKE {
			what = "ike"
		}
		fields["sa"] = what
		return events.Info, "tunnel.rekeyed", "tunnel " + strings.ToUpper(what) + " SA rekeyed", fields
	case ike.EventAuthFailed:
		return events.Error, "tunnel.auth_failed", because("tunnel authentication failed"), fields
	case ike.EventFailed:
		m := "tunnel negotiation failed"
		if ev.Notify != 0 {
			m += " (" + ev.Notify.String() + ")"
		}
		return events.Warning, "tunnel.failed", because(m), fields
	case ike.EventPeerDead:
		return events.Error, "tunnel.peer_dead", because("the NOC does not answer (dead peer)") + "; traffic to the NOC networks is blocked until the tunnel is back", fields
	}
	return events.Info, "tunnel.event", ev.String(), fields
}

// installFailClosed installs the block policies, then removes stale
// Keep-owned state (SAs and tunnel policies of a previous run, block
// policies for networks no longer configured). It adds before it removes
// and keeps block policies that are already there, so a restart never
// opens a window in which the NOC networks are reachable in clear (a
// plain Kernel.Flush would).
func installFailClosed(ctx context.Context, k xfrm.Kernel, blocks []xfrm.Policy) (policies, sas int, err error) {
	add := func() error {
		for _, p := range blocks {
			if err := k.AddPolicy(ctx, p); err != nil && !errors.Is(err, xfrm.ErrExists) {
				return fmt.Errorf("install the fail-closed policy for %s: %w", p.Selector.Dst, err)
			}
		}
		return nil
	}
	if err := add(); err != nil {
		return 0, 0, err
	}
	want := map[xfrm.PolicyID]bool{}
	for _, p := range blocks {
		want[p.ID()] = true
	}
	installed, err := k.Policies(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("list the installed policies: %w", err)
	}
	owner := xfrm.DefaultOwner()
	for _, p := range installed {
		if !owner.OwnsPolicy(p) {
			continue // not Keep's (Kernel.Policies should not list it)
		}
		if want[p.ID()] && p.Action == xfrm.ActionBlock && len(p.Templates) == 0 {
			continue
		}
		if err := k.DeletePolicy(ctx, p.ID()); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
			return policies, sas, fmt.Errorf("remove the stale policy %s: %w", p.ID(), err)
		}
		policies++
	}
	ids, err := k.SAs(ctx)
	if err != nil {
		return policies, sas, fmt.Errorf("list the installed SAs: %w", err)
	}
	for _, id := range ids {
		if err := k.DeleteSA(ctx, id); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
			return policies, sas, fmt.Errorf("remove the stale SA %s: %w", id, err)
		}
		sas++
	}
	// A stale policy that shared a block policy's identity was removed
	// above: put the block back.
	return policies, sas, add()
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// tunnelConfig builds the IKE connection from the configuration, reading
// the secrets from their files. Errors name the field and the file, never
// the contents.
func tunnelConfig(t config.Tunnel, readFile func(string) ([]byte, error)) (ike.Config, error) {
	c := ike.Config{
		Name: tunnelConn, LocalID: t.LocalID, RemoteID: t.NOCID, AutoStart: true,
		IKEProposals: t.IKEProposals, ESPProposals: t.ESPProposals,
		IKELifetime: time.Duration(t.IKELifetime), ChildLifetime: time.Duration(t.ChildLifetime),
		DPDInterval:  time.Duration(t.DPDInterval),
		Retransmit:   ike.Retransmit{Timeout: time.Duration(t.RetransmitTimeout), Base: 1.8, Tries: t.RetransmitTries},
		NATKeepalive: time.Duration(t.NATKeepalive),
	}
	if c.DPDInterval == 0 {
		c.DPDInterval = -1 // 0s in the configuration: off
	}
	var err error
	if c.LocalTS, err = parsePrefixes(t.LocalTS); err != nil {
		return c, fmt.Errorf("tunnel.local_ts: %w", err)
	}
	if c.RemoteTS, err = parsePrefixes(t.RemoteTS); err != nil {
		return c, fmt.Errorf("tunnel.remote_ts: %w", err)
	}
	if a, err := netip.ParseAddr(t.NOCAddress); err == nil {
		c.Remote = netip.AddrPortFrom(a, 500)
	} else if c.Remote, err = netip.ParseAddrPort(t.NOCAddress); err != nil {
		return c, fmt.Errorf("tunnel.noc_address: %q is not an IP or IP:port", t.NOCAddress)
	}
	local := t.LocalAddress
	if local == "" {
		// The kernel's source address towards the NOC; connecting a
		// UDP socket sends nothing.
		u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(c.Remote))
		if err != nil {
			return c, fmt.Errorf("tunnel: no local address towards the NOC %s (set tunnel.local_address or fix the routes): %w", c.Remote, err)
		}
		local = u.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().String()
		u.Close()
	}
	la, err := netip.ParseAddr(local)
	if err != nil {
		return c, fmt.Errorf("tunnel.local_address: %q is not an IP address", local)
	}
	c.Local = netip.AddrPortFrom(la, 500)

	if t.PSKFile != "" {
		b, err := readFile(t.PSKFile)
		if err != nil {
			return c, fmt.Errorf("tunnel.psk_file: cannot read the pre-shared key: %w", err)
		}
		c.PSK = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(c.PSK) == 0 {
			return c, fmt.Errorf("tunnel.psk_file: %s is empty", t.PSKFile)
		}
		return c, nil
	}
	if c.Cert, err = readCerts(readFile, "cert_file", t.CertFile); err != nil {
		return c, err
	}
	if c.CAs, err = readCerts(readFile, "ca_file", t.CAFile); err != nil {
		return c, err
	}
	if c.Key, err = readKey(readFile, t.KeyFile); err != nil {
		return c, err
	}
	return c, nil
}

// readCerts reads every CERTIFICATE block of a PEM file.
func readCerts(readFile func(string) ([]byte, error), field, path string) ([]*x509.Certificate, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel.%s: %w", field, err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tunnel.%s: %s: certificate %d: %w", field, path, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tunnel.%s: %s holds no PEM certificate", field, path)
	}
	return out, nil
}

// readKey reads the private key (PKCS#8, SEC 1 or PKCS#1 PEM). Errors
// never quote the file.
func readKey(readFile func(string) ([]byte, error), path string) (crypto.Signer, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel.key_file: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("tunnel.key_file: %s holds no PEM private key", path)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tunnel.key_file: %s: the %s block does not parse", path, blk.Type)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("tunnel.key_file: %s: the key cannot sign", path)
		}
		return s, nil
	}
}

// tunnelView is the connection's static part of the status.
func tunnelView(c ike.Config) api.TunnelStatus {
	auth := "psk"
	if len(c.PSK) == 0 {
		auth = "certificate"
	}
	return api.TunnelStatus{Name: c.Name, Local: c.Local.String(), NOC: c.Remote.String(), LocalID: c.LocalID, NOCID: c.RemoteID, Auth: auth}
}

// status is GET /v1/tunnel: the daemon's snapshot and the block policies
// as installed now.
func (s *tunnelService) status(ctx context.Context) (api.TunnelStatus, error) {
	s.mu.Lock()
	d, k, blocks, st, last := s.daemon, s.kernel, s.blocks, s.view, s.last
	s.mu.Unlock()
	if k == nil {
		return api.TunnelStatus{}, fmt.Errorf("%w: it is starting, or failed to start (keep ctl services)", api.ErrNoTunnel)
	}
	if last != nil {
		l := *last
		st.LastEvent = &l
	}
	st.State = "down"
	installed := map[xfrm.PolicyID]bool{}
	if ps, err := k.Policies(ctx); err == nil {
		for _, p := range ps {
			if p.Action == xfrm.ActionBlock {
				installed[p.ID()] = true
			}
		}
	} else {
		s.log.Warn("list the xfrm policies", "error", err)
	}
	for _, p := range blocks {
		st.FailClosed = append(st.FailClosed, api.TunnelBlock{Network: p.Selector.Dst.String(), Priority: p.Priority, Installed: installed[p.ID()]})
	}
	if d == nil {
		return st, nil
	}
	for _, c := range d.Status(ctx).Conns {
		if c.Name != tunnelConn {
			continue
		}
		st.State, st.NextAttempt = c.State, c.NextAttempt
		for _, sa := range c.IKE {
			st.IKE = append(st.IKE, ikeSAView(sa))
		}
	}
	return st, nil
}

func ikeSAView(sa ike.IKEStatus) api.TunnelIKESA {
	role := "responder"
	if sa.Initiator {
		role = "initiator"
	}
	v := api.TunnelIKESA{
		SPIi: fmt.Sprintf("%016x", sa.SPIi), SPIr: fmt.Sprintf("%016x", sa.SPIr), Role: role, State: sa.State,
		Local: sa.Local.String(), Remote: sa.Remote.String(), NATLocal: sa.NATLocal, NATRemote: sa.NATRemote,
		Encr: sa.Encr, PRF: sa.PRF, DH: sa.DH, Established: sa.Established, RekeyAt: sa.RekeyAt, ExpireAt: sa.ExpireAt,
		LastReceived: sa.LastReceived, LastDPD: sa.LastDPD, Children: []api.TunnelChildSA{},
	}
	for _, c := range sa.Children {
		v.Children = append(v.Children, api.TunnelChildSA{
			Reqid: c.Reqid, SPIIn: fmt.Sprintf("%08x", c.SPIIn), SPIOut: fmt.Sprintf("%08x", c.SPIOut), State: c.State,
			LocalTS: prefixStrings(c.LocalTS), RemoteTS: prefixStrings(c.RemoteTS), Encr: c.Encr, DH: c.DH, ESN: c.ESN, Encap: c.Encap,
			Installed: c.Installed, RekeyAt: c.RekeyAt, ExpireAt: c.ExpireAt,
			BytesIn: c.BytesIn, BytesOut: c.BytesOut, PacketsIn: c.PacketsIn, PacketsOut: c.PacketsOut, LastUsedIn: c.LastUsedIn,
		})
	}
	return v
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// initiate and terminate drive the running daemon.
func (s *tunnelService) control(ctx context.Context, up bool) error {
	s.mu.Lock()
	d := s.daemon
	s.mu.Unlock()
	if d == nil {
		return fmt.Errorf("%w: keep ctl services says why", api.ErrNoTunnel)
	}
	if up {
		return d.Initiate(ctx, tunnelConn)
	}
	return d.Terminate(ctx, tunnelConn)
}

// rekey starts a rekey of the CHILD SA, or of the IKE SA when ike is set.
func (s *tunnelService) rekey(ctx context.Context, ike bool) error {
	s.mu.Lock()
	d := s.daemon
	s.mu.Unlock()
	if d == nil {
		return fmt.Errorf("%w: keep ctl services says why", api.ErrNoTunnel)
	}
	var err error
	if ike {
		err = d.RekeyIKE(ctx, tunnelConn)
	} else {
		err = d.RekeyChild(ctx, tunnelConn)
	}
	if err != nil {
		return fmt.Errorf("cannot rekey: %w (keep ctl tunnel shows the state; keep ctl tunnel initiate brings it up)", err)
	}
	return nil
}

// tunnelModules are the ESP data plane's kernel modules. The kernel would
// load them on demand at the first SA, one request_module (one
// keep-as-modprobe exec) at a time, and about half of its requests name
// aliases nothing provides: that held the first CHILD SA for about 8 s
// under TCG (qemu/tunnel_test.go). Loaded in-process when the tunnel
// starts they cost a fraction of that, and only boxes with a tunnel pay.
// drbg's default generator is hmac(sha512), which no modules.dep names.
func tunnelModules() []string {
	return []string{"xfrm_user", "esp4", "gcm", "ghash_generic", "ghash_clmulni_intel", "aesni_intel", "ctr",
		"seqiv", "drbg", "sha512_generic", "sha3_generic", "jitterentropy_rng"}
}

// loadTunnelModules loads tunnelModules; a failure is logged, not fatal
// (the kernel may still load what it needs on demand).
func loadTunnelModules(log hclog.Logger) {
	paths, err := kmod.DefaultPaths()
	var loader *kmod.Loader
	if err == nil {
		paths.Cmdline = ""
		loader, err = paths.Loader()
	}
	if err != nil {
		log.Warn("cannot load the tunnel's kernel modules; the kernel loads them on demand", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	results, err := loader.Load(ctx, tunnelModules()...)
	loaded := 0
	for _, r := range results {
		if r.Status == kmod.Loaded {
			loaded++
		}
	}
	log.Info("tunnel kernel modules", "loaded", loaded, "of", len(results), "took", time.Since(start).Round(time.Millisecond), "error", err)
}
