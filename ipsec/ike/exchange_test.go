package ike

import (
	"bytes"
	"context"
	"fmt"
	"github.com/hashicorp/go-hclog"
	"strings"
	"testing"
	"time"

	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

func TestPSKUp(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	m.initiate(vault, "noc")
	vc, _ := requireUp(t, vault, noc)
	if vault.count(EventUp) != 1 || noc.count(EventUp) != 1 {
		t.Fatalf("up events: vault %v noc %v", vault.events, noc.events)
	}
	st := vault.eng.Status(context.Background()).Conns[0].IKE[0]
	if st.Encr != "ENCR_AES_GCM_16(256)" && !strings.Contains(st.Encr, "AES_GCM_16") {
		t.Errorf("IKE encr %q", st.Encr)
	}
	if st.PRF != msg.PRF_HMAC_SHA2_384.String() || st.DH != msg.CURVE_25519.String() {
		t.Errorf("IKE PRF %s DH %s, want PRF_HMAC_SHA2_384 and CURVE_25519", st.PRF, st.DH)
	}
	if st.NATLocal || st.NATRemote || st.Remote.Port() != 500 {
		t.Errorf("NAT detected without NAT: %+v", st)
	}
	if vc.Encap || vc.Reqid != xfrm.DefaultOwner().ReqidMin+1 || !strings.Contains(vc.Encr, "AES_GCM_16") {
		t.Errorf("child %+v", vc)
	}
	// Byte counters come from the kernel.
	if err := vault.kern.AddTraffic(xfrm.SAID{Src: nocAddr, Dst: vaultAddr, SPI: vc.SPIIn}, 3, 252); err != nil {
		t.Fatal(err)
	}
	if got := vault.eng.Status(context.Background()).Conns[0].IKE[0].Children[0]; got.BytesIn != 252 || got.PacketsIn != 3 {
		t.Errorf("counters %+v", got)
	}
	// Policies carry our reqid and tunnel endpoints.
	_, pols := installed(vault)
	for _, p := range pols {
		if len(p.Templates) != 1 || p.Templates[0].Reqid != vc.Reqid || p.Priority >= xfrm.DefaultOwner().PriorityMin {
			t.Errorf("policy %s", p)
		}
	}
}

// Logs (at trace level), Status and events never contain the PSK or the
// ESP keys installed in the kernel.
func TestNoSecretsInLogsStatusEvents(t *testing.T) {
	m := newMemnet(t)
	var logs bytes.Buffer
	lg := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logs})
	vault := m.add("vault", vaultAddr, Options{Logger: lg.Named("vault")}, vaultConfig())
	noc := m.add("noc", nocAddr, Options{Logger: lg.Named("noc")}, nocConfig())
	secrets := [][]byte{testPSK}
	keys := func() {
		for _, n := range []*node{vault, noc} {
			sas, _, _ := n.kern.State()
			for _, s := range sas {
				if len(s.SA.Key) > 0 {
					secrets = append(secrets, s.SA.Key)
				}
			}
		}
	}
	m.initiate(vault, "noc")
	requireUp(t, vault, noc)
	keys()
	if err := vault.eng.RekeyChild(context.Background(), m.now, "noc"); err != nil {
		t.Fatal(err)
	}
	m.run()
	keys()
	if len(secrets) != 9 {
		t.Fatalf("%d secrets collected", len(secrets))
	}
	vault.eng.Close(context.Background(), m.now)
	m.run()
	text := logs.String() + fmtAny(vault.eng.Status(context.Background())) + fmtAny(vault.events) + fmtAny(noc.events)
	if !strings.Contains(logs.String(), "CHILD SA installed") {
		t.Fatal("logger not used")
	}
	for _, sec := range secrets {
		for _, form := range []string{string(sec), hexOf(sec), fmt.Sprint(sec), fmt.Sprintf("%x", sec)} {
			if strings.Contains(text, form) {
				t.Fatalf("secret found in logs/status/events")
			}
		}
	}
}

func TestConfigPrintsNoSecrets(t *testing.T) {
	c := vaultConfig()
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, string(testPSK)) || strings.Contains(s, fmt.Sprint(testPSK[:4])) {
			t.Fatalf("%s prints the PSK: %s", f, s)
		}
	}
	cc, err := c.validate()
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", cc, *cc); strings.Contains(s, string(testPSK)) {
		t.Fatal("conf prints the PSK")
	}
}

