package msg

import (
	"bytes"
	"encoding/binary"
)

// HeaderLen is the length of the IKE header (RFC 7296 §3.1).
const HeaderLen = 28

const genericHeaderLen = 4

// Header is the IKE header without the two fields the codec derives: Next
// Payload (from Message.Payloads) and Length (from the encoding). The major
// version is always 2.
type Header struct {
	SPIi, SPIr uint64
	// MinorVersion is sent as 0 and ignored on receipt (RFC 7296 §3.1);
	// it is kept so that values round-trip.
	MinorVersion uint8
	Exchange     ExchangeType
	Flags        Flags
	MessageID    uint32
}

// IsResponse reports whether the R flag is set.
func (h Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the I flag (original initiator) is set.
func (h Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// Message is a decoded IKE message. For an encrypted message the last
// payload is an *Encrypted (or *Fragment); its inner payloads are obtained
// with Encrypted.Open.
type Message struct {
	Header   Header
	Payloads []Payload
}

// DecodeHeader decodes and checks the IKE header of the datagram b (UDP
// payload without the non-ESP marker): at least HeaderLen octets, major
// version 2, and a Length field equal to len(b). It also returns the first
// payload type. It is cheap and does not allocate on success, for routing a
// datagram to its IKE SA before a full Decode.
func DecodeHeader(b []byte) (Header, PayloadType, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, 0, errf(ErrTruncated, "IKE header: %d octets", len(b))
	}
	if major, minor := b[17]>>4, b[17]&0x0f; major != 2 {
		return h, 0, &VersionError{Major: major, Minor: minor}
	}
	l := be32(b[24:])
	if l < HeaderLen {
		return h, 0, errf(ErrLength, "IKE header length %d", l)
	}
	if int64(l) > int64(len(b)) {
		return h, 0, errf(ErrTruncated, "IKE header length %d > datagram %d", l, len(b))
	}
	if int64(l) != int64(len(b)) {
		return h, 0, errf(ErrLength, "IKE header length %d != datagram %d", l, len(b))
	}
	h.SPIi = binary.BigEndian.Uint64(b[0:])
	h.SPIr = binary.BigEndian.Uint64(b[8:])
	h.MinorVersion = b[17] & 0x0f
	h.Exchange = ExchangeType(b[18])
	h.Flags = Flags(b[19])
	h.MessageID = be32(b[20:])
	return h, PayloadType(b[16]), nil
}

// Decode decodes the IKE message in the datagram b (see DecodeHeader for the
// header checks). b is copied once; the returned message's byte slices alias
// that private copy, so b may be reused. An encrypted message's SK payload is
// not opened; see Encrypted.Open.
func Decode(b []byte) (*Message, error) {
	h, first, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	buf := bytes.Clone(b)
	ps, err := decodeChain(first, buf[HeaderLen:], true)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// DecodeInner decodes a payload chain that starts with a payload of type
// first and fills b exactly: the plaintext of an SK payload, or reassembled
// SKF fragments, after the padding is removed. SK and SKF payloads are not
// allowed in it. b is copied once.
func DecodeInner(first PayloadType, b []byte) ([]Payload, error) {
	return decodeChain(first, bytes.Clone(b), false)
}

// decodeChain decodes the chain in b, whose slices the payloads alias.
// Outer chains may end in SK or SKF.
func decodeChain(first PayloadType, b []byte, outer bool) ([]Payload, error) {
	// Pass 1: walk the generic headers to bound and count the chain.
	n := 0
	for next, off := first, 0; next != PayloadNone; n++ {
		if n == MaxPayloads {
			return nil, errf(ErrLimit, "more than %d payloads", MaxPayloads)
		}
		if len(b)-off < genericHeaderLen {
			return nil, errf(ErrTruncated, "payload %d (%v): generic header", n+1, next)
		}
		l := int(be16(b[off+2:]))
		if l < genericHeaderLen {
			return nil, errf(ErrLength, "payload %d (%v): length %d", n+1, next, l)
		}
		if l > len(b)-off {
			return nil, errf(ErrTruncated, "payload %d (%v): length %d > %d", n+1, next, l, len(b)-off)
		}
		if next == PayloadSK || next == PayloadSKF {
			if !outer {
				return nil, errf(ErrMalformed, "payload %d: %v inside an encrypted payload", n+1, next)
			}
			if off+l != len(b) {
				return nil, errf(ErrMalformed, "payload %d: %v is not the last payload", n+1, next)
			}
			n++
			break
		}
		next = PayloadType(b[off])
		off += l
		if next == PayloadNone && off != len(b) {
			return nil, errf(ErrLength, "%d octets after the last payload", len(b)-off)
		}
	}
	if n == 0 {
		if len(b) != 0 {
			return nil, errf(ErrLength, "%d octets after the last payload", len(b))
		}
		return nil, nil
	}
	// Pass 2: decode the bodies.
	ps := make([]Payload, 0, n)
	for next, off := first, 0; next != PayloadNone; {
		l := int(be16(b[off+2:]))
		crit := b[off+1]&0x80 != 0
		nextNext := PayloadType(b[off])
		body := b[off+genericHeaderLen : off+l]
		p, err := decodePayload(next, nextNext, crit, body)
		if err != nil {
			return nil, ctx(err, "payload %d (%v)", len(ps)+1, next)
		}
		ps = append(ps, p)
		if next == PayloadSK || next == PayloadSKF {
			break
		}
		next = nextNext
		off += l
	}
	return ps, nil
}

func decodePayload(t, next PayloadType, critical bool, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(body)
	case PayloadKE:
		return decodeKE(body)
	case PayloadIDi, PayloadIDr:
		return decodeID(body, t == PayloadIDr)
	case PayloadCERT:
		return decodeCert(body)
	case PayloadCERTREQ:
		return decodeCertReq(body)
	case PayloadAUTH:
		return decodeAuth(body)
	case PayloadNonce:
		return decodeNonce(body)
	case PayloadN:
		return decodeNotify(body)
	case PayloadD:
		return decodeDelete(body)
	case PayloadV:
		return decodeVendorID(body)
	case PayloadTSi, PayloadTSr:
		return decodeTS(body, t == PayloadTSr)
	case PayloadEAP:
		return decodeEAP(body)
	case PayloadSK:
		if len(body) == 0 {
			return nil, errf(ErrLength, "empty SK payload")
		}
		return &Encrypted{NextPayload: next, Body: body}, nil
	case PayloadSKF:
		return decodeFragment(next, body)
	}
	if critical {
		return nil, &CriticalError{Type: t}
	}
	return &Unknown{PayloadType: t, Data: nz(body)}, nil
}

// Encode returns the canonical encoding of m: major version 2, Next Payload
// and Length fields derived, reserved fields and the critical bit of known
// payloads zero. It fails with ErrEncode for values Decode would reject.
func (m *Message) Encode() ([]byte, error) { return m.AppendEncode(nil) }

// AppendEncode appends the encoding of m to dst.
func (m *Message) AppendEncode(dst []byte) ([]byte, error) {
	start := len(dst)
	b := appendHeader(dst, &m.Header, firstType(m.Payloads))
	b, err := appendChain(b, m.Payloads, true)
	if err != nil {
		return dst, err
	}
	if err := putLength(b[start:]); err != nil {
		return dst, err
	}
	return b, nil
}

// isNil reports whether p is nil or a typed nil pointer.
func isNil(p Payload) bool {
	switch p := p.(type) {
	case nil:
		return true
	case *SA:
		return p == nil
	case *KE:
		return p == nil
	case *ID:
		return p == nil
	case *Cert:
		return p == nil
	case *CertReq:
		return p == nil
	case *Auth:
		return p == nil
	case *Nonce:
		return p == nil
	case *Notify:
		return p == nil
	case *Delete:
		return p == nil
	case *VendorID:
		return p == nil
	case *TS:
		return p == nil
	case *EAP:
		return p == nil
	case *Encrypted:
		return p == nil
	case *Fragment:
		return p == nil
	case *Unknown:
		return p == nil
	}
	return false
}

func firstType(ps []Payload) PayloadType {
	if len(ps) == 0 || isNil(ps[0]) {
		return PayloadNone
	}
	return ps[0].Type()
}

func appendHeader(b []byte, h *Header, first PayloadType) []byte {
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(first), 0x20|h.MinorVersion&0x0f, byte(h.Exchange), byte(h.Flags))
	b = app32(b, h.MessageID)
	return app32(b, 0) // length, patched by putLength
}

