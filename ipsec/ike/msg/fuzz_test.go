package msg

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

// seedMessages are whole IKE messages for FuzzDecode's corpus.
func seedMessages(tb testing.TB) [][]byte {
	seeds := [][]byte{
		readHex(tb, "strongswan_ike_sa_init_request.hex"),
		readHex(tb, "strongswan_ike_sa_init_response.hex"),
		readHex(tb, "strongswan_ike_auth_request.hex"),
	}
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 20; i++ {
		b, err := g.message().Encode()
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// checkDecoded is the property both fuzzers share: a decoded chain is
// bounded by its input, re-encodes to exactly as many octets, and that
// encoding decodes to the same value and is a fixed point.
func checkDecoded(t *testing.T, in []byte, ps []Payload, encode func() ([]byte, error), decode func([]byte) (any, error), value any) {
	if c := decodedCost(ps); c > len(in) {
		t.Fatalf("decoded cost %d > input %d", c, len(in))
	}
	b2, err := encode()
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if len(b2) != len(in) {
		t.Fatalf("re-encoding is %d octets, input %d", len(b2), len(in))
	}
	v2, err := decode(b2)
	if err != nil {
		t.Fatalf("re-encoding does not decode: %v\n%x", err, b2)
	}
	if !reflect.DeepEqual(v2, value) {
		t.Fatalf("re-decoded value differs:\n got %#v\nwant %#v", v2, value)
	}
}

func classified(err error) bool {
	return ErrorNotify(err) != nil || errors.Is(err, ErrVersion)
}

func FuzzDecode(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	a := fixtureAEAD(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ClassifyUDP4500(b)
		fuzzMessage(t, a, b)
		// Most mutations break the header's Length, which must equal the
		// datagram's; also try the input with it fixed up so the fuzzer
		// reaches the payload decoders.
		if len(b) >= HeaderLen && int(be32(b[24:])) != len(b) {
			b = bytes.Clone(b)
			putLen32(b, len(b))
			fuzzMessage(t, a, b)
		}
	})
}

func fuzzMessage(t *testing.T, a AEAD, b []byte) {
	m, err := Decode(b)
	if err != nil {
		if !classified(err) {
			t.Fatalf("unclassified error %v", err)
		}
		return
	}
	checkDecoded(t, b, m.Payloads, m.Encode,
		func(b2 []byte) (any, error) { return Decode(b2) }, m)
	if e := m.Encrypted(); e != nil {
		e.Parts(b, 8)
		if _, err := e.Open(b, a); err == nil {
			// Only possible for the sealed fixture.
			if !bytes.Equal(b, readHex(t, "strongswan_ike_auth_request.hex")) {
				t.Fatalf("forged SK opened")
			}
		}
	}
	if fr := m.Fragment(); fr != nil {
		fr.Parts(b, 8)
		fr.Open(b, a)
	}
}

func FuzzDecodeInner(f *testing.F) {
	f.Add(byte(PayloadIDi), readHex(f, "strongswan_ike_auth_request.plain.hex")[:247])
	for _, s := range seedMessages(f) {
		f.Add(s[16], s[HeaderLen:])
	}
	g := gen{rand.New(rand.NewPCG(5, 6))}
	for i := 0; i < 20; i++ {
		first, b, err := EncodeInner(g.chain(true))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(first), b)
	}
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		ps, err := DecodeInner(PayloadType(first), b)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		checkDecoded(t, b, ps,
			func() ([]byte, error) {
				ft, out, err := EncodeInner(ps)
				if err == nil && len(ps) > 0 && ft != PayloadType(first) {
					t.Fatalf("first type %v, was %v", ft, PayloadType(first))
				}
				return out, err
			},
			func(b2 []byte) (any, error) { return DecodeInner(PayloadType(first), b2) }, ps)
	})
}

// allocBytes is the heap allocated by one call of f, averaged.
func allocBytes(f func()) float64 {
	const runs = 50
	var before, after runtime.MemStats
	f()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / runs
}

