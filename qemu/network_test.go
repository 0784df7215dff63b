package qemu

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/netcfg"
)

// The network scenarios of issue 5 that need an L2 segment shared by the
// VM and the test: the bond's two ports are QEMU stream netdevs
// connected to unix sockets this test listens on. Behind them sits
// l2Host, a tiny host in Go (a learning switch and an IP endpoint that
// speaks ARP and ICMP echo, untagged and on 802.1Q VLANs): it is what
// probes the box, and the failover is measured as the probes it loses.
// The management API stays on the user-mode NIC (eth0), so the test can
// watch the box while the bond is broken on purpose.

const (
	bondMACA = "52:54:00:aa:00:01"
	bondMACB = "52:54:00:aa:00:02"
	bondNICA = "bonda"
	bondNICB = "bondb"
	vlanID   = 100
)

var (
	hostMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	hostIP   = netip.MustParseAddr("192.168.77.1")
	guestIP  = netip.MustParseAddr("192.168.77.2")
	hostIPV  = netip.MustParseAddr("192.168.100.1")
	guestIPV = netip.MustParseAddr("192.168.100.2")
)

// bondSection is the network section the bond scenarios run: two ports
// matched by MAC and renamed, bonded active-backup, a static address,
// and VLAN 100 on the bond with its own address.
func bondSection(bondAddr string) string {
	return fmt.Sprintf(`ethernets:
  eth0:
    addresses: [10.0.2.15/24]
    routes: [{to: default, via: 10.0.2.2}]
  lana:
    match: {macaddress: "%s"}
  lanb:
    match: {macaddress: "%s"}
bonds:
  bond0:
    interfaces: [lana, lanb]
    addresses: [%s]
    parameters: {mode: active-backup, mii-monitor-interval: 100}
vlans:
  bond0.%d:
    id: %d
    link: bond0
    addresses: [%s/24]
ntp:
  servers: [%s]
`, bondMACA, bondMACB, bondAddr, vlanID, vlanID, guestIPV, hostIP)
}

// l2Host is the host end of the bond's two links.
type l2Host struct {
	t     testing.TB
	ports []*l2Port

	mu      sync.Mutex
	where   map[string]int              // learned: MAC → port
	guest   map[uint16]net.HardwareAddr // by VLAN (0: untagged)
	replies map[uint16]map[uint16]bool  // by VLAN: echo sequence numbers answered
	arps    map[uint16]int              // ARP requests for our address answered, by VLAN
	ntp     int                         // time requests answered
}

type l2Port struct {
	name string
	ln   net.Listener
	mu   sync.Mutex
	conn net.Conn
}

