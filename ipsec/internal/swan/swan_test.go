package swan

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	nocID   = "noc.example.net"
	vaultID = "vault-01.example.net"
)

// pair describes the standard NOC-responder/vault-initiator setup.
type pair struct {
	proposals, esp   string
	nocPSK, vaultPSK []byte // nil for certificates
	nocFiles         map[string][]byte
	vaultFiles       map[string][]byte
}

func startPair(t *testing.T, tp *Topology, p pair) (noc, vault *Charon) {
	t.Helper()
	nocConn := Conn{
		Name: "vault", LocalAddrs: tp.NOCAddr.String(), Proposals: p.proposals,
		LocalID: nocID, RemoteID: vaultID, PSK: p.nocPSK,
		Children: []Child{{Name: "vault-lan", LocalTS: tp.NOCLAN.String(), RemoteTS: tp.VaultLAN.String(), ESPProposals: p.esp}},
		Extra:    []string{"dpd_delay = 5s"},
	}
	vaultConn := Conn{
		Name: "noc", LocalAddrs: tp.VaultAddr.String(), RemoteAddrs: tp.NOCAddr.String(), Proposals: p.proposals,
		LocalID: vaultID, RemoteID: nocID, PSK: p.vaultPSK,
		Children: []Child{{Name: "noc-lan", LocalTS: tp.VaultLAN.String(), RemoteTS: tp.NOCLAN.String(), ESPProposals: p.esp}},
	}
	if p.nocPSK == nil {
		nocConn.LocalCert, nocConn.RemoteCA = "noc.crt", "ca.crt"
		vaultConn.LocalCert, vaultConn.RemoteCA = "vault.crt", "ca.crt"
	}
	noc = Start(t, tp.NOC, Config{Name: "noc", Connections: []Conn{nocConn}, Files: p.nocFiles})
	vault = Start(t, tp.Vault, Config{Name: "vault", Connections: []Conn{vaultConn}, Files: p.vaultFiles})
	return noc, vault
}

func mustSA(t *testing.T, c *Charon, conn string) IKESA {
	t.Helper()
	sas, err := c.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	sa, ok := Find(sas, conn)
	if !ok {
		t.Fatalf("%s has no IKE_SA %q: %+v", c.Name, conn, sas)
	}
	return sa
}

// checkUp asserts both sides agree on an established IKE_SA and an
// installed tunnel-mode ESP CHILD_SA with the expected algorithms.
func checkUp(t *testing.T, noc, vault *Charon, dh string) (IKESA, IKESA) {
	t.Helper()
	n, v := mustSA(t, noc, "vault"), mustSA(t, vault, "noc")
	for _, sa := range []IKESA{n, v} {
		if sa.State != "ESTABLISHED" || sa.EncrAlg != "AES_GCM_16" || sa.EncrKeysize != 256 || sa.PRFAlg != "PRF_HMAC_SHA2_384" || sa.DHGroup != dh {
			t.Fatalf("IKE_SA %s: state %s %s-%d %s %s, want ESTABLISHED AES_GCM_16-256 PRF_HMAC_SHA2_384 %s", sa.Name, sa.State, sa.EncrAlg, sa.EncrKeysize, sa.PRFAlg, sa.DHGroup, dh)
		}
		if len(sa.Children) != 1 {
			t.Fatalf("IKE_SA %s has %d CHILD_SAs, want 1", sa.Name, len(sa.Children))
		}
		ch := sa.Children[0]
		if ch.State != "INSTALLED" || ch.Mode != "TUNNEL" || ch.Protocol != "ESP" || ch.EncrAlg != "AES_GCM_16" || ch.EncrKeysize != 256 {
			t.Fatalf("CHILD_SA %s: %s %s %s %s-%d", ch.Name, ch.State, ch.Mode, ch.Protocol, ch.EncrAlg, ch.EncrKeysize)
		}
	}
	if n.InitiatorSPI != v.InitiatorSPI || n.ResponderSPI != v.ResponderSPI || !v.Initiator || n.Initiator {
		t.Fatalf("IKE SPIs/roles disagree: noc %s_i %s_r (initiator %t), vault %s_i %s_r (initiator %t)",
			n.InitiatorSPI, n.ResponderSPI, n.Initiator, v.InitiatorSPI, v.ResponderSPI, v.Initiator)
	}
	nc, vc := n.Children[0], v.Children[0]
	if nc.SPIIn != vc.SPIOut || nc.SPIOut != vc.SPIIn {
		t.Fatalf("CHILD SPIs disagree: noc in %s out %s, vault in %s out %s", nc.SPIIn, nc.SPIOut, vc.SPIIn, vc.SPIOut)
	}
	if !slices.Equal(nc.LocalTS, vc.RemoteTS) || !slices.Equal(nc.RemoteTS, vc.LocalTS) {
		t.Fatalf("traffic selectors disagree: noc %v/%v vault %v/%v", nc.LocalTS, nc.RemoteTS, vc.LocalTS, vc.RemoteTS)
	}
	return n, v
}