// TestAllocationBounded: decoding allocates a bounded number of objects and
// at most a constant factor of the input in bytes, also for inputs that
// claim large lengths or counts.
func TestAllocationBounded(t *testing.T) {
	req := readHex(t, "strongswan_ike_sa_init_request.hex")
	if n := testing.AllocsPerRun(100, func() { Decode(req) }); n > 20 {
		t.Errorf("IKE_SA_INIT decode: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { DecodeHeader(req) }); n != 0 {
		t.Errorf("DecodeHeader: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { ClassifyUDP4500(req) }); n != 0 {
		t.Errorf("ClassifyUDP4500: %v allocations", n)
	}

	hdr := func(first PayloadType, body []byte) []byte {
		b := appendHeader(nil, &Header{Exchange: IKE_SA_INIT}, first)
		b = append(b, body...)
		putLen32(b, len(b))
		return b
	}
	// Worst cases: many minimal payloads; many minimal selectors; lying
	// lengths and counts.
	var manyN []byte
	for i := 0; i < MaxPayloads; i++ {
		next := byte(PayloadN)
		if i == MaxPayloads-1 {
			next = 0
		}
		manyN = append(manyN, next, 0, 0, 8, 0, 0, 0x40, 0x07)
	}
	tsLen := 4 + 4 + 4*MaxSelectors
	ts := []byte{0, 0, byte(tsLen >> 8), byte(tsLen), MaxSelectors, 0, 0, 0}
	for i := 0; i < MaxSelectors; i++ {
		ts = append(ts, 9, 0, 0, 4)
	}
	var manyTr []byte
	manyTr = append(manyTr, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, MaxTransforms)
	for i := 0; i < MaxTransforms; i++ {
		last := byte(3)
		if i == MaxTransforms-1 {
			last = 0
		}
		manyTr = append(manyTr, last, 0, 0, 8, 1, 0, 0, 20)
	}
	l := len(manyTr)
	manyTr[2], manyTr[3], manyTr[6], manyTr[7] = byte(l>>8), byte(l), byte((l-4)>>8), byte(l-4)
	cases := map[string][]byte{
		"128 notifies":       hdr(PayloadN, manyN),
		"64 selectors":       hdr(PayloadTSi, ts),
		"128 transforms":     hdr(PayloadSA, manyTr),
		"header claims 4 GB": append(bytes.Clone(req[:24]), 0xff, 0xff, 0xff, 0xff),
		"payload claims 64k": hdr(PayloadN, []byte{0, 0, 0xff, 0xff, 0, 0, 0x40, 0x07}),
		"255 transforms":     hdr(PayloadSA, []byte{0, 0, 0, 12, 0, 0, 0, 8, 1, 1, 0, 255}),
		"255 selectors":      hdr(PayloadTSi, []byte{0, 0, 0, 8, 255, 0, 0, 0}),
		"delete 65535 SPIs":  hdr(PayloadD, []byte{0, 0, 0, 8, 3, 4, 0xff, 0xff}),
	}
	for name, b := range cases {
		per := allocBytes(func() { Decode(b) })
		limit := 48*float64(len(b)) + 1024
		t.Logf("%s: %d octets in, %.0f bytes allocated", name, len(b), per)
		if per > limit {
			t.Errorf("%s: %.0f bytes allocated for %d octets (limit %.0f)", name, per, len(b), limit)
		}
	}
	if _, err := Decode(cases["128 notifies"]); err != nil {
		t.Errorf("128 notifies: %v", err)
	}
	if _, err := Decode(hdr(PayloadN, append(manyN[:len(manyN)-8], 41, 0, 0, 8, 0, 0, 0x40, 0x07, 0, 0, 0, 8, 0, 0, 0x40, 0x07))); !errors.Is(err, ErrLimit) {
		t.Errorf("129 notifies: %v", err)
	}
}
