package xfrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	noc    = netip.MustParseAddr("203.0.113.1")
	vault  = netip.MustParseAddr("203.0.113.2")
	nocNet = netip.MustParsePrefix("10.1.0.0/24")
	lanNet = netip.MustParsePrefix("10.2.0.0/24")
)

const testReqid = 0x4b450001

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, AEADKeyLen) }

func testSA(spi uint32) SA {
	return SA{Src: vault, Dst: noc, SPI: spi, Reqid: testReqid, Key: testKey(0xaa)}
}

func tunnelPolicies(reqid uint32) []Policy {
	out := Policy{Selector: Selector{Src: lanNet, Dst: nocNet}, Dir: DirOut, Priority: 1000,
		Templates: []Template{{Src: vault, Dst: noc, Reqid: reqid}}}
	in := Policy{Selector: Selector{Src: nocNet, Dst: lanNet}, Dir: DirIn, Priority: 1000,
		Templates: []Template{{Src: noc, Dst: vault, Reqid: reqid}}}
	fwd := in
	fwd.Dir = DirFwd
	return []Policy{out, in, fwd}
}

func TestSAValidation(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	cases := []struct {
		name string
		mod  func(*SA)
		want error
	}{
		{"short key", func(s *SA) { s.Key = s.Key[:32] }, ErrInvalid},
		{"icv 64", func(s *SA) { s.ICVBits = 64 }, ErrInvalid},
		{"window 64 without ESN", func(s *SA) { s.ReplayWindow = 64 }, ErrInvalid},
		{"mixed families", func(s *SA) { s.Dst = netip.MustParseAddr("2001:db8::1") }, ErrInvalid},
		{"reserved SPI", func(s *SA) { s.SPI = 255 }, ErrInvalid},
		{"encap without ports", func(s *SA) { s.Encap = &Encap{SrcPort: 4500} }, ErrInvalid},
		{"foreign reqid", func(s *SA) { s.Reqid = 1 }, ErrNotOwned},
		{"window 64 with ESN", func(s *SA) { s.ReplayWindow = 64; s.ESN = true }, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sa := testSA(0x1000 + uint32(i))
			c.mod(&sa)
			err := f.AddSA(ctx, sa)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("AddSA: %v, want %v", err, c.want)
			}
		})
	}
	// Defaults: 32 without ESN, 128 with.
	sas, _, _ := f.State()
	if len(sas) != 1 || sas[0].SA.ReplayWindow != 64 {
		t.Fatalf("state %+v", sas)
	}
	if err := f.AddSA(ctx, testSA(0x2000)); err != nil {
		t.Fatal(err)
	}
	esn := testSA(0x2001)
	esn.ESN = true
	if err := f.AddSA(ctx, esn); err != nil {
		t.Fatal(err)
	}
	sas, _, _ = f.State()
	got := map[uint32]uint32{}
	for _, s := range sas {
		got[s.SA.SPI] = s.SA.ReplayWindow
	}
	if got[0x2000] != 32 || got[0x2001] != 128 {
		t.Fatalf("default windows %v", got)
	}
}

func TestSAStringHidesKey(t *testing.T) {
	sa := testSA(0xc0ffee00)
	sa.Key = []byte(strings.Repeat("K", AEADKeyLen))
	for _, s := range []string{sa.String(), fmt.Sprintf("%v", sa), fmt.Sprintf("%+v", sa), fmt.Sprintf("%#v", sa), fmt.Sprintf("%s", sa)} {
		if strings.Contains(s, "KKKK") || strings.Contains(s, "4b4b4b") {
			t.Fatalf("key printed: %s", s)
		}
		if !strings.Contains(s, "0xc0ffee00") {
			t.Fatalf("SPI missing: %s", s)
		}
	}
}

