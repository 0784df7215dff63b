package qemu_test

// This file is an external test package (qemu_test): package noc imports
// package qemu, so the scenario cannot live in package qemu's own tests.
// It repeats the few helpers it needs from scenario_test.go.

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/image"
	"keep/qemu"
	"keep/qemu/noc"
)

var (
	tunNOCWAN   = netip.MustParsePrefix("203.0.113.1/24")
	tunKeepWAN  = netip.MustParsePrefix("203.0.113.2/24")
	tunNOCLAN   = netip.MustParsePrefix("10.1.0.0/24")  // the NOC's networks (tunnel.remote_ts)
	tunKeepLAN  = netip.MustParsePrefix("10.2.0.0/24")  // the appliance's (tunnel.local_ts)
	tunKeepAddr = netip.MustParseAddr("10.2.0.1")       // the appliance's address inside local_ts
	tunNOCHost  = netip.MustParseAddr("10.1.0.10")      // a host on the NOC's LAN
	tunAPIAddr  = netip.AddrPortFrom(tunKeepAddr, 8443) // api.noc.listen: the API inside the tunnel
	tunWANMAC   = "52:54:00:4b:45:02"                   // the appliance's WAN NIC
	tunReadyRE  = regexp.MustCompile(`keep: READY in ([0-9.]+)s`)
	tunTimeout  = 90 * time.Second
	// The target is tunnel up ≤ 5 s after the NOC is reachable
	// (measured here 2.5-3 s and logged); the test fails only past a
	// guard three times that, so a loaded CI host does not fail it while
	// a tunnel that waits on retransmissions or module loads still does.
	tunSetupTarget = 5 * time.Second
	tunSetupMax    = 3 * tunSetupTarget
)

// tunnelDeps returns the kernel and the test image, failing (not
// skipping) when they or QEMU are missing, unless -short.
func tunnelDeps(t *testing.T) (kernel, initrd string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots the appliance and a NOC guest in QEMU: skipped under -short only")
	}
	kernel = os.Getenv("KEEP_KERNEL")
	if kernel == "" {
		kernel = "../build/vmlinux"
	}
	initrd = os.Getenv("KEEP_TEST_INITRD")
	if initrd == "" {
		t.Fatal("KEEP_TEST_INITRD must name the test image: run `make image` and set it (and KEEP_KERNEL)")
	}
	for _, f := range []string{kernel, initrd} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run `make deps image`", err)
		}
	}
	if _, err := exec.LookPath(qemu.DefaultQEMU); err != nil {
		t.Fatalf("%s not found: run `make deps`", qemu.DefaultQEMU)
	}
	return kernel, initrd
}