func newL2Host(t testing.TB, dir string, names ...string) *l2Host {
	h := &l2Host{t: t, where: map[string]int{}, guest: map[uint16]net.HardwareAddr{}, replies: map[uint16]map[uint16]bool{}, arps: map[uint16]int{}}
	for i, n := range names {
		ln, err := net.Listen("unix", filepath.Join(dir, n+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		p := &l2Port{name: n, ln: ln}
		h.ports = append(h.ports, p)
		go h.serve(i, p)
	}
	t.Cleanup(func() {
		for _, p := range h.ports {
			p.ln.Close()
			p.mu.Lock()
			if p.conn != nil {
				p.conn.Close()
			}
			p.mu.Unlock()
		}
	})
	return h
}

func (h *l2Host) path(i int) string { return h.ports[i].ln.Addr().String() }

// serve accepts QEMU's connection and reads its frames (each a 4-byte
// big-endian length and the Ethernet frame).
func (h *l2Host) serve(i int, p *l2Port) {
	c, err := p.ln.Accept()
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conn = c
	p.mu.Unlock()
	var hdr [4]byte
	buf := make([]byte, 65536)
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > uint32(len(buf)) {
			return
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		h.frame(i, append([]byte(nil), buf[:n]...))
	}
}

func (h *l2Host) ourIP(vlan uint16) netip.Addr {
	if vlan == vlanID {
		return hostIPV
	}
	return hostIP
}

func (h *l2Host) theirIP(vlan uint16) netip.Addr {
	if vlan == vlanID {
		return guestIPV
	}
	return guestIP
}

// frame handles one frame from port i.
func (h *l2Host) frame(i int, f []byte) {
	if len(f) < 14 {
		return
	}
	src := net.HardwareAddr(f[6:12])
	etype := binary.BigEndian.Uint16(f[12:14])
	payload := f[14:]
	var vlan uint16
	if etype == 0x8100 && len(payload) >= 4 {
		vlan = binary.BigEndian.Uint16(payload[0:2]) & 0x0fff
		etype = binary.BigEndian.Uint16(payload[2:4])
		payload = payload[4:]
	}
	h.mu.Lock()
	h.where[src.String()] = i
	h.mu.Unlock()
	switch etype {
	case 0x0806: // ARP
		if len(payload) < 28 {
			return
		}
		op := binary.BigEndian.Uint16(payload[6:8])
		sha := net.HardwareAddr(append([]byte(nil), payload[8:14]...))
		spa, _ := netip.AddrFromSlice(payload[14:18])
		tpa, _ := netip.AddrFromSlice(payload[24:28])
		if spa == h.theirIP(vlan) {
			h.mu.Lock()
			h.guest[vlan] = sha
			h.mu.Unlock()
		}
		if op == 1 && tpa == h.ourIP(vlan) {
			h.mu.Lock()
			h.arps[vlan]++
			h.mu.Unlock()
			h.send(vlan, sha, 0x0806, arp(2, hostMAC, tpa, sha, spa))
		}
	case 0x0800: // IPv4
		if len(payload) < 20 {
			return
		}
		ihl := int(payload[0]&0x0f) * 4
		if len(payload) < ihl+8 {
			return
		}
		if payload[9] == 17 { // UDP
			dst, _ := netip.AddrFromSlice(payload[16:20])
			udp := payload[ihl:]
			if dst == h.ourIP(vlan) && binary.BigEndian.Uint16(udp[2:4]) == 123 && len(udp) >= 8+48 {
				h.ntpReply(vlan, src, binary.BigEndian.Uint16(udp[0:2]), udp[8:8+48])
			}
			return
		}
		if payload[9] != 1 {
			return
		}
		icmp := payload[ihl:]
		if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:6]) == 0x4b45 { // echo reply to us
			seq := binary.BigEndian.Uint16(icmp[6:8])
			h.mu.Lock()
			if h.replies[vlan] == nil {
				h.replies[vlan] = map[uint16]bool{}
			}
			h.replies[vlan][seq] = true
			h.mu.Unlock()
		}
	}
}

// send writes a frame to the port where dst was last seen, or to every
// port if unknown or broadcast (an inactive bond slave drops what it
// gets, as a real switch's flooding would have it).
func (h *l2Host) send(vlan uint16, dst net.HardwareAddr, etype uint16, payload []byte) {
	f := append(append([]byte(nil), dst...), hostMAC...)
	if vlan != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, vlan)
	}
	f = binary.BigEndian.AppendUint16(f, etype)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	h.mu.Lock()
	port, known := h.where[dst.String()]
	h.mu.Unlock()
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(f)))
	msg = append(msg, f...)
	for i, p := range h.ports {
		if known && i != port {
			continue
		}
		p.mu.Lock()
		if p.conn != nil {
			p.conn.SetWriteDeadline(time.Now().Add(time.Second))
			p.conn.Write(msg)
		}
		p.mu.Unlock()
	}
}

