package noc

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"keep/qemu"
)

// siteScript addresses a guest's WAN (eth0) and builds its LAN: a netns
// "lan" behind a veth, with a host at .10 routed through the guest at .1.
// IPv6 is off so the WAN carries no ND/MLD noise.
func siteScript(wan netip.Prefix, lan netip.Prefix) string {
	gw, host := lan.Addr().Next(), lanHost(lan)
	return fmt.Sprintf(`set -e
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=1
ip link set eth0 up
ip addr add %[1]s dev eth0
ip netns add lan
ip link add lan0 type veth peer name lan1
ip link set lan1 netns lan
ip addr add %[2]s/%[4]d dev lan0
ip link set lan0 up
ip -n lan link set lo up
ip -n lan addr add %[3]s/%[4]d dev lan1
ip -n lan link set lan1 up
ip -n lan route add default via %[2]s
`, wan, gw, host, lan.Bits())
}

// lanHost is the LAN host's address: .10 of the prefix.
func lanHost(lan netip.Prefix) netip.Addr {
	a := lan.Addr()
	for i := 0; i < 10; i++ {
		a = a.Next()
	}
	return a
}

// TestSwanTunnel is the template of the appliance↔NOC scenarios: two NOC
// guests on one L2 link (a QEMU stream netdev over a unix socket), one
// playing the vault, run strongSwan with kernel-netlink — real kernel ESP —
// and a PSK tunnel with aes256gcm16-prfsha384-ecp384. The tunnel comes up,
// pings between the two LANs cross it in both directions, the kernel holds
// rfc4106 ESP states, and a capture on the NOC's WAN shows nothing but IKE
// (UDP 500) and ESP. The setup time is measured from charon's ms log.
func TestSwanTunnel(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two QEMU guests; skipped with -short")
	}
	var (
		nocWAN   = netip.MustParsePrefix("203.0.113.1/24")
		vaultWAN = netip.MustParsePrefix("203.0.113.2/24")
		nocLAN   = netip.MustParsePrefix("10.1.0.0/24")
		vaultLAN = netip.MustParsePrefix("10.2.0.0/24")
		psk      = []byte("correct horse battery staple, but longer: 32+ bytes")
	)
	noc := PSKSite{Conn: "vault-psk", Child: "vault-lan", Local: nocWAN.Addr(), Remote: vaultWAN.Addr(),
		LocalID: "noc.example.net", RemoteID: "vault-01.example.net", LocalTS: nocLAN, RemoteTS: vaultLAN, PSK: psk}
	vault := PSKSite{Conn: "noc-psk", Child: "noc-lan", Local: vaultWAN.Addr(), Remote: nocWAN.Addr(),
		LocalID: "vault-01.example.net", RemoteID: "noc.example.net", LocalTS: vaultLAN, RemoteTS: nocLAN, PSK: psk}

	nocDir := t.TempDir()
	wanSock := filepath.Join(nocDir, "wan.sock")
	nocVM := Boot(t, Options{
		Name:    "noc",
		Dir:     nocDir,
		Capture: []string{"wan"},
		NICs:    []qemu.NIC{{ID: "wan", Kind: qemu.NICStream, Listen: wanSock}},
		Files:   []File{{Path: "/etc/swanctl/conf.d/vault.conf", Data: []byte(noc.SwanctlConf()), Mode: 0o600}},
		Script:  siteScript(nocWAN, nocLAN),
	})
	vaultVM := Boot(t, Options{
		Name:   "vault",
		NICs:   []qemu.NIC{{ID: "wan", Kind: qemu.NICStream, Connect: wanSock}},
		Files:  []File{{Path: "/etc/swanctl/conf.d/noc.conf", Data: []byte(vault.SwanctlConf()), Mode: 0o600}},
		Script: siteScript(vaultWAN, vaultLAN),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The WAN link works before any IPsec: ARP and ICMP between the guests.
	// That ICMP is on the wire capture: the classification skips it.
	vaultVM.MustRun(t, "ping -c 2 -W 5 "+nocWAN.Addr().String())
	preIPsec := wireFrames(t, nocVM)

	// QEMU records the WAN link on the host (filter-dump on the NOC's
	// netdev). Inside the NOC, tcpdump records what the NOC sends (-Q out):
	// inbound, the kernel shows tcpdump the decrypted ESP payloads as if
	// they had arrived in clear on eth0.
	nocVM.MustRun(t, `tcpdump -i eth0 -Q out -n -U --immediate-mode -Z root -w /run/wan.pcap >/var/log/tcpdump.out 2>&1 &
echo $! >/run/tcpdump.pid
for i in $(seq 200); do grep -q "listening on" /var/log/tcpdump.out && exit 0; sleep 0.1; done
cat /var/log/tcpdump.out; exit 1`)

	for _, vm := range []*VM{nocVM, vaultVM} {
		out, err := vm.StartCharon(ctx)
		if err != nil {
			t.Fatalf("%s: %v", vm.Name, err)
		}
		t.Logf("%s: %s", vm.Name, strings.TrimSpace(out))
	}

	start := time.Now()
	out, err := vaultVM.Swanctl(ctx, "--initiate", "--child", vault.Child, "--timeout", "120")
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("initiate: %v", err)
	}
	if !regexp.MustCompile(`CHILD_SA '?`+vault.Child+`\{\d+\}'? established`).MatchString(out) &&
		!strings.Contains(out, "initiate completed successfully") {
		t.Fatalf("initiate output:\n%s", out)
	}

	// Both ends: one IKE_SA with Keep's suite, one INSTALLED tunnel-mode
	// ESP CHILD_SA with AES-GCM-256, no UDP encapsulation (no NAT here).
	for _, c := range []struct {
		vm    *VM
		child string
	}{{nocVM, noc.Child}, {vaultVM, vault.Child}} {
		raw, err := c.vm.Swanctl(ctx, "--list-sas", "--raw")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"state=ESTABLISHED", "encr-alg=AES_GCM_16", "encr-keysize=256",
			"prf-alg=PRF_HMAC_SHA2_384", "dh-group=ECP_384", "name=" + c.child + " ", "state=INSTALLED", "mode=TUNNEL", "protocol=ESP"} {
			if !strings.Contains(raw, want) {
				t.Errorf("%s: list-sas lacks %q:\n%s", c.vm.Name, want, raw)
			}
		}
		if strings.Contains(raw, "encap=yes") {
			t.Errorf("%s: CHILD_SA is UDP-encapsulated, want raw ESP:\n%s", c.vm.Name, raw)
		}
		st := c.vm.MustRun(t, "ip xfrm state; ip xfrm policy")
		if n := strings.Count(st, "aead rfc4106(gcm(aes))"); n != 2 {
			t.Errorf("%s: %d rfc4106 ESP states in the kernel, want 2:\n%s", c.vm.Name, n, st)
		}
		for _, dir := range []string{"dir out", "dir in", "dir fwd"} {
			if !strings.Contains(st, dir) {
				t.Errorf("%s: no %s policy:\n%s", c.vm.Name, dir, st)
			}
		}
	}

	// LAN to LAN, both ways, through the guests' forwarding and the tunnel.
	for _, p := range []struct {
		from *VM
		to   netip.Addr
	}{{vaultVM, lanHost(nocLAN)}, {nocVM, lanHost(vaultLAN)}} {
		out := p.from.MustRun(t, "ip netns exec lan ping -c 5 -i 0.2 -W 5 "+p.to.String())
		if !strings.Contains(out, "5 packets transmitted, 5 received") {
			t.Errorf("%s LAN → %s:\n%s", p.from.Name, p.to, out)
		}
	}
	raw, err := nocVM.Swanctl(ctx, "--list-sas", "--raw")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`packets-in=(\d+)`).FindStringSubmatch(raw); m == nil || m[1] == "0" {
		t.Errorf("NOC CHILD_SA counted no inbound packets:\n%s", raw)
	}

	// Stop the capture and classify every frame.
	nocVM.MustRun(t, `kill -TERM $(cat /run/tcpdump.pid)
for i in $(seq 100); do kill -0 $(cat /run/tcpdump.pid) 2>/dev/null || exit 0; sleep 0.1; done; exit 1`)
	guestPcap, err := nocVM.ReadFile(ctx, "/run/wan.pcap")
	if err != nil {
		t.Fatal(err)
	}
	wirePcap, err := os.ReadFile(nocVM.CapturePath("wan"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		pcap     []byte
		skip     int
		ike, esp int // minimum
	}{
		// The wire: IKE_SA_INIT and IKE_AUTH both ways (IKE_AUTH on 4500:
		// MOBIKE), 10 pings there and back.
		{"wire (QEMU filter-dump)", wirePcap, preIPsec, 4, 20},
		// The NOC's own packets: half of each.
		{"NOC tcpdump -Q out", guestPcap, 0, 2, 10},
	} {
		capt, err := ClassifyPcap(c.pcap, c.skip)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: %d frames: %d IKE on udp/500, %d IKE on udp/4500, %d ESP-in-UDP, %d keepalives, %d raw ESP, %d ARP, other %v",
			c.name, capt.Frames, capt.IKE, capt.NATTIKE, capt.NATTESP, capt.Keepalive, capt.ESP, capt.ARP, capt.Other)
		if !capt.OnlyIPsec() {
			t.Errorf("%s: WAN carried non-IPsec traffic: %v", c.name, capt.Other)
		}
		if capt.IKE < 1 || capt.IKE+capt.NATTIKE < c.ike {
			t.Errorf("%s: IKE packets %d on 500 + %d on 4500, want at least %d", c.name, capt.IKE, capt.NATTIKE, c.ike)
		}
		if capt.ESP < c.esp {
			t.Errorf("%s: raw ESP packets %d, want at least %d", c.name, capt.ESP, c.esp)
		}
		if capt.NATTESP != 0 {
			t.Errorf("%s: %d ESP-in-UDP packets without NAT, want raw ESP only", c.name, capt.NATTESP)
		}
	}

	// Every plugin of the image's strongswan.conf loaded.
	nlog, err := nocVM.CharonLogText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`loaded plugins: (.*)`).FindStringSubmatch(nlog); m == nil {
		t.Errorf("no \"loaded plugins\" line in the NOC's charon log")
	} else {
		for _, p := range SwanPlugins {
			if !strings.Contains(" "+m[1]+" ", " "+p+" ") {
				t.Errorf("plugin %s not loaded: %s", p, m[1])
			}
		}
	}

	// Teardown from the vault: the NOC sees the Delete and removes its
	// SAs. Then two more setups, for the timing distribution.
	walls := []time.Duration{wall}
	for i := 0; i < 3; i++ {
		if _, err := vaultVM.Swanctl(ctx, "--terminate", "--ike", vault.Conn, "--timeout", "60"); err != nil {
			t.Fatal(err)
		}
		nocVM.MustRun(t, `for i in $(seq 100); do [ -z "$(ip xfrm state)" ] && exit 0; sleep 0.1; done; ip xfrm state; exit 1`)
		if i == 2 {
			break
		}
		start := time.Now()
		if _, err := vaultVM.Swanctl(ctx, "--initiate", "--child", vault.Child, "--timeout", "120"); err != nil {
			t.Fatalf("initiate #%d: %v", i+2, err)
		}
		walls = append(walls, time.Since(start))
	}

	// Setup time, by the initiator's and the responder's clocks.
	vlog, err := vaultVM.CharonLogText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	setups, err := SetupTimes(vlog)
	if err != nil {
		t.Fatalf("setup time: %v\n%s", err, vlog)
	}
	if len(setups) != 3 {
		t.Errorf("%d setups in the vault's log, want 3", len(setups))
	}
	nlog, _ = nocVM.CharonLogText(ctx)
	t.Logf("tunnel setup (vault charon log, initiating IKE_SA → CHILD_SA established): %v; swanctl --initiate wall: %v; responder (first setup): %s",
		setups, walls, responderSpan(nlog))
	for _, d := range setups {
		if d <= 0 || d > 60*time.Second {
			t.Errorf("setup time %v out of range", d)
		}
	}

	for _, vm := range []*VM{vaultVM, nocVM} {
		if err := vm.Stop(ctx); err != nil {
			t.Errorf("%s: stop: %v", vm.Name, err)
		}
	}
}

// wireFrames counts the frames QEMU has recorded on the NOC's WAN so far.
func wireFrames(t *testing.T, vm *VM) int {
	t.Helper()
	data, err := os.ReadFile(vm.CapturePath("wan"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := PcapFrames(data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// responderSpan describes the responder's time from its first received
// IKE packet to its CHILD_SA being established.
func responderSpan(log string) string {
	var first, done time.Time
	for _, line := range strings.Split(log, "\n") {
		ts, ok := LogStamp(line)
		if !ok {
			continue
		}
		if first.IsZero() && strings.Contains(line, "received packet") {
			first = ts
		}
		if done.IsZero() && strings.Contains(line, "CHILD_SA") && strings.Contains(line, "established") {
			done = ts
		}
	}
	if first.IsZero() || done.IsZero() {
		return "n/a"
	}
	return fmt.Sprintf("first IKE packet → CHILD_SA established %v", done.Sub(first))
}
