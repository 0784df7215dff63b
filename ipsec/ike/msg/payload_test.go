package msg

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// TestPayloadTable encodes one payload of each type, compares with the wire
// octets (generic header included, written out from RFC 7296 §3) and
// decodes them back.
func TestPayloadTable(t *testing.T) {
	sig, _ := NewSignatureAuth(unhex(t, "300a06082a8648ce3d040303"), rep(0x5a, 8)) // ecdsa-with-SHA384 (RFC 7427 A.4.3)
	tests := []struct {
		name string
		p    Payload
		wire string
	}{
		{"SA/IKE", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
			Encr(ENCR_AES_GCM_16, 256), PRF(PRF_HMAC_SHA2_256), DH(CURVE_25519)}}}},
			"00000028 00000024 01010003 0300000c 01000014 800e0100 03000008 02000005 00000008 0400001f"},
		{"SA/ESP two proposals with SPI", &SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{Encr(ENCR_AES_GCM_16, 128), ESN(ESN_NO)}},
			{Number: 2, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{Encr(ENCR_AES_CBC, 256), Integ(AUTH_HMAC_SHA2_256_128), DH(ECP_256), ESN(ESN_YES)}}}},
			"00000054 02000020 01030402 01020304 0300000c 01000014 800e0080 00000008 05000000" +
				" 00000030 02030404 01020304 0300000c 0100000c 800e0100 03000008 0300000c 03000008 04000013 00000008 05000001"},
		{"SA/other attributes", &SA{Proposals: []Proposal{{Number: 7, Protocol: ProtoIKE, SPI: rep(9, 8), Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 128, Attributes: []Attribute{{Type: 99, TV: true, Value: []byte{0, 1}}, {Type: 100, Value: []byte("xyz")}}}}}}},
			"0000002b 00000027 07010801 09090909 09090909 00000017 0100000c 800e0080 80630001 00640003 78797a"},
		{"KE", &KE{Group: CURVE_25519, Data: rep(0xab, 32)}, "00000028 001f0000" + strings.Repeat("ab", 32)},
		{"KE/unknown group any size", &KE{Group: 1234, Data: []byte{1}}, "00000009 04d20000 01"},
		{"IDi/IPv4", NewIDAddr(false, netip.MustParseAddr("192.0.2.10")), "0000000c 01000000 c000020a"},
		{"IDr/IPv6", NewIDAddr(true, netip.MustParseAddr("2001:db8::1")), "00000018 05000000 20010db8 00000000 00000000 00000001"},
		{"IDi/FQDN", NewIDFQDN(false, "a.example"), "00000011 02000000 612e6578 616d706c 65"},
		{"IDr/RFC822", &ID{Responder: true, IDType: ID_RFC822_ADDR, Data: []byte("x@y")}, "0000000b 03000000 784079"},
		{"IDi/DN", &ID{IDType: ID_DER_ASN1_DN, Data: unhex(t, "3000")}, "0000000a 09000000 3000"},
		{"IDi/KEY_ID", &ID{IDType: ID_KEY_ID, Data: []byte{0xde, 0xad}}, "0000000a 0b000000 dead"},
		{"CERT", &Cert{Encoding: CertX509Signature, Data: unhex(t, "308201")}, "00000008 04308201"},
		{"CERTREQ", &CertReq{Encoding: CertX509Signature, Data: rep(0x11, 20)}, "00000019 04" + strings.Repeat("11", 20)},
		{"CERTREQ/empty", &CertReq{Encoding: CertX509Signature}, "00000005 04"},
		{"AUTH/PSK", &Auth{Method: AuthPSK, Data: rep(0x22, 32)}, "00000028 02000000" + strings.Repeat("22", 32)},
		{"AUTH/signature", sig, "0000001d 0e000000 0c300a06 082a8648 ce3d0403 03" + strings.Repeat("5a", 8)},
		{"Nonce", &Nonce{Data: rep(0x33, 16)}, "00000014" + strings.Repeat("33", 16)},
		{"N/NATD", &Notify{NotifyType: NAT_DETECTION_SOURCE_IP, Data: rep(0x44, 20)}, "0000001c 00004004" + strings.Repeat("44", 20)},
		{"N/COOKIE", NewNotify(COOKIE, []byte{1, 2, 3}), "0000000b 00004006 010203"},
		{"N/REKEY_SA", &Notify{Protocol: ProtoESP, SPI: []byte{0xc0, 0, 0, 1}, NotifyType: REKEY_SA}, "0000000c 03044009 c0000001"},
		{"N/INVALID_KE_PAYLOAD", NewInvalidKE(ECP_384), "0000000a 00000011 0014"},
		{"N/USE_TRANSPORT_MODE", NewNotify(USE_TRANSPORT_MODE, nil), "00000008 00004007"},
		{"N/HASH_ALG", NewSignatureHashAlgorithms(HashSHA2_384), "0000000a 0000402f 0003"},
		{"N/error with data", NewNotify(NO_PROPOSAL_CHOSEN, nil), "00000008 0000000e"},
		{"D/IKE", &Delete{Protocol: ProtoIKE}, "00000008 01000000"},
		{"D/ESP", &Delete{Protocol: ProtoESP, SPIs: []uint32{0xc0000001, 2}}, "00000010 03040002 c0000001 00000002"},
		{"V", &VendorID{Data: []byte("keep")}, "00000008 6b656570"},
		{"TSi/v4", &TS{Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, IPProtocol: 6, StartPort: 22, EndPort: 22,
			StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("10.0.0.9")}}},
			"00000018 01000000 07060010 00160016 0a000001 0a000009"},
		{"TSr/v6+other", &TS{Responder: true, Selectors: []TrafficSelector{{Type: TS_IPV6_ADDR_RANGE, EndPort: 0xffff,
			StartAddr: netip.MustParseAddr("::"), EndAddr: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
			{Type: TS_SECLABEL, Data: []byte("lbl")}}},
			"00000037 02000000 08000028 0000ffff" + strings.Repeat("00", 16) + strings.Repeat("ff", 16) + " 0a000007 6c626c"},
		{"EAP", &EAP{Data: unhex(t, "02070006 0100")}, "0000000a 02070006 0100"},
		{"Unknown/CP", &Unknown{PayloadType: PayloadCP, Data: []byte{1, 0, 0, 0}}, "00000008 01000000"},
		{"Unknown/critical", &Unknown{PayloadType: 200, Critical: true}, "00800004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, b, err := EncodeInner([]Payload{tt.p})
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.wire); !bytes.Equal(b, want) {
				t.Fatalf("encode:\n got %x\nwant %x", b, want)
			}
			if first != tt.p.Type() {
				t.Fatalf("first %v", first)
			}
			crit := false
			if u, ok := tt.p.(*Unknown); ok && u.Critical {
				crit = true
			}
			ps, err := DecodeInner(first, b)
			if crit {
				var ce *CriticalError
				if !errors.As(err, &ce) || ce.Type != tt.p.Type() || !errors.Is(err, ErrCritical) {
					t.Fatalf("critical: %v", err)
				}
				if n := ErrorNotify(err); n.NotifyType != UNSUPPORTED_CRITICAL_PAYLOAD || !bytes.Equal(n.Data, []byte{200}) {
					t.Fatalf("notify %+v", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], tt.p) {
				t.Fatalf("decode:\n got %#v\nwant %#v", ps[0], tt.p)
			}
		})
	}
}

