package ike

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"

	"keep/ipsec/internal/swan"
	"keep/ipsec/xfrm"
)

// Interop with strongSwan 5.9.8 (charon-systemd in a network namespace,
// kernel-libipsec: it claims NAT and uses UDP 4500). Our side runs the
// Daemon in the vault namespace on an xfrm.Fake kernel.

const (
	swanNOCID   = "noc.example.net"
	swanVaultID = "vault-01.example.net"
)

var swanPSK = []byte("correct horse battery staple, 32+")

// listenInNS opens a UDP socket inside ns (a socket keeps the namespace
// it was created in) on a locked OS thread that switches back afterwards.
func listenInNS(t testing.TB, ns *swan.NS, ap netip.AddrPort) *net.UDPConn {
	t.Helper()
	type res struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- res{err: err}
			return // thread stays locked: the runtime discards it
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		// Go back before the thread is reused (the main thread must never
		// stay in the test namespace: its cleanup kills the processes in it).
		if rerr := netns.Set(orig); rerr == nil {
			runtime.UnlockOSThread()
		}
		ch <- res{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen %s in %s: %v", ap, ns.Name, r.err)
	}
	return r.c
}

type ourSide struct {
	d      *Daemon
	kern   *xfrm.Fake
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}
}

func startOurs(t testing.TB, tp *swan.Topology, cfg Config) *ourSide {
	t.Helper()
	return startOursWith(t, tp, cfg, Options{})
}

func startOursWith(t testing.TB, tp *swan.Topology, cfg Config, opts Options) *ourSide {
	t.Helper()
	o := &ourSide{kern: xfrm.NewFake(xfrm.Owner{}), events: make(chan Event, 64), done: make(chan struct{})}
	level := hclog.Off
	if testing.Verbose() {
		level = hclog.Info
	}
	opts.Kernel = o.kern
	opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "keep-ike", Level: level})
	opts.OnEvent = func(e Event) {
		select {
		case o.events <- e:
		default:
		}
	}
	d, err := NewDaemon(DaemonConfig{
		Options:  opts,
		Conns:    []Config{cfg},
		Addr:     tp.VaultAddr,
		Conn:     listenInNS(t, tp.Vault, netip.AddrPortFrom(tp.VaultAddr, 500)),
		NATTConn: listenInNS(t, tp.Vault, netip.AddrPortFrom(tp.VaultAddr, 4500)),
	})
	if err != nil {
		t.Fatal(err)
	}
	o.d = d
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	go func() {
		defer close(o.done)
		_ = d.Run(ctx)
	}()
	t.Cleanup(o.stop)
	if b, e := o.kern.Sockets(); b != 2 || e != 1 {
		t.Fatalf("sockets: %d bypassed, %d encap; want 2 and 1", b, e)
	}
	return o
}

func (o *ourSide) stop() {
	o.cancel()
	<-o.done
}

// wait returns the first event of one of the kinds, failing after 20 s.
func (o *ourSide) wait(t testing.TB, kinds ...EventKind) Event {
	t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case e := <-o.events:
			if slices.Contains(kinds, e.Kind) {
				return e
			}
			t.Logf("event %s", e)
		case <-timer.C:
			t.Fatalf("no %v event within 20 s", kinds)
		}
	}
}

func ourConfig(tp *swan.Topology, initiator bool) Config {
	c := Config{
		Name: "noc", Local: netip.AddrPortFrom(tp.VaultAddr, 500), Remote: netip.AddrPortFrom(tp.NOCAddr, 500),
		LocalID: swanVaultID, RemoteID: swanNOCID, PSK: swanPSK,
		LocalTS: []netip.Prefix{tp.VaultLAN}, RemoteTS: []netip.Prefix{tp.NOCLAN},
		Retransmit: Retransmit{Timeout: time.Second, Base: 1.4, Tries: 3},
	}
	return c
}

func nocConn(tp *swan.Topology, proposals, esp string, initiate bool) swan.Conn {
	c := swan.Conn{
		Name: "vault", LocalAddrs: tp.NOCAddr.String(), Proposals: proposals,
		LocalID: swanNOCID, RemoteID: swanVaultID, PSK: swanPSK,
		Children: []swan.Child{{Name: "vault-lan", LocalTS: tp.NOCLAN.String(), RemoteTS: tp.VaultLAN.String(), ESPProposals: esp}},
		Extra:    []string{"dpd_delay = 5s"},
	}
	if initiate {
		c.RemoteAddrs = tp.VaultAddr.String()
	}
	return c
}

