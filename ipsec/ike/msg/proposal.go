package msg

import (
	"errors"
	"strconv"
	"strings"
)

// ErrProposalMismatch: a responder's SA reply is not a valid choice from
// the proposals we offered (RFC 7296 §3.3.6: exactly one proposal, one
// transform per offered type, each one we offered).
var ErrProposalMismatch = errors.New("ike/msg: reply SA does not match an offered proposal")

// Encr returns an ENCR transform; keyBits 0 means no Key Length attribute.
func Encr(id EncrID, keyBits uint16) Transform {
	return Transform{Type: TransformENCR, ID: uint16(id), KeyLength: keyBits}
}

// PRF returns a PRF transform.
func PRF(id PRFID) Transform { return Transform{Type: TransformPRF, ID: uint16(id)} }

// Integ returns an INTEG transform.
func Integ(id IntegID) Transform { return Transform{Type: TransformINTEG, ID: uint16(id)} }

// DH returns a DH (key exchange method) transform.
func DH(g DHGroup) Transform { return Transform{Type: TransformDH, ID: uint16(g)} }

// ESN returns an ESN transform.
func ESN(e ESNID) Transform { return Transform{Type: TransformESN, ID: uint16(e)} }

func (t Transform) String() string {
	s := TransformIDString(t.Type, t.ID)
	if t.KeyLength != 0 {
		s += "_" + strconv.Itoa(int(t.KeyLength))
	}
	return s
}

// Get returns the first transform of type t.
func (p *Proposal) Get(t TransformType) (Transform, bool) {
	for _, tr := range p.Transforms {
		if tr.Type == t {
			return tr, true
		}
	}
	return Transform{}, false
}

// DHGroup returns the proposal's first DH transform, or DH_NONE.
func (p *Proposal) DHGroup() DHGroup {
	if t, ok := p.Get(TransformDH); ok {
		return DHGroup(t.ID)
	}
	return DH_NONE
}

// DHGroups lists the proposal's DH transforms in order.
func (p *Proposal) DHGroups() []DHGroup {
	var gs []DHGroup
	for _, t := range p.Transforms {
		if t.Type == TransformDH {
			gs = append(gs, DHGroup(t.ID))
		}
	}
	return gs
}

func (p *Proposal) String() string {
	var sb strings.Builder
	sb.WriteString(p.Protocol.String())
	sb.WriteString(":")
	for i, t := range p.Transforms {
		if i > 0 {
			sb.WriteString("/")
		}
		sb.WriteString(t.String())
	}
	return sb.String()
}

// NewSA returns an SA payload holding copies of ps numbered 1, 2, ... with
// spi as every proposal's SPI (nil for IKE_SA_INIT, the 8-octet new IKE
// SPI for an IKE rekey, our 4-octet inbound SPI for ESP).
func NewSA(ps []Proposal, spi []byte) *SA {
	sa := &SA{Proposals: make([]Proposal, len(ps))}
	for i, p := range ps {
		p.Number = uint8(i + 1)
		p.SPI = nz(append([]byte(nil), spi...))
		p.Transforms = append([]Transform(nil), p.Transforms...)
		sa.Proposals[i] = p
	}
	return sa
}

