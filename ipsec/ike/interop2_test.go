package ike

import (
	"context"
	"crypto/x509"
	"keep/ipsec/xfrm"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keep/ipsec/ike/msg"
	"keep/ipsec/internal/swan"
)

// eventually polls cond every 20 ms until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tk.C:
		}
	}
}

func charonSA(t testing.TB, noc *swan.Charon) (swan.IKESA, bool) {
	t.Helper()
	sas, err := noc.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	return swan.Find(sas, "vault")
}

func waitLog(t testing.TB, c *swan.Charon, re string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := c.WaitLog(ctx, regexp.MustCompile(re))
	if err != nil {
		t.Fatalf("charon log never matched %q: %v", re, err)
	}
	return m
}

// ECDSA P-384 certificates, RFC 7427, both directions; we send CERTREQ
// (charon sends its certificate only when asked). An untrusted CA fails.
// RSA 3072 end entities (under the ECDSA CA) both ways: charon verifies
// our RFC 7427 RSASSA-PSS SHA-256 signature and we verify its RSA one.
func TestInteropCertificates(t *testing.T) {
	swan.RequireTools(t)
	ca, err := swan.NewCA("Example NOC CA")
	if err != nil {
		t.Fatal(err)
	}
	nocID, err := ca.Issue(swanNOCID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// RSA end entities (3072 bits) under the same ECDSA CA, both ends.
	nocRSA, err := ca.IssueRSA(swanNOCID, 3072)
	if err != nil {
		t.Fatal(err)
	}
	vaultRSA, err := ca.IssueRSA(swanVaultID, 3072)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name            string
		charonInitiates bool
		trusted         bool
		rsa             bool
	}{{"initiator", false, true, false}, {"responder", true, true, false}, {"untrusted-ca", false, false, false},
		{"rsa-initiator", false, true, true}, {"rsa-responder", true, true, true}} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{"x509ca/ca.crt": ca.CertPEM, "x509/noc.crt": nocID.CertPEM, "private/noc.key": nocID.KeyPEM}
			if c.rsa {
				files["x509/noc.crt"], files["private/noc.key"] = nocRSA.CertPEM, nocRSA.KeyPEM
			}
			tp := swan.NewTopology(t, false)
			nc := nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", c.charonInitiates)
			nc.PSK, nc.LocalCert, nc.RemoteCA = nil, "noc.crt", "ca.crt"
			noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nc}, Files: files})
			oc := ourConfig(tp, !c.charonInitiates)
			oc.PSK = nil
			oc.IKEProposals = "aes256gcm16-prfsha384-ecp384"
			oc.Cert, oc.Key = identity(t, ca, swanVaultID)
			if c.rsa {
				oc.Cert, oc.Key = parseIdentity(t, vaultRSA)
			}
			oc.CAs = []*x509.Certificate{ca.Cert}
			if !c.trusted {
				other, err := swan.NewCA("Some Other CA")
				if err != nil {
					t.Fatal(err)
				}
				oc.CAs = []*x509.Certificate{other.Cert}
			}
			o := startOurs(t, tp, oc)
			if c.charonInitiates {
				if out, err := noc.Initiate("vault-lan"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
			} else if err := o.d.Initiate(context.Background(), "noc"); err != nil {
				t.Fatal(err)
			}
			e := o.wait(t, EventUp, EventFailed, EventAuthFailed)
			if !c.trusted {
				if e.Kind != EventAuthFailed {
					t.Fatalf("event %s, want auth-failed", e)
				}
				if sas, _ := installedFake(o.kern); len(sas) != 0 {
					t.Fatal("SAs left after auth failure")
				}
				// We told charon (INFORMATIONAL AUTH_FAILED): it drops the SA.
				eventually(t, "charon to drop the IKE_SA", func() bool {
					sa, ok := charonSA(t, noc)
					return !ok || sa.State != "ESTABLISHED"
				})
				return
			}
			if e.Kind != EventUp {
				t.Fatalf("event %s", e)
			}
			sa := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
			checkOurs(t, o, sa)
			how := `(ECDSA|RFC 7427).*`
			if c.rsa {
				// charon names the RFC 7427 scheme it verified.
				how = `RSA.*`
			}
			line := waitLog(t, noc, `authentication of '`+regexp.QuoteMeta(swanVaultID)+`' with `+how+` successful`)
			if c.rsa {
				t.Logf("charon: %s", strings.TrimSpace(line))
				waitLog(t, noc, `authentication of '`+regexp.QuoteMeta(swanNOCID)+`' \(myself\) with RSA`)
			}
			if !c.charonInitiates {
				waitLog(t, noc, `parsed IKE_AUTH request 1 \[.*CERTREQ`)
				waitLog(t, noc, `sending end entity cert`)
			}
		})
	}
}

