package ike

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

// In-memory test network: engines wired by a packet queue, xfrm.Fake
// kernels and a fake clock. Nothing here sleeps; time only moves by
// advance.

var (
	vaultAddr = netip.MustParseAddr("203.0.113.2")
	nocAddr   = netip.MustParseAddr("203.0.113.1")
	vaultLAN  = netip.MustParsePrefix("10.2.0.0/24")
	nocLAN    = netip.MustParsePrefix("10.1.0.0/24")
	testPSK   = []byte("correct horse battery staple 0123456789")
)

type node struct {
	name   string
	eng    *Engine
	kern   *xfrm.Fake
	evs    <-chan xfrm.Event
	events []Event
}

func (n *node) count(k EventKind) int {
	c := 0
	for _, e := range n.events {
		if e.Kind == k {
			c++
		}
	}
	return c
}

func (n *node) last(k EventKind) (Event, bool) {
	for i := len(n.events) - 1; i >= 0; i-- {
		if n.events[i].Kind == k {
			return n.events[i], true
		}
	}
	return Event{}, false
}

type memnet struct {
	t     testing.TB
	now   time.Time
	nodes map[netip.Addr]*node
	// drop decides whether a datagram is lost (nil: none).
	drop func(from *node, p Packet) bool
	sent []sentPacket
}

type sentPacket struct {
	at   time.Time
	from string
	p    Packet
}

func newMemnet(t testing.TB) *memnet {
	return &memnet{t: t, now: time.Now().Truncate(time.Second), nodes: map[netip.Addr]*node{}}
}

func vaultConfig() Config {
	return Config{
		Name: "noc", Local: netip.AddrPortFrom(vaultAddr, 500), Remote: netip.AddrPortFrom(nocAddr, 500),
		LocalID: "vault-01.example.net", RemoteID: "noc.example.net", PSK: testPSK,
		LocalTS: []netip.Prefix{vaultLAN}, RemoteTS: []netip.Prefix{nocLAN},
		ChildLifetime: time.Hour, IKELifetime: 4 * time.Hour, RekeyJitter: -1,
		DPDInterval: 30 * time.Second, Retransmit: Retransmit{Timeout: 4 * time.Second, Base: 1.8, Tries: 5},
	}
}

func nocConfig() Config {
	return Config{
		Name: "vault", Local: netip.AddrPortFrom(nocAddr, 500),
		LocalID: "noc.example.net", RemoteID: "vault-01.example.net", PSK: testPSK,
		LocalTS: []netip.Prefix{nocLAN}, RemoteTS: []netip.Prefix{vaultLAN},
		ChildLifetime: 2 * time.Hour, IKELifetime: 8 * time.Hour, RekeyJitter: -1,
		DPDInterval: 30 * time.Second, Retransmit: Retransmit{Timeout: 4 * time.Second, Base: 1.8, Tries: 5},
	}
}

func (m *memnet) add(name string, addr netip.Addr, opts Options, cfgs ...Config) *node {
	m.t.Helper()
	n := &node{name: name, kern: xfrm.NewFake(xfrm.Owner{})}
	n.kern.Now = func() time.Time { return m.now }
	opts.Kernel = n.kern
	opts.OnEvent = func(e Event) { n.events = append(n.events, e) }
	if opts.Logger == nil {
		level := hclog.Off
		if os.Getenv("IKE_TEST_LOG") != "" {
			level = hclog.LevelFromString(os.Getenv("IKE_TEST_LOG"))
		}
		opts.Logger = hclog.New(&hclog.LoggerOptions{Name: name, Level: level})
	}
	eng, err := NewEngine(opts, cfgs...)
	if err != nil {
		m.t.Fatal(err)
	}
	n.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	m.t.Cleanup(cancel)
	if n.evs, err = n.kern.Events(ctx); err != nil {
		m.t.Fatal(err)
	}
	m.nodes[addr] = n
	return n
}

// pair returns the vault (initiator) and NOC (responder) nodes.
func (m *memnet) pair(vc, nc Config) (vault, noc *node) {
	return m.add("vault", vaultAddr, Options{}, vc), m.add("noc", nocAddr, Options{}, nc)
}