// measure tears the tunnel down and brings it up n more times, then
// returns every setup time in the vault's (initiator's) log.
func measure(t *testing.T, vault *Charon, n int) []time.Duration {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := vault.Terminate("noc"); err != nil {
			t.Fatal(err)
		}
		if out, err := vault.Initiate("noc-lan"); err != nil {
			t.Fatalf("re-initiate %d: %v\n%s", i, err, out)
		}
	}
	times, err := SetupTimes(vault.Log())
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != n+1 {
		t.Fatalf("%d setup times in the log, want %d", len(times), n+1)
	}
	return times
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestPSK(t *testing.T) {
	for _, c := range []struct {
		name, proposals, esp, dh string
	}{
		{"ecp384", "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", "ECP_384"},
		{"curve25519", "aes256gcm16-prfsha384-curve25519", "aes256gcm16-curve25519", "CURVE_25519"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := NewTopology(t, false)
			psk := []byte("correct horse battery staple, 32+")
			noc, vault := startPair(t, tp, pair{proposals: c.proposals, esp: c.esp, nocPSK: psk, vaultPSK: psk})
			if out, err := vault.Initiate("noc-lan"); err != nil {
				t.Fatalf("initiate: %v\n%s", err, out)
			}
			n, _ := checkUp(t, noc, vault, c.dh)

			// CHILD rekey with PFS: new SPIs, one CHILD_SA left.
			oldSPI := n.Children[0].SPIIn
			if err := vault.RekeyChild("noc-lan"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for {
				n = mustSA(t, noc, "vault")
				if len(n.Children) == 1 && n.Children[0].State == "INSTALLED" && n.Children[0].SPIIn != oldSPI {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("CHILD rekey did not complete: %+v", n.Children)
				case <-time.After(50 * time.Millisecond):
				}
			}
			if n.Children[0].DHGroup != c.dh {
				t.Fatalf("rekeyed CHILD_SA DH group %q, want %s (PFS)", n.Children[0].DHGroup, c.dh)
			}
			// IKE rekey keeps the CHILD_SA.
			oldIKE := n.InitiatorSPI
			if err := vault.RekeyIKE("noc"); err != nil {
				t.Fatal(err)
			}
			for {
				n = mustSA(t, noc, "vault")
				if n.State == "ESTABLISHED" && n.InitiatorSPI != oldIKE && len(n.Children) == 1 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("IKE rekey did not complete: %+v", n)
				case <-time.After(50 * time.Millisecond):
				}
			}

			times := measure(t, vault, 4)
			t.Logf("PSK %s setup times (initiating IKE_SA -> CHILD_SA established, charon ms clock): %v, median %v", c.name, times, median(times))
			if err := vault.Terminate("noc"); err != nil {
				t.Fatal(err)
			}
			if _, err := noc.WaitLog(ctx, regexp.MustCompile(`IKE_SA deleted`)); err != nil {
				t.Fatal(err)
			}
			if sas, _ := noc.ListSAs(); len(sas) != 0 {
				t.Fatalf("NOC still has SAs after terminate: %+v", sas)
			}
		})
	}
}

