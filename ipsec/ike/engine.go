package ike

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hashicorp/go-hclog"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

// Packet is one IKE datagram in or out of the engine. Data is the IKE
// message itself: the transport adds or strips the non-ESP marker on
// port 4500 (Local.Port() or Remote.Port() 4500 means "marker").
type Packet struct {
	Local, Remote netip.AddrPort
	Data          []byte
	// Keepalive marks a NAT-keepalive (RFC 3948 §2.3: the single octet
	// 0xFF on port 4500, sent without the non-ESP marker).
	Keepalive bool
}

// NATTPort is the IKE/ESP-in-UDP port (RFC 3948).
const NATTPort = 4500

// Options configure an Engine.
type Options struct {
	// Kernel is the data plane (xfrm.Netlink, or xfrm.Fake in tests).
	Kernel xfrm.Kernel
	// Owner is the reqid range the engine takes reqids from
	// (xfrm.DefaultOwner() when zero). Connection i gets ReqidMin+1+i.
	Owner xfrm.Owner
	// Rand is the randomness source (crypto/rand when nil).
	Rand io.Reader
	// Logger (hclog.NewNullLogger when nil). Keys are never logged.
	Logger hclog.Logger
	// OnEvent receives events synchronously from the engine's caller's
	// goroutine; it must not call back into the Engine.
	OnEvent func(Event)
	// MaxHalfOpen caps responder IKE SAs that have not completed
	// IKE_AUTH (default 256); IKE_SA_INIT requests beyond it are dropped.
	MaxHalfOpen int
	// CookieThreshold is the half-open count from which IKE_SA_INIT
	// requests must return a COOKIE (RFC 7296 §2.6; default 32, a
	// negative value demands cookies always).
	CookieThreshold int
	// HalfOpenTimeout removes responder SAs stuck before IKE_AUTH
	// (default 30s).
	HalfOpenTimeout time.Duration
}

// Engine is the IKEv2 state machine for a set of connections, free of
// I/O: Receive, Tick, Initiate, Rekey*, Close and KernelEvent are its
// inputs; Outgoing (datagrams), the Kernel calls it makes and OnEvent are
// its outputs. Time comes in with every input (the caller's clock). An
// Engine is not safe for concurrent use: one goroutine (the Daemon's, or
// a test's) drives it.
type Engine struct {
	opts    Options
	kernel  xfrm.Kernel
	log     hclog.Logger
	rand    io.Reader
	conns   []*connection
	byName  map[string]*connection
	sas     map[uint64]*ikeSA // by our SPI
	byInit  map[initKey]*ikeSA
	cookies *ikecrypto.CookieJar
	out     []Packet

	// ctx and now are the current input's, set on entry.
	ctx context.Context
	now time.Time
}

type initKey struct {
	spii   uint64
	remote netip.AddrPort
}

// connection is one configured peer.
type connection struct {
	cfg      *conf
	reqid    uint32
	policies []xfrm.Policy // installed tunnel policies
	ike      *ikeSA        // current IKE SA (nil when down)
	wantUp   bool
	nextInit time.Time
	backoff  time.Duration
	// startNow: AutoStart, initiate at the first Tick.
	startNow bool
	// contacted: we have established an IKE SA with this peer since
	// start (INITIAL_CONTACT is sent only before that).
	contacted bool
}