// checkCharon asserts charon's view of the tunnel.
func checkCharon(t testing.TB, noc *swan.Charon, prf, dh string) swan.IKESA {
	t.Helper()
	sas, err := noc.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	sa, ok := swan.Find(sas, "vault")
	if !ok {
		t.Fatalf("charon has no IKE_SA: %+v", sas)
	}
	if sa.State != "ESTABLISHED" || sa.EncrAlg != "AES_GCM_16" || sa.EncrKeysize != 256 || sa.PRFAlg != prf || sa.DHGroup != dh {
		t.Fatalf("charon IKE_SA: %s %s-%d %s %s, want ESTABLISHED AES_GCM_16-256 %s %s", sa.State, sa.EncrAlg, sa.EncrKeysize, sa.PRFAlg, sa.DHGroup, prf, dh)
	}
	if len(sa.Children) != 1 {
		t.Fatalf("charon has %d CHILD_SAs", len(sa.Children))
	}
	ch := sa.Children[0]
	if ch.State != "INSTALLED" || ch.Mode != "TUNNEL" || ch.Protocol != "ESP" || ch.EncrAlg != "AES_GCM_16" || ch.EncrKeysize != 256 {
		t.Fatalf("charon CHILD_SA: %s %s %s %s-%d", ch.State, ch.Mode, ch.Protocol, ch.EncrAlg, ch.EncrKeysize)
	}
	return sa
}

// checkOurs compares our Status with charon's listing.
func checkOurs(t testing.TB, o *ourSide, sa swan.IKESA) {
	t.Helper()
	st := o.d.Status(context.Background())
	if len(st.Conns) != 1 || st.Conns[0].State != "established" || len(st.Conns[0].IKE) != 1 {
		t.Fatalf("our status: %+v", st)
	}
	ike := st.Conns[0].IKE[0]
	if fmt.Sprintf("%016x", ike.SPIi) != sa.InitiatorSPI || fmt.Sprintf("%016x", ike.SPIr) != sa.ResponderSPI {
		t.Fatalf("IKE SPIs: ours %016x/%016x, charon %s/%s", ike.SPIi, ike.SPIr, sa.InitiatorSPI, sa.ResponderSPI)
	}
	ch := ike.Children[0]
	if fmt.Sprintf("%08x", ch.SPIIn) != sa.Children[0].SPIOut || fmt.Sprintf("%08x", ch.SPIOut) != sa.Children[0].SPIIn {
		t.Fatalf("CHILD SPIs: ours in %08x out %08x, charon in %s out %s", ch.SPIIn, ch.SPIOut, sa.Children[0].SPIIn, sa.Children[0].SPIOut)
	}
	// charon-libipsec claims NAT: we float to 4500 and encapsulate ESP.
	if !ike.NATRemote || ike.Remote.Port() != 4500 || !ch.Encap {
		t.Fatalf("expected NAT-T with charon-libipsec: %+v", ike)
	}
	sas, pols := installedFake(o.kern)
	if len(sas) != 2 || len(pols) != 3 {
		t.Fatalf("our kernel: %d SAs, %d policies", len(sas), len(pols))
	}
}

func installedFake(f *xfrm.Fake) ([]xfrm.FakeSA, []xfrm.Policy) {
	sas, pols, _ := f.State()
	var out []xfrm.FakeSA
	for _, s := range sas {
		if !s.Larval {
			out = append(out, s)
		}
	}
	return out, pols
}

func TestInteropInitiatorPSK(t *testing.T) {
	for _, c := range []struct {
		name, proposals, esp, dh, prf string
	}{
		{"ecp384", "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", "ECP_384", "PRF_HMAC_SHA2_384"},
		{"ecp256", "aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256", "ECP_256", "PRF_HMAC_SHA2_256"},
		{"curve25519", "aes256gcm16-prfsha384-curve25519", "aes256gcm16-curve25519", "CURVE_25519", "PRF_HMAC_SHA2_384"},
	} {
		t.Run(c.name, func(t *testing.T) {
			swan.RequireTools(t)
			tp := swan.NewTopology(t, false)
			noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, c.proposals, c.esp, false)}})
			o := startOurs(t, tp, ourConfig(tp, true))
			start := time.Now()
			if err := o.d.Initiate(context.Background(), "noc"); err != nil {
				t.Fatal(err)
			}
			if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
				t.Fatalf("event %s", e)
			}
			t.Logf("our setup time (Initiate -> CHILD SA installed): %v", time.Since(start))
			sa := checkCharon(t, noc, c.prf, c.dh)
			checkOurs(t, o, sa)
			if sa.Initiator {
				t.Fatal("charon thinks it initiated")
			}
			// Our first KE is x25519: charon answered INVALID_KE_PAYLOAD
			// unless it accepts x25519, and we retried with its group.
			if c.dh != "CURVE_25519" {
				waitLog(t, noc, `DH group CURVE_25519 unacceptable, requesting `+c.dh)
			}
			t.Logf("charon: %s", waitLog(t, noc, `authentication of '`+regexp.QuoteMeta(swanVaultID)+`' with pre-shared key successful`))
		})
	}
}

