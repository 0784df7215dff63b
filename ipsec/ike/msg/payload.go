package msg

import (
	"encoding/binary"
	"net/netip"
)

// Payload is one IKEv2 payload. The implementations are the pointer types in
// this package (*SA, *KE, *ID, *Cert, *CertReq, *Auth, *Nonce, *Notify,
// *Delete, *VendorID, *TS, *EAP, *Encrypted, *Fragment and *Unknown); the
// set is closed so that every payload has a canonical encoding.
//
// The generic payload header (RFC 7296 §3.2) is not part of the values: Next
// Payload is derived from the chain, Payload Length from the body, and the
// critical bit is written as 0 for every payload this package understands
// (RFC 7296: it MUST be ignored on receipt for known types) and kept for
// *Unknown.
//
// Decoded byte slices never hold zero octets: an empty field decodes as nil.
type Payload interface {
	// Type is the payload's Next Payload value.
	Type() PayloadType
	// appendBody appends the payload body (after the generic header).
	appendBody(b []byte) ([]byte, error)
}

// SA is a Security Association payload (RFC 7296 §3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is a proposal substructure (RFC 7296 §3.3.1).
type Proposal struct {
	// Number is the Proposal Num. In an SA with several proposals they
	// are 1, 2, 3, ...; a responder's single proposal carries the number
	// of the proposal it chose.
	Number   uint8
	Protocol ProtocolID
	// SPI is empty (IKE_SA_INIT), 8 octets (IKE SA rekey) or 4 octets
	// (ESP/AH).
	SPI        []byte
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 §3.3.2).
type Transform struct {
	Type TransformType
	// ID is the Transform ID; its meaning depends on Type (EncrID, PRFID,
	// IntegID, DHGroup, ESNID).
	ID uint16
	// KeyLength is the Key Length attribute in bits; 0 means absent.
	KeyLength uint16
	// Attributes are any other attributes, in wire order. RFC 7296 defines
	// none: a transform carrying one is unacceptable (§3.3.6), but it is
	// decoded and kept.
	Attributes []Attribute
}

// Attribute is a transform attribute other than Key Length (RFC 7296 §3.3.5).
type Attribute struct {
	Type AttributeType
	// TV is the AF bit: a TV attribute's Value is exactly 2 octets, a TLV
	// attribute's Value is 0..65535 octets.
	TV    bool
	Value []byte
}

// KE is a Key Exchange payload (RFC 7296 §3.4).
type KE struct {
	Group DHGroup
	Data  []byte // exactly Group.PublicSize() octets when that is known
}

// ID is an Identification payload (RFC 7296 §3.5): IDi, or IDr when
// Responder is set.
type ID struct {
	Responder bool
	IDType    IDType
	// Data is the identification data: 4 octets for ID_IPV4_ADDR, 16 for
	// ID_IPV6_ADDR, non-empty otherwise (FQDN and RFC822 as ASCII, DN as
	// DER, KEY_ID opaque).
	Data []byte
}

// Cert is a Certificate payload (RFC 7296 §3.6).
type Cert struct {
	Encoding CertEncoding
	Data     []byte // non-empty (DER certificate for X509_SIGNATURE)
}

// CertReq is a Certificate Request payload (RFC 7296 §3.7). For
// X509_SIGNATURE, Data is a concatenation of 20-octet SHA-1 hashes of
// trusted CAs' SubjectPublicKeyInfo (see Authorities).
type CertReq struct {
	Encoding CertEncoding
	Data     []byte
}

// Auth is an Authentication payload (RFC 7296 §3.8). For
// AuthDigitalSignature, Data is the RFC 7427 layout (see SignatureParts).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Nonce is a Nonce payload (RFC 7296 §3.9): 16 to 256 octets.
type Nonce struct {
	Data []byte
}