func TestHeaderTable(t *testing.T) {
	hdr := "0102030405060708 1112131415161718 00 20 25 20 00000007 0000001c"
	m, err := Decode(unhex(t, hdr))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Exchange: INFORMATIONAL, Flags: FlagResponse, MessageID: 7}
	if m.Header != want || len(m.Payloads) != 0 {
		t.Fatalf("%+v", m)
	}
	// Minor version and reserved flag bits survive.
	m, err = Decode(unhex(t, "0102030405060708 1112131415161718 00 21 25 39 00000007 0000001c"))
	if err != nil || m.Header.MinorVersion != 1 || m.Header.Flags != FlagResponse|FlagVersion|FlagInitiator|1 {
		t.Fatalf("%+v %v", m, err)
	}
	if s := m.Header.Flags.String(); s != "I|V|R|0x1" {
		t.Fatal(s)
	}
	out, _ := m.Encode()
	if m2, err := Decode(out); err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatal("round trip", err)
	}
	for _, tc := range []struct {
		name, hex string
		err       error
		notify    NotifyType
	}{
		{"short", "0102030405060708 1112131415161718 00 20 25 20 00000007 0000", ErrTruncated, INVALID_SYNTAX},
		{"IKEv1", "0102030405060708 1112131415161718 00 10 25 20 00000007 0000001c", ErrVersion, 0},
		{"IKEv3", "0102030405060708 1112131415161718 00 30 25 20 00000007 0000001c", ErrVersion, INVALID_MAJOR_VERSION},
		{"length short", "0102030405060708 1112131415161718 00 20 25 20 00000007 0000001b", ErrLength, INVALID_SYNTAX},
		{"length long", "0102030405060708 1112131415161718 00 20 25 20 00000007 0000001d", ErrTruncated, INVALID_SYNTAX},
		{"length < datagram", "0102030405060708 1112131415161718 00 20 25 20 00000007 0000001c 00", ErrLength, INVALID_SYNTAX},
		{"length huge", "0102030405060708 1112131415161718 00 20 25 20 00000007 ffffffff", ErrTruncated, INVALID_SYNTAX},
	} {
		_, err := Decode(unhex(t, tc.hex))
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		n := ErrorNotify(err)
		if (n == nil && tc.notify != 0) || (n != nil && n.NotifyType != tc.notify) {
			t.Errorf("%s: notify %+v", tc.name, n)
		}
	}
}