// nocSiteScript addresses the NOC's WAN (eth0) and builds its LAN: a
// netns "lan" behind a veth, a host at .10 routed through the NOC at .1.
// IPv6 is off so the WAN carries no ND/MLD noise.
func nocSiteScript(wan, lan netip.Prefix, host netip.Addr) string {
	gw := lan.Addr().Next()
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

// tunnelConfig is the appliance's keep.config: the WAN NIC (matched by
// MAC, renamed wan) with the outer address and the appliance's address
// inside local_ts, and the tunnel to the NOC with the test image's PSK.
func tunnelConfig() string {
	return fmt.Sprintf(`network:
  ethernets:
    wan:
      match: {macaddress: "%s"}
      addresses: [%s, %s/32]
api:
  noc:
    listen: %s
    cert_file: /%s
    key_file: /%s
    client_ca_file: /%s
tunnel:
  enabled: true
  noc_address: %s
  local_address: %s
  noc_id: noc.example.net
  local_id: keep-01.example.net
  psk_file: /%s
  local_ts: [%s]
  remote_ts: [%s]
  dpd_interval: 5s
  retransmit_timeout: 1s
  retransmit_tries: 3
  ike_proposals: %s
  esp_proposals: %s
`, tunWANMAC, tunKeepWAN, tunKeepAddr, tunAPIAddr, image.TestAPICertPath, image.TestAPIKeyPath, image.TestNOCCAPath, tunNOCWAN.Addr(), tunKeepWAN.Addr(), image.TestPSKPath,
		tunKeepLAN, tunNOCLAN, noc.DefaultProposals, noc.DefaultESPProposals)
}

// tunnelEvents returns the appliance's tunnel events.
func tunnelEvents(ctx context.Context, c *api.Client) ([]events.Event, error) {
	return c.Events(ctx, api.EventQuery{Source: "tunnel"})
}

func findEvent(evs []events.Event, kind string) (events.Event, bool) {
	for _, e := range evs {
		if e.Kind == kind {
			return e, true
		}
	}
	return events.Event{}, false
}

// lastTunnelSeq is the sequence number of the appliance's newest tunnel
// event (the tunnel service's first, fail_closed, is always there).
func lastTunnelSeq(ctx context.Context, t *testing.T, c *api.Client) uint64 {
	t.Helper()
	evs, err := tunnelEvents(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("no tunnel events at all")
	}
	return evs[len(evs)-1].Seq
}

// tunnelSite is one scenario's NOC guest and appliance, joined by a
// stream link (the appliance's NIC wanMAC; the NOC guest's eth0, captured
// on the host as "wan").
type tunnelSite struct {
	name   string      // the NOC guest's name
	swan   noc.PSKSite // charon's side of the tunnel
	files  []noc.File  // more files for the NOC guest
	script string      // the NOC guest's network setup
	config string      // the appliance's keep.config
	wanMAC string
	// onFail adds diagnostics when the test failed (c is nil before the
	// appliance's API answers).
	onFail func(nocVM *noc.VM, c *api.Client)
}

// tunnelRun is a started tunnelSite whose tunnel is up.
type tunnelRun struct {
	noc *noc.VM
	vm  *qemu.VM
	c   *api.Client
	// up is the first tunnel.up; setup the time from the tunnel
	// service's start (tunnel.fail_closed) to it.
	up    events.Event
	setup time.Duration
}

// startTunnelSite boots the NOC guest and starts charon, then boots the
// appliance with IPv6 off (its WAN sends no ND/MLD) and waits for its
// ready line and its first tunnel.up. The block policies must be in
// before the tunnel comes up, and nothing may fail before it does.
func startTunnelSite(ctx context.Context, t *testing.T, kernel, initrd string, s tunnelSite) tunnelRun {
	t.Helper()
	nocDir, err := os.MkdirTemp("", "keep-noc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(nocDir) })
	wanSock := filepath.Join(nocDir, "wan.sock")
	var r tunnelRun
	r.noc = noc.Boot(t, noc.Options{
		Name:    s.name,
		Dir:     nocDir,
		Kernel:  kernel,
		Capture: []string{"wan"},
		NICs:    []qemu.NIC{{ID: "wan", Kind: qemu.NICStream, Listen: wanSock}},
		Files:   append(s.files, noc.File{Path: "/etc/swanctl/conf.d/keep.conf", Data: []byte(s.swan.SwanctlConf()), Mode: 0o600}),
		Script:  s.script,
	})
	out, err := r.noc.StartCharon(ctx)
	if err != nil {
		t.Fatalf("noc: %v", err)
	}
	t.Logf("noc: booted in %v (guest uptime %v); %s", r.noc.BootTime.Round(time.Millisecond), r.noc.GuestUptime.Round(time.Millisecond), strings.TrimSpace(out))

	dir, err := os.MkdirTemp("", "keep-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := qemu.Appliance(qemu.ApplianceSpec{Kernel: kernel, Initrd: initrd, Dir: dir, Disks: 6, DiskBytes: 128 << 20, BMC: true,
		Append: []string{"ipv6.disable=1", "keep.config=b64:" + base64.StdEncoding.EncodeToString([]byte(s.config))}})
	m.NICs = append(m.NICs, qemu.NIC{ID: "wan", Kind: qemu.NICStream, MAC: s.wanMAC, Connect: wanSock})
	bootCtx, bootCancel := context.WithTimeout(ctx, tunTimeout)
	defer bootCancel()
	start := time.Now()
	if r.vm, err = m.Start(bootCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if s.onFail != nil {
				s.onFail(r.noc, r.c)
			}
			t.Logf("appliance console tail:\n%s", r.vm.Console().Tail(60))
		}
		if err := r.vm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	match, err := r.vm.Console().Expect(bootCtx, tunReadyRE)
	if err != nil {
		t.Fatalf("waiting for the ready line: %v", err)
	}
	t.Logf("appliance ready at kernel uptime %ss, %v wall", match[1], time.Since(start).Round(time.Millisecond))
	addr, err := r.vm.HostAddr(qemu.APINIC, qemu.APIGuestPort)
	if err != nil {
		t.Fatal(err)
	}
	r.c = api.NewTCPClient(addr)

	r.up = r.waitEvent(ctx, t, 0, "tunnel.up", 2*time.Minute)
	evs, err := tunnelEvents(ctx, r.c)
	if err != nil {
		t.Fatal(err)
	}
	closed, ok := findEvent(evs, "tunnel.fail_closed")
	if !ok || closed.Seq > r.up.Seq {
		t.Errorf("tunnel.fail_closed missing or after tunnel.up: %+v", evs)
	}
	for _, e := range evs {
		if e.Seq < r.up.Seq && (e.Kind == "tunnel.failed" || e.Kind == "tunnel.auth_failed" || e.Kind == "tunnel.start_failed") {
			t.Errorf("before tunnel.up: %s %s %v", e.Kind, e.Message, e.Fields)
		}
	}
	r.setup = r.up.Time.Sub(closed.Time)
	nlog, err := r.noc.CharonLogText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tunnel.up %v after the tunnel service started (tunnel.fail_closed; the NOC was already reachable); NOC responder: %s",
		r.setup.Round(time.Millisecond), nocResponderSpan(nlog))
	return r
}