func arp(op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := []byte{0, 1, 8, 0, 6, 4}
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(b, sha...)
	b = append(b, spa.AsSlice()...)
	b = append(b, tha...)
	return append(b, tpa.AsSlice()...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ping sends one ICMP echo request (id "KE", seq) to the guest's address
// on vlan; without the guest's MAC yet it asks for it instead.
func (h *l2Host) ping(vlan, seq uint16) {
	h.mu.Lock()
	mac := h.guest[vlan]
	h.mu.Unlock()
	if mac == nil {
		h.send(vlan, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0x0806,
			arp(1, hostMAC, h.ourIP(vlan), net.HardwareAddr{0, 0, 0, 0, 0, 0}, h.theirIP(vlan)))
		return
	}
	icmp := []byte{8, 0, 0, 0, 0x4b, 0x45, byte(seq >> 8), byte(seq)}
	icmp = append(icmp, []byte("keep-probe-keep-probe-keep-probe")...)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp)))
	ip = append(ip, h.ourIP(vlan).AsSlice()...)
	ip = append(ip, h.theirIP(vlan).AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	h.send(vlan, mac, 0x0800, append(ip, icmp...))
}

// ntpAhead is how far the test's time server is ahead of the host's
// clock: the appliance's first synchronisation must step its clock.
const ntpAhead = 3 * time.Second

// ntpReply answers an SNTP request (RFC 5905 server mode, stratum 2)
// with the host's clock plus ntpAhead.
func (h *l2Host) ntpReply(vlan uint16, dst net.HardwareAddr, port uint16, req []byte) {
	ts := func(t time.Time) uint64 {
		secs := uint64(t.Unix() + 2208988800)
		frac := uint64(t.Nanosecond()) << 32 / 1e9
		return secs<<32 | frac
	}
	now := time.Now().Add(ntpAhead)
	p := make([]byte, 48)
	p[0] = 0<<6 | 4<<3 | 4 // no leap warning, version 4, server
	p[1] = 2               // stratum
	p[2] = req[2]
	p[3] = 0xec                                  // precision 2^-20
	binary.BigEndian.PutUint32(p[4:], 1<<16/100) // root delay 10 ms
	binary.BigEndian.PutUint32(p[8:], 1<<16/100) // root dispersion 10 ms
	copy(p[12:16], hostIP.AsSlice())             // reference id
	binary.BigEndian.PutUint64(p[16:], ts(now.Add(-time.Minute)))
	copy(p[24:32], req[40:48]) // origin: the request's transmit timestamp
	binary.BigEndian.PutUint64(p[32:], ts(now))
	binary.BigEndian.PutUint64(p[40:], ts(time.Now().Add(ntpAhead)))
	udp := binary.BigEndian.AppendUint16(nil, 123)
	udp = binary.BigEndian.AppendUint16(udp, port)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(p)))
	udp = append(udp, 0, 0) // no checksum (IPv4 allows it)
	udp = append(udp, p...)
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip = append(ip, h.ourIP(vlan).AsSlice()...)
	ip = append(ip, h.theirIP(vlan).AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	h.mu.Lock()
	h.ntp++
	h.mu.Unlock()
	h.send(vlan, dst, 0x0800, append(ip, udp...))
}

func (h *l2Host) answered(vlan, seq uint16) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.replies[vlan][seq]
}

// reachable pings until the guest answers on vlan or ctx ends.
func (h *l2Host) reachable(ctx context.Context, vlan uint16, seq *uint16) error {
	for {
		*seq++
		s := *seq
		h.ping(vlan, s)
		for i := 0; i < 10; i++ {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s on VLAN %d does not answer pings: %w", h.theirIP(vlan), vlan, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
			if h.answered(vlan, s) {
				return nil
			}
		}
	}
}

