package msg

import "net/netip"

// NarrowTS returns the intersections of each selector in theirs with each
// selector in ours (RFC 7296 §2.9): same TS type, IP protocol equal or one
// of them 0 (any), overlapping port ranges and overlapping address ranges.
// The result follows theirs' order; it is empty when nothing overlaps
// (answer TS_UNACCEPTABLE). Selectors of other types never match, and the
// OPAQUE port range (start > end) only matches OPAQUE or any (0-65535).
func NarrowTS(ours, theirs []TrafficSelector) []TrafficSelector {
	var out []TrafficSelector
	for _, t := range theirs {
		for _, o := range ours {
			if s, ok := intersectTS(o, t); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func intersectTS(a, b TrafficSelector) (TrafficSelector, bool) {
	if a.Type != b.Type || (a.Type != TS_IPV4_ADDR_RANGE && a.Type != TS_IPV6_ADDR_RANGE) {
		return TrafficSelector{}, false
	}
	r := TrafficSelector{Type: a.Type}
	switch {
	case a.IPProtocol == b.IPProtocol, b.IPProtocol == 0:
		r.IPProtocol = a.IPProtocol
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	default:
		return r, false
	}
	aOpaque, bOpaque := a.StartPort > a.EndPort, b.StartPort > b.EndPort
	aAny, bAny := a.StartPort == 0 && a.EndPort == 0xffff, b.StartPort == 0 && b.EndPort == 0xffff
	switch {
	case aOpaque || bOpaque:
		if !(aOpaque || aAny) || !(bOpaque || bAny) {
			return r, false
		}
		r.StartPort, r.EndPort = 0xffff, 0
	default:
		r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
		if r.StartPort > r.EndPort {
			return r, false
		}
	}
	r.StartAddr, r.EndAddr = maxAddr(a.StartAddr, b.StartAddr), minAddr(a.EndAddr, b.EndAddr)
	if !r.StartAddr.IsValid() || !r.EndAddr.IsValid() || r.StartAddr.Compare(r.EndAddr) > 0 {
		return r, false
	}
	return r, true
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) >= 0 {
		return a
	}
	return b
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Compare(b) <= 0 {
		return a
	}
	return b
}

// TSFromPrefix returns the selector covering prefix p, all protocols and
// ports.
func TSFromPrefix(p netip.Prefix) TrafficSelector {
	p = p.Masked()
	t := TS_IPV4_ADDR_RANGE
	if p.Addr().Is6() {
		t = TS_IPV6_ADDR_RANGE
	}
	return TrafficSelector{Type: t, EndPort: 0xffff, StartAddr: p.Addr(), EndAddr: lastAddr(p)}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}
