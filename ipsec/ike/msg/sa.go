package msg

// SA payload codec (RFC 7296 §3.3).

const (
	proposalHeaderLen  = 8
	transformHeaderLen = 8
	lastProposalMore   = 2
	lastTransformMore  = 3
	attrFormatTV       = 0x8000
)

// checkSPISize enforces the SPI sizes RFC 7296 §3.3.1 allows for the
// protocols it defines; other protocols keep whatever they carry.
func checkSPISize(p ProtocolID, n int) error {
	switch p {
	case ProtoIKE:
		if n != 0 && n != 8 {
			return errf(ErrMalformed, "IKE SPI size %d (want 0 or 8)", n)
		}
	case ProtoESP, ProtoAH:
		if n != 4 {
			return errf(ErrMalformed, "%v SPI size %d (want 4)", p, n)
		}
	}
	return nil
}

func decodeSA(b []byte) (*SA, error) {
	if len(b) == 0 {
		return nil, errf(ErrMalformed, "SA without proposals")
	}
	// Count first so the slice is allocated once and never beyond what
	// the input holds.
	n := 0
	for off := 0; off < len(b); n++ {
		if n == MaxProposals {
			return nil, errf(ErrLimit, "more than %d proposals", MaxProposals)
		}
		if len(b)-off < proposalHeaderLen {
			return nil, errf(ErrTruncated, "proposal %d header", n+1)
		}
		l := int(be16(b[off+2:]))
		if l < proposalHeaderLen {
			return nil, errf(ErrLength, "proposal %d length %d", n+1, l)
		}
		if l > len(b)-off {
			return nil, errf(ErrTruncated, "proposal %d length %d > %d", n+1, l, len(b)-off)
		}
		off += l
	}
	sa := &SA{Proposals: make([]Proposal, n)}
	off := 0
	for i := range sa.Proposals {
		l := int(be16(b[off+2:]))
		p := b[off : off+l]
		off += l
		last := p[0]
		wantLast := byte(lastProposalMore)
		if off == len(b) {
			wantLast = 0
		}
		if last != wantLast {
			return nil, errf(ErrMalformed, "proposal %d Last Substruc %d (want %d)", i+1, last, wantLast)
		}
		pr := &sa.Proposals[i]
		pr.Number = p[4]
		pr.Protocol = ProtocolID(p[5])
		spiSize := int(p[6])
		nt := int(p[7])
		if pr.Number == 0 {
			return nil, errf(ErrMalformed, "proposal %d numbered 0", i+1)
		}
		if n > 1 && int(pr.Number) != i+1 {
			return nil, errf(ErrMalformed, "proposal %d numbered %d", i+1, pr.Number)
		}
		if err := checkSPISize(pr.Protocol, spiSize); err != nil {
			return nil, ctx(err, "proposal %d", i+1)
		}
		if proposalHeaderLen+spiSize > l {
			return nil, errf(ErrLength, "proposal %d SPI size %d exceeds length %d", i+1, spiSize, l)
		}
		pr.SPI = nz(p[proposalHeaderLen : proposalHeaderLen+spiSize])
		ts, err := decodeTransforms(p[proposalHeaderLen+spiSize:], nt)
		if err != nil {
			return nil, ctx(err, "proposal %d", i+1)
		}
		pr.Transforms = ts
	}
	return sa, nil
}

func decodeTransforms(b []byte, n int) ([]Transform, error) {
	if n == 0 {
		return nil, errf(ErrMalformed, "no transforms")
	}
	if n > MaxTransforms {
		return nil, errf(ErrLimit, "%d transforms > %d", n, MaxTransforms)
	}
	if n*transformHeaderLen > len(b) {
		return nil, errf(ErrTruncated, "%d transforms in %d octets", n, len(b))
	}
	ts := make([]Transform, n)
	off := 0
	for i := range ts {
		if len(b)-off < transformHeaderLen {
			return nil, errf(ErrTruncated, "transform %d header", i+1)
		}
		l := int(be16(b[off+2:]))
		if l < transformHeaderLen {
			return nil, errf(ErrLength, "transform %d length %d", i+1, l)
		}
		if l > len(b)-off {
			return nil, errf(ErrTruncated, "transform %d length %d > %d", i+1, l, len(b)-off)
		}
		t := b[off : off+l]
		off += l
		wantLast := byte(lastTransformMore)
		if i == n-1 {
			wantLast = 0
		}
		if t[0] != wantLast {
			return nil, errf(ErrMalformed, "transform %d Last Substruc %d (want %d)", i+1, t[0], wantLast)
		}
		tr := &ts[i]
		tr.Type = TransformType(t[4])
		tr.ID = be16(t[6:])
		if err := decodeAttributes(tr, t[transformHeaderLen:]); err != nil {
			return nil, ctx(err, "transform %d (%v)", i+1, tr.Type)
		}
	}
	if off != len(b) {
		return nil, errf(ErrLength, "%d octets after %d transforms", len(b)-off, n)
	}
	return ts, nil
}