// unreachable checks that n pings, 100 ms apart, all go unanswered.
func (h *l2Host) unreachable(vlan uint16, seq *uint16, n int) error {
	first := *seq + 1
	for i := 0; i < n; i++ {
		*seq++
		h.ping(vlan, *seq)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for s := first; s <= *seq; s++ {
		if h.answered(vlan, s) {
			return fmt.Errorf("%s answered probe %d", h.theirIP(vlan), s)
		}
	}
	return nil
}

// bondMachine is the default appliance plus the bond's two NICs, each
// connected to one of host's ports.
func bondMachine(t *testing.T, dir string, host *l2Host, extraAppend ...string) Machine {
	kernel, initrd, _ := applianceDeps(t)
	m := Appliance(ApplianceSpec{Kernel: kernel, Initrd: initrd, Dir: dir, Disks: 6, DiskBytes: dataDiskBytes, BMC: true, Append: extraAppend})
	m.NICs = append(m.NICs,
		NIC{ID: bondNICA, Kind: NICStream, MAC: bondMACA, Connect: host.path(0)},
		NIC{ID: bondNICB, Kind: NICStream, MAC: bondMACB, Connect: host.path(1)})
	return m
}

func linkNamed(n api.Network, name string) (netcfg.LinkInfo, bool) {
	for _, l := range n.Links {
		if l.Name == name {
			return l, true
		}
	}
	return netcfg.LinkInfo{}, false
}

// netState is the network state a re-apply must not change: the links
// without their counters (traffic moves them), and the routes.
func netState(n api.Network) any {
	links := make([]netcfg.LinkInfo, len(n.Links))
	for i, l := range n.Links {
		l.Counters = netcfg.LinkStats{}
		links[i] = l
	}
	return struct {
		Links  []netcfg.LinkInfo
		Routes []netcfg.RouteInfo
	}{links, n.Routes}
}

// Issue 5, scenarios 1, 3, 4 and 5 on one boot: a bond of two NICs
// (active-backup, static address) with a VLAN on it is reachable from
// the host; re-applying the running configuration changes nothing; a
// bad configuration applied on probation and not confirmed is rolled
// back (with an event) and the box is reachable again; pulling the
// active port's cable fails over within a second with few lost probes.
func TestScenarioBond(t *testing.T) {
	dir := shortTempDir(t)
	host := newL2Host(t, dir, "a", "b")
	vm, c, _ := bootMachine(t, true, bondMachine(t, dir, host, configArg("network:\n"+indent(bondSection(guestIP.String()+"/24")))))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var seq uint16

	// Scenario 1/3: the bond and the VLAN answer the host.
	n, err := c.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bond, ok := linkNamed(n, "bond0")
	if !ok || bond.Bond == nil || bond.Bond.Mode != "active-backup" || bond.Bond.ActiveSlave == "" || !strings.Contains(strings.Join(bond.Addresses, ","), guestIP.String()+"/24") {
		t.Fatalf("bond0: %+v (present %v)", bond, ok)
	}
	for _, port := range []string{"lana", "lanb"} {
		if l, ok := linkNamed(n, port); !ok || l.Master != "bond0" {
			t.Fatalf("%s: %+v (present %v): want a member of bond0", port, l, ok)
		}
	}
	vl, ok := linkNamed(n, fmt.Sprintf("bond0.%d", vlanID))
	if !ok || vl.VLAN == nil || vl.VLAN.ID != vlanID || vl.VLAN.Link != "bond0" || !strings.Contains(strings.Join(vl.Addresses, ","), guestIPV.String()) {
		t.Fatalf("vlan: %+v (present %v)", vl, ok)
	}
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	if err := host.reachable(rctx, 0, &seq); err != nil {
		t.Fatal(err)
	}
	if err := host.reachable(rctx, vlanID, &seq); err != nil {
		t.Fatal(err)
	}
	rcancel()
	t.Logf("bond0 %s and bond0.%d %s answer the host; active slave %s", guestIP, vlanID, guestIPV, bond.Bond.ActiveSlave)
	// Time: the configured server (the test's, on the bond's network)
	// synchronises the clock; the first synchronisation steps it.
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	synced, _ := waitEvent(t, tctx, c, "time.synced", 0)
	tcancel()
	jumps, err := c.Events(ctx, api.EventQuery{Kind: "time.jump"})
	if err != nil || len(jumps) == 0 || jumps[0].Fields["stepped"] != "true" {
		t.Errorf("time.jump events %+v (%v): the first synchronisation should step the clock %v ahead", jumps, err, ntpAhead)
	}
	if n, err := c.Network(ctx); err != nil || n.Time == nil || !n.Time.Synced || n.Time.Server != hostIP.String() {
		t.Errorf("time status %+v (%v)", n.Time, err)
	}
	var jumpMsgs []string
	for _, j := range jumps {
		jumpMsgs = append(jumpMsgs, j.Message)
	}
	t.Logf("clock: %s; jumps %q", synced.Message, jumpMsgs)
	evs, err := c.Events(ctx, api.EventQuery{Kind: "network.changed"})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no network.changed events for the boot's apply: %v %v", evs, err)
	}
	if out, code := ctl(t, vm, "net"); code != 0 || !strings.Contains(out, "bond bond0: active-backup") || !strings.Contains(out, "vlan bond0.100: id 100 on bond0") {
		t.Errorf("keep ctl net (exit %d):\n%s", code, out)
	}

	// Scenario 5: the running configuration again changes nothing.
	t.Run("reapply", func(t *testing.T) {
		before, err := c.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "running.yaml")
		if err := os.WriteFile(file, []byte(bondSection(guestIP.String()+"/24")), 0o644); err != nil {
			t.Fatal(err)
		}
		seq0 := lastSeq(t, ctx, c)
		out, code := ctl(t, vm, "net", "apply", file, "--confirm-within", "60s")
		if code != 0 || !strings.HasPrefix(out, "pending: 0 change(s)") {
			t.Fatalf("keep ctl net apply of the running configuration (exit %d):\n%s", code, out)
		}
		out, code = ctl(t, vm, "net", "confirm")
		if code != 0 || !strings.HasPrefix(out, "confirmed: 0 change(s)") {
			t.Fatalf("keep ctl net confirm (exit %d):\n%s", code, out)
		}
		t.Logf("confirm: %s", strings.TrimSpace(out))
		after, err := c.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(netState(before), netState(after)) {
			t.Errorf("netlink state changed by re-applying the running configuration:\nbefore %+v\nafter  %+v", netState(before), netState(after))
		}
		if evs, _ := c.Events(ctx, api.EventQuery{Kind: "network.changed", After: seq0}); len(evs) != 0 {
			t.Errorf("re-apply made changes: %+v", evs)
		}
		waitEvent(t, ctx, c, "network.confirmed", seq0)
	})

	// Scenario 4: a configuration that moves the bond to another
	// network, not confirmed: the box is cut off for the probation, then
	// back with the previous configuration, and an event says so.
	t.Run("rollback", func(t *testing.T) {
		seq0 := lastSeq(t, ctx, c)
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte("network:\n"+indent(bondSection("192.168.78.2/24"))), 0o644); err != nil {
			t.Fatal(err)
		}
		within := 15 * time.Second
		start := time.Now()
		out, code := ctl(t, vm, "net", "apply", bad, "--confirm-within", within.String())
		if code != 0 || !strings.HasPrefix(out, "pending:") || !strings.Contains(out, "192.168.78.2/24") {
			t.Fatalf("keep ctl net apply (exit %d):\n%s", code, out)
		}
		t.Logf("applied on probation:\n%s", out)
		if n, err := c.Network(ctx); err != nil || n.Pending == nil {
			t.Errorf("pending: %+v %v", n.Pending, err)
		}
		if err := host.unreachable(0, &seq, 10); err != nil {
			t.Errorf("during probation: %v", err)
		}
		ev, seen := waitEvent(t, ctx, c, "network.rolled_back", seq0)
		t.Logf("rolled back %v after the apply (confirm within %v): %s", seen.Sub(start).Round(100*time.Millisecond), within, ev.Message)
		if seen.Sub(start) < within || ev.Severity != events.Warning || !strings.Contains(ev.Message, "not confirmed") {
			t.Errorf("rollback event %+v seen %v after the apply", ev, seen.Sub(start))
		}
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		if err := host.reachable(rctx, 0, &seq); err != nil {
			t.Fatalf("after the rollback: %v", err)
		}
		n, err := c.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := linkNamed(n, "bond0")
		if got := strings.Join(b.Addresses, ","); strings.Contains(got, "192.168.78.2") || !strings.Contains(got, guestIP.String()) {
			t.Errorf("bond0 addresses after the rollback: %s", got)
		}
		if n.Pending != nil {
			t.Errorf("still pending: %+v", n.Pending)
		}
		if _, code := ctl(t, vm, "net", "confirm"); code == 0 {
			t.Errorf("confirm after the rollback succeeded")
		}
	})

	// Scenario 1: pull the active port's cable while probing every 50 ms.
	t.Run("failover", func(t *testing.T) {
		n, err := c.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := linkNamed(n, "bond0")
		active := b.Bond.ActiveSlave
		nic := map[string]string{"lana": bondNICA, "lanb": bondNICB}[active]
		if nic == "" {
			t.Fatalf("active slave %q is neither lana nor lanb", active)
		}
		seq0 := lastSeq(t, ctx, c)
		hist0, err := c.NetworkHistory(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var sent []uint16
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				seq++
				host.ping(0, seq)
				sent = append(sent, seq)
			}
		}()
		time.Sleep(2 * time.Second)
		start := time.Now()
		if err := vm.QMP().SetLink(ctx, NICDeviceID(nic), false); err != nil {
			t.Fatal(err)
		}
		line := "bond0 failover: active slave " + active + " -> "
		if err := vm.Console().ExpectString(ctx, line); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		ev, _ := waitEvent(t, ctx, c, "network.bond_failover", seq0)
		time.Sleep(3 * time.Second)
		close(stop)
		wg.Wait()
		time.Sleep(500 * time.Millisecond)
		lost, first, last := 0, -1, -1
		for i, s := range sent {
			if !host.answered(0, s) {
				lost++
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		t.Logf("failover %s -> %s: console line %v after set_link down; event %q; %d of %d probes (50 ms apart) lost (outage ≈ %d ms)",
			active, ev.Fields["to"], took.Round(time.Millisecond), ev.Message, lost, len(sent), (last-first+1)*50*boolInt(lost > 0))
		if ev.Fields["from"] != active || ev.Fields["to"] == active || ev.Fields["to"] == "" {
			t.Errorf("failover event fields %v", ev.Fields)
		}
		if took > 5*time.Second {
			t.Errorf("failover reported after %v: the monitor is not event-driven", took)
		}
		if lost > 20 {
			t.Errorf("%d probes lost: traffic did not continue over the other port", lost)
		}
		// The tail of the run must be answered: traffic goes on.
		for _, s := range sent[len(sent)-10:] {
			if !host.answered(0, s) {
				t.Errorf("probe %d after the failover unanswered", s)
			}
		}
		// The VLAN rides the bond: it answers over the new port too.
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		if err := host.reachable(rctx, vlanID, &seq); err != nil {
			t.Errorf("after the failover: %v", err)
		}
		if err := vm.QMP().SetLink(ctx, NICDeviceID(nic), true); err != nil {
			t.Fatal(err)
		}
		// Bandwidth accounting counted the probes on the bond: the
		// samples taken since the probing began, once one more is in
		// after it ended, add up to at least the probes answered.
		n0 := len(hist0.Links["bond0"])
		stopped := len(host.historyOf(t, ctx, c, "bond0", 0))
		samples := host.historyOf(t, ctx, c, "bond0", stopped+1)
		interval, _ := time.ParseDuration(hist0.Interval)
		var received float64
		for _, r := range samples[n0:] {
			received += r.RxPps * interval.Seconds()
		}
		if answered := len(sent) - lost; received < float64(answered) {
			t.Errorf("bond0 history counts %.0f packets received since the probing began, fewer than the %d probes answered: %+v", received, answered, samples[n0:])
		} else {
			t.Logf("bond0 history: %.0f packets received over %d samples of %s while %d probes were answered", received, len(samples)-n0, interval, answered)
		}
		if out, code := ctl(t, vm, "net"); code != 0 || !strings.Contains(out, "rates (last 5s)") || !strings.Contains(out, "time: synchronised") {
			t.Errorf("keep ctl net (exit %d):\n%s", code, out)
		}
	})

	// An orderly shutdown writes the clock to the RTC.
	powerOff(t, ctx, vm, c)
	if !strings.Contains(vm.Console().Tail(200), "RTC set from the system clock") {
		t.Errorf("no RTC write at shutdown:\n%s", vm.Console().Tail(40))
	}
}