// ParseProposals builds proposals from a compact strongSwan-style
// description: proposals separated by ',', algorithms by '-', e.g.
//
//	IKE: "aes256gcm16-prfsha384-ecp384,aes256-sha256-modp2048"
//	ESP: "aes256gcm16-ecp384-esn-noesn"
//
// Keywords: aes128|192|256 (CBC), aes128|192|256ctr, aes128|192|256gcm8|12|16
// (aesNNNgcm = gcm16), aes128|192|256ccm8|12|16, chacha20poly1305; sha1,
// sha256, sha384, sha512, aesxcbc (integrity); prfsha1, prfsha256, prfsha384,
// prfsha512, prfaesxcbc, prfaescmac; modp1024..modp8192, ecp256, ecp384,
// ecp521, ecp224, ecp192, ecp256bp, ecp384bp, ecp512bp, curve25519 (x25519),
// curve448 (x448), none (DH); esn, noesn.
//
// As in strongSwan, an IKE proposal without prf keywords takes its PRFs from
// the integrity keywords, and with an AEAD cipher integrity keywords only
// name PRFs. An ESP proposal without esn/noesn gets noesn. Mixing AEAD and
// non-AEAD ciphers in one proposal is an error. Proposals are numbered from
// 1 and have no SPI.
func ParseProposals(proto ProtocolID, s string) ([]Proposal, error) {
	if proto != ProtoIKE && proto != ProtoESP && proto != ProtoAH {
		return nil, errf(ErrEncode, "proposals for protocol %v", proto)
	}
	var out []Proposal
	for i, ps := range strings.Split(s, ",") {
		p, err := parseProposal(proto, strings.TrimSpace(ps))
		if err != nil {
			return nil, ctx(err, "proposal %d %q", i+1, ps)
		}
		p.Number = uint8(i + 1)
		out = append(out, p)
		if len(out) > MaxProposals {
			return nil, errf(ErrEncode, "more than %d proposals", MaxProposals)
		}
	}
	return out, nil
}

func parseProposal(proto ProtocolID, s string) (Proposal, error) {
	p := Proposal{Protocol: proto}
	var encr, integ, prf, dh, esn []Transform
	aead, nonAEAD := false, false
	for _, kw := range strings.Split(s, "-") {
		kw = strings.ToLower(strings.TrimSpace(kw))
		if t, ok := parseEncr(kw); ok {
			if EncrID(t.ID).IsAEAD() {
				aead = true
			} else {
				nonAEAD = true
			}
			encr = append(encr, t)
			continue
		}
		switch kw {
		case "sha1", "sha":
			integ = append(integ, Integ(AUTH_HMAC_SHA1_96))
		case "sha256", "sha2_256":
			integ = append(integ, Integ(AUTH_HMAC_SHA2_256_128))
		case "sha384", "sha2_384":
			integ = append(integ, Integ(AUTH_HMAC_SHA2_384_192))
		case "sha512", "sha2_512":
			integ = append(integ, Integ(AUTH_HMAC_SHA2_512_256))
		case "aesxcbc":
			integ = append(integ, Integ(AUTH_AES_XCBC_96))
		case "prfsha1":
			prf = append(prf, PRF(PRF_HMAC_SHA1))
		case "prfsha256":
			prf = append(prf, PRF(PRF_HMAC_SHA2_256))
		case "prfsha384":
			prf = append(prf, PRF(PRF_HMAC_SHA2_384))
		case "prfsha512":
			prf = append(prf, PRF(PRF_HMAC_SHA2_512))
		case "prfaesxcbc":
			prf = append(prf, PRF(PRF_AES128_XCBC))
		case "prfaescmac":
			prf = append(prf, PRF(PRF_AES128_CMAC))
		case "esn":
			esn = append(esn, ESN(ESN_YES))
		case "noesn":
			esn = append(esn, ESN(ESN_NO))
		default:
			g, ok := parseDH(kw)
			if !ok {
				return p, errf(ErrEncode, "unknown algorithm %q", kw)
			}
			dh = append(dh, DH(g))
		}
	}
	if aead && nonAEAD {
		return p, errf(ErrEncode, "mixes AEAD and non-AEAD ciphers")
	}
	if proto == ProtoIKE && len(prf) == 0 {
		for _, t := range integ {
			switch IntegID(t.ID) {
			case AUTH_HMAC_SHA1_96:
				prf = append(prf, PRF(PRF_HMAC_SHA1))
			case AUTH_HMAC_SHA2_256_128:
				prf = append(prf, PRF(PRF_HMAC_SHA2_256))
			case AUTH_HMAC_SHA2_384_192:
				prf = append(prf, PRF(PRF_HMAC_SHA2_384))
			case AUTH_HMAC_SHA2_512_256:
				prf = append(prf, PRF(PRF_HMAC_SHA2_512))
			case AUTH_AES_XCBC_96:
				prf = append(prf, PRF(PRF_AES128_XCBC))
			}
		}
	}
	if aead {
		integ = nil
	}
	if proto != ProtoIKE {
		if len(prf) != 0 {
			return p, errf(ErrEncode, "PRF in a %v proposal", proto)
		}
		if len(esn) == 0 {
			esn = append(esn, ESN(ESN_NO))
		}
	} else if len(esn) != 0 {
		return p, errf(ErrEncode, "ESN in an IKE proposal")
	}
	switch {
	case proto != ProtoAH && len(encr) == 0:
		return p, errf(ErrEncode, "no encryption algorithm")
	case proto == ProtoAH && len(encr) != 0:
		return p, errf(ErrEncode, "encryption algorithm in an AH proposal")
	case !aead && len(integ) == 0:
		return p, errf(ErrEncode, "no integrity algorithm")
	case proto == ProtoIKE && len(prf) == 0:
		return p, errf(ErrEncode, "no PRF")
	case proto == ProtoIKE && len(dh) == 0:
		return p, errf(ErrEncode, "no DH group")
	}
	for _, ts := range [][]Transform{encr, integ, prf, dh, esn} {
		p.Transforms = append(p.Transforms, ts...)
	}
	if len(p.Transforms) > MaxTransforms {
		return p, errf(ErrEncode, "%d transforms", len(p.Transforms))
	}
	return p, nil
}