func TestWrongPSK(t *testing.T) {
	m := newMemnet(t)
	nc := nocConfig()
	nc.PSK = []byte("a different secret, long enough......")
	vault, noc := m.pair(vaultConfig(), nc)
	m.initiate(vault, "noc")
	for _, n := range []*node{vault, noc} {
		ev, ok := n.last(EventAuthFailed)
		if !ok || ev.Notify != msg.AUTHENTICATION_FAILED {
			t.Fatalf("%s: no AUTH_FAILED event: %v", n.name, n.events)
		}
		if n.count(EventUp) != 0 {
			t.Fatalf("%s came up", n.name)
		}
		requireClean(t, n)
	}
	if ev, _ := noc.last(EventAuthFailed); !strings.Contains(ev.Reason, "does not verify") && !strings.Contains(ev.Reason, "AUTH") {
		t.Errorf("responder reason %q", ev.Reason)
	}
	// The initiator retries with back-off.
	if st := vault.eng.Status(context.Background()).Conns[0]; st.NextAttempt.IsZero() || st.State != "down" {
		t.Fatalf("no re-initiation scheduled: %+v", st)
	}
}

func TestNoProposalChosenIKE(t *testing.T) {
	m := newMemnet(t)
	vc := vaultConfig()
	vc.IKEProposals = "aes256gcm16-prfsha384-curve25519"
	nc := nocConfig()
	nc.IKEProposals = "aes256gcm16-prfsha256-ecp384"
	vault, noc := m.pair(vc, nc)
	m.initiate(vault, "noc")
	if ev, ok := vault.last(EventFailed); !ok || ev.Notify != msg.NO_PROPOSAL_CHOSEN {
		t.Fatalf("vault events %v", vault.events)
	}
	if ev, ok := noc.last(EventFailed); !ok || ev.Notify != msg.NO_PROPOSAL_CHOSEN {
		t.Fatalf("noc events %v", noc.events)
	}
	requireClean(t, vault)
	requireClean(t, noc)
	if len(noc.eng.sas) != 0 || len(vault.eng.sas) != 0 {
		t.Fatal("IKE SAs left")
	}
}

func TestNoProposalChosenESP(t *testing.T) {
	m := newMemnet(t)
	vc := vaultConfig()
	vc.ESPProposals = "aes256gcm16-esn"
	nc := nocConfig()
	nc.ESPProposals = "aes256gcm16-noesn"
	vault, noc := m.pair(vc, nc)
	m.initiate(vault, "noc")
	if ev, ok := vault.last(EventFailed); !ok || ev.Notify != msg.NO_PROPOSAL_CHOSEN {
		t.Fatalf("vault events %v", vault.events)
	}
	if ev, ok := noc.last(EventFailed); !ok || ev.Notify != msg.NO_PROPOSAL_CHOSEN {
		t.Fatalf("noc events %v", noc.events)
	}
	// The initiator deletes the child-less IKE SA; nothing is left.
	requireClean(t, vault)
	requireClean(t, noc)
	if len(noc.eng.sas) != 0 || len(vault.eng.sas) != 0 {
		t.Fatalf("IKE SAs left: vault %d noc %d", len(vault.eng.sas), len(noc.eng.sas))
	}
}

func TestTSUnacceptable(t *testing.T) {
	m := newMemnet(t)
	nc := nocConfig()
	nc.RemoteTS = []netipPrefix{mustPrefix("10.9.0.0/24")}
	vault, noc := m.pair(vaultConfig(), nc)
	m.initiate(vault, "noc")
	for _, n := range []*node{vault, noc} {
		if ev, ok := n.last(EventFailed); !ok || ev.Notify != msg.TS_UNACCEPTABLE {
			t.Fatalf("%s events %v", n.name, n.events)
		}
		requireClean(t, n)
	}
}

func TestTSNarrowed(t *testing.T) {
	m := newMemnet(t)
	vc := vaultConfig()
	vc.RemoteTS = []netipPrefix{mustPrefix("10.1.0.0/16")}
	vault, noc := m.pair(vc, nocConfig())
	m.initiate(vault, "noc")
	vch, _ := requireUp(t, vault, noc)
	if len(vch.RemoteTS) != 1 || vch.RemoteTS[0] != nocLAN {
		t.Fatalf("narrowed remote TS %v, want %v", vch.RemoteTS, nocLAN)
	}
}