// CHILD rekey with PFS from both sides, then IKE rekey from both sides:
// CHILD SAs survive, message IDs stay in sync.
func TestInteropRekey(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", false)}})
	oc := ourConfig(tp, true)
	oc.IKEProposals, oc.ESPProposals = "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384"
	o := startOurs(t, tp, oc)
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	sa := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	spi := sa.Children[0].SPIIn

	// Ours first, then charon's.
	for i, rekey := range []func() error{
		func() error { return o.d.RekeyChild(context.Background(), "noc") },
		func() error { return noc.RekeyChild("vault-lan") },
	} {
		if err := rekey(); err != nil {
			t.Fatal(err)
		}
		if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventRekeyed || !e.Child {
			t.Fatalf("CHILD rekey %d: %s", i, e)
		}
		eventually(t, "charon to show one new CHILD_SA", func() bool {
			sa, ok := charonSA(t, noc)
			return ok && len(sa.Children) == 1 && sa.Children[0].State == "INSTALLED" && sa.Children[0].SPIIn != spi
		})
		sa, _ = charonSA(t, noc)
		if sa.Children[0].DHGroup != "ECP_384" {
			t.Fatalf("CHILD rekey %d without PFS: %+v", i, sa.Children[0])
		}
		spi = sa.Children[0].SPIIn
		eventually(t, "our old CHILD SA to go", func() bool {
			sas, pols := installedFake(o.kern)
			return len(sas) == 2 && len(pols) == 3
		})
		checkOurs(t, o, sa)
	}
	ikeSPI := sa.InitiatorSPI
	for i, rekey := range []func() error{
		func() error { return o.d.RekeyIKE(context.Background(), "noc") },
		func() error { return noc.RekeyIKE("vault") },
	} {
		if err := rekey(); err != nil {
			t.Fatal(err)
		}
		if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventRekeyed || !e.IKE {
			t.Fatalf("IKE rekey %d: %s", i, e)
		}
		eventually(t, "charon to show the new IKE_SA with the CHILD_SA", func() bool {
			sa, ok := charonSA(t, noc)
			return ok && sa.State == "ESTABLISHED" && sa.InitiatorSPI != ikeSPI && len(sa.Children) == 1
		})
		eventually(t, "our old IKE SA to go", func() bool {
			st := o.d.Status(context.Background())
			return len(st.Conns[0].IKE) == 1
		})
		sa, _ = charonSA(t, noc)
		ikeSPI = sa.InitiatorSPI
		checkOurs(t, o, sa)
	}
	// Message IDs in sync after both IKE rekeys: one more CHILD rekey.
	if err := o.d.RekeyChild(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventRekeyed {
		t.Fatalf("final CHILD rekey: %s", e)
	}
}

// A PFS mismatch shows only at the first CHILD rekey: both directions
// fail with NO_PROPOSAL_CHOSEN and the old CHILD SA is kept.
func TestInteropPFSMismatch(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16", false)}})
	oc := ourConfig(tp, true)
	oc.IKEProposals, oc.ESPProposals = "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384"
	o := startOurs(t, tp, oc)
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	sa := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	if err := o.d.RekeyChild(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventFailed || e.Notify != msg.NO_PROPOSAL_CHOSEN || !e.Child {
		t.Fatalf("our rekey: %s", e)
	}
	if err := noc.RekeyChild("vault-lan"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventFailed || e.Notify != msg.NO_PROPOSAL_CHOSEN {
		t.Fatalf("charon's rekey: %s", e)
	}
	waitLog(t, noc, `received NO_PROPOSAL_CHOSEN notify`)
	after := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	if after.Children[0].SPIIn != sa.Children[0].SPIIn {
		t.Fatal("old CHILD SA not kept")
	}
	checkOurs(t, o, after)
}

// DPD: charon dies; we detect it within DPD interval + retransmissions,
// remove the SAs, and re-establish once a new charon is up.
func TestInteropDPDAndDelete(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	conn := nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{conn}})
	oc := ourConfig(tp, true)
	oc.AutoStart = true
	oc.DPDInterval = time.Second
	oc.Retransmit = Retransmit{Timeout: 500 * time.Millisecond, Base: 1.4, Tries: 3}
	oc.ReinitBackoff = 500 * time.Millisecond
	o := startOurs(t, tp, oc)
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	noc.Kill()
	killed := time.Now()
	e := o.wait(t, EventPeerDead)
	took := time.Since(killed)
	// bound: DPD 1 s + 0.5·(1 + 1.4 + 1.96 + 2.744) s = 4.55 s (+ tick)
	bound := oc.DPDInterval
	for i := 0; i <= oc.Retransmit.Tries; i++ {
		bound += oc.Retransmit.delay(i)
	}
	t.Logf("peer death detected after %v (bound %v): %s", took, bound, e)
	if took > bound+time.Second {
		t.Fatalf("detection took %v, bound %v", took, bound)
	}
	if sas, pols := installedFake(o.kern); len(sas) != 0 || len(pols) != 0 {
		t.Fatalf("SAs/policies left after peer death: %d/%d", len(sas), len(pols))
	}
	// The NOC comes back: we re-initiate (back-off) and the tunnel is up.
	noc2 := swan.Start(t, tp.NOC, swan.Config{Name: "noc2", Connections: []swan.Conn{conn}})
	if e := o.wait(t, EventUp); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	checkCharon(t, noc2, "PRF_HMAC_SHA2_384", "ECP_384")
	// charon deletes: we get EventDown and clean up.
	if err := noc2.Terminate("vault"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventDown); e.Kind != EventDown {
		t.Fatalf("event %s", e)
	}
	sas, pols := installedFake(o.kern)
	if len(sas) != 0 || len(pols) != 0 {
		t.Fatalf("SAs/policies left after Delete: %d/%d", len(sas), len(pols))
	}
}

// Our responder demands a COOKIE; charon retries with it.
func TestInteropCookie(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-curve25519", "aes256gcm16", true)}})
	oc := ourConfig(tp, false)
	o := startOursWith(t, tp, oc, Options{CookieThreshold: -1})
	if out, err := noc.Initiate("vault-lan"); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s", err, out)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	waitLog(t, noc, `parsed IKE_SA_INIT response 0 \[ N\(COOKIE\) \]`)
	checkCharon(t, noc, "PRF_HMAC_SHA2_384", "CURVE_25519")
}

// charon as responder demands a COOKIE once one IKE_SA is half-open
// (cookie_threshold = 1); our initiator retries with it.
func TestInteropCookieFromCharon(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-curve25519", "aes256gcm16", false)},
		Charon: []string{"cookie_threshold = 1"}})
	// A half-open IKE_SA on charon: an IKE_SA_INIT from a throwaway
	// engine, sent from another port, whose IKE_AUTH never follows.
	tmp, err := NewEngine(Options{Kernel: xfrm.NewFake(xfrm.Owner{})}, ourConfig(tp, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := tmp.Initiate(context.Background(), time.Now(), "noc"); err != nil {
		t.Fatal(err)
	}
	c := listenInNS(t, tp.Vault, netip.AddrPortFrom(tp.VaultAddr, 501))
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort(tmp.Outgoing()[0].Data, netip.AddrPortFrom(tp.NOCAddr, 500)); err != nil {
		t.Fatal(err)
	}
	waitLog(t, noc, `generating IKE_SA_INIT response 0 \[ SA KE No`)
	o := startOurs(t, tp, ourConfig(tp, true))
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	waitLog(t, noc, `generating IKE_SA_INIT response 0 \[ N\(COOKIE\) \]`)
	checkCharon(t, noc, "PRF_HMAC_SHA2_384", "CURVE_25519")
}

// Through the NAT namespace (masquerade, ports remapped to 40000-40999):
// we detect that we are behind NAT, float to 4500 and encapsulate ESP;
// charon sees us at the NAT's address and a remapped port.
func TestInteropThroughNAT(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, true)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", false)}})
	o := startOurs(t, tp, ourConfig(tp, true))
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	sa := checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	if !sa.NATRemote || sa.RemoteHost != "203.0.113.254" || sa.RemotePort < 40000 || sa.RemotePort > 40999 || !sa.Children[0].Encap {
		t.Fatalf("charon sees %s:%d nat-remote %t encap %t", sa.RemoteHost, sa.RemotePort, sa.NATRemote, sa.Children[0].Encap)
	}
	st := o.d.Status(context.Background()).Conns[0].IKE[0]
	if !st.NATLocal || st.Local.Port() != 4500 || st.Remote.Port() != 4500 {
		t.Fatalf("our side: %+v", st)
	}
	// Rekey through the NAT keeps working.
	if err := o.d.RekeyChild(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventRekeyed, EventFailed); e.Kind != EventRekeyed {
		t.Fatalf("event %s", e)
	}
}

