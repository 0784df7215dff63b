package msg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestClassifyUDP4500(t *testing.T) {
	ike := readHex(t, "strongswan_ike_sa_init_request.hex")
	for _, tc := range []struct {
		name    string
		in      []byte
		kind    UDP4500Kind
		payload []byte
	}{
		{"keepalive", []byte{0xff}, UDPKeepalive, nil},
		{"one other octet", []byte{0x00}, UDPInvalid, nil},
		{"empty", nil, UDPInvalid, nil},
		{"three zeros", []byte{0, 0, 0}, UDPInvalid, nil},
		{"marker only", []byte{0, 0, 0, 0}, UDPInvalid, nil},
		{"IKE", AppendNonESPMarker(nil, ike), UDPIKE, ike},
		{"ESP", []byte{0xc0, 0, 0, 1, 0, 0, 0, 1, 0xaa}, UDPESP, []byte{0xc0, 0, 0, 1, 0, 0, 0, 1, 0xaa}},
		{"ESP too short", []byte{0xc0, 0, 0, 1, 0, 0, 0}, UDPInvalid, nil},
		{"two 0xff", []byte{0xff, 0xff}, UDPInvalid, nil},
	} {
		k, p := ClassifyUDP4500(tc.in)
		if k != tc.kind || !bytes.Equal(p, tc.payload) {
			t.Errorf("%s: %v %x", tc.name, k, p)
		}
	}
	if !bytes.Equal(NATKeepalive(), []byte{0xff}) {
		t.Error("keepalive")
	}
}

func innerSample(t testing.TB) []Payload {
	return []Payload{
		NewIDFQDN(false, "vault-01.example.net"),
		NewNotify(INITIAL_CONTACT, nil),
		&Auth{Method: AuthPSK, Data: bytes.Repeat([]byte{7}, 48)},
		&Delete{Protocol: ProtoESP, SPIs: []uint32{1, 2, 3}},
	}
}

func TestSealOpenPadding(t *testing.T) {
	g := fixtureAEAD(t)
	h := Header{SPIi: 1, SPIr: 2, Exchange: INFORMATIONAL, Flags: FlagInitiator, MessageID: 9}
	iv := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	for _, bs := range []int{1, 4, 16} {
		var a AEAD = g
		if bs > 1 {
			a = blockGCM{g, bs}
		}
		for _, inner := range [][]Payload{nil, innerSample(t)} {
			b, err := EncodeEncrypted(h, nil, inner, a, iv)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			_, _, ct, _ := m.Encrypted().Parts(b, 8)
			if (len(ct)-16)%bs != 0 {
				t.Errorf("bs %d: plaintext %d not aligned", bs, len(ct)-16)
			}
			got, err := m.Encrypted().Open(b, a)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, inner) {
				t.Errorf("bs %d: inner %v", bs, got)
			}
		}
	}
	// A peer's arbitrary padding (any length, any content) is accepted.
	_, plain, _ := EncodeInner(innerSample(t))
	for _, pad := range []int{0, 1, 7, 255} {
		pt := append(bytes.Clone(plain), bytes.Repeat([]byte{0xee}, pad)...)
		pt = append(pt, byte(pad))
		b := rawSK(t, g, h, PayloadIDi, pt, iv)
		m, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Encrypted().Open(b, g)
		if err != nil || !reflect.DeepEqual(got, innerSample(t)) {
			t.Errorf("pad %d: %v", pad, err)
		}
	}
	// Pad Length beyond the plaintext.
	b := rawSK(t, g, h, PayloadNone, []byte{0, 5}, iv)
	m, _ := Decode(b)
	if _, err := m.Encrypted().Open(b, g); !errors.Is(err, ErrDecrypt) {
		t.Errorf("bad pad: %v", err)
	}
	// Inner chain errors surface as decode errors.
	b = rawSK(t, g, h, PayloadNonce, []byte{0, 0, 0, 5, 1, 0}, iv)
	m, _ = Decode(b)
	if _, err := m.Encrypted().Open(b, g); !errors.Is(err, ErrLength) {
		t.Errorf("bad inner: %v", err)
	}
	// Too short for the ICV.
	b = rawSK(t, g, h, PayloadNone, []byte{0}, iv)
	b = b[:len(b)-16]
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	binary.BigEndian.PutUint16(b[30:], uint16(len(b)-28))
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Encrypted().Open(b, g); !errors.Is(err, ErrLength) {
		t.Errorf("short: %v", err)
	}
	// Wrong IV size.
	if _, err := EncodeEncrypted(h, nil, nil, g, []byte{1}); !errors.Is(err, ErrEncode) {
		t.Errorf("IV size: %v", err)
	}
	// A lying AEAD (Overhead wrong) is caught.
	if _, err := EncodeEncrypted(h, nil, nil, lyingAEAD{g}, iv); !errors.Is(err, ErrEncode) {
		t.Errorf("lying AEAD: %v", err)
	}
}

type lyingAEAD struct{ *gcmAEAD }

func (lyingAEAD) Overhead() int { return 12 }

// rawSK seals the given plaintext (padding included) as an SK message
// without going through EncodeEncrypted.
func rawSK(t testing.TB, g *gcmAEAD, h Header, first PayloadType, pt, iv []byte) []byte {
	b := appendHeader(nil, &h, PayloadSK)
	b = append(b, byte(first), 0)
	b = app16(b, uint16(4+len(iv)+len(pt)+16))
	putLen32(b, len(b)+len(iv)+len(pt)+16)
	aad := bytes.Clone(b)
	b = append(b, iv...)
	return g.Seal(b, iv, pt, aad)
}