// TestDecodeErrors feeds malformed inner chains (first payload type, then
// octets) and checks the error class.
func TestDecodeErrors(t *testing.T) {
	sa := func(s string) string { return s }
	for _, tc := range []struct {
		name  string
		first PayloadType
		hex   string
		err   error
	}{
		{"generic header short", PayloadNonce, "000000", ErrTruncated},
		{"payload length < 4", PayloadNonce, "00000003", ErrLength},
		{"payload length past end", PayloadNonce, "00000020" + strings.Repeat("00", 16), ErrTruncated},
		{"trailing octets", PayloadNonce, "00000014" + strings.Repeat("00", 16) + "00", ErrLength},
		{"next payload but no more", PayloadNonce, "28000014" + strings.Repeat("00", 16), ErrTruncated},
		{"empty chain with octets", PayloadNone, "00", ErrLength},
		{"nonce too short", PayloadNonce, "00000013" + strings.Repeat("00", 15), ErrLength},
		{"nonce too long", PayloadNonce, "00000105" + strings.Repeat("00", 257), ErrLength},
		{"SA empty", PayloadSA, "00000004", ErrMalformed},
		{"SA proposal header short", PayloadSA, "0000000b 00000008 010100", ErrTruncated},
		{"SA proposal length < 8", PayloadSA, "0000000c 00000007 01010001", ErrLength},
		{"SA proposal length past end", PayloadSA, "00000010 00000020 01010001 00000008", ErrTruncated},
		{"SA proposal last=2 but last", PayloadSA, sa("00000014 02000010 01010001 00000008 01000014"), ErrMalformed},
		{"SA proposal last=0 but more", PayloadSA, "00000024 00000010 01010001 00000008 01000014 00000010 02010001 00000008 01000014", ErrMalformed},
		{"SA proposal numbering", PayloadSA, "00000024 02000010 01010001 00000008 01000014 00000010 03010001 00000008 01000014", ErrMalformed},
		{"SA proposal number 0", PayloadSA, "00000014 00000010 00010001 00000008 01000014", ErrMalformed},
		{"SA IKE SPI size 4", PayloadSA, "00000018 00000014 01010401 01020304 00000008 01000014", ErrMalformed},
		{"SA ESP SPI size 0", PayloadSA, "00000014 00000010 01030001 00000008 01000014", ErrMalformed},
		{"SA SPI past proposal", PayloadSA, "00000010 0000000c 01030401 01020304", ErrTruncated},
		{"SA no transforms", PayloadSA, "0000000c 00000008 01010000", ErrMalformed},
		{"SA transform count > present", PayloadSA, "00000014 00000010 01010002 00000008 01000014", ErrTruncated},
		{"SA transform count < present", PayloadSA, "0000001c 00000018 01010001 00000008 01000014 00000008 01000014", ErrLength},
		{"SA transform last=3 but last", PayloadSA, "00000014 00000010 01010001 03000008 01000014", ErrMalformed},
		{"SA transform length < 8", PayloadSA, "00000014 00000010 01010001 00000007 01000014", ErrLength},
		{"SA transform length past", PayloadSA, "00000014 00000010 01010001 00000009 01000014", ErrTruncated},
		{"SA attribute truncated", PayloadSA, "00000016 00000012 01010001 0000000a 01000014 800e", ErrTruncated},
		{"SA TLV attribute past end", PayloadSA, "00000018 00000014 01010001 0000000c 01000014 00010005", ErrTruncated},
		{"SA key length TLV", PayloadSA, "0000001a 00000016 01010001 0000000e 01000014 000e0002 0100", ErrMalformed},
		{"SA key length 0", PayloadSA, "00000018 00000014 01010001 0000000c 01000014 800e0000", ErrMalformed},
		{"SA key length twice", PayloadSA, "0000001c 00000018 01010001 00000010 01000014 800e0100 800e0080", ErrMalformed},
		{"SA too many transforms", PayloadSA, "0000000c 00000008 010100ff", ErrLimit},
		{"KE short", PayloadKE, "00000007 001300", ErrLength},
		{"KE wrong size for group", PayloadKE, "00000010 00130000 0102030405060708", ErrLength},
		{"KE empty data", PayloadKE, "00000008 04d20000", ErrLength},
		{"ID IPv4 wrong size", PayloadIDi, "0000000b 01000000 c00002", ErrLength},
		{"ID IPv6 wrong size", PayloadIDr, "0000000c 05000000 20010db8", ErrLength},
		{"ID FQDN empty", PayloadIDi, "00000008 02000000", ErrLength},
		{"ID short", PayloadIDi, "00000007 020000", ErrLength},
		{"CERT empty", PayloadCERT, "00000005 04", ErrLength},
		{"CERTREQ not hashes", PayloadCERTREQ, "00000008 04010203", ErrLength},
		{"CERTREQ empty body", PayloadCERTREQ, "00000004", ErrLength},
		{"AUTH empty", PayloadAUTH, "00000008 02000000", ErrLength},
		{"AUTH signature alg len past", PayloadAUTH, "0000000b 0e000000 050102", ErrLength},
		{"AUTH signature no sig", PayloadAUTH, "0000000b 0e000000 020102", ErrLength},
		{"N short", PayloadN, "00000007 000040", ErrLength},
		{"N SPI past end", PayloadN, "00000008 03044009", ErrLength},
		{"N ESP SPI size 3", PayloadN, "0000000b 03034009 010203", ErrMalformed},
		{"N NATD short", PayloadN, "0000000c 00004004 01020304", ErrLength},
		{"N COOKIE empty", PayloadN, "00000008 00004006", ErrLength},
		{"N COOKIE too long", PayloadN, "00000049 00004006" + strings.Repeat("00", 65), ErrLength},
		{"N INVALID_KE 3", PayloadN, "0000000b 00000011 001400", ErrLength},
		{"N UNSUPPORTED_CRITICAL 0", PayloadN, "00000008 00000001", ErrLength},
		{"N HASH_ALG odd", PayloadN, "00000009 0000402f 00", ErrLength},
		{"N REKEY_SA no SPI", PayloadN, "00000008 03004009", ErrMalformed},
		{"D IKE with SPIs", PayloadD, "00000008 01000001", ErrMalformed},
		{"D ESP SPI size 8", PayloadD, "00000010 03080001 0102030405060708", ErrMalformed},
		{"D ESP count mismatch", PayloadD, "00000010 03040003 01020304 05060708", ErrLength},
		{"D ESP no SPIs", PayloadD, "00000008 03040000", ErrMalformed},
		{"D protocol 9", PayloadD, "00000008 09000000", ErrMalformed},
		{"D short", PayloadD, "00000006 0300", ErrLength},
		{"V empty", PayloadV, "00000004", ErrLength},
		{"TS empty", PayloadTSi, "00000008 00000000", ErrMalformed},
		{"TS too many", PayloadTSi, "00000008 ff000000", ErrLimit},
		{"TS count > present", PayloadTSi, "00000018 02000000 07000010 0000ffff 0a000000 0a0000ff", ErrTruncated},
		{"TS count < present", PayloadTSi, "0000001c 01000000 07000010 0000ffff 0a000000 0a0000ff 0a000004", ErrLength},
		{"TS v4 length 20", PayloadTSi, "0000001c 01000000 07000014 0000ffff 0a000000 0a0000ff 00000000", ErrLength},
		{"TS v6 length 16", PayloadTSr, "00000018 01000000 08000010 0000ffff 0a000000 0a0000ff", ErrLength},
		{"TS selector length < 4", PayloadTSr, "0000000c 01000000 09000003", ErrLength},
		{"TS selector past end", PayloadTSr, "0000000c 01000000 09000009", ErrTruncated},
		{"TS short", PayloadTSr, "00000007 010000", ErrLength},
		{"EAP short", PayloadEAP, "00000007 010203", ErrLength},
		{"EAP length mismatch", PayloadEAP, "0000000a 01020007 0000", ErrLength},
		{"SK inside SK", PayloadSK, "00000008 01020304", ErrMalformed},
		{"SKF inside SK", PayloadSKF, "0000000c 00010001 01020304", ErrMalformed},
		{"critical unknown", 100, "00800004", ErrCritical},
		{"critical CP (not understood)", PayloadCP, "00800008 01000000", ErrCritical},
	} {
		_, err := DecodeInner(tc.first, unhex(t, tc.hex))
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "payload") {
			t.Errorf("%s: error without context: %v", tc.name, err)
		}
	}
}

