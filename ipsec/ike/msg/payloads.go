package msg

import (
	"net/netip"
)

// Payload body codecs for the simple payloads (RFC 7296 §3.4-§3.16).

const (
	MinNonceLen = 16  // RFC 7296 §3.9
	MaxNonceLen = 256 // RFC 7296 §3.9
	// NATDetectionLen is the length of N(NAT_DETECTION_*) data (SHA-1).
	NATDetectionLen = 20
	// MaxCookieLen bounds N(COOKIE) data (RFC 7296 §2.6: 1..64 octets).
	MaxCookieLen = 64
	// CertReqHashLen is the length of one CA hash in an X509_SIGNATURE
	// CERTREQ (SHA-1 of the SubjectPublicKeyInfo).
	CertReqHashLen = 20
)

// ---- KE ----

func (p *KE) check() error {
	if len(p.Data) == 0 {
		return errf(ErrLength, "KE without key exchange data")
	}
	if n := p.Group.PublicSize(); n != 0 && len(p.Data) != n {
		return errf(ErrLength, "KE %v data %d octets (want %d)", p.Group, len(p.Data), n)
	}
	return nil
}

func decodeKE(b []byte) (*KE, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "KE body %d octets", len(b))
	}
	p := &KE{Group: DHGroup(be16(b)), Data: nz(b[4:])}
	return p, p.check()
}

func (p *KE) appendBody(b []byte) ([]byte, error) {
	if err := p.check(); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	b = app16(b, uint16(p.Group))
	b = append(b, 0, 0)
	return append(b, p.Data...), nil
}

// ---- ID ----

func checkIDData(t IDType, d []byte) error {
	switch t {
	case ID_IPV4_ADDR:
		if len(d) != 4 {
			return errf(ErrLength, "%v of %d octets", t, len(d))
		}
	case ID_IPV6_ADDR:
		if len(d) != 16 {
			return errf(ErrLength, "%v of %d octets", t, len(d))
		}
	case ID_NULL:
		if len(d) != 0 {
			return errf(ErrLength, "%v of %d octets", t, len(d))
		}
	default:
		if len(d) == 0 {
			return errf(ErrLength, "empty %v", t)
		}
	}
	return nil
}

func decodeID(b []byte, responder bool) (*ID, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "ID body %d octets", len(b))
	}
	p := &ID{Responder: responder, IDType: IDType(b[0]), Data: nz(b[4:])}
	return p, checkIDData(p.IDType, p.Data)
}

func (p *ID) appendBody(b []byte) ([]byte, error) {
	if err := checkIDData(p.IDType, p.Data); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	b = append(b, byte(p.IDType), 0, 0, 0)
	return append(b, p.Data...), nil
}

// NewIDAddr returns an ID_IPV4_ADDR or ID_IPV6_ADDR identification.
func NewIDAddr(responder bool, a netip.Addr) *ID {
	if a.Is4() {
		v := a.As4()
		return &ID{Responder: responder, IDType: ID_IPV4_ADDR, Data: v[:]}
	}
	v := a.As16()
	return &ID{Responder: responder, IDType: ID_IPV6_ADDR, Data: v[:]}
}