// NewEngine validates the configurations and returns an engine. Nothing
// is sent or installed until the first input.
func NewEngine(opts Options, cfgs ...Config) (*Engine, error) {
	if opts.Kernel == nil {
		return nil, errors.New("ike: Options.Kernel is required")
	}
	if opts.Owner.ReqidMax == 0 {
		opts.Owner = xfrm.DefaultOwner()
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MaxHalfOpen <= 0 {
		opts.MaxHalfOpen = 256
	}
	if opts.CookieThreshold == 0 {
		opts.CookieThreshold = 32
	}
	if opts.HalfOpenTimeout <= 0 {
		opts.HalfOpenTimeout = 30 * time.Second
	}
	e := &Engine{
		opts: opts, kernel: opts.Kernel, log: opts.Logger, rand: opts.Rand,
		byName: map[string]*connection{}, sas: map[uint64]*ikeSA{}, byInit: map[initKey]*ikeSA{},
		ctx: context.Background(),
	}
	var err error
	if e.cookies, err = ikecrypto.NewCookieJar(opts.Rand); err != nil {
		return nil, fmt.Errorf("ike: cookie jar: %w", err)
	}
	for i := range cfgs {
		c, err := cfgs[i].validate()
		if err != nil {
			return nil, err
		}
		if e.byName[c.Name] != nil {
			return nil, fmt.Errorf("ike: duplicate connection name %q", c.Name)
		}
		reqid := opts.Owner.ReqidMin + 1 + uint32(i)
		if reqid > opts.Owner.ReqidMax {
			return nil, fmt.Errorf("ike: too many connections for the reqid range")
		}
		cn := &connection{cfg: c, reqid: reqid, wantUp: c.AutoStart, startNow: c.AutoStart, backoff: c.ReinitBackoff}
		e.conns = append(e.conns, cn)
		e.byName[c.Name] = cn
	}
	return e, nil
}

func (e *Engine) enter(ctx context.Context, now time.Time) {
	if ctx == nil {
		ctx = context.Background()
	}
	e.ctx, e.now = ctx, now
}

// Outgoing returns and forgets the datagrams produced so far.
func (e *Engine) Outgoing() []Packet {
	out := e.out
	e.out = nil
	return out
}

func (e *Engine) send(local, remote netip.AddrPort, data []byte) {
	e.out = append(e.out, Packet{Local: local, Remote: remote, Data: data})
}

// sendAll sends a message's datagrams (one, or its fragments).
func (e *Engine) sendAll(local, remote netip.AddrPort, data [][]byte) {
	for _, d := range data {
		e.send(local, remote, d)
	}
}

func (e *Engine) emit(ev Event) {
	ev.Time = e.now
	args := []any{"conn", ev.Conn, "kind", ev.Kind.String()}
	if ev.Notify != 0 {
		args = append(args, "notify", ev.Notify.String())
	}
	if ev.Reason != "" {
		args = append(args, "reason", ev.Reason)
	}
	e.log.Info("event", args...)
	if e.opts.OnEvent != nil {
		e.opts.OnEvent(ev)
	}
}

func (e *Engine) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		// Only an injected reader can fail; fall back to the system's
		// (crypto/rand.Read never returns an error).
		e.log.Error("random source failed, using crypto/rand", "error", err)
		_, _ = rand.Read(b)
	}
	return b
}

func (e *Engine) newSPI() uint64 {
	for {
		s := binary.BigEndian.Uint64(e.random(8))
		if s != 0 && e.sas[s] == nil {
			return s
		}
	}
}

// Initiate starts (or keeps up) the named connection: an IKE_SA_INIT is
// sent now unless an IKE SA exists. The connection is re-initiated after
// failures with back-off until Terminate.
func (e *Engine) Initiate(ctx context.Context, now time.Time, name string) error {
	e.enter(ctx, now)
	c := e.byName[name]
	if c == nil {
		return fmt.Errorf("ike: no connection %q", name)
	}
	if !c.cfg.Remote.Addr().IsValid() {
		return fmt.Errorf("ike: %s: no remote address to initiate to", name)
	}
	c.wantUp = true
	c.backoff = c.cfg.ReinitBackoff
	c.startNow = false // AutoStart's first attempt is this one
	if c.ike == nil {
		e.startInitiator(c)
	}
	return nil
}

// Terminate deletes the connection's SAs (sending Delete) and stops
// re-initiation.
func (e *Engine) Terminate(ctx context.Context, now time.Time, name string) error {
	e.enter(ctx, now)
	c := e.byName[name]
	if c == nil {
		return fmt.Errorf("ike: no connection %q", name)
	}
	c.wantUp = false
	c.nextInit = time.Time{}
	for _, sa := range e.sasOf(c) {
		sa.deleteIKE("terminated")
	}
	return nil
}