func TestEncryptedWithClearPayload(t *testing.T) {
	g := fixtureAEAD(t)
	h := Header{SPIi: 1, SPIr: 2, Exchange: IKE_AUTH, Flags: FlagResponse}
	clear := []Payload{&VendorID{Data: []byte("x")}, NewNotify(MOBIKE_SUPPORTED, nil)}
	b, err := EncodeEncrypted(h, clear, innerSample(t), g, make([]byte, 8))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Payloads) != 3 || !reflect.DeepEqual(m.Payloads[:2], clear) {
		t.Fatalf("%v", m.Payloads)
	}
	aad, _, _, _ := m.Encrypted().Parts(b, 8)
	if len(aad) != 28+5+8+4 || !bytes.Equal(aad, b[:45]) {
		t.Fatalf("aad %d", len(aad))
	}
	got, err := m.Encrypted().Open(b, g)
	if err != nil || !reflect.DeepEqual(got, innerSample(t)) {
		t.Fatal(err)
	}
}

func TestFragments(t *testing.T) {
	g := fixtureAEAD(t)
	h := Header{SPIi: 1, SPIr: 2, Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1}
	inner := append(innerSample(t), &Cert{Encoding: CertX509Signature, Data: bytes.Repeat([]byte{0x30}, 1500)})
	n := uint64(0)
	nextIV := func() ([]byte, error) {
		n++
		return binary.BigEndian.AppendUint64(nil, n), nil
	}
	frags, err := EncodeFragments(h, inner, g, 576, nextIV)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) < 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	var first PayloadType
	var chunks [][]byte
	for i, b := range frags {
		if len(b) > 576 {
			t.Errorf("fragment %d is %d octets", i+1, len(b))
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		f := m.Fragment()
		if f == nil || int(f.Number) != i+1 || int(f.Total) != len(frags) {
			t.Fatalf("fragment %d: %+v", i+1, f)
		}
		aad, _, _, err := f.Parts(b, 8)
		if err != nil || len(aad) != 36 {
			t.Fatalf("aad %d %v", len(aad), err)
		}
		if i == 0 {
			first = f.NextPayload
		} else if f.NextPayload != PayloadNone {
			t.Errorf("fragment %d next %v", i+1, f.NextPayload)
		}
		c, err := f.Open(b, g)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
		// Re-encoding the decoded fragment gives the same octets.
		if out, err := m.Encode(); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("fragment %d re-encode: %v", i+1, err)
		}
	}
	got, err := Reassemble(first, chunks)
	if err != nil || !reflect.DeepEqual(got, inner) {
		t.Fatalf("reassembled: %v", err)
	}
	if _, err := EncodeFragments(h, inner, g, 60, nextIV); !errors.Is(err, ErrEncode) {
		t.Errorf("tiny MTU: %v", err)
	}
	if _, err := EncodeFragment(h, 2, 1, PayloadNone, []byte{1}, g, make([]byte, 8)); !errors.Is(err, ErrEncode) {
		t.Errorf("2 of 1: %v", err)
	}
	if _, err := EncodeFragments(h, inner, g, 576, func() ([]byte, error) { return nil, fmt.Errorf("rng") }); err == nil {
		t.Error("IV error ignored")
	}
}

// counterSealer has the SKSealer shape of ipsec/ike/crypto's SKCipher: it
// owns the IV counter and the padding.
type counterSealer struct {
	g  *gcmAEAD
	iv uint64
}

func (c *counterSealer) SealedLen(n int) int { return 8 + n + 1 + 16 }
func (c *counterSealer) Seal(pt, aad []byte) ([]byte, error) {
	c.iv++
	iv := binary.BigEndian.AppendUint64(nil, c.iv)
	return c.g.Seal(iv, iv, append(bytes.Clone(pt), 0), aad), nil
}
func (c *counterSealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 8+1+16 {
		return nil, errors.New("short")
	}
	pt, err := c.g.Open(nil, sealed[:8], sealed[8:], aad)
	if err != nil {
		return nil, err
	}
	return pt[:len(pt)-1-int(pt[len(pt)-1])], nil
}

func TestSKSealer(t *testing.T) {
	b := readHex(t, "strongswan_ike_auth_request.hex")
	s := &counterSealer{g: fixtureAEAD(t)}
	m, _ := Decode(b)
	inner, err := m.Encrypted().OpenWith(b, s)
	if err != nil || len(inner) != 12 {
		t.Fatal(err)
	}
	// IV 1 is the fixture's: sealing reproduces it.
	out, err := EncodeEncryptedWith(m.Header, nil, inner, s)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("EncodeEncryptedWith: %v", err)
	}
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1
	bm, _ := Decode(bad)
	if _, err := bm.Encrypted().OpenWith(bad, s); !errors.Is(err, ErrDecrypt) {
		t.Errorf("tampered: %v", err)
	}
	h := m.Header
	fb, err := EncodeFragmentWith(h, 1, 1, PayloadIDi, plainOf(t, inner), s)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := Decode(fb)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fm.Fragment().OpenWith(fb, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Reassemble(fm.Fragment().NextPayload, [][]byte{c}); err != nil || !reflect.DeepEqual(got, inner) {
		t.Fatal(err)
	}
	if _, err := EncodeFragmentWith(h, 0, 1, PayloadIDi, []byte{1}, s); !errors.Is(err, ErrEncode) {
		t.Error(err)
	}
	if _, err := EncodeEncryptedWith(h, nil, nil, lyingSealer{s}); !errors.Is(err, ErrEncode) {
		t.Errorf("lying sealer: %v", err)
	}
}

type lyingSealer struct{ *counterSealer }

func (lyingSealer) SealedLen(n int) int { return n + 3 }

func plainOf(t *testing.T, ps []Payload) []byte {
	_, b, err := EncodeInner(ps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