func TestOuterSKRules(t *testing.T) {
	hdr := func(first byte, n int) string {
		return "0102030405060708 1112131415161718 " + strings.Repeat("0", 0) +
			string("0123456789abcdef"[first>>4]) + string("0123456789abcdef"[first&15]) +
			" 20 23 08 00000001 " + strings.Repeat("0", 8-len(itoaHex(n))) + itoaHex(n)
	}
	// SK not last: SK followed by octets.
	b := unhex(t, hdr(46, 28+8+4)+" 23000008 01020304 00000004")
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("SK not last: %v", err)
	}
	// A clear payload before SK is allowed.
	b = unhex(t, hdr(43, 28+8+8)+" 2e000008 6b656570 23000008 01020304")
	m, err := Decode(b)
	if err != nil || len(m.Payloads) != 2 || m.Encrypted() == nil || m.Encrypted().NextPayload != PayloadIDi {
		t.Fatalf("V SK: %v %+v", err, m)
	}
	if out, _ := m.Encode(); !bytes.Equal(out, b) {
		t.Fatalf("re-encode %x", out)
	}
	// Empty SK body.
	if _, err := Decode(unhex(t, hdr(46, 32)+" 00000004")); !errors.Is(err, ErrLength) {
		t.Errorf("empty SK: %v", err)
	}
	// SKF number 0 and number > total.
	for _, f := range []string{"00000000", "00030002"} {
		if _, err := Decode(unhex(t, hdr(53, 28+9)+" 00000009 "+f+" 01")); !errors.Is(err, ErrMalformed) {
			t.Errorf("SKF %s: %v", f, err)
		}
	}
	// Encode refuses SK that is not last and SK in inner chains.
	sk := &Encrypted{NextPayload: PayloadIDi, Body: []byte{1}}
	if _, err := (&Message{Payloads: []Payload{sk, &VendorID{Data: []byte{1}}}}).Encode(); !errors.Is(err, ErrEncode) {
		t.Errorf("encode SK not last: %v", err)
	}
	if _, _, err := EncodeInner([]Payload{sk}); !errors.Is(err, ErrEncode) {
		t.Errorf("encode nested SK: %v", err)
	}
}

func itoaHex(n int) string {
	const d = "0123456789abcdef"
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n >>= 4 {
		s = string(d[n&15]) + s
	}
	return s
}

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Payload
	}{
		{"SA empty", &SA{}},
		{"SA numbering", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{DH(ECP_256)}}, {Number: 3, Protocol: ProtoIKE, Transforms: []Transform{DH(ECP_256)}}}}},
		{"SA number 0", &SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: []Transform{DH(ECP_256)}}}}},
		{"SA ESP SPI", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoESP, Transforms: []Transform{ESN(0)}}}}},
		{"SA no transforms", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE}}}},
		{"SA attr key length", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, ID: 12, Attributes: []Attribute{{Type: AttrKeyLength, TV: true, Value: []byte{1, 0}}}}}}}}},
		{"SA TV attr 3 octets", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{{Type: 1, ID: 12, Attributes: []Attribute{{Type: 5, TV: true, Value: []byte{1, 0, 0}}}}}}}}},
		{"KE size", &KE{Group: ECP_256, Data: []byte{1}}},
		{"ID v4 size", &ID{IDType: ID_IPV4_ADDR, Data: []byte{1}}},
		{"CERT empty", &Cert{Encoding: CertX509Signature}},
		{"CERTREQ size", &CertReq{Encoding: CertX509Signature, Data: []byte{1}}},
		{"AUTH empty", &Auth{Method: AuthPSK}},
		{"Nonce short", &Nonce{Data: []byte{1}}},
		{"N NATD", &Notify{NotifyType: NAT_DETECTION_DESTINATION_IP}},
		{"D ESP none", &Delete{Protocol: ProtoESP}},
		{"V empty", &VendorID{}},
		{"TS empty", &TS{}},
		{"TS v4 with v6", &TS{Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, StartAddr: netip.MustParseAddr("::1"), EndAddr: netip.MustParseAddr("::1")}}}},
		{"TS v6 with v4", &TS{Selectors: []TrafficSelector{{Type: TS_IPV6_ADDR_RANGE, StartAddr: netip.MustParseAddr("1.1.1.1"), EndAddr: netip.MustParseAddr("1.1.1.1")}}}},
		{"EAP bad", &EAP{Data: []byte{1, 2, 0, 9}}},
		{"Unknown with known type", &Unknown{PayloadType: PayloadNonce}},
		{"Unknown type 0", &Unknown{}},
		{"SKF number 0", &Fragment{Total: 1, Body: []byte{1}}},
		{"SK empty", &Encrypted{}},
	} {
		if _, err := (&Message{Payloads: []Payload{tc.p}}).Encode(); !errors.Is(err, ErrEncode) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := (&Message{Payloads: []Payload{nil}}).Encode(); !errors.Is(err, ErrEncode) {
		t.Errorf("nil payload: %v", err)
	}
}

