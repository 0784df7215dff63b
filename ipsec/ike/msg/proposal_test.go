package msg

import (
	"errors"
	"reflect"
	"testing"
)

func mustProps(t *testing.T, proto ProtocolID, s string) []Proposal {
	t.Helper()
	ps, err := ParseProposals(proto, s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParseProposals(t *testing.T) {
	for _, tc := range []struct {
		proto ProtocolID
		in    string
		want  []string
	}{
		{ProtoIKE, "aes256gcm16-prfsha384-ecp384", []string{"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"}},
		{ProtoIKE, "aes256gcm16-sha384-ecp384", []string{"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"}},
		{ProtoIKE, "aes256gcm16-prfsha384-prfsha256-ecp384-ecp256-curve25519",
			[]string{"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_256/ECP_384/ECP_256/CURVE_25519"}},
		{ProtoIKE, "aes128-sha256-modp2048, aes256gcm-prfsha512-x25519",
			[]string{"IKE:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_512/CURVE_25519"}},
		{ProtoESP, "aes256gcm16-ecp384-ecp256-curve25519-noesn-esn",
			[]string{"ESP:ENCR_AES_GCM_16_256/ECP_384/ECP_256/CURVE_25519/NO_EXT_SEQ/EXT_SEQ"}},
		{ProtoESP, "aes256gcm16", []string{"ESP:ENCR_AES_GCM_16_256/NO_EXT_SEQ"}},
		{ProtoESP, "aes128ctr-sha1-esn", []string{"ESP:ENCR_AES_CTR_128/AUTH_HMAC_SHA1_96/EXT_SEQ"}},
		{ProtoESP, "chacha20poly1305-none", []string{"ESP:ENCR_CHACHA20_POLY1305/NONE/NO_EXT_SEQ"}},
		{ProtoAH, "sha256", []string{"AH:AUTH_HMAC_SHA2_256_128/NO_EXT_SEQ"}},
	} {
		ps, err := ParseProposals(tc.proto, tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got []string
		for i := range ps {
			got = append(got, ps[i].String())
			if ps[i].Number != uint8(i+1) {
				t.Errorf("%q: numbering", tc.in)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v want %v", tc.in, got, tc.want)
		}
		// Every parsed proposal encodes.
		if _, err := (&Message{Payloads: []Payload{NewSA(ps, spiFor(tc.proto))}}).Encode(); err != nil {
			t.Errorf("%q: encode %v", tc.in, err)
		}
	}
	for _, bad := range []struct {
		proto ProtocolID
		in    string
	}{
		{ProtoIKE, "aes256gcm16-ecp384"},        // no PRF
		{ProtoIKE, "aes256-prfsha256-ecp384"},   // no integrity
		{ProtoIKE, "aes256gcm16-prfsha384"},     // no DH
		{ProtoIKE, "aes256gcm16-aes256-sha256"}, // AEAD and non-AEAD mixed
		{ProtoIKE, "aes256gcm16-prfsha384-ecp384-esn"},
		{ProtoIKE, "aes257-sha256-ecp384"},
		{ProtoIKE, "bogus"},
		{ProtoESP, "aes256gcm16-prfsha256"},
		{ProtoESP, "sha256"},
		{ProtoAH, "aes256-sha256"},
		{ProtoNone, "aes256gcm16"},
	} {
		if _, err := ParseProposals(bad.proto, bad.in); err == nil {
			t.Errorf("%v %q accepted", bad.proto, bad.in)
		}
	}
}

func spiFor(p ProtocolID) []byte {
	if p == ProtoIKE {
		return nil
	}
	return []byte{1, 2, 3, 4}
}

func TestChoose(t *testing.T) {
	ike := mustProps(t, ProtoIKE, "aes256gcm16-prfsha384-prfsha256-ecp384-ecp256-curve25519")
	for _, tc := range []struct {
		name       string
		ours       []Proposal
		theirs     string
		proto      ProtocolID
		preferOurs bool
		want       string // "" = NO_PROPOSAL_CHOSEN
		wantNum    uint8
	}{
		{"exact", ike, "aes256gcm16-prfsha384-ecp384", ProtoIKE, true, "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", 1},
		{"prefer ours", ike, "aes256gcm16-prfsha256-prfsha384-curve25519-ecp384", ProtoIKE, true,
			"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", 1},
		{"prefer theirs", ike, "aes256gcm16-prfsha256-prfsha384-curve25519-ecp384", ProtoIKE, false,
			"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519", 1},
		{"second proposal", ike, "aes128-sha256-modp2048,aes256gcm16-prfsha256-ecp256", ProtoIKE, true,
			"IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256", 2},
		{"key length differs", ike, "aes128gcm16-prfsha384-ecp384", ProtoIKE, true, "", 0},
		{"no common DH", ike, "aes256gcm16-prfsha384-modp2048", ProtoIKE, true, "", 0},
		{"protocol differs", ike, "aes256gcm16-ecp384", ProtoESP, true, "", 0},
		{"ESP no PFS both", mustProps(t, ProtoESP, "aes256gcm16-noesn-esn"), "aes256gcm16-esn-noesn", ProtoESP, true,
			"ESP:ENCR_AES_GCM_16_256/NO_EXT_SEQ", 1},
		{"ESP no PFS, theirs first", mustProps(t, ProtoESP, "aes256gcm16-noesn-esn"), "aes256gcm16-esn-noesn", ProtoESP, false,
			"ESP:ENCR_AES_GCM_16_256/EXT_SEQ", 1},
		// The PFS mismatch of ipsec.md fact 4: they want a DH group at rekey, we have none.
		{"PFS mismatch (we have none)", mustProps(t, ProtoESP, "aes256gcm16-noesn"), "aes256gcm16-ecp384-noesn", ProtoESP, true, "", 0},
		{"PFS mismatch (they have none)", mustProps(t, ProtoESP, "aes256gcm16-ecp384-noesn"), "aes256gcm16-noesn", ProtoESP, true, "", 0},
		{"PFS optional (we list none)", mustProps(t, ProtoESP, "aes256gcm16-ecp384-none-noesn"), "aes256gcm16-noesn", ProtoESP, true,
			"ESP:ENCR_AES_GCM_16_256/NO_EXT_SEQ", 1},
		{"they offer none explicitly", mustProps(t, ProtoESP, "aes256gcm16-noesn"), "aes256gcm16-ecp384-none-noesn", ProtoESP, true,
			"ESP:ENCR_AES_GCM_16_256/NONE/NO_EXT_SEQ", 1},
		{"ESN mismatch", mustProps(t, ProtoESP, "aes256gcm16-esn"), "aes256gcm16-noesn", ProtoESP, true, "", 0},
		{"non-AEAD ESP", mustProps(t, ProtoESP, "aes128-sha256-noesn"), "aes256-sha1-noesn,aes128-sha512-sha256-noesn", ProtoESP, true,
			"ESP:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/NO_EXT_SEQ", 2},
	} {
		theirs := NewSA(mustProps(t, tc.proto, tc.theirs), spiFor(tc.proto))
		ch, err := Choose(tc.ours, theirs, tc.preferOurs)
		if tc.want == "" {
			if !errors.Is(err, ErrNoProposalChosen) {
				t.Errorf("%s: chose %v (%v)", tc.name, &ch, err)
			}
			if n := ErrorNotify(err); n == nil || n.NotifyType != NO_PROPOSAL_CHOSEN {
				t.Errorf("%s: notify %v", tc.name, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if ch.String() != tc.want || ch.Number != tc.wantNum {
			t.Errorf("%s: chose #%d %v, want #%d %v", tc.name, ch.Number, &ch, tc.wantNum, tc.want)
		}
		// The choice is what the peer, as initiator, accepts back.
		reply := &SA{Proposals: []Proposal{ch}}
		if _, err := VerifyChosen(theirs.Proposals, reply); err != nil {
			t.Errorf("%s: VerifyChosen: %v", tc.name, err)
		}
	}
}

func TestChooseUnknowns(t *testing.T) {
	ours := mustProps(t, ProtoIKE, "aes256gcm16-prfsha384-ecp384")
	base := func() *SA { return NewSA(mustProps(t, ProtoIKE, "aes256gcm16-prfsha384-ecp384"), nil) }

	// Unknown transform type: whole proposal unacceptable.
	sa := base()
	sa.Proposals[0].Transforms = append(sa.Proposals[0].Transforms, Transform{Type: 6, ID: 1})
	if _, err := Choose(ours, sa, true); !errors.Is(err, ErrNoProposalChosen) {
		t.Errorf("unknown type: %v", err)
	}
	// Unknown attribute on the only ENCR: unacceptable.
	sa = base()
	sa.Proposals[0].Transforms[0].Attributes = []Attribute{{Type: 77, TV: true, Value: []byte{0, 1}}}
	if _, err := Choose(ours, sa, true); !errors.Is(err, ErrNoProposalChosen) {
		t.Errorf("unknown attribute: %v", err)
	}
	// ...but another ENCR of the same type without it is fine.
	sa.Proposals[0].Transforms = append([]Transform{sa.Proposals[0].Transforms[0], Encr(ENCR_AES_GCM_16, 256)}, sa.Proposals[0].Transforms[1:]...)
	for _, prefer := range []bool{true, false} {
		if ch, err := Choose(ours, sa, prefer); err != nil || len(ch.Transforms[0].Attributes) != 0 {
			t.Errorf("prefer %v: unknown attribute with alternative: %v", prefer, err)
		}
	}
	// AEAD with an INTEG transform that is not NONE: unacceptable.
	sa = base()
	sa.Proposals[0].Transforms = append(sa.Proposals[0].Transforms, Integ(AUTH_HMAC_SHA2_256_128))
	if _, err := Choose(ours, sa, true); !errors.Is(err, ErrNoProposalChosen) {
		t.Errorf("AEAD + INTEG: %v", err)
	}
	// AEAD with INTEG NONE listed: fine.
	sa = base()
	sa.Proposals[0].Transforms = append(sa.Proposals[0].Transforms, Integ(AUTH_NONE))
	if _, err := Choose(ours, sa, true); err != nil {
		t.Errorf("AEAD + INTEG NONE: %v", err)
	}
	if _, err := Choose(ours, nil, true); !errors.Is(err, ErrNoProposalChosen) {
		t.Error("nil SA")
	}
}

func TestVerifyChosen(t *testing.T) {
	offered := mustProps(t, ProtoIKE, "aes128-sha256-modp2048,aes256gcm16-prfsha384-prfsha256-ecp384-ecp256")
	ok := Proposal{Number: 2, Protocol: ProtoIKE, Transforms: []Transform{Encr(ENCR_AES_GCM_16, 256), PRF(PRF_HMAC_SHA2_256), DH(ECP_384)}}
	if _, err := VerifyChosen(offered, &SA{Proposals: []Proposal{ok}}); err != nil {
		t.Fatal(err)
	}
	bad := func(mod func(p *Proposal)) *SA {
		p := ok
		p.Transforms = append([]Transform(nil), ok.Transforms...)
		mod(&p)
		return &SA{Proposals: []Proposal{p}}
	}
	for name, sa := range map[string]*SA{
		"two proposals":    {Proposals: []Proposal{ok, ok}},
		"number 3":         bad(func(p *Proposal) { p.Number = 3 }),
		"number 1":         bad(func(p *Proposal) { p.Number = 1 }),
		"protocol":         bad(func(p *Proposal) { p.Protocol = ProtoESP }),
		"not offered":      bad(func(p *Proposal) { p.Transforms[2] = DH(CURVE_25519) }),
		"two DH":           bad(func(p *Proposal) { p.Transforms = append(p.Transforms, DH(ECP_256)) }),
		"missing PRF":      bad(func(p *Proposal) { p.Transforms = append(p.Transforms[:1], p.Transforms[2]) }),
		"unknown type":     bad(func(p *Proposal) { p.Transforms = append(p.Transforms, Transform{Type: 9}) }),
		"key length":       bad(func(p *Proposal) { p.Transforms[0].KeyLength = 128 }),
		"extra attributes": bad(func(p *Proposal) { p.Transforms[0].Attributes = []Attribute{{Type: 1, TV: true, Value: []byte{0, 0}}} }),
	} {
		if _, err := VerifyChosen(offered, sa); !errors.Is(err, ErrProposalMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := VerifyChosen(offered, nil); !errors.Is(err, ErrProposalMismatch) {
		t.Error("nil")
	}
}