// waitEvent polls the appliance's journal (every 200 ms) for the first
// tunnel event of kind after sequence number after, failing the test
// with the tunnel's status and charon's log if none comes within.
func (r tunnelRun) waitEvent(ctx context.Context, t *testing.T, after uint64, kind string, within time.Duration) events.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs, err := r.c.Events(ctx, api.EventQuery{Source: "tunnel", After: after})
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := findEvent(evs, kind); ok {
			return e
		}
		if time.Now().After(deadline) {
			st, _ := r.c.Tunnel(ctx)
			nlog, _ := r.noc.CharonLogText(ctx)
			t.Fatalf("no %s within %v; tunnel events %+v\nstatus %+v\nNOC charon log:\n%s", kind, within, evs, st, nlog)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestScenarioTunnel is the first whole-system proof of the NOC tunnel:
// the appliance (test image, Keep's own IKEv2 daemon as the tunnel
// service, real kernel ESP) brings up a PSK tunnel with
// aes256gcm16-prfsha384-ecp384 to a NOC guest running strongSwan
// (kernel-netlink) over a QEMU stream link. The NOC is up and its charon
// loaded before the appliance boots, so the appliance's first IKE
// datagram finds it: the time from the tunnel service's start (its
// tunnel.fail_closed event, once the network is configured) to tunnel.up
// is the setup time after the NOC is reachable. Both sides agree on the
// SAs; a ping from the NOC's LAN to the appliance's address inside
// local_ts crosses the tunnel; a host-side capture of the link shows only
// IKE, ESP and ARP from the appliance's first frame on. Then charon is
// killed: the appliance reports tunnel.peer_dead after DPD, and while the
// NOC pings it in clear, the appliance sends nothing but IKE and ARP.
// Takes about a minute and a half (DPD every 5 s, retransmissions 1 s
// ×1.8ⁿ, 3 tries: a dead NOC is noticed in about 17 s).
// tunnelPSKSite is the NOC's side of the scenarios' PSK tunnel: charon
// at local, the appliance at remote (its own address, or a NAT's).
func tunnelPSKSite(local, remote netip.Addr) noc.PSKSite {
	return noc.PSKSite{Conn: "keep-psk", Child: "keep-lan", Local: local, Remote: remote,
		LocalID: "noc.example.net", RemoteID: "keep-01.example.net", LocalTS: tunNOCLAN, RemoteTS: tunKeepLAN,
		PSK: []byte(image.TestPSK), Extra: []string{"dpd_delay = 5s"}}
}

func TestScenarioTunnel(t *testing.T) {
	t.Parallel()
	kernel, initrd := tunnelDeps(t)
	site := tunnelPSKSite(tunNOCWAN.Addr(), tunKeepWAN.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := startTunnelSite(ctx, t, kernel, initrd, tunnelSite{
		name: "noc", swan: site, wanMAC: tunWANMAC, config: tunnelConfig(),
		files:  nocOperatorFiles(t),
		script: nocSiteScript(tunNOCWAN, tunNOCLAN, tunNOCHost),
	})
	nocVM, c, up := run.noc, run.c, run.up
	var out string
	if ready, _ := c.Events(ctx, api.EventQuery{Kind: "boot.ready"}); len(ready) > 0 {
		t.Logf("boot.ready → tunnel.up %v", up.Time.Sub(ready[0].Time).Round(time.Millisecond))
	}
	if l, err := c.Logs(ctx, "modules", 0); err == nil && len(l.Lines) > 0 {
		last := l.Lines[len(l.Lines)-1]
		t.Logf("appliance boot modules: %s %v", last.Message, last.Fields)
	}
	if run.setup > tunSetupMax {
		// What the first SA waited for: the kernel's on-demand module
		// loads (one keep-modprobe exec each) and the IKE daemon's steps.
		for _, lg := range []string{"kernel", "tunnel"} {
			l, _ := c.Logs(ctx, lg, 3000)
			for _, ln := range l.Lines {
				if lg == "tunnel" || strings.Contains(ln.Message, "keep-modprobe") {
					t.Logf("%s %s %s %v", lg, ln.Time.Format("15:04:05.000"), ln.Message, ln.Fields)
				}
			}
		}
	}

	// GET /v1/tunnel: one established IKE SA with Keep's suite and one
	// installed CHILD SA with AES-GCM, raw ESP (no NAT here).
	st, err := c.Tunnel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GET /v1/tunnel: %+v", st)
	if st.State != "established" || len(st.IKE) != 1 {
		t.Fatalf("tunnel state %q with %d IKE SAs, want established with 1: %+v", st.State, len(st.IKE), st)
	}
	ike := st.IKE[0]
	if ike.State != "established" || ike.Role != "initiator" || !strings.Contains(ike.Encr, "GCM") || ike.NATLocal || ike.NATRemote || len(ike.Children) != 1 {
		t.Errorf("IKE SA %+v", ike)
	}
	if len(ike.Children) == 1 {
		ch := ike.Children[0]
		if !strings.Contains(ch.Encr, "GCM") || ch.Installed.IsZero() || ch.Encap ||
			fmt.Sprint(ch.LocalTS) != "["+tunKeepLAN.String()+"]" || fmt.Sprint(ch.RemoteTS) != "["+tunNOCLAN.String()+"]" {
			t.Errorf("CHILD SA %+v", ch)
		}
	}
	if len(st.FailClosed) != 1 || st.FailClosed[0].Network != tunNOCLAN.String() || !st.FailClosed[0].Installed {
		t.Errorf("fail-closed policies %+v", st.FailClosed)
	}

	// strongSwan agrees.
	raw, err := nocVM.Swanctl(ctx, "--list-sas", "--raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"state=ESTABLISHED", "encr-alg=AES_GCM_16", "encr-keysize=256",
		"prf-alg=PRF_HMAC_SHA2_384", "dh-group=ECP_384", "remote-id=keep-01.example.net", "name=" + site.Child + " ",
		"state=INSTALLED", "mode=TUNNEL", "protocol=ESP"} {
		if !strings.Contains(raw, want) {
			t.Errorf("NOC list-sas lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "encap=yes") {
		t.Errorf("NOC CHILD_SA is UDP-encapsulated, want raw ESP:\n%s", raw)
	}
	if n := strings.Count(nocVM.MustRun(t, "ip xfrm state"), "aead rfc4106(gcm(aes))"); n != 2 {
		t.Errorf("NOC kernel holds %d rfc4106 ESP states, want 2", n)
	}

	// Traffic: the NOC's LAN host pings the appliance's address inside
	// local_ts, through the NOC's forwarding and the tunnel.
	out = nocVM.MustRun(t, "ip netns exec lan ping -c 5 -i 0.2 -W 5 "+tunKeepAddr.String())
	if !strings.Contains(out, "5 packets transmitted, 5 received") {
		t.Errorf("NOC LAN → %s through the tunnel:\n%s", tunKeepAddr, out)
	}
	if st, err = c.Tunnel(ctx); err == nil && len(st.IKE) == 1 && len(st.IKE[0].Children) == 1 {
		ch := st.IKE[0].Children[0]
		t.Logf("appliance CHILD SA counters: in %d packets / %d bytes, out %d / %d", ch.PacketsIn, ch.BytesIn, ch.PacketsOut, ch.BytesOut)
		if ch.PacketsIn < 5 || ch.PacketsOut < 5 {
			t.Errorf("appliance CHILD SA counted %d in, %d out, want ≥ 5 each", ch.PacketsIn, ch.PacketsOut)
		}
	} else {
		t.Errorf("tunnel status after the pings: %+v %v", st, err)
	}

	// The wire, from the appliance's first frame on: only IKE, ESP, ARP.
	wire, err := os.ReadFile(nocVM.CapturePath("wan"))
	if err != nil {
		t.Fatal(err)
	}
	capt, err := noc.ClassifyPcap(wire, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wire (QEMU filter-dump on the NOC's WAN): %d frames: %d IKE on udp/500, %d IKE on udp/4500, %d ESP-in-UDP, %d keepalives, %d raw ESP, %d ARP, other %v",
		capt.Frames, capt.IKE, capt.NATTIKE, capt.NATTESP, capt.Keepalive, capt.ESP, capt.ARP, capt.Other)
	if !capt.OnlyIPsec() {
		t.Errorf("the link carried non-IPsec traffic: %v", capt.Other)
	}
	if capt.IKE < 2 || capt.IKE+capt.NATTIKE < 4 {
		t.Errorf("IKE packets %d on 500 + %d on 4500, want at least 4 (IKE_SA_INIT, IKE_AUTH)", capt.IKE, capt.NATTIKE)
	}
	if capt.ESP < 10 || capt.NATTESP != 0 {
		t.Errorf("raw ESP %d (want ≥ 10), ESP-in-UDP %d (want 0)", capt.ESP, capt.NATTESP)
	}

	tunnelAPIFromNOC(ctx, t, nocVM, c)
	tunnelRekeysUnderTraffic(ctx, t, nocVM, c, site)
	tunnelCharonRestart(ctx, t, run)
	tunnelServiceRestart(ctx, t, run)

	// Fail closed: charon dies (kill -9: no Delete, its kernel state
	// stays) and the NOC's kernel state is flushed, so the NOC's LAN
	// host pings the appliance in clear from then on. The appliance
	// notices by DPD (5 s idle, then 3 retransmissions from 1 s) and
	// reports tunnel.peer_dead; throughout, nothing the appliance sends
	// on the link may be anything but IKE, ESP or ARP: its answers to
	// the NOC networks are blocked, never sent in clear. The wire check
	// below covers everything after the first check: the API requests,
	// the rekeys, charon's restart and this kill.
	skip, err := noc.PcapFrames(wire)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := lastTunnelSeq(ctx, t, c)
	nocVM.MustRun(t, `kill -9 $(cat /run/charon.pid)
for i in $(seq 100); do kill -0 $(cat /run/charon.pid) 2>/dev/null || break; sleep 0.1; done
ip xfrm state flush; ip xfrm policy flush
ip netns exec lan ping -i 0.5 -c 1200 -W 1 `+tunKeepAddr.String()+` >/run/clear-ping.out 2>&1 &
echo $! >/run/clear-ping.pid`)
	killed := time.Now()
	dead := run.waitEvent(ctx, t, lastSeq, "tunnel.peer_dead", 5*time.Minute)
	t.Logf("tunnel.peer_dead %v after charon was killed (host clock; dpd_interval 5s, retransmissions 1s×1.8ⁿ, 3 tries: bound about 17 s): %s",
		time.Since(killed).Round(100*time.Millisecond), dead.Message)
	// A few more seconds of clear pings against the appliance without SAs.
	time.Sleep(5 * time.Second)
	nocVM.MustRun(t, `kill -TERM $(cat /run/clear-ping.pid) 2>/dev/null; true`)
	st, err = c.Tunnel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == "established" || len(st.FailClosed) != 1 || !st.FailClosed[0].Installed {
		t.Errorf("after peer_dead: state %q, fail-closed %+v", st.State, st.FailClosed)
	}
	if wire, err = os.ReadFile(nocVM.CapturePath("wan")); err != nil {
		t.Fatal(err)
	}
	if capt, err = noc.ClassifyPcap(wire, skip); err != nil {
		t.Fatal(err)
	}
	var leaks, clear []string
	for _, o := range capt.Other {
		// The frame's own addresses, not those of a datagram an ICMP
		// error quotes.
		head, _, _ := strings.Cut(o, " quoting ")
		if strings.Contains(head, " "+tunKeepWAN.Addr().String()+" >") || strings.Contains(head, " "+tunKeepAddr.String()+" >") ||
			strings.Contains(head, " "+tunKeepWAN.Addr().String()+":") && strings.Index(head, tunKeepWAN.Addr().String()) < strings.Index(head, ">") {
			leaks = append(leaks, o)
		} else {
			clear = append(clear, o)
		}
	}
	t.Logf("wire since the first pings (API through the tunnel, rekeys, charon's restart, the service's restart, kill): %d frames: %d IKE on udp/500, %d IKE on udp/4500, %d raw ESP, %d ARP, %d other from the NOC (its clear pings, port unreachables), %d from the appliance",
		capt.Frames, capt.IKE, capt.NATTIKE, capt.ESP, capt.ARP, len(clear), len(leaks))
	if len(leaks) != 0 {
		t.Errorf("the appliance sent non-IPsec traffic on the link since the first pings: %v", leaks)
	}
	if len(clear) == 0 {
		t.Errorf("no clear-text packets from the NOC on the wire: the fail-closed check proved nothing")
	}

	if err := nocVM.Stop(ctx); err != nil {
		t.Errorf("noc: stop: %v", err)
	}
}

// nocResponderSpan describes the NOC's time from its first received IKE
// packet to its CHILD_SA being established.
func nocResponderSpan(log string) string {
	var first, done time.Time
	for _, line := range strings.Split(log, "\n") {
		ts, ok := noc.LogStamp(line)
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

// tunnelRekeysUnderTraffic rekeys the tunnel six times, from both ends,
// while the NOC's LAN host pings the appliance every 50 ms: CHILD SA
// rekeys by Keep (keep ctl tunnel rekey through the API) and by charon
// (swanctl --rekey), an IKE SA rekey by each, and CHILD rekeys after each
// IKE rekey (the CHILD SA moved to the new IKE SA). Not one echo may be
// lost, and afterwards both kernels hold exactly one pair of ESP SAs:
// every replaced SA was deleted on both sides.
func tunnelRekeysUnderTraffic(ctx context.Context, t *testing.T, nocVM *noc.VM, c *api.Client, site noc.PSKSite) {
	t.Helper()
	const pings = 500 // 25 s at 50 ms
	nocVM.MustRun(t, fmt.Sprintf(`ip netns exec lan ping -c %d -i 0.05 -W 3 %s >/run/rekey-ping.out 2>&1 &
echo $! >/run/rekey-ping.pid
rm -f /run/ctl.stop /run/ctl.count /run/ctl.err
(ok=0; failed=0
while [ ! -e /run/ctl.stop ]; do
	if %s >/dev/null 2>>/run/ctl.err; then ok=$((ok+1)); else failed=$((failed+1)); fi
done
echo "$ok $failed" >/run/ctl.count) >/dev/null 2>&1 &`, pings, tunKeepAddr, nocCtl(nocOpCreds, "--timeout 10s status")))
	last := lastTunnelSeq(ctx, t, c)
	var evs []events.Event
	var err error
	steps := []struct{ by, sa string }{
		{"keep", "child"}, {"noc", "child"}, {"keep", "ike"}, {"keep", "child"}, {"noc", "ike"}, {"keep", "child"},
	}
	start := time.Now()
	for i, st := range steps {
		time.Sleep(time.Second) // a second of traffic on each generation of SAs
		switch {
		case st.by == "keep":
			// The NOC operator asks the appliance, through the tunnel.
			args := "tunnel rekey"
			if st.sa == "ike" {
				args += " --ike"
			}
			if r, err := nocVM.Run(ctx, nocCtl(nocOpCreds, args)); err != nil || r.Exit != 0 {
				t.Fatalf("rekey #%d (%s %s) by keep ctl from the NOC: %v %v", i+1, st.by, st.sa, r, err)
			}
		case st.sa == "child":
			if _, err := nocVM.Swanctl(ctx, "--rekey", "--child", site.Child); err != nil {
				t.Fatalf("rekey #%d: %v", i+1, err)
			}
		default:
			if _, err := nocVM.Swanctl(ctx, "--rekey", "--ike", site.Conn); err != nil {
				t.Fatalf("rekey #%d: %v", i+1, err)
			}
		}
		var got events.Event
		for found := false; !found; {
			if evs, err = c.Events(ctx, api.EventQuery{Source: "tunnel", After: last}); err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				last = e.Seq
				switch {
				case e.Kind == "tunnel.rekeyed" && e.Fields["sa"] == st.sa:
					got, found = e, true
				case e.Kind == "tunnel.rekeyed":
				default:
					t.Errorf("during rekey #%d (%s %s): %s %s %v", i+1, st.by, st.sa, e.Kind, e.Message, e.Fields)
				}
			}
			if !found && time.Since(start) > 2*time.Minute {
				t.Fatalf("rekey #%d (%s %s): no tunnel.rekeyed event", i+1, st.by, st.sa)
			}
			if !found {
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("rekey #%d by %s of the %s SA: done %v after the start %v", i+1, st.by, st.sa, got.Fields, time.Since(start).Round(time.Millisecond))
	}
	if r := nocVM.MustRun(t, `kill -0 $(cat /run/rekey-ping.pid) 2>/dev/null && echo running || echo ended`); !strings.Contains(r, "running") {
		t.Errorf("the ping ended before the last rekey (%v): the traffic did not cover the rekeys; raise the count", time.Since(start))
	}
	out := nocVM.MustRun(t, `touch /run/ctl.stop
for i in $(seq 600); do kill -0 $(cat /run/rekey-ping.pid) 2>/dev/null || break; sleep 0.1; done; cat /run/rekey-ping.out
for i in $(seq 300); do [ -e /run/ctl.count ] && break; sleep 0.1; done`)
	var ok, failed int
	counts := nocVM.MustRun(t, "cat /run/ctl.count; cat /run/ctl.err")
	if _, err := fmt.Sscan(counts, &ok, &failed); err != nil || failed != 0 || ok < 10 {
		t.Errorf("keep ctl status through the tunnel across the rekeys: %d answered, %d failed (want ≥ 10 and 0):\n%s", ok, failed, counts)
	} else {
		t.Logf("%d keep ctl status requests (each a new TCP + TLS connection) through the tunnel across the rekeys: none failed", ok)
	}
	if l, err := c.Logs(ctx, "api", 200); err != nil {
		t.Error(err)
	} else if !slices.ContainsFunc(l.Lines, func(ln logring.Line) bool {
		return ln.Message == "NOC request" && strings.Contains(fmt.Sprint(ln.Fields), "CN="+image.TestOperatorName)
	}) {
		t.Errorf("the rekeys requested from the NOC are not logged with the operator %s: %+v", image.TestOperatorName, l.Lines)
	}
	want := fmt.Sprintf("%d packets transmitted, %d received", pings, pings)
	if !strings.Contains(out, want) {
		t.Errorf("pings across the rekeys: want %q:\n%s", want, out)
	} else {
		t.Logf("%d pings at 50 ms across %d rekeys (CHILD by both ends, IKE by both ends): none lost", pings, len(steps))
	}

	// The replaced SAs are gone on both ends.
	var st api.TunnelStatus
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st, err = c.Tunnel(ctx)
		nocESP := strings.Count(nocVM.MustRun(t, "ip xfrm state"), "aead rfc4106(gcm(aes))")
		if err == nil && st.State == "established" && len(st.IKE) == 1 && len(st.IKE[0].Children) == 1 && nocESP == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the rekeys: appliance %+v (%v); NOC kernel holds %d ESP SAs, want 2:\n%s",
				st, err, nocESP, nocVM.MustRun(t, "ip xfrm state; swanctl --list-sas"))
		}
	}
}

// tunnelCharonRestart crashes the NOC's charon (kill -9, as a crash or
// a power cut: no Delete) and restarts it at once with its kernel state
// flushed, as after a reboot. The appliance's DPD finds the NOC no longer
// knows the IKE SA, reports the peer dead and brings the tunnel up again:
// the time from the crash to tunnel.up is the recovery time, bounded by
// dpd_interval + the retransmissions + the re-initiation back-off + setup.
func tunnelCharonRestart(ctx context.Context, t *testing.T, run tunnelRun) {
	t.Helper()
	nocVM := run.noc
	last := lastTunnelSeq(ctx, t, run.c)
	nocVM.MustRun(t, `kill -9 $(cat /run/charon.pid)
for i in $(seq 100); do kill -0 $(cat /run/charon.pid) 2>/dev/null || break; sleep 0.1; done
ip xfrm state flush; ip xfrm policy flush
rm -f `+noc.CharonVici) // a crash leaves the socket behind
	crashed := time.Now()
	if _, err := nocVM.StartCharon(ctx); err != nil {
		t.Fatalf("restart charon: %v", err)
	}
	restarted := time.Since(crashed)
	// Times by the host's clock when the events are seen (polled every
	// 200 ms), and by the appliance's between the two events.
	dead := run.waitEvent(ctx, t, last, "tunnel.peer_dead", 3*time.Minute)
	deadSeen := time.Since(crashed)
	up := run.waitEvent(ctx, t, dead.Seq, "tunnel.up", 3*time.Minute)
	upSeen := time.Since(crashed)
	t.Logf("charon crashed and restarted (%v to restart): peer_dead after %v, tunnel.up again %v after the crash (appliance clock: %v from peer_dead to up); dpd_interval 5s, retransmissions 1s×1.8ⁿ, 3 tries",
		restarted.Round(time.Millisecond), deadSeen.Round(100*time.Millisecond), upSeen.Round(100*time.Millisecond),
		up.Time.Sub(dead.Time).Round(time.Millisecond))
	out := nocVM.MustRun(t, "ip netns exec lan ping -c 5 -i 0.2 -W 5 "+tunKeepAddr.String())
	if !strings.Contains(out, "5 packets transmitted, 5 received") {
		t.Errorf("NOC LAN → %s after the re-establishment:\n%s", tunKeepAddr, out)
	}
}

// The NOC operator's side of the API: the keep binary (as keep ctl) and
// the test PKI's operator and rogue credentials in the NOC guest.
const (
	nocKeep     = "/usr/local/bin/keep"
	nocOpCreds  = "--cert /etc/noc/operator.pem --key /etc/noc/operator.key --ca /etc/noc/ca.pem --server-name " + image.TestAPIServerName
	nocBadCreds = "--cert /etc/noc/rogue.pem --key /etc/noc/rogue.key --ca /etc/noc/ca.pem --server-name " + image.TestAPIServerName
)

// nocOperatorFiles are the NOC guest's files for keep ctl: the binary
// ($KEEP_CTL, which make test builds) and the test image's PKI.
func nocOperatorFiles(t *testing.T) []noc.File {
	t.Helper()
	keep := os.Getenv("KEEP_CTL")
	if keep == "" {
		t.Fatal("KEEP_CTL must name the keep binary (keep ctl runs on the NOC): run `make test`, or `make image` and set it")
	}
	pki, err := image.TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	return []noc.File{
		{Path: nocKeep, Source: keep, Mode: 0o755},
		{Path: "/etc/noc/ca.pem", Data: pki.CACert},
		{Path: "/etc/noc/operator.pem", Data: pki.OperatorCert},
		{Path: "/etc/noc/operator.key", Data: pki.OperatorKey, Mode: 0o600},
		{Path: "/etc/noc/rogue.pem", Data: pki.RogueCert},
		{Path: "/etc/noc/rogue.key", Data: pki.RogueKey, Mode: 0o600},
	}
}

// nocCtl is a keep ctl command line run on the NOC's LAN host against
// the appliance's API inside the tunnel.
func nocCtl(creds, args string) string {
	return fmt.Sprintf("ip netns exec lan %s ctl --addr %s %s %s", nocKeep, tunAPIAddr, creds, args)
}

// tunnelAPIFromNOC: the NOC's LAN host manages the appliance through the
// tunnel (api.noc: mutual TLS on the appliance's address inside
// local_ts). With the operator certificate keep ctl status answers for
// this very boot; without a client certificate, or with one from
// another CA, the API refuses and keep ctl says why; a change made
// through it is logged with the operator's name.
func tunnelAPIFromNOC(ctx context.Context, t *testing.T, nocVM *noc.VM, c *api.Client) {
	t.Helper()
	local, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := nocVM.Run(ctx, nocCtl(nocOpCreds, "--json status"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Exit != 0 || !strings.Contains(r.Stdout, `"boot": "`+local.Boot+`"`) && !strings.Contains(r.Stdout, `"boot":"`+local.Boot+`"`) {
		t.Errorf("keep ctl status from the NOC through the tunnel with the operator certificate: want boot %s:\n%s", local.Boot, r)
	} else {
		t.Logf("keep ctl status from the NOC LAN through the tunnel (mutual TLS, %s): boot %s, %v in the NOC guest", tunAPIAddr, local.Boot, r.Duration.Round(time.Millisecond))
	}
	for _, bad := range []struct{ name, creds, want string }{
		{"no client certificate", "--ca /etc/noc/ca.pem --server-name " + image.TestAPIServerName, "pass --cert and --key"},
		{"a certificate from another CA", nocBadCreds, "certificate"},
		{"plain HTTP", "", ""},
	} {
		r, err := nocVM.Run(ctx, nocCtl(bad.creds, "--timeout 20s status"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Exit == 0 || !strings.Contains(r.Stderr, bad.want) {
			t.Errorf("keep ctl status from the NOC with %s: want a failure saying %q:\n%s", bad.name, bad.want, r)
		} else {
			t.Logf("with %s the API refuses: %s", bad.name, strings.TrimSpace(r.Stderr))
		}
	}
}

// tunnelServiceRestart restarts the appliance's tunnel service (keep ctl
// restart tunnel): the daemon stops (Delete to the NOC) and starts
// afresh, adopting the block policies, and the new IKE SA carries
// INITIAL_CONTACT. The NOC must end with one IKE SA and one pair of ESP
// SAs (no duplicates left from before), and traffic crosses again.
func tunnelServiceRestart(ctx context.Context, t *testing.T, run tunnelRun) {
	t.Helper()
	nocVM, c := run.noc, run.c
	last := lastTunnelSeq(ctx, t, c)
	initialContacts := func() int {
		l, err := nocVM.CharonLogText(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(l, "N(INIT_CONTACT)")
	}
	contactsBefore := initialContacts()
	start := time.Now()
	if err := c.RestartService(ctx, "tunnel"); err != nil {
		t.Fatal(err)
	}
	run.waitEvent(ctx, t, last, "tunnel.up", 2*time.Minute)
	t.Logf("tunnel service restarted: up again %v after keep ctl restart tunnel", time.Since(start).Round(100*time.Millisecond))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		raw, err := nocVM.Swanctl(ctx, "--list-sas", "--raw")
		if err != nil {
			t.Fatal(err)
		}
		ikes, esp := strings.Count(raw, "state=ESTABLISHED"), strings.Count(nocVM.MustRun(t, "ip xfrm state"), "aead rfc4106(gcm(aes))")
		if ikes == 1 && esp == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart the NOC holds %d IKE SAs and %d ESP SAs, want 1 and 2:\n%s", ikes, esp, raw)
		}
	}
	if n := initialContacts(); n != contactsBefore+1 {
		t.Errorf("charon parsed %d IKE_AUTH requests with INITIAL_CONTACT since the restart, want 1", n-contactsBefore)
	}
	out := nocVM.MustRun(t, "ip netns exec lan ping -c 3 -i 0.2 -W 5 "+tunKeepAddr.String())
	if !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Errorf("NOC LAN → %s after the tunnel service restart:\n%s", tunKeepAddr, out)
	}
}