// NewIDFQDN returns an ID_FQDN identification.
func NewIDFQDN(responder bool, fqdn string) *ID {
	return &ID{Responder: responder, IDType: ID_FQDN, Data: []byte(fqdn)}
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identification.
func (p *ID) Addr() (netip.Addr, bool) {
	switch {
	case p.IDType == ID_IPV4_ADDR && len(p.Data) == 4:
		return netip.AddrFrom4([4]byte(p.Data)), true
	case p.IDType == ID_IPV6_ADDR && len(p.Data) == 16:
		return netip.AddrFrom16([16]byte(p.Data)), true
	}
	return netip.Addr{}, false
}

// ---- CERT / CERTREQ ----

func decodeCert(b []byte) (*Cert, error) {
	if len(b) < 2 {
		return nil, errf(ErrLength, "CERT body %d octets", len(b))
	}
	return &Cert{Encoding: CertEncoding(b[0]), Data: b[1:]}, nil
}

func (p *Cert) appendBody(b []byte) ([]byte, error) {
	if len(p.Data) == 0 {
		return b, errf(ErrEncode, "empty CERT")
	}
	b = append(b, byte(p.Encoding))
	return append(b, p.Data...), nil
}

func checkCertReq(p *CertReq) error {
	if p.Encoding == CertX509Signature && len(p.Data)%CertReqHashLen != 0 {
		return errf(ErrLength, "X509_SIGNATURE CERTREQ of %d octets (not a multiple of %d)", len(p.Data), CertReqHashLen)
	}
	return nil
}

func decodeCertReq(b []byte) (*CertReq, error) {
	if len(b) < 1 {
		return nil, errf(ErrLength, "CERTREQ body %d octets", len(b))
	}
	p := &CertReq{Encoding: CertEncoding(b[0]), Data: nz(b[1:])}
	return p, checkCertReq(p)
}

func (p *CertReq) appendBody(b []byte) ([]byte, error) {
	if err := checkCertReq(p); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	b = append(b, byte(p.Encoding))
	return append(b, p.Data...), nil
}

// Authorities returns the CA key hashes of an X509_SIGNATURE certificate
// request; they alias p.Data.
func (p *CertReq) Authorities() [][]byte {
	if p.Encoding != CertX509Signature {
		return nil
	}
	n := len(p.Data) / CertReqHashLen
	out := make([][]byte, n)
	for i := range out {
		out[i] = p.Data[i*CertReqHashLen : (i+1)*CertReqHashLen : (i+1)*CertReqHashLen]
	}
	return out
}

// ---- AUTH ----

func checkAuth(p *Auth) error {
	if len(p.Data) == 0 {
		return errf(ErrLength, "empty AUTH data")
	}
	if p.Method == AuthDigitalSignature {
		if _, _, err := p.SignatureParts(); err != nil {
			return err
		}
	}
	return nil
}

func decodeAuth(b []byte) (*Auth, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "AUTH body %d octets", len(b))
	}
	p := &Auth{Method: AuthMethod(b[0]), Data: nz(b[4:])}
	return p, checkAuth(p)
}

func (p *Auth) appendBody(b []byte) ([]byte, error) {
	if err := checkAuth(p); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	b = append(b, byte(p.Method), 0, 0, 0)
	return append(b, p.Data...), nil
}

// SignatureParts splits RFC 7427 AUTH data (method 14) into the DER
// AlgorithmIdentifier and the signature value. Neither is empty; both alias
// p.Data. The AlgorithmIdentifier is not parsed here.
func (p *Auth) SignatureParts() (algID, sig []byte, err error) {
	if p.Method != AuthDigitalSignature {
		return nil, nil, errf(ErrMalformed, "AUTH method %v is not DIGITAL_SIGNATURE", p.Method)
	}
	if len(p.Data) < 1 {
		return nil, nil, errf(ErrLength, "empty DIGITAL_SIGNATURE AUTH")
	}
	n := int(p.Data[0])
	if n == 0 || 1+n >= len(p.Data) {
		return nil, nil, errf(ErrLength, "DIGITAL_SIGNATURE AlgorithmIdentifier length %d in %d octets", n, len(p.Data))
	}
	return p.Data[1 : 1+n], p.Data[1+n:], nil
}

// NewSignatureAuth builds an RFC 7427 AUTH payload (method 14) from a DER
// AlgorithmIdentifier (1..255 octets) and a signature.
func NewSignatureAuth(algID, sig []byte) (*Auth, error) {
	if len(algID) == 0 || len(algID) > 255 || len(sig) == 0 {
		return nil, errf(ErrEncode, "AlgorithmIdentifier %d octets, signature %d octets", len(algID), len(sig))
	}
	d := make([]byte, 0, 1+len(algID)+len(sig))
	d = append(d, byte(len(algID)))
	d = append(d, algID...)
	d = append(d, sig...)
	return &Auth{Method: AuthDigitalSignature, Data: d}, nil
}

// ---- Nonce ----

func checkNonce(d []byte) error {
	if len(d) < MinNonceLen || len(d) > MaxNonceLen {
		return errf(ErrLength, "nonce of %d octets (want %d..%d)", len(d), MinNonceLen, MaxNonceLen)
	}
	return nil
}

func decodeNonce(b []byte) (*Nonce, error) {
	return &Nonce{Data: b}, checkNonce(b)
}

func (p *Nonce) appendBody(b []byte) ([]byte, error) {
	if err := checkNonce(p.Data); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	return append(b, p.Data...), nil
}