// TestInteropCharonDefaults: charon with no proposals configured (its
// compiled-in defaults) against our NOC profile. IKE agrees on
// AES_GCM_16-256, PRF_HMAC_SHA2_256 and CURVE_25519, and the first CHILD
// SA (IKE_AUTH, no DH there) on AES_GCM_16-256. strongSwan's default ESP
// proposals name no DH group, and ours require PFS, so every CHILD rekey
// fails, both ways, with a reason that tells the NOC what to configure.
func TestInteropCharonDefaults(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "", "", false)}})
	o := startOurs(t, tp, ourConfig(tp, true))
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	sa := checkCharon(t, noc, "PRF_HMAC_SHA2_256", "CURVE_25519")
	t.Logf("with charon's default proposals: IKE %s-%d %s %s; CHILD %s-%d, DH %q (none in IKE_AUTH)", sa.EncrAlg, sa.EncrKeysize, sa.PRFAlg, sa.DHGroup,
		sa.Children[0].EncrAlg, sa.Children[0].EncrKeysize, sa.Children[0].DHGroup)
	for i, rekey := range []func() error{
		func() error { return o.d.RekeyChild(context.Background(), "noc") },
		func() error { return noc.RekeyChild("vault-lan") },
	} {
		if err := rekey(); err != nil {
			t.Fatal(err)
		}
		e := o.wait(t, EventRekeyed, EventFailed)
		if e.Kind != EventFailed || e.Notify != msg.NO_PROPOSAL_CHOSEN || !strings.Contains(e.Reason, "esp_proposals must name a DH group") {
			t.Fatalf("CHILD rekey %d: %s, want NO_PROPOSAL_CHOSEN with the PFS hint", i, e)
		}
		t.Logf("CHILD rekey %d: %s", i, e.Reason)
	}
	after := checkCharon(t, noc, "PRF_HMAC_SHA2_256", "CURVE_25519")
	if after.Children[0].SPIIn != sa.Children[0].SPIIn {
		t.Fatal("old CHILD SA not kept")
	}
}