func TestECDSACertificates(t *testing.T) {
	tp := NewTopology(t, false)
	ca, err := NewCA("Example NOC CA")
	if err != nil {
		t.Fatal(err)
	}
	nocCert, err := ca.Issue(nocID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	vaultCert, err := ca.Issue(vaultID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	noc, vault := startPair(t, tp, pair{
		proposals:  "aes256gcm16-prfsha384-curve25519",
		esp:        "aes256gcm16",
		nocFiles:   map[string][]byte{"x509ca/ca.crt": ca.CertPEM, "x509/noc.crt": nocCert.CertPEM, "private/noc.key": nocCert.KeyPEM},
		vaultFiles: map[string][]byte{"x509ca/ca.crt": ca.CertPEM, "x509/vault.crt": vaultCert.CertPEM, "private/vault.key": vaultCert.KeyPEM},
	})
	if out, err := vault.Initiate("noc-lan"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	checkUp(t, noc, vault, "CURVE_25519")
	// RFC 7427 signature authentication with ECDSA P-384.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := noc.WaitLog(ctx, regexp.MustCompile(`authentication of '`+regexp.QuoteMeta(vaultID)+`' with ECDSA.{0,20}384.* successful`)); err != nil {
		t.Fatal(err)
	}
	times := measure(t, vault, 4)
	t.Logf("ECDSA-P384 + X25519 setup times: %v, median %v", times, median(times))
}

func TestWrongPSK(t *testing.T) {
	tp := NewTopology(t, false)
	noc, vault := startPair(t, tp, pair{proposals: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16",
		nocPSK: []byte("the NOC's secret, long enough...."), vaultPSK: []byte("a different secret, long enough..")})
	out, err := vault.Initiate("noc-lan")
	if err == nil {
		t.Fatalf("initiate with a wrong PSK succeeded:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := noc.WaitLog(ctx, regexp.MustCompile(`generating IKE_AUTH response 1 \[ N\(AUTH_FAILED\) \]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.WaitLog(ctx, regexp.MustCompile(`parsed IKE_AUTH response 1 \[ N\(AUTH_FAILED\) \]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := noc.WaitLog(ctx, regexp.MustCompile(`MAC mismatched`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Charon{noc, vault} {
		sas, err := c.ListSAs()
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas {
			if sa.State == "ESTABLISHED" || len(sa.Children) > 0 {
				t.Fatalf("%s has %s IKE_SA with %d CHILD_SAs after AUTH_FAILED", c.Name, sa.State, len(sa.Children))
			}
		}
	}
}

// Through the NAT namespace: NAT is detected and IKE floats to 4500 on a
// remapped port.
func TestPSKThroughNAT(t *testing.T) {
	tp := NewTopology(t, true)
	psk := []byte("correct horse battery staple, 32+")
	noc, vault := startPair(t, tp, pair{proposals: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16", nocPSK: psk, vaultPSK: psk})
	if out, err := vault.Initiate("noc-lan"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	n, v := checkUp(t, noc, vault, "ECP_384")
	if !n.NATRemote || !v.NATLocal {
		t.Fatalf("NAT not detected: noc nat-remote %t, vault nat-local %t", n.NATRemote, v.NATLocal)
	}
	if n.RemoteHost != "203.0.113.254" || n.RemotePort < 40000 || n.RemotePort > 40999 {
		t.Fatalf("NOC sees the vault at %s:%d, want 203.0.113.254:40000-40999", n.RemoteHost, n.RemotePort)
	}
	if !n.Children[0].Encap {
		t.Fatal("CHILD_SA not UDP-encapsulated behind NAT")
	}
}

func TestParseSAs(t *testing.T) {
	out := `plugin 'x': failed to load - noise
list-sa event {
  vault {
    uniqueid = 3
    state = ESTABLISHED
    local-id = C=CH, O=Example Backup, CN=noc.example.net
    remote-port = 40252
    nat-remote = yes
    dh-group = CURVE_25519
    tasks-active = [
      IKE_MOBIKE
    ]
    child-sas {
      vault-lan-4 {
        name = vault-lan
        reqid = 1
        state = INSTALLED
        encap = yes
        spi-in = c1d2e3f4
        bytes-in = 252
        local-ts = [
          10.1.0.0/24
          10.1.1.0/24
        ]
        remote-ts = [
          10.2.0.0/24
        ]
      }
    }
  }
}
list-sas reply {
}
`
	sas, err := ParseSAs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 {
		t.Fatalf("%d SAs", len(sas))
	}
	sa := sas[0]
	if sa.Name != "vault" || sa.UniqueID != 3 || sa.LocalID != "C=CH, O=Example Backup, CN=noc.example.net" || sa.RemotePort != 40252 || !sa.NATRemote || sa.DHGroup != "CURVE_25519" || !slices.Equal(sa.TasksActive, []string{"IKE_MOBIKE"}) {
		t.Fatalf("%+v", sa)
	}
	ch := sa.Children[0]
	if ch.Name != "vault-lan" || ch.Reqid != 1 || !ch.Encap || ch.SPIIn != "c1d2e3f4" || ch.BytesIn != 252 || !slices.Equal(ch.LocalTS, []string{"10.1.0.0/24", "10.1.1.0/24"}) || !slices.Equal(ch.RemoteTS, []string{"10.2.0.0/24"}) {
		t.Fatalf("%+v", ch)
	}
	if _, err := ParseSAs(strings.TrimSuffix(out, "}\n")); err == nil {
		t.Fatal("truncated listing accepted")
	}
}

func TestSetupTimes(t *testing.T) {
	// Milliseconds with leading zeros are decimal; noc[2] is an IKE rekey (its CHILD_SAs migrate, nothing is
	// established under it); noc[3] and noc[4] interleave.
	log := `1733212345.007 09[IKE] <noc|1> initiating IKE_SA noc[1] to 203.0.113.1
1733212345.035 13[IKE] <noc|1> CHILD_SA noc-lan{1} established with SPIs ca0d6d09_i a130416d_o and TS 10.2.0.0/24 === 10.1.0.0/24
1733212345.500 09[IKE] <noc|2> initiating IKE_SA noc[2] to 203.0.113.1
1733212346.990 09[IKE] <noc|3> initiating IKE_SA noc[3] to 203.0.113.1
1733212346.991 09[IKE] <noc|4> initiating IKE_SA noc[4] to 203.0.113.1
1733212346.995 13[IKE] <noc|4> CHILD_SA noc-lan{3} established with SPIs ca0d6d0b_i a130416f_o and TS 10.2.0.0/24 === 10.1.0.0/24
1733212347.001 13[IKE] <noc|3> CHILD_SA noc-lan{2} established with SPIs ca0d6d0a_i a130416e_o and TS 10.2.0.0/24 === 10.1.0.0/24
1733212347.002 13[IKE] <noc|3> CHILD_SA noc-lan{5} established with SPIs ca0d6d0c_i a1304170_o and TS 10.2.0.0/24 === 10.1.0.0/24
`
	got, err := SetupTimes(log)
	if err != nil || !slices.Equal(got, []time.Duration{28 * time.Millisecond, 4 * time.Millisecond, 11 * time.Millisecond}) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := SetupTimes("09[IKE] <noc|1> initiating IKE_SA noc[1] to 203.0.113.1\n"); err == nil {
		t.Fatal("log without timestamps accepted")
	}
}

func TestConfigRendering(t *testing.T) {
	c := Config{Name: "noc", Connections: []Conn{{Name: "v", LocalID: "a", RemoteID: "b", PSK: []byte("k"),
		Children: []Child{{Name: "c", LocalTS: "10.1.0.0/24", RemoteTS: "10.2.0.0/24"}}}}}
	sw := c.swanctlConf()
	for _, want := range []string{"    remote_addrs = %any\n", "    secret = 0saw==\n", "      local_ts = 10.1.0.0/24\n"} {
		if !strings.Contains(sw, want) {
			t.Fatalf("swanctl.conf lacks %q:\n%s", want, sw)
		}
	}
	ss := c.strongswanConf("/d")
	if !strings.Contains(ss, "kdf gcm aes sha2 kernel-libipsec kernel-netlink socket-default") {
		t.Fatalf("host load list:\n%s", ss)
	}
	c.KernelESP = true
	if ss := c.strongswanConf("/d"); strings.Contains(ss, "libipsec") {
		t.Fatalf("guest load list:\n%s", ss)
	}
}