// ---- Notify ----

// checkNotify validates what RFC 7296 fixes for a notify: the SPI size for
// the protocol and the data length of the types that have a fixed layout.
func checkNotify(p *Notify) error {
	if len(p.SPI) > 0 {
		if err := checkSPISize(p.Protocol, len(p.SPI)); err != nil {
			return err
		}
	}
	d := len(p.Data)
	switch p.NotifyType {
	case NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP:
		if d != NATDetectionLen {
			return errf(ErrLength, "%v data %d octets (want %d)", p.Type, d, NATDetectionLen)
		}
	case COOKIE:
		if d < 1 || d > MaxCookieLen {
			return errf(ErrLength, "COOKIE of %d octets (want 1..%d)", d, MaxCookieLen)
		}
	case INVALID_KE_PAYLOAD:
		if d != 2 {
			return errf(ErrLength, "INVALID_KE_PAYLOAD data %d octets (want 2)", d)
		}
	case UNSUPPORTED_CRITICAL_PAYLOAD:
		if d != 1 {
			return errf(ErrLength, "UNSUPPORTED_CRITICAL_PAYLOAD data %d octets (want 1)", d)
		}
	case SIGNATURE_HASH_ALGORITHMS:
		if d%2 != 0 {
			return errf(ErrLength, "SIGNATURE_HASH_ALGORITHMS data %d octets (odd)", d)
		}
	case REKEY_SA:
		if len(p.SPI) == 0 {
			return errf(ErrMalformed, "REKEY_SA without SPI")
		}
	}
	return nil
}

func decodeNotify(b []byte) (*Notify, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "notify body %d octets", len(b))
	}
	spi := int(b[1])
	if 4+spi > len(b) {
		return nil, errf(ErrLength, "notify SPI size %d in %d octets", spi, len(b))
	}
	p := &Notify{
		Protocol:   ProtocolID(b[0]),
		NotifyType: NotifyType(be16(b[2:])),
		SPI:        nz(b[4 : 4+spi]),
		Data:       nz(b[4+spi:]),
	}
	if err := checkNotify(p); err != nil {
		return nil, ctx(err, "N(%v)", p.NotifyType)
	}
	return p, nil
}

func (p *Notify) appendBody(b []byte) ([]byte, error) {
	if err := checkNotify(p); err != nil {
		return b, errf(ErrEncode, "N(%v): %v", p.Type, err)
	}
	if len(p.SPI) > 255 {
		return b, errf(ErrEncode, "notify SPI of %d octets", len(p.SPI))
	}
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = app16(b, uint16(p.NotifyType))
	b = append(b, p.SPI...)
	return append(b, p.Data...), nil
}

// NewNotify returns a notify without SPI.
func NewNotify(t NotifyType, data []byte) *Notify {
	return &Notify{NotifyType: t, Data: nz(data)}
}

// NewInvalidKE returns N(INVALID_KE_PAYLOAD) naming the group we accept.
func NewInvalidKE(g DHGroup) *Notify {
	return &Notify{NotifyType: INVALID_KE_PAYLOAD, Data: app16(nil, uint16(g))}
}

// InvalidKEGroup returns the group named by N(INVALID_KE_PAYLOAD).
func (p *Notify) InvalidKEGroup() (DHGroup, error) {
	if p.NotifyType != INVALID_KE_PAYLOAD || len(p.Data) != 2 {
		return 0, errf(ErrMalformed, "not an INVALID_KE_PAYLOAD notify")
	}
	return DHGroup(be16(p.Data)), nil
}

// NewSignatureHashAlgorithms returns N(SIGNATURE_HASH_ALGORITHMS) (RFC 7427
// §4).
func NewSignatureHashAlgorithms(hs ...HashAlgorithm) *Notify {
	var d []byte
	for _, h := range hs {
		d = app16(d, uint16(h))
	}
	return &Notify{NotifyType: SIGNATURE_HASH_ALGORITHMS, Data: d}
}

// HashAlgorithms returns the list of N(SIGNATURE_HASH_ALGORITHMS).
func (p *Notify) HashAlgorithms() ([]HashAlgorithm, error) {
	if p.NotifyType != SIGNATURE_HASH_ALGORITHMS || len(p.Data)%2 != 0 {
		return nil, errf(ErrMalformed, "not a SIGNATURE_HASH_ALGORITHMS notify")
	}
	out := make([]HashAlgorithm, len(p.Data)/2)
	for i := range out {
		out[i] = HashAlgorithm(be16(p.Data[2*i:]))
	}
	return out, nil
}