// putLength writes the length of the message m (header first) into its
// header.
func putLength(m []byte) error {
	if int64(len(m)) > 0xffffffff {
		return errf(ErrEncode, "message of %d octets", len(m))
	}
	binary.BigEndian.PutUint32(m[24:], uint32(len(m)))
	return nil
}

// appendChain encodes ps. In outer chains the last payload may be an
// *Encrypted or *Fragment, whose generic header carries its own
// NextPayload.
func appendChain(b []byte, ps []Payload, outer bool) ([]byte, error) {
	if len(ps) > MaxPayloads {
		return b, errf(ErrEncode, "%d payloads > %d", len(ps), MaxPayloads)
	}
	for i, p := range ps {
		if isNil(p) {
			return b, errf(ErrEncode, "payload %d is nil", i+1)
		}
	}
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		switch p := p.(type) {
		case *Encrypted, *Fragment:
			if !outer {
				return b, errf(ErrEncode, "payload %d: %v inside an encrypted payload", i+1, p.Type())
			}
			if i != len(ps)-1 {
				return b, errf(ErrEncode, "payload %d: %v is not the last payload", i+1, p.Type())
			}
			if e, ok := p.(*Encrypted); ok {
				next = e.NextPayload
			} else {
				next = p.(*Fragment).NextPayload
			}
		}
		start := len(b)
		var flags byte
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = 0x80
		}
		b = append(b, byte(next), flags, 0, 0)
		var err error
		if b, err = p.appendBody(b); err != nil {
			return b, ctx(err, "payload %d (%v)", i+1, p.Type())
		}
		l := len(b) - start
		if l > 0xffff {
			return b, errf(ErrEncode, "payload %d (%v) of %d octets", i+1, p.Type(), l)
		}
		put16(b[start+2:], uint16(l))
	}
	return b, nil
}

