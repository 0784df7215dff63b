package noc

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetupTime(t *testing.T) {
	log := `2026-12-03 07:40:01.100 05[CFG] vici initiate CHILD_SA 'noc-lan'
2026-12-03 07:40:01.250 06[IKE] <noc-psk|1> initiating IKE_SA noc-psk[1] to 203.0.113.1
2026-12-03 07:40:01.900 09[IKE] <noc-psk|1> IKE_SA noc-psk[1] established between 203.0.113.2[vault]...203.0.113.1[noc]
2026-12-03 07:40:02.268 09[IKE] <noc-psk|1> CHILD_SA noc-lan{1} established with SPIs c1_i c2_o and TS 10.2.0.0/24 === 10.1.0.0/24
`
	d, err := SetupTime(log)
	if err != nil || d != 1018*time.Millisecond {
		t.Fatalf("SetupTime = %v, %v; want 1.018s", d, err)
	}
	two := log + strings.ReplaceAll(strings.ReplaceAll(log, "07:40:01", "07:41:01"), "07:40:02", "07:41:01")
	if ds, err := SetupTimes(two); err != nil || len(ds) != 2 || ds[0] != 1018*time.Millisecond || ds[1] != 18*time.Millisecond {
		t.Fatalf("SetupTimes = %v, %v", ds, err)
	}
	if _, err := SetupTime("2026-12-03 07:40:01.250 06[IKE] initiating IKE_SA x[1] to 1.2.3.4\n"); err == nil {
		t.Error("no CHILD_SA: want an error")
	}
	if _, err := SetupTime("no timestamps here\n"); err == nil {
		t.Error("no initiation: want an error")
	}
}

func TestSwanctlConf(t *testing.T) {
	s := PSKSite{Conn: "vault-psk", Child: "vault-lan", Local: netip.MustParseAddr("203.0.113.1"), Remote: netip.MustParseAddr("203.0.113.2"),
		LocalID: "noc.example.net", RemoteID: "vault-01.example.net",
		LocalTS: netip.MustParsePrefix("10.1.0.0/24"), RemoteTS: netip.MustParsePrefix("10.2.0.0/24"),
		PSK: []byte("secret"), Extra: []string{"dpd_delay = 5s"}}
	c := s.SwanctlConf()
	for _, want := range []string{"vault-psk {", "version = 2", "local_addrs = 203.0.113.1", "remote_addrs = 203.0.113.2",
		"proposals = aes256gcm16-prfsha384-ecp384", "dpd_delay = 5s", "id = noc.example.net", "id = vault-01.example.net",
		"vault-lan {", "local_ts = 10.1.0.0/24", "remote_ts = 10.2.0.0/24", "esp_proposals = aes256gcm16-ecp384",
		"secret = 0sc2VjcmV0"} {
		if !strings.Contains(c, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, c)
		}
	}
	if strings.Count(c, "{") != strings.Count(c, "}") {
		t.Errorf("unbalanced braces:\n%s", c)
	}
}

// pcapOf builds a little-endian Ethernet pcap from frames.
func pcapOf(frames ...[]byte) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	b.Write(hdr)
	for _, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	return b.Bytes()
}

func ipv4Frame(proto byte, l4 []byte) []byte {
	f := make([]byte, 14+20)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	f[14+9] = proto
	copy(f[14+12:], []byte{203, 0, 113, 2, 203, 0, 113, 1})
	return append(f, l4...)
}

func udp(sp, dp uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sp)
	binary.BigEndian.PutUint16(h[2:], dp)
	return append(h, payload...)
}