// Close sends Delete for every IKE SA and removes all SAs and tunnel
// policies from the kernel (orderly shutdown). The Deletes are in
// Outgoing; no answer is awaited.
func (e *Engine) Close(ctx context.Context, now time.Time) (deletes int) {
	e.enter(ctx, now)
	for _, c := range e.conns {
		c.wantUp = false
		c.nextInit = time.Time{}
	}
	for _, sa := range e.allSAs() {
		if sa.state == stEstablished || sa.state == stDeleting {
			sa.sendDeleteNoWait()
			deletes++
		}
		sa.destroy("shutdown", EventDown, 0)
	}
	return deletes
}

// RekeyChild starts a CHILD SA rekey of the connection's newest CHILD SA.
func (e *Engine) RekeyChild(ctx context.Context, now time.Time, name string) error {
	e.enter(ctx, now)
	c := e.byName[name]
	if c == nil || c.ike == nil || c.ike.state != stEstablished {
		return fmt.Errorf("ike: %s: not established", name)
	}
	ch := c.ike.activeChild()
	if ch == nil {
		return fmt.Errorf("ike: %s: no CHILD SA", name)
	}
	c.ike.rekeyChild(ch)
	return nil
}

// RekeyIKE starts an IKE SA rekey of the connection.
func (e *Engine) RekeyIKE(ctx context.Context, now time.Time, name string) error {
	e.enter(ctx, now)
	c := e.byName[name]
	if c == nil || c.ike == nil || c.ike.state != stEstablished {
		return fmt.Errorf("ike: %s: not established", name)
	}
	c.ike.rekeyIKE()
	return nil
}

// Tick runs the timers: retransmissions, rekeys, DPD, half-open expiry
// and re-initiation. Call it at least every 100 ms or so (the Daemon
// does); tests call it with a fake clock.
func (e *Engine) Tick(ctx context.Context, now time.Time) {
	e.enter(ctx, now)
	for _, sa := range e.allSAs() {
		sa.tick()
	}
	for _, c := range e.conns {
		if c.wantUp && c.ike == nil && (c.startNow || !c.nextInit.IsZero() && !now.Before(c.nextInit)) {
			c.nextInit, c.startNow = time.Time{}, false
			e.startInitiator(c)
		}
	}
}

// KernelEvent feeds an xfrm event: a soft expire of one of our inbound or
// outbound CHILD SAs starts its rekey; a hard expire removes the CHILD
// SA (and its partner direction).
func (e *Engine) KernelEvent(ctx context.Context, now time.Time, ev xfrm.Event) {
	e.enter(ctx, now)
	for _, sa := range e.allSAs() {
		for _, ch := range sa.children {
			if ch.spiIn != ev.SA.SPI && ch.spiOut != ev.SA.SPI {
				continue
			}
			switch ev.Kind {
			case xfrm.EventSoftExpire:
				if ch.state == childInstalled && sa.state == stEstablished {
					sa.rekeyChild(ch)
				}
			case xfrm.EventHardExpire:
				sa.removeChild(ch)
				if sa.state == stEstablished {
					sa.sendRequest(msg.INFORMATIONAL, []msg.Payload{&msg.Delete{Protocol: msg.ProtoESP, SPIs: []uint32{ch.spiIn}}}, nil, nil)
				}
				if len(sa.liveChildren()) == 0 {
					e.emit(Event{Kind: EventDown, Conn: sa.cfg.Name, Reason: "CHILD SA hard-expired", SPIIn: ch.spiIn, SPIOut: ch.spiOut})
				}
			}
			return
		}
	}
}

func (e *Engine) allSAs() []*ikeSA {
	out := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	// deterministic order: by SPI
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].localSPI() < out[j-1].localSPI(); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (e *Engine) sasOf(c *connection) []*ikeSA {
	var out []*ikeSA
	for _, sa := range e.allSAs() {
		if sa.conn == c {
			out = append(out, sa)
		}
	}
	return out
}

func (e *Engine) halfOpen() int {
	n := 0
	for _, sa := range e.sas {
		if sa.state == stHalfOpen {
			n++
		}
	}
	return n
}

