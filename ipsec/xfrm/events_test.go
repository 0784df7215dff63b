package xfrm

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// A MAPPING message as the kernel's xfrm_send_mapping builds it; the host
// kernel cannot produce one (no ESP), so the layout is checked here against
// <linux/xfrm.h> and the event itself in the QEMU guest.
func TestParseMapping(t *testing.T) {
	b := make([]byte, sizeofMapping)
	copy(b[0:4], []byte{203, 0, 113, 2})             // id.daddr
	binary.BigEndian.PutUint32(b[16:20], 0xc1234567) // id.spi
	nl.NativeEndian().PutUint16(b[20:22], unix.AF_INET)
	b[22] = unix.IPPROTO_ESP
	nl.NativeEndian().PutUint32(b[24:28], 0x4b450001) // reqid
	copy(b[28:32], []byte{198, 51, 100, 7})           // old_saddr
	copy(b[44:48], []byte{198, 51, 100, 8})           // new_saddr
	binary.BigEndian.PutUint16(b[60:62], 4500)
	binary.BigEndian.PutUint16(b[62:64], 40252)
	ev, ok := parseEvent(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: nl.XFRM_MSG_MAPPING}, Data: b})
	want := Event{Kind: EventMapping, SA: SAID{Dst: netip.MustParseAddr("203.0.113.2"), SPI: 0xc1234567}, Reqid: 0x4b450001,
		OldAddr: netip.MustParseAddrPort("198.51.100.7:4500"), NewAddr: netip.MustParseAddrPort("198.51.100.8:40252")}
	if !ok || ev != want {
		t.Fatalf("got %v %t, want %v", ev, ok, want)
	}
	if _, ok := parseEvent(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: nl.XFRM_MSG_MAPPING}, Data: b[:63]}); ok {
		t.Fatal("short message accepted")
	}
}

func TestParseExpire(t *testing.T) {
	if nl.SizeofXfrmUserExpire != sizeofUserExpire {
		t.Fatalf("xfrm_user_expire is %d bytes, netlink says %d", sizeofUserExpire, nl.SizeofXfrmUserExpire)
	}
	var e nl.XfrmUserExpire
	e.XfrmUsersaInfo.Family = unix.AF_INET6
	copy(e.XfrmUsersaInfo.Id.Daddr[:], netip.MustParseAddr("2001:db8::2").AsSlice())
	copy(e.XfrmUsersaInfo.Saddr[:], netip.MustParseAddr("2001:db8::1").AsSlice())
	e.XfrmUsersaInfo.Id.Spi = nl.Swap32(0xc0000001)
	e.XfrmUsersaInfo.Id.Proto = unix.IPPROTO_ESP
	e.XfrmUsersaInfo.Reqid = 9
	e.Hard = 0
	b := append([]byte(nil), e.Serialize()...)
	ev, ok := parseEvent(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: nl.XFRM_MSG_EXPIRE}, Data: b})
	want := Event{Kind: EventSoftExpire, SA: SAID{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SPI: 0xc0000001}, Reqid: 9}
	if !ok || ev != want {
		t.Fatalf("got %v %t, want %v", ev, ok, want)
	}
	if _, ok := parseEvent(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: nl.XFRM_MSG_EXPIRE}, Data: b[:100]}); ok {
		t.Fatal("short message accepted")
	}
}
