package msg

// UDP4500Kind classifies a datagram received on UDP port 4500 (RFC 3948).
type UDP4500Kind uint8

// Kinds of UDP 4500 datagrams.
const (
	// UDPInvalid: none of the below (too short, or a zero SPI without
	// room for an IKE message); drop it.
	UDPInvalid UDP4500Kind = iota
	// UDPKeepalive: a NAT-keepalive, the single octet 0xFF (RFC 3948
	// §2.3); drop it.
	UDPKeepalive
	// UDPIKE: an IKE message behind the 4-octet non-ESP marker (RFC 3948
	// §2.2); the payload is the IKE message without the marker.
	UDPIKE
	// UDPESP: an ESP packet (non-zero SPI, at least SPI and sequence
	// number); the payload is the whole datagram. With a UDP_ENCAP socket
	// the kernel consumes these and user space does not see them.
	UDPESP
)

func (k UDP4500Kind) String() string {
	switch k {
	case UDPKeepalive:
		return "keepalive"
	case UDPIKE:
		return "IKE"
	case UDPESP:
		return "ESP"
	}
	return "invalid"
}

// NonESPMarkerLen is the length of the non-ESP marker.
const NonESPMarkerLen = 4

// ClassifyUDP4500 classifies a UDP 4500 datagram b and returns the part
// to hand on: the IKE message (marker stripped, aliasing b) for UDPIKE, b
// for UDPESP, nil otherwise. It does not decode the IKE message; an IKE
// payload shorter than the IKE header is still UDPIKE (Decode rejects it).
func ClassifyUDP4500(b []byte) (UDP4500Kind, []byte) {
	switch {
	case len(b) == 1 && b[0] == 0xff:
		return UDPKeepalive, nil
	case len(b) < NonESPMarkerLen:
		return UDPInvalid, nil
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		if len(b) == NonESPMarkerLen {
			return UDPInvalid, nil
		}
		return UDPIKE, b[NonESPMarkerLen:]
	case len(b) >= 8:
		return UDPESP, b
	}
	return UDPInvalid, nil
}

// AppendNonESPMarker appends the non-ESP marker and then ike to dst, for
// sending an IKE message on port 4500.
func AppendNonESPMarker(dst, ike []byte) []byte {
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, ike...)
}

// NATKeepalive is the NAT-keepalive datagram payload (RFC 3948 §2.3).
func NATKeepalive() []byte { return []byte{0xff} }