// EncodeInner encodes a payload chain for the inside of an SK payload (or
// for splitting into SKF fragments). It returns the type of the first
// payload, which goes into the SK/SKF generic header.
func EncodeInner(ps []Payload) (PayloadType, []byte, error) {
	b, err := appendChain(nil, ps, false)
	if err != nil {
		return 0, nil, err
	}
	return firstType(ps), b, nil
}

// ---- lookup helpers ----

// Find returns the first payload of type t, or nil.
func Find(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// FindAll returns all payloads of type t, in order.
func FindAll(ps []Payload, t PayloadType) []Payload {
	var out []Payload
	for _, p := range ps {
		if p.Type() == t {
			out = append(out, p)
		}
	}
	return out
}

// First returns the first payload of Go type P, e.g. First[*SA](ps). For
// *ID and *TS prefer Find with PayloadIDi/IDr/TSi/TSr.
func First[P Payload](ps []Payload) (P, bool) {
	for _, p := range ps {
		if v, ok := p.(P); ok {
			return v, true
		}
	}
	var zero P
	return zero, false
}

// Notifies returns all Notify payloads, in order.
func Notifies(ps []Payload) []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

// FindNotify returns the first notify of type t, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// ErrorNotifies returns the notifies of error types (< 16384), in order.
func ErrorNotifies(ps []Payload) []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType.IsError() {
			out = append(out, n)
		}
	}
	return out
}

// Encrypted returns the message's SK payload, or nil.
func (m *Message) Encrypted() *Encrypted {
	if len(m.Payloads) == 0 {
		return nil
	}
	e, _ := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	return e
}

// Fragment returns the message's SKF payload, or nil.
func (m *Message) Fragment() *Fragment {
	if len(m.Payloads) == 0 {
		return nil
	}
	f, _ := m.Payloads[len(m.Payloads)-1].(*Fragment)
	return f
}