// run delivers datagrams and kernel events until the network is quiet.
func (m *memnet) run() {
	m.t.Helper()
	ctx := context.Background()
	for i := 0; i < 10000; i++ {
		moved := false
		for _, n := range m.sortedNodes() {
			for {
				select {
				case ev, ok := <-n.evs:
					if ok {
						n.eng.KernelEvent(ctx, m.now, ev)
						moved = true
						continue
					}
				default:
				}
				break
			}
			for _, p := range n.eng.Outgoing() {
				moved = true
				m.sent = append(m.sent, sentPacket{at: m.now, from: n.name, p: p})
				if p.Keepalive {
					continue
				}
				if m.drop != nil && m.drop(n, p) {
					continue
				}
				dst := m.nodes[p.Remote.Addr()]
				if dst == nil {
					continue
				}
				dst.eng.Receive(ctx, m.now, Packet{Local: p.Remote, Remote: p.Local, Data: p.Data})
			}
		}
		if !moved {
			return
		}
	}
	m.t.Fatal("network did not settle")
}

func (m *memnet) sortedNodes() []*node {
	var out []*node
	for _, a := range []netip.Addr{vaultAddr, nocAddr} {
		if n := m.nodes[a]; n != nil {
			out = append(out, n)
		}
	}
	for a, n := range m.nodes {
		if a != vaultAddr && a != nocAddr {
			out = append(out, n)
		}
	}
	return out
}

// advance moves the clock in steps of at most one second, ticking every
// engine and running the network after each step.
func (m *memnet) advance(d time.Duration) {
	m.t.Helper()
	for d > 0 {
		step := min(d, time.Second)
		m.now = m.now.Add(step)
		d -= step
		for _, n := range m.sortedNodes() {
			n.eng.Tick(context.Background(), m.now)
		}
		m.run()
	}
}

func (m *memnet) initiate(n *node, conn string) {
	m.t.Helper()
	if err := n.eng.Initiate(context.Background(), m.now, conn); err != nil {
		m.t.Fatal(err)
	}
	m.run()
}

// installed returns the node's complete (non-larval) SAs and policies.
func installed(n *node) ([]xfrm.FakeSA, []xfrm.Policy) {
	sas, pols, _ := n.kern.State()
	var out []xfrm.FakeSA
	for _, s := range sas {
		if !s.Larval {
			out = append(out, s)
		}
	}
	return out, pols
}

func exchangeOf(p Packet) msg.ExchangeType {
	h, _, err := msg.DecodeHeader(p.Data)
	if err != nil {
		return 0
	}
	return h.Exchange
}

func isResponse(p Packet) bool {
	h, _, err := msg.DecodeHeader(p.Data)
	return err == nil && h.IsResponse()
}

// requireUp asserts a tunnel between vault and noc: one CHILD SA pair
// with crossing SPIs, 3 policies each side, both established.
func requireUp(t testing.TB, vault, noc *node) (ChildStatus, ChildStatus) {
	t.Helper()
	vs, ns := vault.eng.Status(context.Background()), noc.eng.Status(context.Background())
	if len(vs.Conns) != 1 || len(ns.Conns) != 1 || vs.Conns[0].State != "established" || ns.Conns[0].State != "established" {
		t.Fatalf("not established: vault %+v noc %+v (events vault %v noc %v)", vs.Conns, ns.Conns, vault.events, noc.events)
	}
	vc, nc := currentChildren(vs.Conns[0]), currentChildren(ns.Conns[0])
	if len(vc) != 1 || len(nc) != 1 {
		t.Fatalf("CHILD SAs: vault %+v noc %+v", vc, nc)
	}
	if vc[0].SPIIn != nc[0].SPIOut || vc[0].SPIOut != nc[0].SPIIn {
		t.Fatalf("SPIs do not cross: vault in %08x out %08x, noc in %08x out %08x", vc[0].SPIIn, vc[0].SPIOut, nc[0].SPIIn, nc[0].SPIOut)
	}
	for _, n := range []*node{vault, noc} {
		sas, pols := installed(n)
		if len(sas) != 2 || len(pols) != 3 {
			t.Fatalf("%s kernel: %d SAs, %d policies, want 2 and 3", n.name, len(sas), len(pols))
		}
	}
	return vc[0], nc[0]
}

func currentChildren(c ConnStatus) []ChildStatus {
	var out []ChildStatus
	for _, ike := range c.IKE {
		if ike.State != "established" {
			continue
		}
		for _, ch := range ike.Children {
			if ch.State == "installed" {
				out = append(out, ch)
			}
		}
	}
	return out
}

func requireClean(t testing.TB, n *node) {
	t.Helper()
	sas, pols, _ := n.kern.State()
	if len(sas) != 0 || len(pols) != 0 {
		t.Fatalf("%s kernel not clean: %d SAs (%v), %d policies", n.name, len(sas), sas, len(pols))
	}
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func fmtAny(v any) string { return fmt.Sprintf("%v %+v %#v", v, v, v) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }
