package msg

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestStrongSwanIKESAInitRequest(t *testing.T) {
	b := readHex(t, "strongswan_ike_sa_init_request.hex")
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := Header{SPIi: 0x5f3a9c21d40e77b8, Exchange: IKE_SA_INIT, Flags: FlagInitiator}
	if m.Header != wantHdr {
		t.Fatalf("header %+v, want %+v", m.Header, wantHdr)
	}
	var types []PayloadType
	for _, p := range m.Payloads {
		types = append(types, p.Type())
	}
	wantTypes := []PayloadType{PayloadSA, PayloadKE, PayloadNonce, PayloadN, PayloadN, PayloadN, PayloadN, PayloadN, PayloadV}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Fatalf("payloads %v, want %v", types, wantTypes)
	}
	sa, ok := First[*SA](m.Payloads)
	if !ok {
		t.Fatal("no SA")
	}
	want, err := ParseProposals(ProtoIKE, "aes256gcm16-prfsha384-ecp384")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sa.Proposals, want) {
		t.Fatalf("SA %v, want %v", sa.Proposals, want)
	}
	ke := Find(m.Payloads, PayloadKE).(*KE)
	if ke.Group != ECP_384 || len(ke.Data) != 96 || ke.Data[0] != 0x06 || ke.Data[95] != 0x12 {
		t.Fatalf("KE %v len %d", ke.Group, len(ke.Data))
	}
	if n := Find(m.Payloads, PayloadNonce).(*Nonce); len(n.Data) != 32 {
		t.Fatalf("nonce %d octets", len(n.Data))
	}
	natS := FindNotify(m.Payloads, NAT_DETECTION_SOURCE_IP)
	if natS == nil || !bytes.Equal(natS.Data, unhex(t, "2df09be092fe57a9243d1c4285baf19490444ef1")) {
		t.Fatalf("NATD_S_IP %v", natS)
	}
	if FindNotify(m.Payloads, NAT_DETECTION_DESTINATION_IP) == nil ||
		FindNotify(m.Payloads, IKEV2_FRAGMENTATION_SUPPORTED) == nil ||
		FindNotify(m.Payloads, REDIRECT_SUPPORTED) == nil {
		t.Fatal("missing status notify")
	}
	hs, err := FindNotify(m.Payloads, SIGNATURE_HASH_ALGORITHMS).HashAlgorithms()
	if err != nil || !reflect.DeepEqual(hs, []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity}) {
		t.Fatalf("hash algorithms %v %v", hs, err)
	}
	if len(Notifies(m.Payloads)) != 5 || len(ErrorNotifies(m.Payloads)) != 0 {
		t.Fatal("notify counts")
	}
	v := Find(m.Payloads, PayloadV).(*VendorID)
	if !bytes.Equal(v.Data, unhex(t, "882fe56d6fd20dbc2251613b2ebe5beb")) {
		t.Fatalf("vendor ID %x", v.Data)
	}
	// Canonical input: re-encoding gives the same octets.
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("re-encode differs:\n got %x\nwant %x", out, b)
	}
	// Our responder configuration (as the NOC's swanctl.conf) accepts it.
	ours, err := ParseProposals(ProtoIKE, "aes256gcm16-prfsha384-prfsha256-ecp384-ecp256-curve25519")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Choose(ours, sa, true)
	if err != nil {
		t.Fatal(err)
	}
	if ch.String() != "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384" || ch.Number != 1 {
		t.Fatalf("chose %v #%d", &ch, ch.Number)
	}
	if ch.DHGroup() != ke.Group {
		t.Fatal("chosen group differs from KE group")
	}
}

func TestStrongSwanIKESAInitResponse(t *testing.T) {
	b := readHex(t, "strongswan_ike_sa_init_response.hex")
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Header.IsResponse() || m.Header.IsInitiator() || m.Header.SPIr != 0xc1e25b07a9d4f063 {
		t.Fatalf("header %+v", m.Header)
	}
	offered, _ := ParseProposals(ProtoIKE, "aes256gcm16-prfsha384-ecp384")
	ch, err := VerifyChosen(offered, Find(m.Payloads, PayloadSA).(*SA))
	if err != nil {
		t.Fatal(err)
	}
	if ch.DHGroup() != ECP_384 {
		t.Fatal(ch.String())
	}
	cr := Find(m.Payloads, PayloadCERTREQ).(*CertReq)
	if cr.Encoding != CertX509Signature || len(cr.Authorities()) != 1 {
		t.Fatalf("CERTREQ %+v", cr)
	}
	for _, nt := range []NotifyType{NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP, IKEV2_FRAGMENTATION_SUPPORTED,
		SIGNATURE_HASH_ALGORITHMS, CHILDLESS_IKEV2_SUPPORTED, MULTIPLE_AUTH_SUPPORTED} {
		if FindNotify(m.Payloads, nt) == nil {
			t.Errorf("missing N(%v)", nt)
		}
	}
	if out, err := m.Encode(); err != nil || !bytes.Equal(out, b) {
		t.Fatalf("re-encode: %v", err)
	}
}

func TestStrongSwanIKEAuthEncrypted(t *testing.T) {
	b := readHex(t, "strongswan_ike_auth_request.hex")
	plain := readHex(t, "strongswan_ike_auth_request.plain.hex")
	a := fixtureAEAD(t)

	// On port 4500 it arrives behind the non-ESP marker.
	kind, ike := ClassifyUDP4500(AppendNonESPMarker(nil, b))
	if kind != UDPIKE || !bytes.Equal(ike, b) {
		t.Fatalf("classified %v", kind)
	}
	m, err := Decode(ike)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Exchange != IKE_AUTH || m.Header.MessageID != 1 || len(m.Payloads) != 1 {
		t.Fatalf("outer %+v %d payloads", m.Header, len(m.Payloads))
	}
	sk := m.Encrypted()
	if sk == nil || sk.NextPayload != PayloadIDi {
		t.Fatalf("SK %+v", sk)
	}
	aad, iv, ct, err := sk.Parts(ike, a.IVSize())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(aad, b[:32]) || !bytes.Equal(iv, unhex(t, "0000000000000001")) || len(ct) != len(plain)+16 {
		t.Fatalf("parts: aad %x iv %x ct %d", aad, iv, len(ct))
	}
	pt, err := a.Open(nil, iv, ct, aad)
	if err != nil || !bytes.Equal(pt, plain) {
		t.Fatalf("manual open: %v", err)
	}
	inner, err := sk.Open(ike, a)
	if err != nil {
		t.Fatal(err)
	}
	var types []PayloadType
	for _, p := range inner {
		types = append(types, p.Type())
	}
	want := []PayloadType{PayloadIDi, PayloadN, PayloadIDr, PayloadAUTH, PayloadSA, PayloadTSi, PayloadTSr,
		PayloadN, PayloadN, PayloadN, PayloadN, PayloadN}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("inner %v", types)
	}
	idi := Find(inner, PayloadIDi).(*ID)
	if idi.IDType != ID_FQDN || string(idi.Data) != "vault-01.example.net" || idi.Responder {
		t.Fatalf("IDi %+v", idi)
	}
	if idr := Find(inner, PayloadIDr).(*ID); string(idr.Data) != "noc.example.net" || !idr.Responder {
		t.Fatalf("IDr %+v", idr)
	}
	if au := Find(inner, PayloadAUTH).(*Auth); au.Method != AuthPSK || len(au.Data) != 48 {
		t.Fatalf("AUTH %+v", au)
	}
	esp := Find(inner, PayloadSA).(*SA)
	wantESP, _ := ParseProposals(ProtoESP, "aes256gcm16-noesn-esn")
	wantESP[0].SPI = unhex(t, "c7a1b2f3")
	if !reflect.DeepEqual(esp.Proposals, wantESP) {
		t.Fatalf("ESP SA %v", esp.Proposals)
	}
	tsi := Find(inner, PayloadTSi).(*TS)
	wantTS := TrafficSelector{Type: TS_IPV4_ADDR_RANGE, EndPort: 65535,
		StartAddr: netip.MustParseAddr("10.2.0.0"), EndAddr: netip.MustParseAddr("10.2.0.255")}
	if !reflect.DeepEqual(tsi.Selectors, []TrafficSelector{wantTS}) {
		t.Fatalf("TSi %+v", tsi.Selectors)
	}
	for _, nt := range []NotifyType{INITIAL_CONTACT, MOBIKE_SUPPORTED, NO_ADDITIONAL_ADDRESSES, MULTIPLE_AUTH_SUPPORTED,
		EAP_ONLY_AUTHENTICATION, IKEV2_MESSAGE_ID_SYNC_SUPPORTED} {
		if FindNotify(inner, nt) == nil {
			t.Errorf("missing N(%v)", nt)
		}
	}
	// Our responder's ESP configuration (no PFS in IKE_AUTH) accepts it.
	oursESP, _ := ParseProposals(ProtoESP, "aes256gcm16-noesn-esn")
	if ch, err := Choose(oursESP, esp, true); err != nil || !bytes.Equal(ch.SPI, wantESP[0].SPI) {
		t.Fatalf("choose ESP: %v", err)
	}

	// Sealing the same inner payloads with the same IV reproduces the
	// Python-sealed fixture octet for octet.
	out, err := EncodeEncrypted(m.Header, nil, inner, a, iv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("EncodeEncrypted differs:\n got %x\nwant %x", out, b)
	}

	// Any flipped bit in the AAD, IV, ciphertext or ICV fails to open.
	for _, i := range []int{0, 19, 24, 29, 33, 40, len(b) - 1} {
		bad := bytes.Clone(b)
		bad[i] ^= 0x01
		bm, err := Decode(bad)
		if err != nil {
			continue // e.g. the version octet
		}
		if _, err := bm.Encrypted().Open(bad, a); !errors.Is(err, ErrDecrypt) {
			t.Errorf("flip at %d: %v", i, err)
		}
	}
	// A datagram that does not end with the payload is refused.
	if _, err := sk.Open(b[:len(b)-1], a); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong datagram: %v", err)
	}
}
