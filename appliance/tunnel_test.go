package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/api"
	"keep/appliance/config"
	"keep/appliance/events"
	"keep/ipsec/ike"
	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

// testPSK is the tests' pre-shared key; it must never show up in logs,
// events or the status.
const testPSK = "correct-horse-battery-staple-7f3a"

type tunnelHarness struct {
	t    *testing.T
	svc  *tunnelService
	kern *xfrm.Fake
	logs *syncBuffer
	evs  chan events.Event

	mu  sync.Mutex
	all []events.Event

	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
}

// newTunnelHarness builds the service on an xfrm.Fake with its IKE
// sockets on loopback (the ports the configuration names are ignored:
// Local gets the bound port).
func newTunnelHarness(t *testing.T, cfg config.Tunnel, kern *xfrm.Fake) *tunnelHarness {
	t.Helper()
	h := &tunnelHarness{t: t, kern: kern, logs: &syncBuffer{}, evs: make(chan events.Event, 64), done: make(chan error, 1), ready: make(chan struct{})}
	log := hclog.New(&hclog.LoggerOptions{Name: "tunnel", Output: h.logs, Level: hclog.Trace})
	h.svc = newTunnelService(cfg, log, func(sev events.Severity, kind, m string, fields map[string]string) {
		e := events.Event{Severity: sev, Kind: kind, Message: m, Fields: fields}
		h.mu.Lock()
		h.all = append(h.all, e)
		h.mu.Unlock()
		select {
		case h.evs <- e:
		default:
		}
	})
	h.svc.openKernel = func() (xfrm.Kernel, io.Closer, error) { return kern, nil, nil }
	h.svc.daemonHook = func(dc *ike.DaemonConfig) {
		conn, natt := listenLoopback(t), listenLoopback(t)
		dc.Conn, dc.NATTConn = conn, natt
		dc.Addr = netip.MustParseAddr("127.0.0.1")
		dc.Conns[0].Local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
		dc.NATTPort = natt.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	}
	return h
}

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	return listenOn(t, net.IPv4(127, 0, 0, 1))
}

func listenOn(t *testing.T, ip net.IP) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *tunnelHarness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.svc.Run(ctx, func() { close(h.ready) }) }()
	h.t.Cleanup(func() { h.stop() })
}

func (h *tunnelHarness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(20 * time.Second):
		h.t.Fatal("the tunnel service did not stop")
		return nil
	}
}

// waitEvent waits for an event of the given kind.
func (h *tunnelHarness) waitEvent(kind string) events.Event {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-h.evs:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			h.t.Fatalf("no %s event; logs:\n%s", kind, h.logs.String())
		}
	}
}

func pskFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(p, []byte(testPSK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testTunnelConfig(noc netip.AddrPort, psk string) config.Tunnel {
	cfg := config.Defaults().Tunnel
	cfg.Enabled = true
	cfg.NOCAddress, cfg.LocalAddress = noc.String(), "127.0.0.1"
	cfg.NOCID, cfg.LocalID = "noc.example.net", "box1.example.net"
	cfg.PSKFile = psk
	cfg.LocalTS = []string{"10.10.0.0/24"}
	cfg.RemoteTS = []string{"10.200.0.0/16", "10.201.0.0/16"}
	return cfg
}

func hasBlock(ps []xfrm.Policy, dst string) bool {
	for _, p := range ps {
		if p.Action == xfrm.ActionBlock && p.Selector.Dst == netip.MustParsePrefix(dst) && p.Priority == tunnelBlockPriority {
			return true
		}
	}
	return false
}

// TestTunnelFailsClosedBeforeIKE: the block policies for every NOC
// network are in the kernel before the IKE sockets exist and before the
// first IKE_SA_INIT reaches the NOC; stale Keep state of a previous run is
// removed, a block policy already there is kept (never deleted and
// re-added: no window), foreign state is left alone; the status renders
// through the API; and the block policies outlive the service's stop.
func TestTunnelFailsClosedBeforeIKE(t *testing.T) {
	noc := listenLoopback(t) // a NOC that never answers
	defer noc.Close()
	kern := xfrm.NewFake(xfrm.Owner{})
	own := xfrm.DefaultOwner()
	staleSA := xfrm.SA{Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.9"), SPI: 0xc0ffee01, Reqid: own.ReqidMin + 1, Key: make([]byte, 36)}
	stalePolicy := xfrm.Policy{Selector: xfrm.Selector{Src: netip.MustParsePrefix("10.10.0.0/24"), Dst: netip.MustParsePrefix("10.99.0.0/16")}, Dir: xfrm.DirOut,
		Priority: 0x4b440000, Templates: []xfrm.Template{{Src: staleSA.Src, Dst: staleSA.Dst, Reqid: own.ReqidMin + 1}}}
	keptBlock := xfrm.BlockPolicy(netip.MustParsePrefix("10.200.0.0/16"), tunnelBlockPriority)
	foreign := xfrm.Policy{Selector: xfrm.Selector{Src: netip.MustParsePrefix("192.168.0.0/24"), Dst: netip.MustParsePrefix("192.168.1.0/24")}, Dir: xfrm.DirOut,
		Priority: 100, Templates: []xfrm.Template{{Src: staleSA.Src, Dst: staleSA.Dst, Reqid: 7}}}
	kern.Seed([]xfrm.SA{staleSA}, []xfrm.Policy{stalePolicy, keptBlock, foreign})

	h := newTunnelHarness(t, testTunnelConfig(noc.LocalAddr().(*net.UDPAddr).AddrPort(), pskFile(t)), kern)
	h.start()

	noc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := noc.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no IKE datagram reached the NOC: %v; logs:\n%s", err, h.logs.String())
	}
	// IKEv2 header: exchange type at octet 18; 34 is IKE_SA_INIT.
	if n < 28 || buf[18] != 34 {
		t.Fatalf("first datagram is not an IKE_SA_INIT: % x", buf[:min(n, 28)])
	}
	// Policies are never removed by the service, so what is in the
	// kernel now was there when the datagram left; the call log proves
	// the order.
	_, pols, _ := kern.State()
	for _, dst := range []string{"10.200.0.0/16", "10.201.0.0/16"} {
		if !hasBlock(pols, dst) {
			t.Errorf("no block policy for %s: %v", dst, pols)
		}
	}
	lastBlockAdd, firstSocket := -1, -1
	for i, c := range kern.Calls() {
		switch {
		case c.Op == xfrm.OpAddPolicy && strings.Contains(c.Detail, "10.20"):
			lastBlockAdd = i
		case c.Op == xfrm.OpBypassSocket && firstSocket < 0:
			firstSocket = i
		case c.Op == xfrm.OpDeletePolicy && strings.Contains(c.Detail, "10.200.0.0/16"):
			t.Errorf("the existing block policy was deleted (a window in the fail-closed): %s", c.Detail)
		case c.Op == xfrm.OpFlush:
			t.Errorf("Flush would drop the block policies: %+v", c)
		}
	}
	if lastBlockAdd < 0 || firstSocket < 0 || lastBlockAdd > firstSocket {
		t.Fatalf("block policies added at call %d, first IKE socket at %d; calls %+v", lastBlockAdd, firstSocket, kern.Calls())
	}
	sas, pols, _ := kern.State()
	if len(sas) != 0 {
		t.Errorf("stale SA left: %+v", sas)
	}
	foundForeign := false
	for _, p := range pols {
		if p.Selector.Dst == stalePolicy.Selector.Dst {
			t.Errorf("stale tunnel policy left: %v", p)
		}
		foundForeign = foundForeign || p.ID() == foreign.ID()
	}
	if !foundForeign {
		t.Errorf("a policy that is not Keep's was removed: %v", pols)
	}
	<-h.ready
	if err := h.svc.Health(context.Background()); err != nil {
		t.Errorf("health with the NOC unreachable: %v (an established tunnel is not required)", err)
	}

	// The status through the API.
	a := &Appliance{tunnel: h.svc, journal: events.NewJournal(events.Options{})}
	srv := httptest.NewServer(api.Handler(a))
	defer srv.Close()
	c := api.NewTCPClient(srv.Listener.Addr().String())
	st, err := c.Tunnel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "connecting" || st.Auth != "psk" || st.NOCID != "noc.example.net" || len(st.FailClosed) != 2 || !st.FailClosed[0].Installed || !st.FailClosed[1].Installed {
		t.Errorf("status %+v", st)
	}
	if len(st.IKE) != 1 || st.IKE[0].Role != "initiator" || st.IKE[0].SPIi == strings.Repeat("0", 16) {
		t.Errorf("IKE SAs %+v", st.IKE)
	}
	if _, err := c.TunnelRekey(context.Background(), false); err == nil || !strings.Contains(err.Error(), "not established") {
		t.Errorf("rekey while connecting: %v, want a not-established error", err)
	}
	if _, err := c.TunnelTerminate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if evs := a.journal.Query(events.Filter{Kind: "tunnel.terminated"}); len(evs) != 1 {
		t.Errorf("terminate event %+v", evs)
	}
	if _, err := c.TunnelInitiate(context.Background()); err != nil {
		t.Fatal(err)
	}

	if err := h.stop(); err != nil {
		t.Fatalf("orderly stop: %v", err)
	}
	_, pols, _ = kern.State()
	if !hasBlock(pols, "10.200.0.0/16") || !hasBlock(pols, "10.201.0.0/16") {
		t.Errorf("block policies removed at stop: %v", pols)
	}
	if err := h.svc.Health(context.Background()); err == nil {
		t.Error("healthy after the daemon stopped")
	}
	st, err = c.Tunnel(context.Background())
	if err != nil || st.State != "down" || !st.FailClosed[0].Installed {
		t.Errorf("status after stop %+v %v", st, err)
	}
	// A restart adopts the block policies: none is deleted and re-added
	// (that would be a window).
	before := len(kern.Calls())
	h3 := newTunnelHarness(t, testTunnelConfig(noc.LocalAddr().(*net.UDPAddr).AddrPort(), pskFile(t)), kern)
	h3.start()
	<-h3.ready
	for _, c := range kern.Calls()[before:] {
		if c.Op == xfrm.OpDeletePolicy && strings.Contains(c.Detail, "10.20") {
			t.Errorf("restart deleted a block policy: %s", c.Detail)
		}
	}
	if err := h3.stop(); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(st)
	if strings.Contains(h.logs.String(), testPSK) || strings.Contains(string(js), testPSK) {
		t.Error("the PSK leaked into the log or the status")
	}
}

// TestTunnelBadPSKFile: a missing PSK file is a clear error naming the
// field and the path, the daemon never starts, and the NOC networks are
// blocked anyway.
func TestTunnelBadPSKFile(t *testing.T) {
	kern := xfrm.NewFake(xfrm.Owner{})
	missing := filepath.Join(t.TempDir(), "no-such-psk")
	h := newTunnelHarness(t, testTunnelConfig(netip.MustParseAddrPort("127.0.0.1:9"), missing), kern)
	err := h.svc.Run(context.Background(), func() { t.Error("ready without a PSK") })
	if err == nil || !strings.Contains(err.Error(), "tunnel.psk_file") || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v; want tunnel.psk_file and the path", err)
	}
	if e := h.waitEvent("tunnel.start_failed"); e.Severity != events.Error || !strings.Contains(e.Message, missing) {
		t.Errorf("event %+v", e)
	}
	if b, _ := kern.Sockets(); b != 0 {
		t.Errorf("%d IKE sockets opened without a PSK", b)
	}
	_, pols, _ := kern.State()
	if !hasBlock(pols, "10.200.0.0/16") || !hasBlock(pols, "10.201.0.0/16") {
		t.Errorf("not failing closed: %v", pols)
	}

	// An empty file is as clear.
	empty := filepath.Join(t.TempDir(), "psk")
	os.WriteFile(empty, []byte("\n"), 0o600)
	h.svc.cfg.PSKFile = empty
	if err := h.svc.Run(context.Background(), func() {}); err == nil || !strings.Contains(err.Error(), "tunnel.psk_file: "+empty+" is empty") {
		t.Fatalf("empty PSK: %v", err)
	}
}

// TestTunnelEventMapping drives the mapper directly.
func TestTunnelEventMapping(t *testing.T) {
	tests := []struct {
		ev     ike.Event
		sev    events.Severity
		kind   string
		msg    string
		fields map[string]string
	}{
		{ike.Event{Kind: ike.EventUp, Conn: "noc", SPIIn: 0xc1, SPIOut: 0xc2}, events.Notice, "tunnel.up", "is up", map[string]string{"spi_in": "000000c1", "spi_out": "000000c2"}},
		{ike.Event{Kind: ike.EventDown, Conn: "noc", Reason: "deleted by the peer"}, events.Warning, "tunnel.down", "down: deleted by the peer; traffic to the NOC networks is blocked", map[string]string{"reason": "deleted by the peer"}},
		{ike.Event{Kind: ike.EventRekeyed, Conn: "noc", Child: true, SPIIn: 1, SPIOut: 2}, events.Info, "tunnel.rekeyed", "CHILD SA rekeyed", map[string]string{"sa": "child"}},
		{ike.Event{Kind: ike.EventRekeyed, Conn: "noc", IKE: true}, events.Info, "tunnel.rekeyed", "IKE SA rekeyed", map[string]string{"sa": "ike"}},
		{ike.Event{Kind: ike.EventAuthFailed, Conn: "noc", Notify: msg.NotifyType(24), Reason: "PSK AUTH mismatch"}, events.Error, "tunnel.auth_failed", "authentication failed: PSK AUTH mismatch", map[string]string{"reason": "PSK AUTH mismatch", "notify": msg.NotifyType(24).String()}},
		{ike.Event{Kind: ike.EventFailed, Conn: "noc", Notify: msg.NotifyType(14), Reason: "no proposal"}, events.Warning, "tunnel.failed", "(" + msg.NotifyType(14).String() + "): no proposal", nil},
		{ike.Event{Kind: ike.EventPeerDead, Conn: "noc", Reason: "DPD timed out"}, events.Error, "tunnel.peer_dead", "dead peer", map[string]string{"reason": "DPD timed out"}},
	}
	for _, tc := range tests {
		sev, kind, m, fields := tunnelEvent(tc.ev)
		if sev != tc.sev || kind != tc.kind || !strings.Contains(m, tc.msg) {
			t.Errorf("%v: got %v %s %q; want %v %s containing %q", tc.ev, sev, kind, m, tc.sev, tc.kind, tc.msg)
		}
		if fields["conn"] != "noc" {
			t.Errorf("%v: fields %v lack the connection", tc.ev, fields)
		}
		for k, v := range tc.fields {
			if fields[k] != v {
				t.Errorf("%v: field %s = %q; want %q", tc.ev, k, fields[k], v)
			}
		}
	}
	// The service records the newest event for the status.
	h := newTunnelHarness(t, testTunnelConfig(netip.MustParseAddrPort("127.0.0.1:9"), "/x"), xfrm.NewFake(xfrm.Owner{}))
	h.svc.onEvent(ike.Event{Kind: ike.EventAuthFailed, Conn: "noc", Reason: "bad AUTH", Time: time.Unix(1, 0)})
	if e := h.waitEvent("tunnel.auth_failed"); e.Fields["reason"] != "bad AUTH" {
		t.Errorf("event %+v", e)
	}
	if h.svc.last == nil || h.svc.last.Kind != "tunnel.auth_failed" || h.svc.last.Reason != "bad AUTH" {
		t.Errorf("last event %+v", h.svc.last)
	}
}

// TestTunnelUpWithLoopbackNOC: the service brings the tunnel up against
// an ike responder on loopback (the NOC, on its own fake kernel): the
// up event, the status with SPIs, algorithms, lifetimes and the kernel's
// byte counters, the tunnel policies beside the block policies; a wrong
// PSK on the NOC side is an auth failure with its reason.
func TestTunnelUpWithLoopbackNOC(t *testing.T) {
	nocKern := xfrm.NewFake(xfrm.Owner{})
	// The NOC on 127.0.0.2: the fake kernels hand out the same SPIs, so
	// both ends on one address would collide in (dst, SPI).
	nocConn, nocNATT := listenOn(t, net.IPv4(127, 0, 0, 2)), listenOn(t, net.IPv4(127, 0, 0, 2))
	nocAddr := nocConn.LocalAddr().(*net.UDPAddr).AddrPort()
	nocCfg := ike.Config{
		Name: "box1", Local: nocAddr, LocalID: "noc.example.net", RemoteID: "box1.example.net", PSK: []byte(testPSK),
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16"), netip.MustParsePrefix("10.201.0.0/16")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")},
	}
	nocEvents := make(chan ike.Event, 16)
	nd, err := ike.NewDaemon(ike.DaemonConfig{
		Options: ike.Options{Kernel: nocKern, OnEvent: func(e ike.Event) {
			select {
			case nocEvents <- e:
			default:
			}
		}},
		Conns: []ike.Config{nocCfg}, Conn: nocConn, NATTConn: nocNATT, Addr: nocAddr.Addr(),
		NATTPort: nocNATT.LocalAddr().(*net.UDPAddr).AddrPort().Port(),
	})
	if err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithCancel(context.Background())
	ndone := make(chan struct{})
	go func() { defer close(ndone); nd.Run(nctx) }()
	defer func() { ncancel(); <-ndone }()

	kern := xfrm.NewFake(xfrm.Owner{})
	h := newTunnelHarness(t, testTunnelConfig(nocAddr, pskFile(t)), kern)
	h.start()
	up := h.waitEvent("tunnel.up")
	if up.Severity != events.Notice {
		t.Errorf("up event %+v", up)
	}
	st, err := h.svc.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "established" || len(st.IKE) != 1 || len(st.IKE[0].Children) != 1 {
		t.Fatalf("status %+v", st)
	}
	sa := st.IKE[0]
	if sa.Role != "initiator" || sa.Encr == "" || sa.PRF == "" || sa.DH == "" || sa.Established.IsZero() || sa.RekeyAt.IsZero() || sa.Remote != nocAddr.String() {
		t.Errorf("IKE SA %+v", sa)
	}
	ch := sa.Children[0]
	if ch.SPIIn == "00000000" || ch.SPIOut == "00000000" || ch.Encr == "" || ch.ExpireAt.IsZero() ||
		strings.Join(ch.LocalTS, ",") != "10.10.0.0/24" || len(ch.RemoteTS) != 2 {
		t.Errorf("CHILD SA %+v", ch)
	}
	// Byte counters come from the kernel.
	sas, pols, _ := kern.State()
	for _, s := range sas {
		if hex32(s.SA.SPI) == ch.SPIIn {
			if err := kern.AddTraffic(s.SA.ID(), 3, 4242); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st, _ = h.svc.status(context.Background()); st.IKE[0].Children[0].BytesIn != 4242 || st.IKE[0].Children[0].PacketsIn != 3 {
		t.Errorf("counters %+v", st.IKE[0].Children[0])
	}
	tunnelOut := 0
	for _, p := range pols {
		if p.Dir == xfrm.DirOut && len(p.Templates) > 0 {
			tunnelOut++
			if p.Priority >= tunnelBlockPriority {
				t.Errorf("tunnel policy %v does not win over the block band %#x", p, tunnelBlockPriority)
			}
		}
	}
	if tunnelOut != 2 || !hasBlock(pols, "10.200.0.0/16") {
		t.Errorf("policies %v", pols)
	}

	// Rekeys on demand through the API: a new CHILD SA replaces the old
	// one (new SPIs), then the IKE SA is replaced and keeps the child.
	a := &Appliance{tunnel: h.svc, journal: events.NewJournal(events.Options{})}
	srv := httptest.NewServer(api.Handler(a))
	defer srv.Close()
	c := api.NewTCPClient(srv.Listener.Addr().String())
	if _, err := c.TunnelRekey(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if e := h.waitEvent("tunnel.rekeyed"); e.Fields["sa"] != "child" || e.Fields["spi_in"] == ch.SPIIn {
		t.Errorf("child rekey event %+v (old inbound SPI %s)", e, ch.SPIIn)
	}
	if _, err := c.TunnelRekey(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if e := h.waitEvent("tunnel.rekeyed"); e.Fields["sa"] != "ike" {
		t.Errorf("IKE rekey event %+v", e)
	}
	// The old IKE SA is deleting until the NOC answers the Delete.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err = c.Tunnel(context.Background())
		if err == nil && st.State == "established" && len(st.IKE) == 1 &&
			st.IKE[0].SPIi != sa.SPIi && len(st.IKE[0].Children) == 1 && st.IKE[0].Children[0].SPIIn != ch.SPIIn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rekeys: %+v %v (before: IKE %s, child %s)", st, err, sa.SPIi, ch.SPIIn)
		}
	}

	// Orderly stop: the tunnel goes, the block stays.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	sas, pols, _ = kern.State()
	if len(sas) != 0 || !hasBlock(pols, "10.200.0.0/16") || !hasBlock(pols, "10.201.0.0/16") {
		t.Errorf("after stop: SAs %v, policies %v", sas, pols)
	}
	for _, p := range pols {
		if len(p.Templates) > 0 {
			t.Errorf("tunnel policy left after stop: %v", p)
		}
	}
	if strings.Contains(h.logs.String(), testPSK) {
		t.Error("the PSK is in the log")
	}

	// A wrong PSK: the NOC refuses us, and we say why.
	bad := filepath.Join(t.TempDir(), "psk")
	os.WriteFile(bad, []byte("not-the-psk"), 0o600)
	h2 := newTunnelHarness(t, testTunnelConfig(nocAddr, bad), xfrm.NewFake(xfrm.Owner{}))
	h2.start()
	e := h2.waitEvent("tunnel.auth_failed")
	if e.Severity != events.Error || e.Fields["reason"] == "" {
		t.Errorf("auth failed event %+v", e)
	}
	if bytes.Contains([]byte(h2.logs.String()), []byte("not-the-psk")) {
		t.Error("the PSK is in the log")
	}
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

// TestTunnelConfigRetransmit: the retransmission schedule (it decides how
// soon a dead NOC is noticed) and the NAT-T keepalive interval reach the
// IKE connection.
func TestTunnelConfigRetransmit(t *testing.T) {
	cfg := config.Defaults().Tunnel
	cfg.Enabled, cfg.NOCAddress, cfg.NOCID, cfg.LocalID = true, "203.0.113.1", "noc.example.net", "keep-01.example.net"
	cfg.PSKFile, cfg.LocalTS, cfg.RemoteTS = "/etc/keep/psk", []string{"10.2.0.0/24"}, []string{"10.1.0.0/24"}
	cfg.RetransmitTimeout, cfg.RetransmitTries = config.Duration(time.Second), 3
	cfg.NATKeepalive = config.Duration(5 * time.Second)
	read := func(p string) ([]byte, error) {
		if p != "/etc/keep/psk" {
			t.Fatalf("read %s", p)
		}
		return []byte(testPSK + "\n"), nil
	}
	c, err := tunnelConfig(cfg, read)
	if err != nil {
		t.Fatal(err)
	}
	if c.Retransmit.Timeout != time.Second || c.Retransmit.Tries != 3 || c.Retransmit.Base != 1.8 || c.NATKeepalive != 5*time.Second {
		t.Fatalf("retransmit %+v, NAT keepalive %v", c.Retransmit, c.NATKeepalive)
	}
	d := cfg
	d.RetransmitTimeout, d.RetransmitTries = config.Defaults().Tunnel.RetransmitTimeout, config.Defaults().Tunnel.RetransmitTries
	d.NATKeepalive = config.Defaults().Tunnel.NATKeepalive
	def, err := tunnelConfig(d, read)
	if err != nil || def.Retransmit.Timeout != 4*time.Second || def.Retransmit.Tries != 5 || def.NATKeepalive != 20*time.Second {
		t.Fatalf("default retransmit %+v, NAT keepalive %v, %v", def.Retransmit, def.NATKeepalive, err)
	}
}