func parseEncr(kw string) (Transform, bool) {
	switch kw {
	case "chacha20poly1305":
		return Encr(ENCR_CHACHA20_POLY1305, 0), true
	case "3des":
		return Encr(ENCR_3DES, 0), true
	}
	if !strings.HasPrefix(kw, "aes") || len(kw) < 6 {
		return Transform{}, false
	}
	bits, err := strconv.Atoi(kw[3:6])
	if err != nil || (bits != 128 && bits != 192 && bits != 256) {
		return Transform{}, false
	}
	var id EncrID
	switch kw[6:] {
	case "":
		id = ENCR_AES_CBC
	case "ctr":
		id = ENCR_AES_CTR
	case "gcm", "gcm16":
		id = ENCR_AES_GCM_16
	case "gcm12":
		id = ENCR_AES_GCM_12
	case "gcm8":
		id = ENCR_AES_GCM_8
	case "ccm", "ccm16":
		id = ENCR_AES_CCM_16
	case "ccm12":
		id = ENCR_AES_CCM_12
	case "ccm8":
		id = ENCR_AES_CCM_8
	default:
		return Transform{}, false
	}
	return Encr(id, uint16(bits)), true
}

func parseDH(kw string) (DHGroup, bool) {
	switch kw {
	case "none":
		return DH_NONE, true
	case "modp1024":
		return MODP_1024, true
	case "modp1536":
		return MODP_1536, true
	case "modp2048":
		return MODP_2048, true
	case "modp3072":
		return MODP_3072, true
	case "modp4096":
		return MODP_4096, true
	case "modp6144":
		return MODP_6144, true
	case "modp8192":
		return MODP_8192, true
	case "ecp192":
		return ECP_192, true
	case "ecp224":
		return ECP_224, true
	case "ecp256":
		return ECP_256, true
	case "ecp384":
		return ECP_384, true
	case "ecp521":
		return ECP_521, true
	case "ecp224bp":
		return BRAINPOOL_P224R1, true
	case "ecp256bp":
		return BRAINPOOL_P256R1, true
	case "ecp384bp":
		return BRAINPOOL_P384R1, true
	case "ecp512bp":
		return BRAINPOOL_P512R1, true
	case "curve25519", "x25519":
		return CURVE_25519, true
	case "curve448", "x448":
		return CURVE_448, true
	}
	return 0, false
}

// optionalType reports whether an absent transform type means "NONE"
// (RFC 7296 §3.3.3: INTEG with combined-mode ciphers, DH for CHILD SAs
// without PFS, ESN).
func optionalType(t TransformType) bool {
	return t == TransformINTEG || t == TransformDH || t == TransformESN
}