func TestUnknownNonCriticalSkippedAndKept(t *testing.T) {
	// N, then an unknown non-critical payload type 210, then V.
	chain := "d2000008 00004007 2b000006 abcd 00000005 01"
	ps, err := DecodeInner(PayloadN, unhex(t, chain))
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := ps[1].(*Unknown); !ok || u.PayloadType != 210 || u.Critical || !bytes.Equal(u.Data, []byte{0xab, 0xcd}) {
		t.Fatalf("%#v", ps[1])
	}
	if _, b, _ := EncodeInner(ps); !bytes.Equal(b, unhex(t, chain)) {
		t.Fatalf("re-encode %x", b)
	}
	// The critical bit on a known payload is ignored (RFC 7296 §2.5).
	ps, err = DecodeInner(PayloadV, unhex(t, "00800005 01"))
	if err != nil || ps[0].(*VendorID).Data[0] != 1 {
		t.Fatal(err)
	}
}

func TestLookupHelpers(t *testing.T) {
	ps := []Payload{&SA{}, NewNotify(INITIAL_CONTACT, nil), NewIDFQDN(true, "x"), NewNotify(AUTHENTICATION_FAILED, nil), NewNotify(COOKIE, []byte{1})}
	if Find(ps, PayloadIDr) != ps[2] || Find(ps, PayloadIDi) != nil {
		t.Fatal("Find")
	}
	if len(FindAll(ps, PayloadN)) != 3 || len(Notifies(ps)) != 3 {
		t.Fatal("FindAll/Notifies")
	}
	if e := ErrorNotifies(ps); len(e) != 1 || e[0].NotifyType != AUTHENTICATION_FAILED {
		t.Fatal("ErrorNotifies")
	}
	if FindNotify(ps, COOKIE) != ps[4] || FindNotify(ps, REKEY_SA) != nil {
		t.Fatal("FindNotify")
	}
	if id, ok := First[*ID](ps); !ok || id != ps[2] {
		t.Fatal("First")
	}
	if _, ok := First[*KE](ps); ok {
		t.Fatal("First KE")
	}
	if a, ok := NewIDAddr(false, netip.MustParseAddr("10.1.2.3")).Addr(); !ok || a != netip.MustParseAddr("10.1.2.3") {
		t.Fatal("Addr")
	}
	if g, err := NewInvalidKE(CURVE_25519).InvalidKEGroup(); err != nil || g != CURVE_25519 {
		t.Fatal("InvalidKEGroup")
	}
	if _, err := NewNotify(COOKIE, []byte{1}).InvalidKEGroup(); err == nil {
		t.Fatal("InvalidKEGroup on COOKIE")
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{IKE_SA_INIT.String(), "IKE_SA_INIT"},
		{ExchangeType(99).String(), "EXCHANGE(99)"},
		{PayloadSKF.String(), "SKF"},
		{PayloadType(1).String(), "PAYLOAD(1)"},
		{ENCR_AES_GCM_16.String(), "ENCR_AES_GCM_16"},
		{PRF_HMAC_SHA2_512.String(), "PRF_HMAC_SHA2_512"},
		{ECP_521.String(), "ECP_521"},
		{CURVE_25519.String(), "CURVE_25519"},
		{MODP_2048.String(), "MODP_2048"},
		{ESN_YES.String(), "EXT_SEQ"},
		{TransformDH.String(), "DH"},
		{TransformIDString(TransformINTEG, 12), "AUTH_HMAC_SHA2_256_128"},
		{IKEV2_FRAGMENTATION_SUPPORTED.String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifyType(40961).String(), "NOTIFY(40961)"},
		{ID_DER_ASN1_DN.String(), "ID_DER_ASN1_DN"},
		{AuthDigitalSignature.String(), "DIGITAL_SIGNATURE"},
		{AuthPSK.String(), "PSK"},
		{CertX509Signature.String(), "X509_SIGNATURE"},
		{ProtoESP.String(), "ESP"},
		{TS_IPV6_ADDR_RANGE.String(), "TS_IPV6_ADDR_RANGE"},
		{HashSHA2_384.String(), "SHA2_384"},
		{AttrKeyLength.String(), "KEY_LENGTH"},
		{UDPIKE.String(), "IKE"},
		{Flags(0).String(), "-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q want %q", tc.got, tc.want)
		}
	}
	if !NO_PROPOSAL_CHOSEN.IsError() || INITIAL_CONTACT.IsError() {
		t.Error("IsError")
	}
	if ECP_384.PublicSize() != 96 || CURVE_25519.PublicSize() != 32 || MODP_2048.PublicSize() != 256 || DHGroup(999).PublicSize() != 0 {
		t.Error("PublicSize")
	}
}