func TestFakeSALifecycle(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	sa := testSA(0x1234)
	if err := f.AddSA(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := f.AddSA(ctx, sa); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate SPI: %v, want ErrExists", err)
	}
	// Same SPI to another destination is a different SA.
	other := sa
	other.Src, other.Dst = noc, vault
	if err := f.AddSA(ctx, other); err != nil {
		t.Fatalf("same SPI other dst: %v", err)
	}
	if err := f.UpdateSA(ctx, testSA(0x9999)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := f.AddTraffic(sa.ID(), 3, 252); err != nil {
		t.Fatal(err)
	}
	st, err := f.SAStats(ctx, sa.ID())
	if err != nil || st.Packets != 3 || st.Bytes != 252 || st.LastUsed.IsZero() || st.Added.IsZero() {
		t.Fatalf("stats %+v %v", st, err)
	}
	if err := f.DeleteSA(ctx, sa.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteSA(ctx, sa.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v, want ErrNotFound", err)
	}
	if _, err := f.SAStats(ctx, sa.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stats of deleted: %v", err)
	}
}

func TestFakeAllocSPIThenUpdate(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	spi, err := f.AllocSPI(ctx, noc, vault, ProtoESP, testReqid)
	if err != nil || spi < 0x100 {
		t.Fatalf("AllocSPI %x %v", spi, err)
	}
	spi2, err := f.AllocSPI(ctx, noc, vault, ProtoESP, testReqid)
	if err != nil || spi2 == spi {
		t.Fatalf("second AllocSPI %x %v", spi2, err)
	}
	in := SA{Src: noc, Dst: vault, SPI: spi, Reqid: testReqid, Key: testKey(1), Encap: &Encap{SrcPort: 4500, DstPort: 4500}}
	if err := f.AddSA(ctx, in); !errors.Is(err, ErrExists) {
		t.Fatalf("AddSA over larval: %v, want ErrExists (use UpdateSA)", err)
	}
	if err := f.UpdateSA(ctx, in); err != nil {
		t.Fatalf("UpdateSA larval: %v", err)
	}
	sas, _, _ := f.State()
	for _, s := range sas {
		if s.SA.SPI == spi && (s.Larval || !bytes.Equal(s.SA.Key, in.Key)) {
			t.Fatalf("SA not completed: %+v", s)
		}
		if s.SA.SPI == spi2 && !s.Larval {
			t.Fatalf("second SPI should stay larval")
		}
	}
	if _, err := f.AllocSPI(ctx, noc, vault, ProtoESP, 7); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("foreign reqid: %v", err)
	}
}

func TestFakePolicies(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	block := BlockPolicy(nocNet, DefaultOwner().PriorityMin)
	if err := f.AddPolicy(ctx, block); err != nil {
		t.Fatal(err)
	}
	for _, p := range tunnelPolicies(testReqid) {
		if err := f.AddPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := f.AddPolicy(ctx, p); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate policy: %v", err)
		}
	}
	// Same selector and dir as the block policy, only the priority differs:
	// the kernel keys by selector, so this collides.
	b2 := block
	b2.Priority++
	if err := f.AddPolicy(ctx, b2); !errors.Is(err, ErrExists) {
		t.Fatalf("block policy with another priority: %v, want ErrExists", err)
	}
	// Not owned: a template-less block outside the band, or a foreign reqid.
	if err := f.AddPolicy(ctx, BlockPolicy(lanNet, 5)); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("block outside band: %v", err)
	}
	if err := f.AddPolicy(ctx, tunnelPolicies(9)[0]); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("foreign reqid: %v", err)
	}
	bad := tunnelPolicies(testReqid)[0]
	bad.Action = ActionBlock
	if err := f.AddPolicy(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("block with template: %v", err)
	}
	ps, _ := f.Policies(ctx)
	if len(ps) != 4 {
		t.Fatalf("policies %v", ps)
	}
	// Tunnel down: delete the tunnel's policies, the block stays.
	for _, p := range tunnelPolicies(testReqid) {
		if err := f.DeletePolicy(ctx, p.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeletePolicy(ctx, tunnelPolicies(testReqid)[0].ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete unknown policy: %v", err)
	}
	ps, _ = f.Policies(ctx)
	if len(ps) != 1 || ps[0].Action != ActionBlock {
		t.Fatalf("after tunnel down: %v", ps)
	}
	// The ID is normalised: an unmasked prefix names the same policy.
	id := block.ID()
	id.Selector.Dst = netip.MustParsePrefix("10.1.0.77/24")
	if err := f.DeletePolicy(ctx, id); err != nil {
		t.Fatalf("delete by unmasked prefix: %v", err)
	}
}

func TestFakeInjectErrors(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	boom := errors.New("boom")
	f.FailNext(OpAddSA, boom)
	if err := f.AddSA(ctx, testSA(0x500)); !errors.Is(err, boom) {
		t.Fatalf("injected: %v", err)
	}
	if err := f.AddSA(ctx, testSA(0x500)); err != nil {
		t.Fatalf("after one-shot: %v", err)
	}
	f.Fail(OpDeleteSA, boom)
	for i := 0; i < 2; i++ {
		if err := f.DeleteSA(ctx, testSA(0x500).ID()); !errors.Is(err, boom) {
			t.Fatalf("sticky %d: %v", i, err)
		}
	}
	f.Fail(OpDeleteSA, nil)
	if err := f.DeleteSA(ctx, testSA(0x500).ID()); err != nil {
		t.Fatal(err)
	}
	f.NoESP = true
	if err := f.AddSA(ctx, testSA(0x501)); !errors.Is(err, ErrNoESP) {
		t.Fatalf("NoESP: %v", err)
	}
	f.NoInterface = true
	if err := f.CreateInterface(ctx, Interface{Name: "xfrm-noc", IfID: 0x4b45}); !errors.Is(err, ErrNoInterface) {
		t.Fatalf("NoInterface: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.AddPolicy(cctx, BlockPolicy(nocNet, 0x4b450000)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 8 || calls[0].Op != OpAddSA || !errors.Is(calls[0].Err, boom) {
		t.Fatalf("calls %+v", calls)
	}
	for _, c := range calls {
		if strings.Contains(c.Detail, "aaaa") {
			t.Fatalf("key in call log: %s", c.Detail)
		}
	}
}

func TestFakeEvents(t *testing.T) {
	f := NewFake(Owner{})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := f.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sa := testSA(0x777)
	sa.Encap = &Encap{SrcPort: 4500, DstPort: 4500}
	if err := f.AddSA(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := f.Expire(sa.ID(), false); err != nil {
		t.Fatal(err)
	}
	newAddr := netip.MustParseAddrPort("198.51.100.9:40001")
	if err := f.Mapping(sa.ID(), newAddr); err != nil {
		t.Fatal(err)
	}
	if err := f.Expire(sa.ID(), true); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Kind: EventSoftExpire, SA: sa.ID(), Reqid: testReqid},
		{Kind: EventMapping, SA: SAID{Dst: noc, SPI: 0x777}, Reqid: testReqid, OldAddr: netip.AddrPortFrom(vault, 4500), NewAddr: newAddr},
		{Kind: EventHardExpire, SA: sa.ID(), Reqid: testReqid},
	}
	for i, w := range want {
		select {
		case got := <-ch:
			if got != w {
				t.Fatalf("event %d: %v, want %v", i, got, w)
			}
		case <-time.After(time.Second):
			t.Fatalf("event %d missing", i)
		}
	}
	if _, err := f.SAStats(ctx, sa.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hard expire must delete the SA: %v", err)
	}
	if err := f.Expire(sa.ID(), true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expire of unknown: %v", err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(time.Second):
		t.Fatal("channel not closed after cancel")
	}

	// A subscriber that does not read is cut off with EventLost.
	ch2, _ := f.Events(context.Background())
	for i := 0; i < eventBuffer+5; i++ {
		f.Emit(Event{Kind: EventSoftExpire, SA: sa.ID()})
	}
	n, lost := 0, false
	for ev := range ch2 {
		n++
		lost = ev.Kind == EventLost
	}
	if !lost || n != eventBuffer+1 {
		t.Fatalf("overrun: %d events, last lost %t", n, lost)
	}
}

func TestFakeFlushOnlyOwned(t *testing.T) {
	f := NewFake(Owner{})
	ctx := context.Background()
	foreignSA := SA{Src: vault, Dst: noc, SPI: 0xdead, Reqid: 1, Key: testKey(2)}
	foreignPol := Policy{Selector: Selector{Src: lanNet, Dst: netip.MustParsePrefix("192.0.2.0/24")}, Dir: DirOut, Priority: 100,
		Templates: []Template{{Src: vault, Dst: noc, Reqid: 1}}}
	foreignBlock := BlockPolicy(netip.MustParsePrefix("192.0.2.0/24"), 7)
	f.Seed([]SA{foreignSA}, []Policy{foreignPol, foreignBlock})
	if err := f.AddSA(ctx, testSA(0x100)); err != nil {
		t.Fatal(err)
	}
	ifSA := testSA(0x101)
	ifSA.Reqid, ifSA.IfID = 0, 0x4b45
	if err := f.AddSA(ctx, ifSA); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPolicy(ctx, BlockPolicy(nocNet, 0x4b450000)); err != nil {
		t.Fatal(err)
	}
	for _, p := range tunnelPolicies(testReqid) {
		if err := f.AddPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	nsa, npol, err := f.Flush(ctx)
	if err != nil || nsa != 2 || npol != 4 {
		t.Fatalf("flush: %d SAs %d policies %v", nsa, npol, err)
	}
	sas, ps, _ := f.State()
	if len(sas) != 1 || sas[0].SA.SPI != 0xdead || len(ps) != 2 {
		t.Fatalf("foreign state not kept: %v %v", sas, ps)
	}
}

func TestOwnerRule(t *testing.T) {
	o := DefaultOwner()
	cases := []struct {
		p    Policy
		want bool
	}{
		{tunnelPolicies(testReqid)[0], true},
		{tunnelPolicies(1)[0], false},
		{Policy{Selector: Selector{Src: lanNet, Dst: nocNet}, IfID: 0x4b45}, true},
		{BlockPolicy(nocNet, 0x4b450010), true},
		{BlockPolicy(nocNet, 10), false},
		{Policy{Selector: Selector{Src: lanNet, Dst: nocNet}, Priority: 0x4b450010}, false}, // allow without template: not ours
		{Policy{Selector: Selector{Src: lanNet, Dst: nocNet}, Templates: []Template{{Src: vault, Dst: noc, Reqid: testReqid}, {Src: vault, Dst: noc, Reqid: 3}}}, false},
	}
	for i, c := range cases {
		if got := o.OwnsPolicy(c.p); got != c.want {
			t.Errorf("%d %s: %t, want %t", i, c.p, got, c.want)
		}
	}
	if o.OwnsSA(0, 0) || !o.OwnsSA(testReqid, 0) || !o.OwnsSA(0, 0x4b45) || o.OwnsSA(5, 6) {
		t.Error("OwnsSA")
	}
}
