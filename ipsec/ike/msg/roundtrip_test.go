package msg

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

type gen struct{ r *rand.Rand }

func (g gen) bytes(min, max int) []byte {
	n := min + g.r.IntN(max-min+1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g gen) pick(n int) int { return g.r.IntN(n) }

func (g gen) transform() Transform {
	t := Transform{Type: TransformType(1 + g.pick(6)), ID: uint16(g.pick(40))}
	if g.pick(3) == 0 {
		t.KeyLength = uint16(1 + g.pick(512))
	}
	for i := g.pick(3); i > 0 && g.pick(2) == 0; i-- {
		a := Attribute{Type: AttributeType(1 + g.pick(13))}
		if g.pick(2) == 0 {
			a.TV, a.Value = true, g.bytes(2, 2)
		} else {
			a.Value = g.bytes(0, 6)
		}
		t.Attributes = append(t.Attributes, a)
	}
	return t
}

func (g gen) proposal(num uint8) Proposal {
	p := Proposal{Number: num}
	switch g.pick(4) {
	case 0:
		p.Protocol = ProtoIKE
		if g.pick(2) == 0 {
			p.SPI = g.bytes(8, 8)
		}
	case 1:
		p.Protocol, p.SPI = ProtoESP, g.bytes(4, 4)
	case 2:
		p.Protocol, p.SPI = ProtoAH, g.bytes(4, 4)
	default:
		p.Protocol, p.SPI = ProtocolID(4+g.pick(200)), g.bytes(0, 9)
	}
	for i := 1 + g.pick(6); i > 0; i-- {
		p.Transforms = append(p.Transforms, g.transform())
	}
	return p
}

func (g gen) selector() TrafficSelector {
	switch g.pick(3) {
	case 0:
		return TrafficSelector{Type: TS_IPV4_ADDR_RANGE, IPProtocol: uint8(g.pick(256)), StartPort: uint16(g.r.Uint32()), EndPort: uint16(g.r.Uint32()),
			StartAddr: netip.AddrFrom4([4]byte(g.bytes(4, 4))), EndAddr: netip.AddrFrom4([4]byte(g.bytes(4, 4)))}
	case 1:
		return TrafficSelector{Type: TS_IPV6_ADDR_RANGE, IPProtocol: uint8(g.pick(256)), StartPort: uint16(g.r.Uint32()), EndPort: uint16(g.r.Uint32()),
			StartAddr: netip.AddrFrom16([16]byte(g.bytes(16, 16))), EndAddr: netip.AddrFrom16([16]byte(g.bytes(16, 16)))}
	}
	return TrafficSelector{Type: TSType(9 + g.pick(100)), IPProtocol: uint8(g.pick(256)), Data: g.bytes(0, 8)}
}

var notifyPool = []NotifyType{INITIAL_CONTACT, NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP, COOKIE, REKEY_SA,
	USE_TRANSPORT_MODE, SIGNATURE_HASH_ALGORITHMS, MOBIKE_SUPPORTED, IKEV2_FRAGMENTATION_SUPPORTED, INVALID_KE_PAYLOAD,
	UNSUPPORTED_CRITICAL_PAYLOAD, NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, 40960, 12345}

func (g gen) notify() *Notify {
	n := &Notify{NotifyType: notifyPool[g.pick(len(notifyPool))]}
	switch g.pick(3) {
	case 0:
		n.Protocol, n.SPI = ProtoESP, g.bytes(4, 4)
	case 1:
		n.Protocol = ProtocolID(g.pick(4)) // no SPI: protocol kept as sent
	}
	switch n.NotifyType {
	case NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP:
		n.Data = g.bytes(20, 20)
	case COOKIE:
		n.Data = g.bytes(1, 64)
	case INVALID_KE_PAYLOAD:
		n.Data = g.bytes(2, 2)
	case UNSUPPORTED_CRITICAL_PAYLOAD:
		n.Data = g.bytes(1, 1)
	case SIGNATURE_HASH_ALGORITHMS:
		n.Data = g.bytes(0, 4)
		n.Data = n.Data[:len(n.Data)&^1]
		if len(n.Data) == 0 {
			n.Data = nil
		}
	case REKEY_SA:
		n.Protocol, n.SPI = ProtoESP, g.bytes(4, 4)
	default:
		n.Data = g.bytes(0, 10)
	}
	return n
}

var idTypes = []IDType{ID_IPV4_ADDR, ID_FQDN, ID_RFC822_ADDR, ID_IPV6_ADDR, ID_DER_ASN1_DN, ID_KEY_ID, ID_NULL, 200}

func (g gen) payload(inner bool) Payload {
	switch g.pick(15) {
	case 0:
		sa := &SA{}
		n := 1 + g.pick(4)
		for i := 0; i < n; i++ {
			num := uint8(i + 1)
			if n == 1 {
				num = uint8(1 + g.pick(255))
			}
			sa.Proposals = append(sa.Proposals, g.proposal(num))
		}
		return sa
	case 1:
		grp := []DHGroup{ECP_256, ECP_384, CURVE_25519, MODP_2048, 777}[g.pick(5)]
		size := grp.PublicSize()
		if size == 0 {
			size = 1 + g.pick(40)
		}
		return &KE{Group: grp, Data: g.bytes(size, size)}
	case 2:
		t := idTypes[g.pick(len(idTypes))]
		id := &ID{Responder: g.pick(2) == 0, IDType: t}
		switch t {
		case ID_IPV4_ADDR:
			id.Data = g.bytes(4, 4)
		case ID_IPV6_ADDR:
			id.Data = g.bytes(16, 16)
		case ID_NULL:
		default:
			id.Data = g.bytes(1, 30)
		}
		return id
	case 3:
		return &Cert{Encoding: CertEncoding(g.pick(16)), Data: g.bytes(1, 40)}
	case 4:
		cr := &CertReq{Encoding: CertEncoding(g.pick(16))}
		if cr.Encoding == CertX509Signature {
			cr.Data = g.bytes(0, 0)
			for i := g.pick(3); i > 0; i-- {
				cr.Data = append(cr.Data, g.bytes(20, 20)...)
			}
		} else {
			cr.Data = g.bytes(0, 10)
		}
		return cr
	case 5:
		if g.pick(2) == 0 {
			a, _ := NewSignatureAuth(g.bytes(1, 20), g.bytes(1, 40))
			return a
		}
		return &Auth{Method: AuthMethod(1 + g.pick(12)), Data: g.bytes(1, 64)}
	case 6:
		return &Nonce{Data: g.bytes(16, 64)}
	case 7:
		return g.notify()
	case 8:
		switch g.pick(3) {
		case 0:
			return &Delete{Protocol: ProtoIKE}
		case 1:
			d := &Delete{Protocol: ProtoESP}
			for i := 1 + g.pick(5); i > 0; i-- {
				d.SPIs = append(d.SPIs, g.r.Uint32())
			}
			return d
		}
		return &Delete{Protocol: ProtoAH, SPIs: []uint32{g.r.Uint32()}}
	case 9:
		return &VendorID{Data: g.bytes(1, 20)}
	case 10:
		ts := &TS{Responder: g.pick(2) == 0}
		for i := 1 + g.pick(4); i > 0; i-- {
			ts.Selectors = append(ts.Selectors, g.selector())
		}
		return ts
	case 11:
		d := g.bytes(4, 30)
		d[2], d[3] = byte(len(d)>>8), byte(len(d))
		return &EAP{Data: d}
	default:
		t := PayloadType(55 + g.pick(200))
		if g.pick(3) == 0 {
			t = PayloadCP
		}
		return &Unknown{PayloadType: t, Data: g.bytes(0, 12)}
	}
}

func (g gen) chain(inner bool) []Payload {
	var ps []Payload
	for i := g.pick(8); i > 0; i-- {
		ps = append(ps, g.payload(inner))
	}
	if !inner {
		switch g.pick(4) {
		case 0:
			ps = append(ps, &Encrypted{NextPayload: PayloadType(g.pick(60)), Body: g.bytes(1, 60)})
		case 1:
			tot := uint16(1 + g.pick(5))
			ps = append(ps, &Fragment{NextPayload: PayloadType(g.pick(60)), Number: uint16(1 + g.pick(int(tot))), Total: tot, Body: g.bytes(1, 60)})
		}
	}
	return ps
}

func (g gen) message() *Message {
	return &Message{
		Header: Header{SPIi: g.r.Uint64(), SPIr: g.r.Uint64(), MinorVersion: uint8(g.pick(16)),
			Exchange: ExchangeType(g.pick(256)), Flags: Flags(g.pick(256)), MessageID: g.r.Uint32()},
		Payloads: g.chain(false),
	}
}

// TestRoundTripProperty: Decode(Encode(m)) equals m for random valid
// messages and inner chains of every payload type, and Encode is canonical
// (re-encoding the decoded value gives the same octets).
func TestRoundTripProperty(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	n := 5000
	if testing.Short() {
		n = 500
	}
	for i := 0; i < n; i++ {
		m := g.message()
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%d: encode %#v: %v", i, m, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%d: decode %x: %v", i, b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%d: round trip differs:\n got %#v\nwant %#v", i, got, m)
		}
		b2, _ := got.Encode()
		if !bytes.Equal(b, b2) {
			t.Fatalf("%d: not canonical", i)
		}
		if decodedCost(got.Payloads) > len(b)-HeaderLen {
			t.Fatalf("%d: decoded cost %d > input %d", i, decodedCost(got.Payloads), len(b))
		}

		inner := g.chain(true)
		first, ib, err := EncodeInner(inner)
		if err != nil {
			t.Fatalf("%d: encode inner: %v", i, err)
		}
		gotInner, err := DecodeInner(first, ib)
		if err != nil {
			t.Fatalf("%d: decode inner: %v", i, err)
		}
		if len(inner) == 0 {
			inner = nil
		}
		if !reflect.DeepEqual(gotInner, inner) {
			t.Fatalf("%d: inner differs:\n got %#v\nwant %#v", i, gotInner, inner)
		}
	}
}