// Choose picks a proposal from a received SA as a responder (RFC 7296
// §3.3.6): one received proposal of the same protocol as one of ours, and
// from it exactly one transform of each type it contains, each one we also
// configured (same type, ID and key length). A received proposal with a
// transform type we do not know is unacceptable; a received transform with
// attributes other than Key Length is unacceptable (other transforms of the
// type still count). An absent INTEG, DH or ESN type matches only our
// proposal lacking that type or listing ID 0 (NONE) for it; so a PFS
// mismatch is NO_PROPOSAL_CHOSEN.
//
// With preferOurs (strongSwan's default) our proposal and transform order
// decides; otherwise the peer's does. The result carries the received
// proposal's Number, Protocol and SPI (the peer's; replace it with ours in
// the reply) and its transforms in ENCR, PRF, INTEG, DH, ESN order. It
// fails with ErrNoProposalChosen.
func Choose(ours []Proposal, received *SA, preferOurs bool) (Proposal, error) {
	if received != nil {
		if preferOurs {
			for i := range ours {
				for j := range received.Proposals {
					if p, ok := match(&ours[i], &received.Proposals[j], true); ok {
						return p, nil
					}
				}
			}
		} else {
			for j := range received.Proposals {
				for i := range ours {
					if p, ok := match(&ours[i], &received.Proposals[j], false); ok {
						return p, nil
					}
				}
			}
		}
	}
	return Proposal{}, ErrNoProposalChosen
}

func match(our, their *Proposal, preferOurs bool) (Proposal, bool) {
	if our.Protocol != their.Protocol {
		return Proposal{}, false
	}
	for _, t := range their.Transforms {
		if t.Type < TransformENCR || t.Type > TransformESN {
			return Proposal{}, false
		}
	}
	chosen := Proposal{Number: their.Number, Protocol: their.Protocol, SPI: their.SPI}
	var buf [TransformESN]Transform
	chosen.Transforms = buf[:0]
	// The types RFC 7296 defines, in numeric order: ENCR, PRF, INTEG, DH, ESN.
	for tt := TransformENCR; tt <= TransformESN; tt++ {
		haveOur, haveTheir := hasType(our, tt), hasType(their, tt)
		switch {
		case !haveOur && !haveTheir:
			continue
		case !haveTheir:
			if !optionalType(tt) || !hasTransform(our, Transform{Type: tt}) {
				return Proposal{}, false
			}
			continue
		}
		t, ok := pick(our, their, tt, haveOur, preferOurs)
		if !ok {
			return Proposal{}, false
		}
		chosen.Transforms = append(chosen.Transforms, t)
	}
	if !complete(&chosen) {
		return Proposal{}, false
	}
	chosen.Transforms = append([]Transform(nil), chosen.Transforms...)
	return chosen, true
}

// pick returns the preferred transform of type tt in their that our
// accepts. When our lacks tt (and tt is optional) only NONE is acceptable.
func pick(our, their *Proposal, tt TransformType, haveOur, preferOurs bool) (Transform, bool) {
	acceptable := func(t Transform) bool {
		if t.Type != tt || len(t.Attributes) != 0 {
			return false
		}
		if !haveOur {
			return optionalType(tt) && t.ID == 0 && t.KeyLength == 0
		}
		return hasTransform(our, t)
	}
	if preferOurs && haveOur {
		for _, o := range our.Transforms {
			if o.Type == tt && len(o.Attributes) == 0 && hasTransform(their, o) {
				return o, true
			}
		}
		return Transform{}, false
	}
	for _, t := range their.Transforms {
		if acceptable(t) {
			return Transform{Type: t.Type, ID: t.ID, KeyLength: t.KeyLength}, true
		}
	}
	return Transform{}, false
}

func hasType(p *Proposal, tt TransformType) bool {
	for _, t := range p.Transforms {
		if t.Type == tt {
			return true
		}
	}
	return false
}

// hasTransform reports whether p lists t (type, ID, key length, no other
// attributes).
func hasTransform(p *Proposal, t Transform) bool {
	for _, o := range p.Transforms {
		if o.Type == t.Type && o.ID == t.ID && o.KeyLength == t.KeyLength && len(o.Attributes) == 0 {
			return true
		}
	}
	return false
}