// historyOf polls a link's rate history until it holds at least n
// samples.
func (h *l2Host) historyOf(t *testing.T, ctx context.Context, c *api.Client, link string, n int) []api.LinkRate {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hist, err := c.NetworkHistory(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := hist.Links[link]; len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s history has %d samples after 20 s, want %d", link, len(hist.Links[link]), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// Issue 5, scenario 2 with static name servers: DHCP on the user network
// gives the address and its server's DNS, merged after the
// configuration's own servers in resolv.conf; without time servers
// (QEMU's DHCP offers none) the clock is reported unsynchronised.
func TestScenarioDHCPNameservers(t *testing.T) {
	_, c, _ := bootAppliance(t, true, configArg("network: {ethernets: {eth0: {dhcp4: true, addresses: [], routes: [], nameservers: {addresses: [192.0.2.53], search: [example.net]}}}}\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitEvent(t, ctx, c, "network.lease_acquired", 0)
	n, err := c.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Leases) != 1 || n.Leases[0].Address != "10.0.2.15/24" {
		t.Errorf("leases %+v", n.Leases)
	}
	if got := strings.Join(n.DNS, " "); got != "192.0.2.53 10.0.2.3" {
		t.Errorf("dns %q: want the configured server first, then the lease's", got)
	}
	ev, _ := waitEvent(t, ctx, c, "time.unsynced", 0)
	if !strings.Contains(ev.Message, "no time servers") {
		t.Errorf("time.unsynced: %s", ev.Message)
	}
	if n.Time == nil || n.Time.Synced {
		t.Errorf("time %+v", n.Time)
	}
}

// TestScenarioNetworkConfigPersists: a network configuration applied and
// kept (here without probation) is written to the data vault and runs
// again after a reboot, once the vault is mounted.
func TestScenarioNetworkConfigPersists(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := storageMachine(t, dir, nil)
	m.Initrd = os.Getenv("KEEP_INITRD") // the product image: no oracle needed
	vm, c, _ := bootMachine(t, true, m)
	// The image's eth0 plus a second address and a static name server.
	conf := filepath.Join(t.TempDir(), "net.yaml")
	if err := os.WriteFile(conf, []byte(`network:
  ethernets:
    eth0:
      addresses: [10.0.2.15/24, 10.0.2.16/24]
      routes: [{to: default, via: 10.0.2.2}]
      nameservers: {addresses: [192.0.2.53]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := ctl(t, vm, "net", "apply", conf); code != 0 {
		t.Fatalf("keep ctl net apply: exit %d\n%s", code, out)
	}
	applied, _ := waitEvent(t, ctx, c, "network.applied", 0)
	if !strings.HasSuffix(applied.Fields["persisted"], "/vault/.keep/network.yaml") {
		t.Fatalf("not persisted on the vault: %+v", applied)
	}
	powerOff(t, ctx, vm, c)

	vm2, c2, _ := bootMachine(t, true, m)
	waitEvent(t, ctx, c2, "network.restored", 0)
	n, err := c2.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	has := false
	for _, l := range n.Links {
		if l.Name == "eth0" && slices.Contains(l.Addresses, "10.0.2.16/24") {
			has = true
		}
	}
	if !has || !slices.Contains(n.DNS, "192.0.2.53") {
		t.Errorf("after the reboot the confirmed configuration is not running: links %+v dns %v", n.Links, n.DNS)
	}
	// The API's own traffic is accounted as the management class (the
	// sampler runs every 5 s; these very requests are the traffic).
	for {
		n, err := c2.Network(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(n.Rates, func(r api.LinkRate) bool { return r.Link == "class:management" })
		if i >= 0 && n.Rates[i].TxBps > 0 && n.Rates[i].RxBps > 0 {
			t.Logf("management traffic: %+v", n.Rates[i])
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no management class in the rates: %+v", n.Rates)
		case <-time.After(time.Second):
		}
	}
	powerOff(t, ctx, vm2, c2)
}