func decodeAttributes(tr *Transform, b []byte) error {
	// Count, then allocate once.
	n := 0
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return errf(ErrTruncated, "attribute header")
		}
		at := be16(b[off:])
		if at&attrFormatTV != 0 {
			off += 4
		} else {
			l := int(be16(b[off+2:]))
			if l > len(b)-off-4 {
				return errf(ErrTruncated, "attribute length %d > %d", l, len(b)-off-4)
			}
			off += 4 + l
		}
		if AttributeType(at&^attrFormatTV) != AttrKeyLength {
			n++
		}
		if n > MaxAttributes {
			return errf(ErrLimit, "more than %d attributes", MaxAttributes)
		}
	}
	if n > 0 {
		tr.Attributes = make([]Attribute, 0, n)
	}
	for off := 0; off < len(b); {
		at := be16(b[off:])
		typ := AttributeType(at &^ attrFormatTV)
		tv := at&attrFormatTV != 0
		var v []byte
		if tv {
			v = b[off+2 : off+4]
			off += 4
		} else {
			l := int(be16(b[off+2:]))
			v = nz(b[off+4 : off+4+l])
			off += 4 + l
		}
		if typ == AttrKeyLength {
			if !tv {
				return errf(ErrMalformed, "Key Length attribute in TLV format")
			}
			if tr.KeyLength != 0 {
				return errf(ErrMalformed, "duplicate Key Length attribute")
			}
			tr.KeyLength = be16(v)
			if tr.KeyLength == 0 {
				return errf(ErrMalformed, "Key Length 0")
			}
			continue
		}
		tr.Attributes = append(tr.Attributes, Attribute{Type: typ, TV: tv, Value: v})
	}
	return nil
}

func (p *SA) appendBody(b []byte) ([]byte, error) {
	n := len(p.Proposals)
	if n == 0 {
		return b, errf(ErrEncode, "SA without proposals")
	}
	if n > MaxProposals {
		return b, errf(ErrEncode, "%d proposals > %d", n, MaxProposals)
	}
	for i := range p.Proposals {
		pr := &p.Proposals[i]
		if pr.Number == 0 || (n > 1 && int(pr.Number) != i+1) {
			return b, errf(ErrEncode, "proposal %d numbered %d", i+1, pr.Number)
		}
		if err := checkSPISize(pr.Protocol, len(pr.SPI)); err != nil {
			return b, errf(ErrEncode, "proposal %d: %v", i+1, err)
		}
		if len(pr.SPI) > 255 {
			return b, errf(ErrEncode, "proposal %d SPI of %d octets", i+1, len(pr.SPI))
		}
		nt := len(pr.Transforms)
		if nt == 0 || nt > MaxTransforms {
			return b, errf(ErrEncode, "proposal %d has %d transforms", i+1, nt)
		}
		start := len(b)
		last := byte(lastProposalMore)
		if i == n-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, pr.Number, byte(pr.Protocol), byte(len(pr.SPI)), byte(nt))
		b = append(b, pr.SPI...)
		for j := range pr.Transforms {
			var err error
			if b, err = pr.Transforms[j].append(b, j == nt-1); err != nil {
				return b, ctx(err, "proposal %d transform %d", i+1, j+1)
			}
		}
		l := len(b) - start
		if l > 0xffff {
			return b, errf(ErrEncode, "proposal %d is %d octets", i+1, l)
		}
		put16(b[start+2:], uint16(l))
	}
	return b, nil
}

func (t *Transform) append(b []byte, last bool) ([]byte, error) {
	if len(t.Attributes) > MaxAttributes {
		return b, errf(ErrEncode, "%d attributes > %d", len(t.Attributes), MaxAttributes)
	}
	start := len(b)
	l := byte(lastTransformMore)
	if last {
		l = 0
	}
	b = append(b, l, 0, 0, 0, byte(t.Type), 0)
	b = app16(b, t.ID)
	if t.KeyLength != 0 {
		b = app16(b, attrFormatTV|uint16(AttrKeyLength))
		b = app16(b, t.KeyLength)
	}
	for _, a := range t.Attributes {
		if a.Type == AttrKeyLength || a.Type&attrFormatTV != 0 {
			return b, errf(ErrEncode, "attribute type %d (use KeyLength)", a.Type)
		}
		if a.TV {
			if len(a.Value) != 2 {
				return b, errf(ErrEncode, "TV attribute %v with %d octets", a.Type, len(a.Value))
			}
			b = app16(b, attrFormatTV|uint16(a.Type))
			b = append(b, a.Value...)
			continue
		}
		if len(a.Value) > 0xffff {
			return b, errf(ErrEncode, "attribute %v of %d octets", a.Type, len(a.Value))
		}
		b = app16(b, uint16(a.Type))
		b = app16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	tl := len(b) - start
	if tl > 0xffff {
		return b, errf(ErrEncode, "transform of %d octets", tl)
	}
	put16(b[start+2:], uint16(tl))
	return b, nil
}
