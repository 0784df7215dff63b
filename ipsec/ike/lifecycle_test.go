package ike

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"keep/ipsec/ike/msg"
	"keep/ipsec/internal/swan"
	"keep/ipsec/xfrm"
)

func identity(t testing.TB, ca *swan.CA, name string) ([]*x509.Certificate, crypto.Signer) {
	t.Helper()
	id, err := ca.Issue(name, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return parseIdentity(t, id)
}

func parseIdentity(t testing.TB, id *swan.Identity) ([]*x509.Certificate, crypto.Signer) {
	t.Helper()
	blk, _ := pem.Decode(id.KeyPEM)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{id.Cert}, k.(crypto.Signer)
}

func certConfigs(t testing.TB, nocCA *swan.CA) (Config, Config) {
	ca, err := swan.NewCA("Example NOC CA")
	if err != nil {
		t.Fatal(err)
	}
	if nocCA == nil {
		nocCA = ca
	}
	vc, nc := vaultConfig(), nocConfig()
	vc.PSK, nc.PSK = nil, nil
	vc.Cert, vc.Key = identity(t, ca, "vault-01.example.net")
	nc.Cert, nc.Key = identity(t, ca, "noc.example.net")
	vc.CAs = []*x509.Certificate{ca.Cert}
	nc.CAs = []*x509.Certificate{nocCA.Cert}
	return vc, nc
}

func TestCertAuth(t *testing.T) {
	m := newMemnet(t)
	vc, nc := certConfigs(t, nil)
	vault, noc := m.pair(vc, nc)
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	// The initiator sent CERTREQ; both sides authenticated with RFC 7427.
	var sawCertReq bool
	for _, s := range m.sent {
		if s.from != "vault" || exchangeOf(s.p) != msg.IKE_AUTH {
			continue
		}
		sa := vault.eng.byName["noc"].ike
		mm, _ := msg.Decode(s.p.Data)
		inner, err := mm.Encrypted().OpenWith(s.p.Data, noc.eng.sas[sa.spiR].in)
		if err != nil {
			t.Fatal(err)
		}
		sawCertReq = msg.Find(inner, msg.PayloadCERTREQ) != nil
		if a, _ := msg.First[*msg.Auth](inner); a == nil || a.Method != msg.AuthDigitalSignature {
			t.Fatalf("AUTH %+v", a)
		}
	}
	if !sawCertReq {
		t.Fatal("no CERTREQ in IKE_AUTH")
	}
}

func TestCertUntrustedCA(t *testing.T) {
	other, err := swan.NewCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	m := newMemnet(t)
	vc, nc := certConfigs(t, other)
	vault, noc := m.pair(vc, nc)
	m.initiate(vault, "noc")
	for _, n := range []*node{vault, noc} {
		if _, ok := n.last(EventAuthFailed); !ok || n.count(EventUp) != 0 {
			t.Fatalf("%s events %v", n.name, n.events)
		}
		requireClean(t, n)
	}
	if ev, _ := noc.last(EventAuthFailed); !containsAny(ev.Reason, "not issued by a trusted CA", "untrusted") {
		t.Fatalf("reason %q", ev.Reason)
	}
}

// The initiator rejects the responder's certificate: it tells the
// responder with INFORMATIONAL AUTHENTICATION_FAILED; both clean up.
func TestCertUntrustedByInitiator(t *testing.T) {
	other, err := swan.NewCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	m := newMemnet(t)
	vc, nc := certConfigs(t, nil)
	vc.CAs = []*x509.Certificate{other.Cert}
	vault, noc := m.pair(vc, nc)
	m.initiate(vault, "noc")
	// The responder was up until told; then both clean up.
	for _, n := range []*node{vault, noc} {
		if _, ok := n.last(EventAuthFailed); !ok || n.events[len(n.events)-1].Kind != EventAuthFailed {
			t.Fatalf("%s events %v", n.name, n.events)
		}
		requireClean(t, n)
	}
	if vault.count(EventUp) != 0 {
		t.Fatalf("vault came up: %v", vault.events)
	}
	if ev, _ := vault.last(EventAuthFailed); !containsAny(ev.Reason, "not issued by a trusted CA", "untrusted") {
		t.Fatalf("reason %q", ev.Reason)
	}
	if len(noc.eng.sas) != 0 {
		t.Fatal("responder kept the IKE SA")
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if len(x) > 0 && len(s) >= len(x) {
			for i := 0; i+len(x) <= len(s); i++ {
				if s[i:i+len(x)] == x {
					return true
				}
			}
		}
	}
	return false
}

func TestChildRekeyPFSBothSides(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	before, _ := requireUp(t, vault, noc)
	for i, n := range []*node{vault, noc} {
		if err := n.eng.RekeyChild(context.Background(), m.now, n.eng.conns[0].cfg.Name); err != nil {
			t.Fatal(err)
		}
		m.run()
		after, _ := requireUp(t, vault, noc)
		if after.SPIIn == before.SPIIn || after.SPIOut == before.SPIOut {
			t.Fatalf("rekey %d: SPIs unchanged", i)
		}
		if after.DH != msg.CURVE_25519.String() {
			t.Fatalf("rekeyed CHILD SA without PFS: %+v", after)
		}
		if vault.count(EventRekeyed) != i+1 || noc.count(EventRekeyed) != i+1 {
			t.Fatalf("rekeyed events vault %v noc %v", vault.events, noc.events)
		}
		before = after
	}
}

// A PFS mismatch does not show in IKE_AUTH (no KE there) but fails every
// rekey with NO_PROPOSAL_CHOSEN, in both directions; the old SA stays.
func TestChildRekeyPFSMismatch(t *testing.T) {
	m := newMemnet(t)
	nc := nocConfig()
	nc.ESPProposals = "aes256gcm16-noesn"
	vault, noc := m.pair(vaultConfig(), nc)
	m.initiate(vault, "noc")
	before, _ := requireUp(t, vault, noc)
	for _, n := range []*node{vault, noc} {
		if err := n.eng.RekeyChild(context.Background(), m.now, n.eng.conns[0].cfg.Name); err != nil {
			t.Fatal(err)
		}
		m.run()
		ev, ok := n.last(EventFailed)
		if !ok || !ev.Child || ev.Notify != msg.NO_PROPOSAL_CHOSEN {
			t.Fatalf("%s: events %v", n.name, n.events)
		}
		after, _ := requireUp(t, vault, noc)
		if after.SPIIn != before.SPIIn {
			t.Fatal("old CHILD SA not kept")
		}
	}
}

func TestIKERekeyBothSides(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	child, _ := requireUp(t, vault, noc)
	for i, n := range []*node{vault, noc, vault} {
		old := vault.eng.Status(context.Background()).Conns[0].IKE[0]
		if err := n.eng.RekeyIKE(context.Background(), m.now, n.eng.conns[0].cfg.Name); err != nil {
			t.Fatal(err)
		}
		m.run()
		vs, ns := vault.eng.Status(context.Background()).Conns[0], noc.eng.Status(context.Background()).Conns[0]
		if len(vs.IKE) != 1 || len(ns.IKE) != 1 {
			t.Fatalf("rekey %d: %d/%d IKE SAs left", i, len(vs.IKE), len(ns.IKE))
		}
		nw := vs.IKE[0]
		if nw.SPIi == old.SPIi || nw.SPIi != ns.IKE[0].SPIi || nw.SPIr != ns.IKE[0].SPIr {
			t.Fatalf("rekey %d: SPIs old %x new %x/%x noc %x/%x", i, old.SPIi, nw.SPIi, nw.SPIr, ns.IKE[0].SPIi, ns.IKE[0].SPIr)
		}
		// The new IKE SA's initiator is whoever started the rekey.
		if nw.Initiator != (n == vault) {
			t.Fatalf("rekey %d: vault initiator=%v", i, nw.Initiator)
		}
		// CHILD SAs moved over untouched.
		c, _ := requireUp(t, vault, noc)
		if c.SPIIn != child.SPIIn {
			t.Fatal("CHILD SA changed by IKE rekey")
		}
	}
	// Message IDs are in sync on the new SA: a CHILD rekey works.
	if err := noc.eng.RekeyChild(context.Background(), m.now, "vault"); err != nil {
		t.Fatal(err)
	}
	m.run()
	if c, _ := requireUp(t, vault, noc); c.SPIIn == child.SPIIn {
		t.Fatal("CHILD rekey after IKE rekey did not happen")
	}
	if vault.count(EventRekeyed) != 4 || vault.count(EventDown) != 0 || noc.count(EventDown) != 0 {
		t.Fatalf("events vault %v noc %v", vault.events, noc.events)
	}
}

// RFC 7296 §2.8.1: both sides rekey the same CHILD SA at once; exactly
// one new CHILD SA survives on both.
func TestChildRekeyCollision(t *testing.T) {
	for _, first := range []string{"vault", "noc"} {
		t.Run(first+"-first", func(t *testing.T) {
			m := newMemnet(t)
			vault, noc := m.pair(vaultConfig(), nocConfig())
			m.initiate(vault, "noc")
			before, _ := requireUp(t, vault, noc)
			a, b := vault, noc
			if first == "noc" {
				a, b = noc, vault
			}
			// Both requests are on the wire before either is answered.
			if err := a.eng.RekeyChild(context.Background(), m.now, a.eng.conns[0].cfg.Name); err != nil {
				t.Fatal(err)
			}
			if err := b.eng.RekeyChild(context.Background(), m.now, b.eng.conns[0].cfg.Name); err != nil {
				t.Fatal(err)
			}
			m.run()
			after, _ := requireUp(t, vault, noc)
			if after.SPIIn == before.SPIIn {
				t.Fatal("no rekey")
			}
		})
	}
	// The noc's request is lost once and arrives (retransmitted) after
	// the vault's rekey completed and it deleted the old SA.
	t.Run("late", func(t *testing.T) {
		m := newMemnet(t)
		vault, noc := m.pair(vaultConfig(), nocConfig())
		m.initiate(vault, "noc")
		before, _ := requireUp(t, vault, noc)
		dropped := false
		m.drop = func(from *node, p Packet) bool {
			if from == noc && exchangeOf(p) == msg.CREATE_CHILD_SA && !isResponse(p) && !dropped {
				dropped = true
				return true
			}
			return false
		}
		if err := vault.eng.RekeyChild(context.Background(), m.now, "noc"); err != nil {
			t.Fatal(err)
		}
		if err := noc.eng.RekeyChild(context.Background(), m.now, "vault"); err != nil {
			t.Fatal(err)
		}
		m.run()
		m.advance(10 * time.Second)
		after, _ := requireUp(t, vault, noc)
		if after.SPIIn == before.SPIIn {
			t.Fatal("no rekey")
		}
		if vault.count(EventRekeyed) != 1 || noc.count(EventRekeyed) != 1 || vault.count(EventFailed)+noc.count(EventFailed) != 0 {
			t.Fatalf("events vault %v noc %v", vault.events, noc.events)
		}
	})
}

func TestIKERekeyCollision(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	child, _ := requireUp(t, vault, noc)
	old := vault.eng.Status(context.Background()).Conns[0].IKE[0]
	if err := vault.eng.RekeyIKE(context.Background(), m.now, "noc"); err != nil {
		t.Fatal(err)
	}
	if err := noc.eng.RekeyIKE(context.Background(), m.now, "vault"); err != nil {
		t.Fatal(err)
	}
	m.run()
	vs, ns := vault.eng.Status(context.Background()).Conns[0], noc.eng.Status(context.Background()).Conns[0]
	if len(vs.IKE) != 1 || len(ns.IKE) != 1 || vs.IKE[0].SPIi != ns.IKE[0].SPIi || vs.IKE[0].SPIi == old.SPIi {
		t.Fatalf("after collision: vault %+v noc %+v", vs.IKE, ns.IKE)
	}
	if c, _ := requireUp(t, vault, noc); c.SPIIn != child.SPIIn {
		t.Fatal("CHILD SA lost")
	}
	// The survivor works.
	if err := vault.eng.RekeyChild(context.Background(), m.now, "noc"); err != nil {
		t.Fatal(err)
	}
	m.run()
	requireUp(t, vault, noc)
}

// DPD: silence for the interval starts a liveness check; when it gets no
// answer the peer is declared dead, SAs go, and we re-initiate with
// back-off until the peer is back.
func TestDPDPeerDeadAndReinitiate(t *testing.T) {
	m := newMemnet(t)
	vc := vaultConfig()
	vc.AutoStart = true
	vault, noc := m.pair(vc, nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	dead := true
	m.drop = func(*node, Packet) bool { return dead }
	m.advance(29 * time.Second)
	if n := countSent(m, "vault", msg.INFORMATIONAL); n != 0 {
		t.Fatalf("DPD before the interval: %d", n)
	}
	m.advance(time.Second)
	if n := countSent(m, "vault", msg.INFORMATIONAL); n != 1 {
		t.Fatalf("no DPD at the interval: %d", n)
	}
	// 5 retransmissions: 4 + 7.2 + 13 + 23.3 + 42 + 75.6 s = 165 s.
	m.advance(160 * time.Second)
	if vault.count(EventPeerDead) != 0 {
		t.Fatal("peer dead too early")
	}
	m.advance(10 * time.Second)
	if vault.count(EventPeerDead) != 1 {
		t.Fatalf("events %v", vault.events)
	}
	requireClean(t, vault)
	st := vault.eng.Status(context.Background()).Conns[0]
	if st.NextAttempt.IsZero() && st.State != "connecting" {
		t.Fatalf("no re-initiation: %+v", st)
	}
	dead = false
	m.advance(5 * time.Minute)
	requireUp(t, vault, noc)
	if vault.count(EventUp) != 2 {
		t.Fatalf("events %v", vault.events)
	}
}

// Inbound ESP counts as liveness: no DPD while traffic flows.
func TestDPDSkippedWithTraffic(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	vch, nch := requireUp(t, vault, noc)
	for i := 0; i < 10; i++ {
		m.advance(10 * time.Second)
		vault.kern.AddTraffic(xfrm.SAID{Src: nocAddr, Dst: vaultAddr, SPI: vch.SPIIn}, 1, 100)
		noc.kern.AddTraffic(xfrm.SAID{Src: vaultAddr, Dst: nocAddr, SPI: nch.SPIIn}, 1, 100)
	}
	if n := countSent(m, "vault", msg.INFORMATIONAL) + countSent(m, "noc", msg.INFORMATIONAL); n != 0 {
		t.Fatalf("%d DPD requests despite traffic", n)
	}
}

func TestDeleteOnClose(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	vault.eng.Close(context.Background(), m.now)
	m.run()
	for _, n := range []*node{vault, noc} {
		if n.count(EventDown) != 1 {
			t.Fatalf("%s events %v", n.name, n.events)
		}
		requireClean(t, n)
	}
	if len(noc.eng.sas) != 0 {
		t.Fatal("noc kept the IKE SA")
	}
}

func TestTerminateFromResponder(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	if err := noc.eng.Terminate(context.Background(), m.now, "vault"); err != nil {
		t.Fatal(err)
	}
	m.run()
	for _, n := range []*node{vault, noc} {
		if n.count(EventDown) != 1 {
			t.Fatalf("%s events %v", n.name, n.events)
		}
		requireClean(t, n)
	}
}

// After a restart of the vault (fresh engine, INITIAL_CONTACT) the NOC
// replaces the old IKE SA instead of keeping a duplicate.
func TestInitialContactReplacesOldSA(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	// Crash: the vault forgets everything (no Delete).
	vault2 := m.add("vault", vaultAddr, Options{}, vaultConfig())
	m.initiate(vault2, "noc")
	requireUp(t, vault2, noc)
	if len(noc.eng.sas) != 1 {
		t.Fatalf("noc has %d IKE SAs", len(noc.eng.sas))
	}
	var sawIC bool
	for _, s := range m.sent {
		if s.from == "vault" && exchangeOf(s.p) == msg.IKE_AUTH && !isResponse(s.p) {
			ike := vault2.eng.byName["noc"].ike
			if ike == nil {
				break
			}
			mm, _ := msg.Decode(s.p.Data)
			h := mm.Header
			if h.SPIi != ike.spiI {
				continue
			}
			inner, err := mm.Encrypted().OpenWith(s.p.Data, noc.eng.sas[ike.spiR].in)
			if err == nil && msg.FindNotify(inner, msg.INITIAL_CONTACT) != nil {
				sawIC = true
			}
		}
	}
	if !sawIC {
		t.Fatal("no INITIAL_CONTACT from the restarted vault")
	}
}

func TestCookie(t *testing.T) {
	m := newMemnet(t)
	vault := m.add("vault", vaultAddr, Options{}, vaultConfig())
	noc := m.add("noc", nocAddr, Options{CookieThreshold: -1}, nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	if n := countSent(m, "vault", msg.IKE_SA_INIT); n != 2 {
		t.Fatalf("IKE_SA_INIT sent %d times, want 2 (with COOKIE)", n)
	}
}

func TestInvalidKERetry(t *testing.T) {
	m := newMemnet(t)
	nc := nocConfig()
	nc.IKEProposals = "aes256gcm16-prfsha384-ecp384"
	vault, noc := m.pair(vaultConfig(), nc)
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	if st := vault.eng.Status(context.Background()).Conns[0].IKE[0]; st.DH != msg.ECP_384.String() {
		t.Fatalf("DH %s", st.DH)
	}
	if n := countSent(m, "vault", msg.IKE_SA_INIT); n != 2 {
		t.Fatalf("IKE_SA_INIT sent %d times", n)
	}
}

// A soft expire from the kernel starts the CHILD rekey.
func TestSoftExpireRekeys(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	before, _ := requireUp(t, vault, noc)
	if err := vault.kern.Expire(xfrm.SAID{Src: nocAddr, Dst: vaultAddr, SPI: before.SPIIn}, false); err != nil {
		t.Fatal(err)
	}
	m.run()
	after, _ := requireUp(t, vault, noc)
	if after.SPIIn == before.SPIIn || vault.count(EventRekeyed) != 1 {
		t.Fatalf("no rekey on soft expire: %v", vault.events)
	}
}

// The CHILD lifetime timer rekeys before expiry, without kernel events.
func TestLifetimeRekey(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	before, _ := requireUp(t, vault, noc)
	m.advance(54*time.Minute - time.Second)
	if c, _ := requireUp(t, vault, noc); c.SPIIn != before.SPIIn {
		t.Fatal("rekeyed too early")
	}
	m.advance(2 * time.Second)
	if c, _ := requireUp(t, vault, noc); c.SPIIn == before.SPIIn {
		t.Fatal("no rekey at lifetime - margin")
	}
}

// Half-open SAs are capped; over the threshold cookies are demanded and
// no state is kept.
func TestHalfOpenCap(t *testing.T) {
	m := newMemnet(t)
	vault := m.add("vault", vaultAddr, Options{}, vaultConfig())
	noc := m.add("noc", nocAddr, Options{MaxHalfOpen: 5, CookieThreshold: 3}, nocConfig())
	var initPkt Packet
	m.drop = func(from *node, p Packet) bool {
		if from == vault && initPkt.Data == nil {
			initPkt = p
		}
		return true
	}
	m.initiate(vault, "noc")
	m.drop = nil
	for i := 0; i < 20; i++ {
		d := append([]byte(nil), initPkt.Data...)
		d[7] ^= byte(i + 1) // another SPIi
		noc.eng.Receive(context.Background(), m.now, Packet{Local: initPkt.Remote, Remote: initPkt.Local, Data: d})
		if h := noc.eng.halfOpen(); h > 3 {
			t.Fatalf("%d half-open SAs", h)
		}
	}
	if h := noc.eng.halfOpen(); h != 3 {
		t.Fatalf("%d half-open SAs, want 3 (then cookies)", h)
	}
	m.advance(31 * time.Second)
	if h := noc.eng.halfOpen(); h != 0 {
		t.Fatalf("%d half-open SAs after the timeout", h)
	}
}

// Behind a NAT we send a NAT-keepalive every 20 s; without NAT none.
func TestNATKeepalive(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	keepalives := func() int {
		n := 0
		for _, s := range m.sent {
			if s.from == "vault" && s.p.Keepalive {
				n++
			}
		}
		return n
	}
	m.advance(25 * time.Second)
	if keepalives() != 0 {
		t.Fatal("keepalive without NAT")
	}
	vault.eng.byName["noc"].ike.natLocal = true // as if NAT_DETECTION_DESTINATION_IP had not matched
	m.advance(60 * time.Second)
	if n := keepalives(); n != 3 {
		t.Fatalf("%d keepalives in 60 s", n)
	}
	for _, s := range m.sent {
		if s.p.Keepalive && (len(s.p.Data) != 1 || s.p.Data[0] != 0xff) {
			t.Fatalf("keepalive %x", s.p.Data)
		}
	}
}

// Fail-closed: the caller's block policies (FailClosedPolicies) coexist
// with the tunnel's (lower priority value wins) and outlive the tunnel.
func TestFailClosedPoliciesCoexist(t *testing.T) {
	m := newMemnet(t)
	vc := vaultConfig()
	vault, noc := m.pair(vc, nocConfig())
	owner := xfrm.DefaultOwner()
	block := vc.FailClosedPolicies(owner.PriorityMin)
	for _, p := range block {
		if err := vault.kern.AddPolicy(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	m.initiate(vault, "noc")
	if vault.count(EventUp) != 1 {
		t.Fatalf("events %v", vault.events)
	}
	_, pols := installed(vault)
	if len(pols) != 3+len(block) {
		t.Fatalf("%d policies", len(pols))
	}
	for _, p := range pols {
		if p.Action == xfrm.ActionAllow && p.Priority >= block[0].Priority {
			t.Fatalf("tunnel policy %s does not win over the block policy", p)
		}
	}
	if sas, pols := installed(noc); len(sas) != 2 || len(pols) != 3 {
		t.Fatalf("noc: %d SAs %d policies", len(sas), len(pols))
	}
	vault.eng.Close(context.Background(), m.now)
	m.run()
	_, pols = installed(vault)
	if len(pols) != len(block) || pols[0].Action != xfrm.ActionBlock {
		t.Fatalf("after close: %v", pols)
	}
}

// The responder of a CHILD rekey holds its new outbound SA back until the
// initiator deletes the SA it replaces: until the initiator has the
// response it has no inbound SA for the new SPI, and the kernel would send
// on the newest outbound SA at once (packets lost under traffic: the QEMU
// tunnel scenario lost one ping per charon-initiated rekey before this).
// Make before break: the new outbound SA is in before the old one goes.
// If the Delete never comes, the new SA is used after pendingOutLimit.
func TestChildRekeyResponderHoldsOutbound(t *testing.T) {
	for _, deleteArrives := range []bool{true, false} {
		t.Run(fmt.Sprintf("delete-arrives=%v", deleteArrives), func(t *testing.T) {
			m := newMemnet(t)
			vault, noc := m.pair(vaultConfig(), nocConfig())
			m.initiate(vault, "noc")
			before, _ := requireUp(t, vault, noc)
			// The NOC rekeys; its Delete of the old SA is held back.
			m.drop = func(from *node, p Packet) bool {
				return from == noc && exchangeOf(p) == msg.INFORMATIONAL && !isResponse(p)
			}
			if err := noc.eng.RekeyChild(context.Background(), m.now, "vault"); err != nil {
				t.Fatal(err)
			}
			m.run()
			_, nocNew := requireNewChild(t, noc, before.SPIOut)
			outTo := func(spi uint32) bool {
				sas, _ := installed(vault)
				for _, s := range sas {
					if s.SA.Dst == nocAddr && s.SA.SPI == spi {
						return true
					}
				}
				return false
			}
			if !outTo(before.SPIOut) || outTo(nocNew.SPIIn) {
				t.Fatalf("before the Delete the vault must send on the old SA %08x only (present: %v), not the new %08x (present: %v)",
					before.SPIOut, outTo(before.SPIOut), nocNew.SPIIn, outTo(nocNew.SPIIn))
			}
			if deleteArrives {
				m.drop = nil
				m.advance(5 * time.Second) // the Delete's retransmission
				if outTo(before.SPIOut) || !outTo(nocNew.SPIIn) {
					t.Fatalf("after the Delete: old outbound SA present %v, new present %v", outTo(before.SPIOut), outTo(nocNew.SPIIn))
				}
				requireUp(t, vault, noc)
				return
			}
			m.advance(pendingOutLimit - 2*time.Second)
			if outTo(nocNew.SPIIn) {
				t.Fatal("the new outbound SA went in before pendingOutLimit")
			}
			m.advance(3 * time.Second)
			if !outTo(nocNew.SPIIn) || !outTo(before.SPIOut) {
				t.Fatalf("after pendingOutLimit without a Delete: new outbound SA present %v (want true), old %v (want true: not deleted yet)",
					outTo(nocNew.SPIIn), outTo(before.SPIOut))
			}
		})
	}
}

// requireNewChild returns n's installed CHILD SA other than the one whose
// inbound SPI is old.
func requireNewChild(t *testing.T, n *node, old uint32) (ConnStatus, ChildStatus) {
	t.Helper()
	cs := n.eng.Status(context.Background()).Conns[0]
	for _, ch := range currentChildren(cs) {
		if ch.SPIIn != old {
			return cs, ch
		}
	}
	t.Fatalf("%s has no new CHILD SA: %+v", n.name, cs)
	return ConnStatus{}, ChildStatus{}
}

// A tunnel that was up for stableUp or longer and dies is re-initiated at
// once (the NOC restarted: every second counts); one that dies sooner
// waits for the back-off (a peer that accepts and drops us at once must
// not make us loop).
func TestReinitAtOnceAfterAStableTunnelDies(t *testing.T) {
	for _, c := range []struct {
		upFor   time.Duration
		atOnce  bool
		comment string
	}{
		{stableUp + 10*time.Second, true, "stable"},
		{5 * time.Second, false, "short-lived"},
	} {
		t.Run(c.comment, func(t *testing.T) {
			m := newMemnet(t)
			vc := vaultConfig()
			vc.AutoStart = true
			vault, noc := m.pair(vc, nocConfig())
			m.initiate(vault, "noc")
			requireUp(t, vault, noc)
			m.advance(c.upFor)
			inits := countSent(m, "vault", msg.IKE_SA_INIT)
			// The NOC deletes the IKE SA (as a restarting gateway would).
			if err := noc.eng.Terminate(context.Background(), m.now, "vault"); err != nil {
				t.Fatal(err)
			}
			m.run()
			if vault.count(EventDown) != 1 {
				t.Fatalf("events %v", vault.events)
			}
			m.advance(time.Second)
			if got := countSent(m, "vault", msg.IKE_SA_INIT) - inits; (got > 0) != c.atOnce {
				t.Fatalf("up %v, then deleted: %d IKE_SA_INIT within a second, want re-initiation at once: %v", c.upFor, got, c.atOnce)
			}
			m.advance(3 * time.Second)
			if countSent(m, "vault", msg.IKE_SA_INIT) == inits {
				t.Fatal("no re-initiation after the back-off")
			}
		})
	}
}

// fragmentsSent returns the SKF datagrams a node sent, by message ID and
// direction (request or response), and the largest datagram.
func fragmentsSent(m *memnet, from string) (n int, largest int) {
	for _, s := range m.sent {
		if s.from != from {
			continue
		}
		largest = max(largest, len(s.p.Data))
		if _, first, err := msg.DecodeHeader(s.p.Data); err == nil && first == msg.PayloadSKF {
			n++
		}
	}
	return n, largest
}

// RFC 7383: with certificates the IKE_AUTH messages outgrow a small
// FragmentSize; both ends announced support, so both send fragments that
// fit (every datagram ≤ FragmentSize − 28), and the tunnel comes up. A
// lost fragment is recovered by the retransmission of the whole set, and
// a later exchange that fits goes unfragmented. (Against a charon that
// does not announce fragmentation: TestInteropFragmentation.)
func TestIKEFragmentation(t *testing.T) {
	const size = 576
	m := newMemnet(t)
	vc, nc := certConfigs(t, nil)
	vc.FragmentSize, nc.FragmentSize = size, size
	vault, noc := m.pair(vc, nc)
	dropped := false
	m.drop = func(from *node, p Packet) bool {
		h, first, err := msg.DecodeHeader(p.Data)
		if err != nil || first != msg.PayloadSKF || dropped || from != vault || h.Exchange != msg.IKE_AUTH {
			return false
		}
		if mm, err := msg.Decode(p.Data); err == nil && mm.Fragment().Number == 2 {
			dropped = true
			return true
		}
		return false
	}
	m.initiate(vault, "noc")
	m.advance(10 * time.Second) // the retransmission of the IKE_AUTH request
	requireUp(t, vault, noc)
	if !dropped {
		t.Fatal("no second fragment of the IKE_AUTH request to drop: the request was not fragmented")
	}
	for _, n := range []string{"vault", "noc"} {
		frags, largest := fragmentsSent(m, n)
		if frags < 2 || largest > size-28 {
			t.Errorf("%s sent %d fragments, largest datagram %d octets (limit %d)", n, frags, largest, size-28)
		}
	}
	before, _ := fragmentsSent(m, "vault")
	if err := vault.eng.RekeyChild(context.Background(), m.now, "noc"); err != nil {
		t.Fatal(err)
	}
	m.run()
	requireUp(t, vault, noc)
	if after, _ := fragmentsSent(m, "vault"); after != before {
		t.Errorf("a CHILD rekey that fits was fragmented (%d fragments)", after-before)
	}
}

// Reassembly limits (RFC 7383 §2.6): fragments are authenticated one by
// one; a set announcing more than maxFragments is dropped, a fragment
// with another total than the set's and a duplicate are ignored, and the
// message is processed once, when its last fragment arrives.
func TestIKEFragmentReassemblyLimits(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	sa := vault.eng.conns[0].ike
	if !sa.fragOK {
		t.Fatal("fragmentation not negotiated between two Keep engines")
	}
	h := sa.header(msg.INFORMATIONAL, sa.nextID, false) // a DPD request, empty
	deliver := func(number, total uint16, chunk []byte) {
		t.Helper()
		b, err := msg.EncodeFragmentWith(h, number, total, msg.PayloadNone, chunk, sa.out)
		if err != nil {
			t.Fatal(err)
		}
		noc.eng.Receive(context.Background(), m.now, Packet{Local: sa.remote, Remote: sa.local, Data: b})
	}
	answers := func() int {
		n := 0
		for _, p := range noc.eng.Outgoing() {
			if exchangeOf(p) == msg.INFORMATIONAL && isResponse(p) {
				n++
			}
		}
		return n
	}
	deliver(1, maxFragments+1, []byte{0})
	if answers() != 0 || noc.eng.conns[0].ike.reasm != nil {
		t.Fatal("a set of too many fragments was kept")
	}
	// An empty INFORMATIONAL (a liveness check) in three fragments, each
	// sealed around an empty piece of the (empty) payload chain.
	deliver(1, 3, nil)
	deliver(2, 3, nil)
	deliver(2, 2, nil) // another total: ignored
	deliver(2, 3, nil) // duplicate: ignored
	if answers() != 0 {
		t.Fatal("answered before the last fragment")
	}
	deliver(3, 3, nil)
	if n := answers(); n != 1 {
		t.Fatalf("%d answers to the reassembled request, want 1", n)
	}
}