func TestInteropResponderPSK(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	// charon proposes ecp256 first in its KE, but we prefer x25519:
	// charon must retry after INVALID_KE_PAYLOAD.
	nc := nocConn(tp, "aes256gcm16-prfsha384-ecp256-curve25519", "aes256gcm16-curve25519", true)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nc}})
	oc := ourConfig(tp, false)
	oc.IKEProposals = "aes256gcm16-prfsha384-curve25519-ecp384"
	o := startOurs(t, tp, oc)
	if out, err := noc.Initiate("vault-lan"); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s", err, out)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	sa := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "CURVE_25519")
	if !sa.Initiator {
		t.Fatal("charon should be the initiator")
	}
	st := o.d.Status(context.Background()).Conns[0].IKE[0]
	if st.Initiator || st.Local.Port() != 4500 {
		t.Fatalf("our responder SA: %+v (IKE_AUTH must have floated to 4500)", st)
	}
	if !regexp.MustCompile(`peer didn.t accept DH group ECP_256, it requested CURVE_25519`).MatchString(noc.Log()) {
		t.Fatal("charon's log shows no INVALID_KE_PAYLOAD retry")
	}
}

// TestInteropSetupTime measures our setup time against charon, then
// charon↔charon in the same run (swan.SetupTimes), and reports both.
func TestInteropSetupTime(t *testing.T) {
	swan.RequireTools(t)
	const n = 10
	proposals, esp := "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384"
	var ours []time.Duration
	{
		tp := swan.NewTopology(t, false)
		noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, proposals, esp, false)}})
		oc := ourConfig(tp, true)
		oc.IKEProposals, oc.ESPProposals = proposals, esp // same as charon's: no INVALID_KE round trip
		o := startOurs(t, tp, oc)
		for i := 0; i < n; i++ {
			start := time.Now()
			if err := o.d.Initiate(context.Background(), "noc"); err != nil {
				t.Fatal(err)
			}
			if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
				t.Fatalf("event %s", e)
			}
			ours = append(ours, time.Since(start))
			if err := o.d.Terminate(context.Background(), "noc"); err != nil {
				t.Fatal(err)
			}
			o.wait(t, EventDown)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for {
				sas, _ := noc.ListSAs()
				if len(sas) == 0 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("charon kept SAs after our Delete: %+v", sas)
				case <-time.After(10 * time.Millisecond):
				}
			}
			cancel()
		}
	}
	var theirs []time.Duration
	{
		tp := swan.NewTopology(t, false)
		noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, proposals, esp, false)}})
		vc := swan.Conn{
			Name: "noc", LocalAddrs: tp.VaultAddr.String(), RemoteAddrs: tp.NOCAddr.String(), Proposals: proposals,
			LocalID: swanVaultID, RemoteID: swanNOCID, PSK: swanPSK,
			Children: []swan.Child{{Name: "noc-lan", LocalTS: tp.VaultLAN.String(), RemoteTS: tp.NOCLAN.String(), ESPProposals: esp}},
		}
		vault := swan.Start(t, tp.Vault, swan.Config{Name: "vault", Connections: []swan.Conn{vc}})
		for i := 0; i < n; i++ {
			if out, err := vault.Initiate("noc-lan"); err != nil {
				t.Fatalf("initiate: %v\n%s", err, out)
			}
			if err := vault.Terminate("noc"); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if theirs, err = swan.SetupTimes(vault.Log()); err != nil {
			t.Fatal(err)
		}
		_ = noc
	}
	if len(ours) != n || len(theirs) != n {
		t.Fatalf("%d/%d samples", len(ours), len(theirs))
	}
	mo, mt := medianDur(ours), medianDur(theirs)
	t.Logf("setup time, median of %d: ours (Initiate -> EventUp, wall clock) %v %v; charon<->charon (charon log) %v %v", n, mo, ours, mt, theirs)
	if mo > time.Second {
		t.Fatalf("our median setup time %v exceeds the 1 s budget", mo)
	}
}

func medianDur(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