// Notify is a Notify payload (RFC 7296 §3.10).
type Notify struct {
	// Protocol is 0 when SPI is empty (RFC 7296: sent as 0 and ignored
	// on receipt; this package keeps the received value).
	Protocol   ProtocolID
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

// Delete is a Delete payload (RFC 7296 §3.11). For ProtoIKE SPIs is empty;
// for ESP and AH it lists the 4-octet SPIs (at least one).
type Delete struct {
	Protocol ProtocolID
	SPIs     []uint32
}

// VendorID is a Vendor ID payload (RFC 7296 §3.12).
type VendorID struct {
	Data []byte // non-empty
}

// TS is a Traffic Selector payload (RFC 7296 §3.13): TSi, or TSr when
// Responder is set. It holds 1..MaxSelectors selectors.
type TS struct {
	Responder bool
	Selectors []TrafficSelector
}

// TrafficSelector is one traffic selector (RFC 7296 §3.13.1).
type TrafficSelector struct {
	Type TSType
	// IPProtocol is the IP protocol (0 = any). For types other than
	// IPv4/IPv6 ranges it is the second octet of the selector as sent.
	IPProtocol         uint8
	StartPort, EndPort uint16 // 0-65535 = any; 65535-0 = OPAQUE
	// StartAddr and EndAddr are IPv4 (Is4) for TS_IPV4_ADDR_RANGE and
	// IPv6 for TS_IPV6_ADDR_RANGE; invalid (zero) for other types.
	StartAddr, EndAddr netip.Addr
	// Data holds, for other types only, the octets after the 4-octet
	// selector header.
	Data []byte
}

// EAP is an EAP payload (RFC 7296 §3.16), kept opaque: Data is one EAP
// message whose own Length field must equal len(Data).
type EAP struct {
	Data []byte
}

// Encrypted is an Encrypted and Authenticated (SK) payload (RFC 7296 §3.14,
// RFC 5282 §3). It is always the last payload of a message.
type Encrypted struct {
	// NextPayload is the SK generic header's Next Payload: the type of
	// the first inner payload.
	NextPayload PayloadType
	// Body is IV || ciphertext || ICV exactly as on the wire. Use Parts
	// or Open with the datagram to get at the pieces.
	Body []byte
}

// Fragment is an Encrypted and Authenticated Fragment (SKF) payload (RFC
// 7383 §2.5). It is always the last payload of a message.
type Fragment struct {
	// NextPayload is the first inner payload's type in fragment 1, and 0
	// in the other fragments.
	NextPayload PayloadType
	Number      uint16 // 1..Total
	Total       uint16
	Body        []byte // IV || ciphertext || ICV
}

// Unknown is a payload of a type this package does not interpret, kept
// so that it round-trips. Decode returns a *CriticalError instead when its
// critical bit is set.
type Unknown struct {
	PayloadType PayloadType
	Critical    bool
	Data        []byte
}

// Type implements Payload.
func (*SA) Type() PayloadType { return PayloadSA }

// Type implements Payload.
func (*KE) Type() PayloadType { return PayloadKE }

// Type implements Payload.
func (p *ID) Type() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

// Type implements Payload.
func (*Cert) Type() PayloadType { return PayloadCERT }

// Type implements Payload.
func (*CertReq) Type() PayloadType { return PayloadCERTREQ }

// Type implements Payload.
func (*Auth) Type() PayloadType { return PayloadAUTH }

// Type implements Payload.
func (*Nonce) Type() PayloadType { return PayloadNonce }

// Type implements Payload.
func (*Notify) Type() PayloadType { return PayloadN }

// Type implements Payload.
func (*Delete) Type() PayloadType { return PayloadD }

// Type implements Payload.
func (*VendorID) Type() PayloadType { return PayloadV }

// Type implements Payload.
func (p *TS) Type() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// Type implements Payload.
func (*EAP) Type() PayloadType { return PayloadEAP }

// Type implements Payload.
func (*Encrypted) Type() PayloadType { return PayloadSK }

// Type implements Payload.
func (*Fragment) Type() PayloadType { return PayloadSKF }

// Type implements Payload.
func (p *Unknown) Type() PayloadType { return p.PayloadType }

// known reports whether t has a Go type in this package.
func known(t PayloadType) bool {
	switch t {
	case PayloadSA, PayloadKE, PayloadIDi, PayloadIDr, PayloadCERT, PayloadCERTREQ, PayloadAUTH,
		PayloadNonce, PayloadN, PayloadD, PayloadV, PayloadTSi, PayloadTSr, PayloadSK, PayloadEAP, PayloadSKF:
		return true
	}
	return false
}

// ---- helpers ----

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }

func app16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func app32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// nz returns nil for an empty slice, so decoded values are canonical.
func nz(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
