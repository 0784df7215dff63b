package msg

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestNarrowTS(t *testing.T) {
	p := func(s string) TrafficSelector { return TSFromPrefix(netip.MustParsePrefix(s)) }
	if got := p("10.1.0.0/24"); got.StartAddr != netip.MustParseAddr("10.1.0.0") || got.EndAddr != netip.MustParseAddr("10.1.0.255") || got.EndPort != 0xffff {
		t.Fatalf("%+v", got)
	}
	if got := p("2001:db8::/32"); got.Type != TS_IPV6_ADDR_RANGE || got.EndAddr != netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff") {
		t.Fatalf("%+v", got)
	}
	web := TrafficSelector{Type: TS_IPV4_ADDR_RANGE, IPProtocol: 6, StartPort: 443, EndPort: 443,
		StartAddr: netip.MustParseAddr("10.1.0.10"), EndAddr: netip.MustParseAddr("10.1.0.10")}
	opaque := TrafficSelector{Type: TS_IPV4_ADDR_RANGE, IPProtocol: 1, StartPort: 0xffff, EndPort: 0,
		StartAddr: netip.MustParseAddr("0.0.0.0"), EndAddr: netip.MustParseAddr("255.255.255.255")}
	for _, tc := range []struct {
		name         string
		ours, theirs []TrafficSelector
		want         []TrafficSelector
	}{
		{"same", []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("10.1.0.0/24")}},
		{"narrow to ours", []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("0.0.0.0/0")}, []TrafficSelector{p("10.1.0.0/24")}},
		{"narrow to theirs", []TrafficSelector{p("10.0.0.0/8")}, []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("10.1.0.0/24")}},
		{"disjoint", []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("10.2.0.0/24")}, nil},
		{"family", []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{p("::/0")}, nil},
		{"protocol and port", []TrafficSelector{p("10.1.0.0/24")}, []TrafficSelector{web}, []TrafficSelector{web}},
		{"protocol mismatch", []TrafficSelector{web}, []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, IPProtocol: 17, EndPort: 0xffff,
			StartAddr: netip.MustParseAddr("0.0.0.0"), EndAddr: netip.MustParseAddr("255.255.255.255")}}, nil},
		{"opaque vs any", []TrafficSelector{p("0.0.0.0/0")}, []TrafficSelector{opaque}, []TrafficSelector{opaque}},
		{"opaque vs port", []TrafficSelector{web}, []TrafficSelector{opaque}, nil},
		{"two of ours", []TrafficSelector{p("10.1.0.0/25"), p("10.1.0.128/25")}, []TrafficSelector{p("10.1.0.0/24")},
			[]TrafficSelector{p("10.1.0.0/25"), p("10.1.0.128/25")}},
	} {
		if got := NarrowTS(tc.ours, tc.theirs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v want %+v", tc.name, got, tc.want)
		}
	}
}

func TestStripDH(t *testing.T) {
	cfg := mustProps(t, ProtoESP, "aes256gcm16-ecp384-ecp256-curve25519-noesn-esn")
	stripped := StripDH(cfg)
	if stripped[0].String() != "ESP:ENCR_AES_GCM_16_256/NO_EXT_SEQ/EXT_SEQ" || cfg[0].String() == stripped[0].String() {
		t.Fatalf("%v / %v", &stripped[0], &cfg[0])
	}
	// IKE_AUTH: the peer's CHILD proposal has no DH; our PFS config matches
	// only once stripped.
	theirs := NewSA(mustProps(t, ProtoESP, "aes256gcm16-noesn-esn"), []byte{1, 2, 3, 4})
	if _, err := Choose(cfg, theirs, true); err == nil {
		t.Fatal("unstripped config matched a DH-less proposal")
	}
	if ch, err := Choose(StripDH(cfg), theirs, true); err != nil || ch.String() != "ESP:ENCR_AES_GCM_16_256/NO_EXT_SEQ" {
		t.Fatalf("%v %v", &ch, err)
	}
}