// complete checks the mandatory types of RFC 7296 §3.3.3 on a choice: IKE
// needs ENCR, PRF and a real DH group; ESP needs ENCR; AH and non-AEAD
// ciphers need a real INTEG; AEAD ciphers take no INTEG but NONE.
func complete(p *Proposal) bool {
	encr, hasEncr := p.Get(TransformENCR)
	integ, hasInteg := p.Get(TransformINTEG)
	if hasInteg && integ.ID == uint16(AUTH_NONE) {
		hasInteg = false
	}
	switch p.Protocol {
	case ProtoIKE:
		_, hasPRF := p.Get(TransformPRF)
		if !hasEncr || !hasPRF || p.DHGroup() == DH_NONE || hasType(p, TransformESN) {
			return false
		}
	case ProtoESP:
		if !hasEncr || hasType(p, TransformPRF) {
			return false
		}
	case ProtoAH:
		if hasEncr || !hasInteg || hasType(p, TransformPRF) {
			return false
		}
		return true
	default:
		return false
	}
	if EncrID(encr.ID).IsAEAD() {
		return !hasInteg
	}
	return hasInteg
}

// VerifyChosen checks, as initiator, the SA payload of a response against
// the proposals we offered (numbered 1..n as NewSA numbers them): exactly
// one proposal, whose number names an offered proposal of the same
// protocol, with exactly one transform of each type that proposal has (an
// optional type may be left out if we offered NONE for it), each one we
// offered. It returns the chosen proposal or an error wrapping
// ErrProposalMismatch.
func VerifyChosen(offered []Proposal, reply *SA) (Proposal, error) {
	if reply == nil || len(reply.Proposals) != 1 {
		return Proposal{}, errf(ErrProposalMismatch, "reply SA must hold exactly one proposal")
	}
	r := &reply.Proposals[0]
	n := int(r.Number)
	if n < 1 || n > len(offered) {
		return Proposal{}, errf(ErrProposalMismatch, "reply chose proposal %d of %d", n, len(offered))
	}
	o := &offered[n-1]
	if o.Protocol != r.Protocol {
		return Proposal{}, errf(ErrProposalMismatch, "reply protocol %v, offered %v", r.Protocol, o.Protocol)
	}
	for tt := TransformENCR; tt <= TransformESN; tt++ {
		cnt := 0
		for _, t := range r.Transforms {
			if t.Type == tt {
				cnt++
				if len(t.Attributes) != 0 || !hasTransform(o, t) {
					return Proposal{}, errf(ErrProposalMismatch, "reply chose %v, not offered", t)
				}
			}
		}
		switch {
		case cnt > 1:
			return Proposal{}, errf(ErrProposalMismatch, "reply has %d %v transforms", cnt, tt)
		case cnt == 0 && hasType(o, tt) && !(optionalType(tt) && hasTransform(o, Transform{Type: tt})):
			return Proposal{}, errf(ErrProposalMismatch, "reply lacks %v", tt)
		}
	}
	for _, t := range r.Transforms {
		if t.Type < TransformENCR || t.Type > TransformESN {
			return Proposal{}, errf(ErrProposalMismatch, "reply has transform type %v", t.Type)
		}
	}
	return *r, nil
}

// StripDH returns copies of ps without DH transforms. RFC 7296 §1.2: the
// CHILD SA proposals of IKE_AUTH carry no KE, so DH is omitted there; a
// configuration with PFS groups (used at rekey) is matched and offered in
// IKE_AUTH through StripDH, as strongSwan does.
func StripDH(ps []Proposal) []Proposal {
	out := make([]Proposal, len(ps))
	for i, p := range ps {
		ts := make([]Transform, 0, len(p.Transforms))
		for _, t := range p.Transforms {
			if t.Type != TransformDH {
				ts = append(ts, t)
			}
		}
		p.Transforms = ts
		out[i] = p
	}
	return out
}