// The first IKE_SA_INIT is lost: the initiator retransmits after the
// timeout and the tunnel comes up; then a lost IKE_AUTH response makes
// the responder answer the retransmitted request from its cache.
func TestRetransmitAndCachedResponse(t *testing.T) {
	m := newMemnet(t)
	vault, noc := m.pair(vaultConfig(), nocConfig())
	droppedInit, droppedAuthResp := false, false
	m.drop = func(from *node, p Packet) bool {
		switch {
		case from == vault && exchangeOf(p) == msg.IKE_SA_INIT && !droppedInit:
			droppedInit = true
			return true
		case from == noc && exchangeOf(p) == msg.IKE_AUTH && isResponse(p) && !droppedAuthResp:
			droppedAuthResp = true
			return true
		}
		return false
	}
	m.initiate(vault, "noc")
	if vault.count(EventUp) != 0 {
		t.Fatal("up despite the lost datagram")
	}
	m.advance(3 * time.Second)
	if n := countSent(m, "vault", msg.IKE_SA_INIT); n != 1 {
		t.Fatalf("retransmitted before the timeout: %d", n)
	}
	m.advance(time.Second)
	if n := countSent(m, "vault", msg.IKE_SA_INIT); n != 2 {
		t.Fatalf("IKE_SA_INIT sent %d times, want 2", n)
	}
	// The IKE_AUTH response was dropped; the noc is up, the vault not.
	if noc.count(EventUp) != 1 || vault.count(EventUp) != 0 {
		t.Fatalf("events vault %v noc %v", vault.events, noc.events)
	}
	allocs := countCalls(noc.kern, xfrm.OpAllocSPI)
	m.advance(4 * time.Second)
	requireUp(t, vault, noc)
	var resps [][]byte
	for _, s := range m.sent {
		if s.from == "noc" && exchangeOf(s.p) == msg.IKE_AUTH {
			resps = append(resps, s.p.Data)
		}
	}
	if len(resps) != 2 || !bytes.Equal(resps[0], resps[1]) {
		t.Fatalf("%d IKE_AUTH responses; identical: %v", len(resps), len(resps) == 2 && bytes.Equal(resps[0], resps[1]))
	}
	if got := countCalls(noc.kern, xfrm.OpAllocSPI); got != allocs || noc.count(EventUp) != 1 {
		t.Fatalf("the duplicate request was processed again: AllocSPI %d -> %d, up events %d", allocs, got, noc.count(EventUp))
	}
}

// With the responder gone, retransmissions back off (4s·1.8^n) and the
// attempt fails after 5 retransmissions.
func TestRetransmitBackoffGivesUp(t *testing.T) {
	m := newMemnet(t)
	vault, _ := m.pair(vaultConfig(), nocConfig())
	m.drop = func(from *node, p Packet) bool { return true }
	start := m.now
	m.initiate(vault, "noc")
	m.advance(4 * time.Minute)
	var at []time.Time
	var first uint64
	for _, s := range m.sent {
		h, _, _ := msg.DecodeHeader(s.p.Data)
		if first == 0 {
			first = h.SPIi
		}
		if s.from == "vault" && h.SPIi == first {
			at = append(at, s.at)
		}
	}
	if len(at) != 6 || !at[0].Equal(start) {
		t.Fatalf("%d transmissions, want 1 + 5 retransmissions", len(at))
	}
	r := vaultConfig().Retransmit
	for i := 1; i < len(at); i++ {
		gap, want := at[i].Sub(at[i-1]), r.delay(i-1)
		// The clock moves in 1 s ticks.
		if gap < want || gap >= want+time.Second {
			t.Fatalf("retransmission %d after %v, want %v", i, gap, want)
		}
	}
	if ev, ok := vault.last(EventFailed); !ok || !strings.Contains(ev.Reason, "no response") {
		t.Fatalf("events %v", vault.events)
	}
	requireClean(t, vault)
	// Re-initiation with a fresh SPI follows after the back-off.
	if countSent(m, "vault", msg.IKE_SA_INIT) <= len(at) {
		t.Fatal("no re-initiation after the failure")
	}
}

func countSent(m *memnet, from string, exch msg.ExchangeType) int {
	n := 0
	for _, s := range m.sent {
		if s.from == from && exchangeOf(s.p) == exch && !isResponse(s.p) {
			n++
		}
	}
	return n
}

func countCalls(f *xfrm.Fake, op xfrm.Op) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}
