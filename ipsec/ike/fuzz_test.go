package ike

import (
	"context"
	"net/netip"
	"testing"

	"keep/ipsec/ike/msg"
)

// FuzzResponder feeds arbitrary datagrams to one long-lived responder
// engine (plain or on 4500): no panic, and the half-open state stays
// within MaxHalfOpen whatever arrives.
func FuzzResponder(f *testing.F) {
	m := newMemnet(f)
	vault := m.add("vault", vaultAddr, Options{}, vaultConfig())
	const maxHalf = 8
	noc := m.add("noc", nocAddr, Options{MaxHalfOpen: maxHalf, CookieThreshold: 4}, nocConfig())
	// Seeds: a real IKE_SA_INIT and IKE_AUTH request.
	m.drop = func(from *node, p Packet) bool {
		if from == vault {
			f.Add(p.Data, false)
		}
		return false
	}
	m.initiate(vault, "noc")
	m.drop = nil
	f.Add([]byte{}, true)
	f.Add(make([]byte, 28), false)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, natt bool) {
		local := netip.AddrPortFrom(nocAddr, 500)
		if natt {
			local = netip.AddrPortFrom(nocAddr, NATTPort)
		}
		noc.eng.Receive(ctx, m.now, Packet{Local: local, Remote: netip.AddrPortFrom(vaultAddr, 500), Data: data})
		noc.eng.Outgoing()
		if h := noc.eng.halfOpen(); h > maxHalf {
			t.Fatalf("%d half-open SAs, cap %d", h, maxHalf)
		}
		if n := len(noc.eng.sas); n > maxHalf+1 {
			t.Fatalf("%d IKE SAs", n)
		}
	})
}

// sealRaw builds an encrypted message around an arbitrary inner payload
// chain (first is the SK payload's Next Payload), sealed with s, so the
// fuzzer reaches the decryption and the inner payload walk.
func sealRaw(t testing.TB, h msg.Header, first msg.PayloadType, inner []byte, s msg.SKSealer) []byte {
	body := make([]byte, s.SealedLen(len(inner)))
	b, err := (&msg.Message{Header: h, Payloads: []msg.Payload{&msg.Encrypted{NextPayload: first, Body: body}}}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(inner, b[:msg.HeaderLen+4])
	if err != nil {
		t.Fatal(err)
	}
	copy(b[msg.HeaderLen+4:], sealed)
	return b
}

// FuzzEstablished feeds arbitrary, correctly encrypted inner payload
// chains, for any exchange and message ID, to an established IKE SA (as
// request or response): no panic, kernel state bounded.
func FuzzEstablished(f *testing.F) {
	seed := func(ps ...msg.Payload) []byte {
		_, b, err := msg.EncodeInner(ps)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(uint8(msg.INFORMATIONAL), uint32(0), true, false, uint8(msg.PayloadD), seed(&msg.Delete{Protocol: msg.ProtoIKE}))
	f.Add(uint8(msg.INFORMATIONAL), uint32(0), true, false, uint8(msg.PayloadD), seed(&msg.Delete{Protocol: msg.ProtoESP, SPIs: []uint32{0xc0000001}}))
	f.Add(uint8(msg.CREATE_CHILD_SA), uint32(0), true, false, uint8(msg.PayloadN), seed(
		&msg.Notify{Protocol: msg.ProtoESP, SPI: []byte{0xc0, 0, 0, 1}, NotifyType: msg.REKEY_SA},
		msg.NewSA(mustProps(f, msg.ProtoESP, "aes256gcm16-noesn"), []byte{1, 2, 3, 4}),
		&msg.Nonce{Data: make([]byte, 32)},
		tsPayload(false, []netip.Prefix{vaultLAN}), tsPayload(true, []netip.Prefix{nocLAN})))
	f.Add(uint8(msg.CREATE_CHILD_SA), uint32(0), true, false, uint8(msg.PayloadSA), seed(
		msg.NewSA(mustProps(f, msg.ProtoIKE, "aes256gcm16-prfsha384-curve25519"), []byte{1, 2, 3, 4, 5, 6, 7, 8}),
		&msg.Nonce{Data: make([]byte, 32)}, &msg.KE{Group: msg.CURVE_25519, Data: make([]byte, 32)}))
	f.Add(uint8(msg.IKE_AUTH), uint32(5), false, true, uint8(msg.PayloadN), []byte{0, 0, 0, 8, 0, 0, 0x40, 0})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, exch uint8, id uint32, useWindow, response bool, first uint8, inner []byte) {
		m := newMemnet(t)
		vault, noc := m.pair(vaultConfig(), nocConfig())
		m.initiate(vault, "noc")
		vs := vault.eng.byName["noc"].ike
		if vs == nil || vs.state != stEstablished {
			t.Fatal("setup failed")
		}
		ns := noc.eng.sas[vs.spiR]
		h := vs.header(msg.ExchangeType(exch), id, response)
		if useWindow {
			if response {
				h.MessageID = ns.nextID
			} else {
				h.MessageID = ns.peerNext
			}
		}
		data := sealRaw(t, h, msg.PayloadType(first), inner, vs.out)
		noc.eng.Receive(ctx, m.now, Packet{Local: ns.local, Remote: ns.remote, Data: data})
		m.run()
		sas, pols, _ := noc.kern.State()
		if len(sas) > 4 || len(pols) > 3 || len(noc.eng.sas) > 2 {
			t.Fatalf("state grew: %d SAs, %d policies, %d IKE SAs", len(sas), len(pols), len(noc.eng.sas))
		}
	})
}

func mustProps(t testing.TB, p msg.ProtocolID, s string) []msg.Proposal {
	ps, err := msg.ParseProposals(p, s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}