// TestInteropFragmentation: RFC 7383 against charon. With RSA 3072
// certificates both IKE_AUTH messages outgrow 1280-octet datagrams; both
// ends announce fragmentation (charon's default), so charon reassembles
// our request and splits its response, which we reassemble. A charon
// with fragmentation = no does not announce it, and we send whole
// messages (left to IP fragmentation).
func TestInteropFragmentation(t *testing.T) {
	swan.RequireTools(t)
	ca, err := swan.NewCA("Example NOC CA")
	if err != nil {
		t.Fatal(err)
	}
	nocRSA, err := ca.IssueRSA(swanNOCID, 3072)
	if err != nil {
		t.Fatal(err)
	}
	vaultRSA, err := ca.IssueRSA(swanVaultID, 3072)
	if err != nil {
		t.Fatal(err)
	}
	for _, fragmentation := range []string{"yes", "no"} {
		t.Run("charon-"+fragmentation, func(t *testing.T) {
			tp := swan.NewTopology(t, false)
			nc := nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", false)
			nc.PSK, nc.LocalCert, nc.RemoteCA = nil, "noc.crt", "ca.crt"
			nc.Extra = append(nc.Extra, "fragmentation = "+fragmentation)
			noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nc},
				Files: map[string][]byte{"x509ca/ca.crt": ca.CertPEM, "x509/noc.crt": nocRSA.CertPEM, "private/noc.key": nocRSA.KeyPEM}})
			oc := ourConfig(tp, true)
			oc.PSK = nil
			oc.IKEProposals = "aes256gcm16-prfsha384-ecp384"
			oc.Cert, oc.Key = parseIdentity(t, vaultRSA)
			oc.CAs = []*x509.Certificate{ca.Cert}
			o := startOurs(t, tp, oc)
			if err := o.d.Initiate(context.Background(), "noc"); err != nil {
				t.Fatal(err)
			}
			if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
				t.Fatalf("event %s", e)
			}
			checkOurs(t, o, checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384"))
			log := noc.Log()
			if fragmentation == "yes" {
				got := waitLog(t, noc, `received fragment #\d+ of \d+, reassembled fragmented IKE message \(\d+ bytes\)`)
				split := waitLog(t, noc, `splitting IKE message \(\d+ bytes\) into \d+ fragments`)
				t.Logf("charon: %s; %s", strings.TrimSpace(got), strings.TrimSpace(split))
				return
			}
			if regexp.MustCompile(`received fragment|splitting IKE message`).MatchString(log) {
				t.Errorf("fragments with charon's fragmentation off:\n%s", log)
			}
		})
	}
}