// ---- Delete ----

func checkDelete(p *Delete) error {
	switch p.Protocol {
	case ProtoIKE:
		if len(p.SPIs) != 0 {
			return errf(ErrMalformed, "IKE delete with %d SPIs", len(p.SPIs))
		}
	case ProtoESP, ProtoAH:
		if len(p.SPIs) == 0 {
			return errf(ErrMalformed, "%v delete without SPIs", p.Protocol)
		}
	default:
		return errf(ErrMalformed, "delete for protocol %v", p.Protocol)
	}
	return nil
}

func decodeDelete(b []byte) (*Delete, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "delete body %d octets", len(b))
	}
	p := &Delete{Protocol: ProtocolID(b[0])}
	spiSize := int(b[1])
	n := int(be16(b[2:]))
	switch p.Protocol {
	case ProtoIKE:
		if spiSize != 0 || n != 0 || len(b) != 4 {
			return nil, errf(ErrMalformed, "IKE delete with SPI size %d, %d SPIs, %d octets", spiSize, n, len(b))
		}
	case ProtoESP, ProtoAH:
		if spiSize != 4 {
			return nil, errf(ErrMalformed, "%v delete SPI size %d", p.Protocol, spiSize)
		}
		if len(b) != 4+4*n {
			return nil, errf(ErrLength, "delete of %d SPIs in %d octets", n, len(b))
		}
		p.SPIs = make([]uint32, n)
		for i := range p.SPIs {
			p.SPIs[i] = be32(b[4+4*i:])
		}
	}
	return p, checkDelete(p)
}

func (p *Delete) appendBody(b []byte) ([]byte, error) {
	if err := checkDelete(p); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	if len(p.SPIs) > (0xffff-8)/4 {
		return b, errf(ErrEncode, "delete of %d SPIs", len(p.SPIs))
	}
	if p.Protocol == ProtoIKE {
		return append(b, byte(ProtoIKE), 0, 0, 0), nil
	}
	b = append(b, byte(p.Protocol), 4)
	b = app16(b, uint16(len(p.SPIs)))
	for _, s := range p.SPIs {
		b = app32(b, s)
	}
	return b, nil
}

// ---- Vendor ID ----

func decodeVendorID(b []byte) (*VendorID, error) {
	if len(b) == 0 {
		return nil, errf(ErrLength, "empty vendor ID")
	}
	return &VendorID{Data: b}, nil
}

func (p *VendorID) appendBody(b []byte) ([]byte, error) {
	if len(p.Data) == 0 {
		return b, errf(ErrEncode, "empty vendor ID")
	}
	return append(b, p.Data...), nil
}

// ---- TS ----

const (
	tsIPv4Len = 16
	tsIPv6Len = 40
)

func decodeTS(b []byte, responder bool) (*TS, error) {
	if len(b) < 4 {
		return nil, errf(ErrLength, "TS body %d octets", len(b))
	}
	n := int(b[0])
	if n == 0 {
		return nil, errf(ErrMalformed, "TS without selectors")
	}
	if n > MaxSelectors {
		return nil, errf(ErrLimit, "%d selectors > %d", n, MaxSelectors)
	}
	if 4+4*n > len(b) {
		return nil, errf(ErrTruncated, "%d selectors in %d octets", n, len(b))
	}
	p := &TS{Responder: responder, Selectors: make([]TrafficSelector, n)}
	off := 4
	for i := range p.Selectors {
		if len(b)-off < 4 {
			return nil, errf(ErrTruncated, "selector %d header", i+1)
		}
		l := int(be16(b[off+2:]))
		if l < 4 {
			return nil, errf(ErrLength, "selector %d length %d", i+1, l)
		}
		if l > len(b)-off {
			return nil, errf(ErrTruncated, "selector %d length %d > %d", i+1, l, len(b)-off)
		}
		s := b[off : off+l]
		off += l
		ts := &p.Selectors[i]
		ts.Type = TSType(s[0])
		ts.IPProtocol = s[1]
		switch ts.Type {
		case TS_IPV4_ADDR_RANGE:
			if l != tsIPv4Len {
				return nil, errf(ErrLength, "IPv4 selector %d length %d (want %d)", i+1, l, tsIPv4Len)
			}
			ts.StartPort, ts.EndPort = be16(s[4:]), be16(s[6:])
			ts.StartAddr = netip.AddrFrom4([4]byte(s[8:12]))
			ts.EndAddr = netip.AddrFrom4([4]byte(s[12:16]))
		case TS_IPV6_ADDR_RANGE:
			if l != tsIPv6Len {
				return nil, errf(ErrLength, "IPv6 selector %d length %d (want %d)", i+1, l, tsIPv6Len)
			}
			ts.StartPort, ts.EndPort = be16(s[4:]), be16(s[6:])
			ts.StartAddr = netip.AddrFrom16([16]byte(s[8:24]))
			ts.EndAddr = netip.AddrFrom16([16]byte(s[24:40]))
		default:
			ts.Data = nz(s[4:])
		}
	}
	if off != len(b) {
		return nil, errf(ErrLength, "%d octets after %d selectors", len(b)-off, n)
	}
	return p, nil
}