// Receive feeds one datagram (IKE message, non-ESP marker stripped).
func (e *Engine) Receive(ctx context.Context, now time.Time, p Packet) {
	e.enter(ctx, now)
	h, _, err := msg.DecodeHeader(p.Data)
	if err != nil {
		e.log.Debug("dropping datagram", "from", p.Remote, "error", err)
		return
	}
	if h.Exchange == msg.IKE_SA_INIT && !h.IsResponse() {
		if h.SPIr == 0 && h.MessageID == 0 && h.IsInitiator() {
			e.handleInitRequest(p, h)
		}
		return
	}
	var sa *ikeSA
	if h.IsInitiator() { // sent by the original initiator: we respond
		sa = e.sas[h.SPIr]
		if sa != nil && (sa.initiator || sa.spiI != h.SPIi) {
			sa = nil
		}
	} else {
		sa = e.sas[h.SPIi]
		if sa != nil && (!sa.initiator || (sa.spiR != 0 && sa.spiR != h.SPIr && h.Exchange != msg.IKE_SA_INIT)) {
			sa = nil
		}
	}
	if sa == nil {
		e.log.Debug("no IKE SA for message", "from", p.Remote, "exchange", h.Exchange.String())
		return
	}
	if h.Exchange == msg.IKE_SA_INIT {
		if h.IsResponse() {
			sa.handleInitResponse(p, h)
		}
		return
	}
	sa.handleProtected(p, h)
}

// matchResponder picks the configuration for an IKE_SA_INIT from remote
// to local: a connection whose addresses match, preferring an exact
// remote address over "any".
func (e *Engine) matchResponder(local, remote netip.AddrPort) *connection {
	var anyRemote *connection
	for _, c := range e.conns {
		if c.cfg.Local.Addr() != local.Addr() {
			continue
		}
		if c.cfg.Remote.Addr() == remote.Addr() {
			return c
		}
		if !c.cfg.Remote.Addr().IsValid() && anyRemote == nil {
			anyRemote = c
		}
	}
	return anyRemote
}

// matchByID picks the configuration whose RemoteID matches the peer's
// IDi (and optionally our IDr), among connections for these addresses.
func (e *Engine) matchByID(local, remote netip.AddrPort, idi, idr *msg.ID) *connection {
	for _, c := range e.conns {
		if c.cfg.Local.Addr() != local.Addr() {
			continue
		}
		if c.cfg.Remote.Addr().IsValid() && c.cfg.Remote.Addr() != remote.Addr() {
			continue
		}
		if !idEqual(c.cfg.remoteID, idi) {
			continue
		}
		if idr != nil && !idEqual(c.cfg.localID, idr) {
			continue
		}
		return c
	}
	return nil
}

// sendClearNotify answers an IKE_SA_INIT request with a single notify.
func (e *Engine) sendClearNotify(p Packet, h msg.Header, spir uint64, n *msg.Notify) {
	rh := msg.Header{SPIi: h.SPIi, SPIr: spir, Exchange: msg.IKE_SA_INIT, Flags: msg.FlagResponse, MessageID: 0}
	b, err := (&msg.Message{Header: rh, Payloads: []msg.Payload{n}}).Encode()
	if err != nil {
		e.log.Error("encoding notify", "error", err)
		return
	}
	e.send(p.Local, p.Remote, b)
}

// Status returns a snapshot, with byte counters read from the kernel.
func (e *Engine) Status(ctx context.Context) Status {
	if ctx == nil {
		ctx = context.Background()
	}
	var st Status
	for _, c := range e.conns {
		cs := ConnStatus{Name: c.cfg.Name, State: "down", NextAttempt: c.nextInit}
		if c.ike != nil {
			cs.State = c.ike.state.String()
		}
		for _, sa := range e.sasOf(c) {
			cs.IKE = append(cs.IKE, sa.status(ctx))
		}
		st.Conns = append(st.Conns, cs)
	}
	return st
}

func spiBytes(s uint64) [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s)
	return b
}

func spi32(b []byte) (uint32, bool) {
	if len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

func spi32Bytes(s uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, s)
}

func lowestNonce(ns ...[]byte) int {
	best := 0
	for i := 1; i < len(ns); i++ {
		if bytes.Compare(ns[i], ns[best]) < 0 {
			best = i
		}
	}
	return best
}

func randUint64(e *Engine) uint64 { return binary.BigEndian.Uint64(e.random(8)) }