// outDestUnreachs reads the namespace's ICMP "destination unreachable"
// messages sent so far (/proc/net/snmp).
func outDestUnreachs(t testing.TB, ns *swan.NS) int {
	t.Helper()
	out := ns.MustRun(t, "cat", "/proc/net/snmp")
	var head, vals []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Icmp:" {
			if head == nil {
				head = f
			} else {
				vals = f
			}
		}
	}
	for i, h := range head {
		if h == "OutDestUnreachs" && i < len(vals) {
			n, err := strconv.Atoi(vals[i])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no Icmp OutDestUnreachs in /proc/net/snmp:\n%s", out)
	return 0
}

// A clean shutdown sends Delete and keeps the sockets open until charon
// has answered: charon drops the SAs, and our namespace sends no ICMP
// port unreachable for the answer (the WAN shows nothing but IKE).
func TestInteropCleanShutdown(t *testing.T) {
	swan.RequireTools(t)
	tp := swan.NewTopology(t, false)
	noc := swan.Start(t, tp.NOC, swan.Config{Name: "noc", Connections: []swan.Conn{nocConn(tp, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", false)}})
	o := startOurs(t, tp, ourConfig(tp, true))
	if err := o.d.Initiate(context.Background(), "noc"); err != nil {
		t.Fatal(err)
	}
	if e := o.wait(t, EventUp, EventFailed, EventAuthFailed); e.Kind != EventUp {
		t.Fatalf("event %s", e)
	}
	checkCharon(t, noc, "PRF_HMAC_SHA2_384", "ECP_384")
	before := outDestUnreachs(t, tp.Vault)
	start := time.Now()
	o.stop()
	t.Logf("shutdown took %v", time.Since(start).Round(time.Millisecond))
	eventually(t, "charon to drop the IKE_SA", func() bool {
		_, ok := charonSA(t, noc)
		return !ok
	})
	if n := outDestUnreachs(t, tp.Vault) - before; n != 0 {
		t.Errorf("%d ICMP destination unreachable sent by our namespace at shutdown (charon's answer to the Delete hit a closed socket)", n)
	}
	if time.Since(start) > shutdownLinger+5*time.Second {
		t.Errorf("shutdown took %v", time.Since(start))
	}
}