func TestClassifyPcap(t *testing.T) {
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	icmp := ipv4Frame(1, []byte{8, 0, 0, 0})
	data := pcapOf(
		icmp, // skipped
		arp,
		ipv4Frame(17, udp(500, 500, []byte{1, 2, 3, 4, 5})),
		ipv4Frame(17, udp(4500, 4500, []byte{0, 0, 0, 0, 9, 9})), // IKE behind the non-ESP marker
		ipv4Frame(17, udp(4500, 4500, []byte{0xc0, 1, 2, 3, 0, 0, 0, 1})),
		ipv4Frame(17, udp(4500, 4500, []byte{0xff})),
		ipv4Frame(50, []byte{1, 2, 3, 4, 0, 0, 0, 1}),
	)
	c, err := ClassifyPcap(data, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := WANCapture{Frames: 6, IKE: 1, NATTIKE: 1, NATTESP: 1, Keepalive: 1, ESP: 1, ARP: 1}
	if c.Frames != want.Frames || c.IKE != 1 || c.NATTIKE != 1 || c.NATTESP != 1 || c.Keepalive != 1 || c.ESP != 1 || c.ARP != 1 || !c.OnlyIPsec() {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	c, err = ClassifyPcap(data, 0)
	if err != nil || c.OnlyIPsec() || len(c.Other) != 1 || !strings.Contains(c.Other[0], "IP proto 1") {
		t.Fatalf("with the ICMP frame: %+v %v", c, err)
	}
	// An ICMP error names what it answers.
	quoted := ipv4Frame(17, udp(500, 4500, nil))[14:]
	unreach := ipv4Frame(1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, quoted...))
	if c, _ := ClassifyPcap(pcapOf(unreach), 0); len(c.Other) != 1 || !strings.Contains(c.Other[0], "ICMP type 3 code 3") ||
		!strings.Contains(c.Other[0], "quoting proto 17") || !strings.Contains(c.Other[0], "ports 500 > 4500") {
		t.Fatalf("ICMP port unreachable: %+v", c.Other)
	}
	v6 := make([]byte, 54)
	binary.BigEndian.PutUint16(v6[12:], 0x86dd)
	if c, _ := ClassifyPcap(pcapOf(v6, ipv4Frame(17, udp(53, 53, nil))), 0); len(c.Other) != 2 {
		t.Fatalf("IPv6 and DNS must be reported: %+v", c)
	}
	if _, err := ClassifyPcap([]byte("not a pcap file at all....."), 0); err == nil {
		t.Fatal("bad magic accepted")
	}
	if n, err := PcapFrames(data); err != nil || n != 7 {
		t.Fatalf("PcapFrames = %d, %v", n, err)
	}
}

// The overlay archive is a newc cpio of the files with their parents; the
// initrd is the base padded to 4 bytes, then the overlay.
func TestInitrdOverlay(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.cpio")
	if err := os.WriteFile(base, []byte("07070"), 0o644); err != nil { // 5 bytes: needs padding
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initrd")
	files := []File{{Path: "/noc/a.txt", Data: []byte("inline")}, {Path: "/noc/bin/x", Source: src, Mode: 0o755}}
	if err := writeInitrd(out, base, files); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("07070\x00\x00\x00070701")) {
		t.Fatalf("initrd does not start with the padded base and a newc header: %q", b[:20])
	}
	for _, want := range []string{"noc/a.txt\x00", "inline", "noc/bin/x\x00", "from host", "TRAILER!!!"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("overlay lacks %q", want)
		}
	}
	if err := writeInitrd(out, base, []File{{Path: "relative", Data: nil}}); err == nil {
		t.Error("relative guest path accepted")
	}
}

// The image on disk is reused when its inputs are unchanged and rewritten
// when the file no longer matches them.
func TestImageCache(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the host's strongSwan and module tree; skipped with -short")
	}
	spec := ImageSpec{OutDir: t.TempDir()}
	build := func() *Image {
		t.Helper()
		imageMu.Lock()
		delete(imageCache, spec)
		imageMu.Unlock()
		img, err := BuildImage(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	first := build()
	if !first.Fresh {
		t.Fatal("first build into an empty directory did not write the image")
	}
	second := build()
	if second.Fresh || second.Hash != first.Hash {
		t.Fatalf("unchanged inputs: fresh=%t hash %s vs %s", second.Fresh, second.Hash, first.Hash)
	}
	if err := os.WriteFile(first.Path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := build()
	if !third.Fresh {
		t.Fatal("a stale image file was reused")
	}
	if st, err := os.Stat(third.Path); err != nil || st.Size() != third.Bytes {
		t.Fatalf("rewritten image: %v %v", st, err)
	}
}

// A missing kernel is an error naming the fix, before anything is built.
func TestStartWithoutKernel(t *testing.T) {
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Kernel: "/nonexistent/vmlinux"})
	if err == nil || !strings.Contains(err.Error(), "make image") {
		t.Fatalf("Start without a kernel: %v", err)
	}
}