func (p *TS) appendBody(b []byte) ([]byte, error) {
	n := len(p.Selectors)
	if n == 0 || n > MaxSelectors {
		return b, errf(ErrEncode, "TS with %d selectors", n)
	}
	b = append(b, byte(n), 0, 0, 0)
	for i := range p.Selectors {
		ts := &p.Selectors[i]
		switch ts.Type {
		case TS_IPV4_ADDR_RANGE:
			if !ts.StartAddr.Is4() || !ts.EndAddr.Is4() || ts.Data != nil {
				return b, errf(ErrEncode, "selector %d: IPv4 range needs IPv4 addresses", i+1)
			}
			b = append(b, byte(ts.Type), ts.IPProtocol, 0, tsIPv4Len)
			b = app16(b, ts.StartPort)
			b = app16(b, ts.EndPort)
			s, e := ts.StartAddr.As4(), ts.EndAddr.As4()
			b = append(b, s[:]...)
			b = append(b, e[:]...)
		case TS_IPV6_ADDR_RANGE:
			if !ts.StartAddr.Is6() || !ts.EndAddr.Is6() || ts.StartAddr.Zone() != "" || ts.EndAddr.Zone() != "" || ts.Data != nil {
				return b, errf(ErrEncode, "selector %d: IPv6 range needs zone-less IPv6 addresses", i+1)
			}
			b = append(b, byte(ts.Type), ts.IPProtocol, 0, tsIPv6Len)
			b = app16(b, ts.StartPort)
			b = app16(b, ts.EndPort)
			s, e := ts.StartAddr.As16(), ts.EndAddr.As16()
			b = append(b, s[:]...)
			b = append(b, e[:]...)
		default:
			if ts.StartAddr.IsValid() || ts.EndAddr.IsValid() || ts.StartPort != 0 || ts.EndPort != 0 || len(ts.Data) > 0xffff-4 {
				return b, errf(ErrEncode, "selector %d: type %v carries only Data", i+1, ts.Type)
			}
			b = append(b, byte(ts.Type), ts.IPProtocol)
			b = app16(b, uint16(4+len(ts.Data)))
			b = append(b, ts.Data...)
		}
	}
	return b, nil
}

// ---- EAP ----

func checkEAP(d []byte) error {
	if len(d) < 4 {
		return errf(ErrLength, "EAP message of %d octets", len(d))
	}
	if int(be16(d[2:])) != len(d) {
		return errf(ErrLength, "EAP length %d in %d octets", be16(d[2:]), len(d))
	}
	return nil
}

func decodeEAP(b []byte) (*EAP, error) { return &EAP{Data: b}, checkEAP(b) }

func (p *EAP) appendBody(b []byte) ([]byte, error) {
	if err := checkEAP(p.Data); err != nil {
		return b, errf(ErrEncode, "%v", err)
	}
	return append(b, p.Data...), nil
}

// ---- Unknown ----

func (p *Unknown) appendBody(b []byte) ([]byte, error) {
	if p.PayloadType == PayloadNone || known(p.PayloadType) {
		return b, errf(ErrEncode, "Unknown payload with type %v", p.PayloadType)
	}
	return append(b, p.Data...), nil
}
