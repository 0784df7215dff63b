package ike

import (
	"context"
	"time"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"

	"net/netip"
)

type saState int

const (
	stInitSent    saState = iota + 1 // initiator: IKE_SA_INIT sent
	stAuthSent                       // initiator: IKE_AUTH sent
	stHalfOpen                       // responder: IKE_SA_INIT answered
	stEstablished                    // IKE_AUTH done
	stDeleting                       // Delete sent, waiting for the answer
	stClosed                         // removed
)

func (s saState) String() string {
	switch s {
	case stInitSent, stAuthSent, stHalfOpen:
		return "connecting"
	case stEstablished:
		return "established"
	case stDeleting:
		return "deleting"
	}
	return "down"
}

// request is our outstanding request (window size 1).
type request struct {
	id     uint32
	exch   msg.ExchangeType
	data   [][]byte // the datagrams: one, or the fragments
	local  netip.AddrPort
	remote netip.AddrPort
	tries  int
	next   time.Time
	onResp func(h msg.Header, inner []msg.Payload)
	// onTimeout runs when retransmissions gave up (nil: peer dead).
	onTimeout func()
}

type queued struct {
	exch      msg.ExchangeType
	build     func() []msg.Payload
	onResp    func(h msg.Header, inner []msg.Payload)
	onTimeout func()
}

// ikeSA is one IKE SA.
type ikeSA struct {
	e    *Engine
	conn *connection
	cfg  *conf

	initiator  bool // original initiator (I flag)
	spiI, spiR uint64
	state      saState

	local, remote       netip.AddrPort
	natLocal, natRemote bool

	prop     msg.Proposal
	prf      ikecrypto.PRF
	keys     *ikecrypto.IKESAKeys
	out, in  *ikecrypto.SKCipher
	ni, nr   []byte
	ks       *ikecrypto.KeyShare
	cookie   []byte
	initMsg  []byte         // IKE_SA_INIT request as sent/received
	initResp []byte         // IKE_SA_INIT response as sent/received
	initTry  int            // COOKIE / INVALID_KE retries
	initFrom netip.AddrPort // responder: where the IKE_SA_INIT came from

	peerHashes  []msg.HashAlgorithm
	peerCertReq bool
	// fragOK: both ends announced IKEV2_FRAGMENTATION_SUPPORTED in
	// IKE_SA_INIT (RFC 7383); reasm collects the message in fragments.
	fragOK bool
	reasm  *reassembly

	nextID   uint32 // our next request's message ID
	pending  *request
	queue    []queued
	peerNext uint32   // next request ID expected from the peer
	respData [][]byte // cached response to the peer's request peerNext-1 (its datagrams)
	respTo   netip.AddrPort

	children  []*childSA
	authChild *childSA // initiator: CHILD SA proposed in IKE_AUTH

	created, established time.Time
	rekeyAt, expireAt    time.Time
	lastRecv, lastDPD    time.Time
	lastKeepalive        time.Time

	// IKE rekey: the SA we are rekeying into (ours or the peer's).
	rekeying  *ikeRekey
	rekeyedBy *ikeSA
	// ikeCollision: a peer IKE rekey we answered while ours was pending.
	peerRekeyed *ikeSA
}

func (sa *ikeSA) localSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) header(exch msg.ExchangeType, id uint32, response bool) msg.Header {
	h := msg.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: exch, MessageID: id}
	if sa.initiator {
		h.Flags |= msg.FlagInitiator
	}
	if response {
		h.Flags |= msg.FlagResponse
	}
	return h
}

// sendRequest sends an encrypted request now, or queues it behind the
// outstanding one (window size 1). build runs when the request is sent.
func (sa *ikeSA) sendRequest(exch msg.ExchangeType, payloads []msg.Payload, onResp func(msg.Header, []msg.Payload), onTimeout func()) {
	sa.sendRequestFunc(exch, func() []msg.Payload { return payloads }, onResp, onTimeout)
}

func (sa *ikeSA) sendRequestFunc(exch msg.ExchangeType, build func() []msg.Payload, onResp func(msg.Header, []msg.Payload), onTimeout func()) {
	if sa.state == stClosed {
		return
	}
	sa.queue = append(sa.queue, queued{exch: exch, build: build, onResp: onResp, onTimeout: onTimeout})
	sa.pump()
}

func (sa *ikeSA) pump() {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state != stClosed {
		q := sa.queue[0]
		sa.queue = sa.queue[1:]
		payloads := q.build()
		if payloads == nil && q.exch != msg.INFORMATIONAL {
			continue // the task was cancelled
		}
		b, err := sa.encode(sa.header(q.exch, sa.nextID, false), payloads)
		if err != nil {
			sa.e.log.Error("encoding request", "conn", sa.cfg.Name, "exchange", q.exch.String(), "error", err)
			continue
		}
		sa.pending = &request{id: sa.nextID, exch: q.exch, data: b, local: sa.local, remote: sa.remote,
			next: sa.e.now.Add(sa.cfg.Retransmit.delay(0)), onResp: q.onResp, onTimeout: q.onTimeout}
		sa.e.sendAll(sa.local, sa.remote, b)
	}
}

// respond sends (and caches) the response to the peer's request id.
func (sa *ikeSA) respond(exch msg.ExchangeType, id uint32, to netip.AddrPort, from netip.AddrPort, payloads []msg.Payload) {
	b, err := sa.encode(sa.header(exch, id, true), payloads)
	if err != nil {
		sa.e.log.Error("encoding response", "conn", sa.cfg.Name, "error", err)
		return
	}
	sa.respData, sa.respTo = b, to
	sa.peerNext = id + 1
	sa.e.sendAll(from, to, b)
}

// encode seals payloads into one message, or into RFC 7383 fragments
// when the peer takes them and the message would not fit FragmentSize.
func (sa *ikeSA) encode(h msg.Header, payloads []msg.Payload) ([][]byte, error) {
	b, err := msg.EncodeEncryptedWith(h, nil, payloads, sa.out)
	if err != nil {
		return nil, err
	}
	limit := sa.maxMessage()
	if !sa.fragOK || len(b) <= limit {
		return [][]byte{b}, nil
	}
	fs, err := msg.EncodeFragmentsWith(h, payloads, sa.out, limit)
	if err != nil {
		return nil, err
	}
	sa.e.log.Debug("message sent in fragments", "conn", sa.cfg.Name, "exchange", h.Exchange.String(), "id", h.MessageID,
		"bytes", len(b), "fragments", len(fs))
	return fs, nil
}

// maxMessage is the largest IKE message that fits FragmentSize: the IP
// and UDP headers and, on the NAT-T port, the non-ESP marker come off.
func (sa *ikeSA) maxMessage() int {
	n := sa.cfg.FragmentSize - 8
	if sa.remote.Addr().Is6() {
		n -= 40
	} else {
		n -= 20
	}
	if sa.local.Port() == NATTPort || sa.remote.Port() == NATTPort {
		n -= 4
	}
	return n
}

// reassembly collects the fragments of one message (RFC 7383 §2.6).
type reassembly struct {
	id       uint32
	response bool
	first    msg.PayloadType
	chunks   [][]byte
	got      int
	size     int
}

// Reassembly limits: fragments per message and octets of plaintext. A
// message that exceeds them is dropped (and retransmitted by its sender,
// which makes no difference: it is a peer bug or an attack).
const (
	maxFragments   = 64
	maxReassembled = 64 << 10
)

// addFragment authenticates and stores one fragment; when the message is
// complete it returns the inner payloads.
func (sa *ikeSA) addFragment(p Packet, h msg.Header, f *msg.Fragment) ([]msg.Payload, bool) {
	e := sa.e
	if f.Total > maxFragments {
		e.log.Debug("fragmented message dropped: too many fragments", "conn", sa.cfg.Name, "total", f.Total)
		return nil, false
	}
	chunk, err := f.OpenWith(p.Data, sa.in)
	if err != nil {
		e.log.Debug("SKF payload did not open", "conn", sa.cfg.Name, "error", err)
		return nil, false
	}
	r := sa.reasm
	if r == nil || r.id != h.MessageID || r.response != h.IsResponse() {
		r = &reassembly{id: h.MessageID, response: h.IsResponse(), chunks: make([][]byte, f.Total)}
		sa.reasm = r
	}
	if int(f.Total) != len(r.chunks) || r.chunks[f.Number-1] != nil {
		return nil, false // another total (RFC 7383 §2.6: ignore) or a duplicate
	}
	if r.size += len(chunk); r.size > maxReassembled {
		e.log.Debug("fragmented message dropped: too large", "conn", sa.cfg.Name, "bytes", r.size)
		sa.reasm = nil
		return nil, false
	}
	if f.Number == 1 {
		r.first = f.NextPayload
	}
	r.chunks[f.Number-1] = chunk
	if r.got++; r.got < len(r.chunks) {
		return nil, false
	}
	sa.reasm = nil
	inner, err := msg.Reassemble(r.first, r.chunks)
	if err != nil {
		e.log.Debug("reassembled message undecodable", "conn", sa.cfg.Name, "error", err)
		return nil, false
	}
	e.log.Debug("message reassembled", "conn", sa.cfg.Name, "id", h.MessageID, "fragments", len(r.chunks), "bytes", r.size)
	return inner, true
}

// handleProtected processes an encrypted request or response.
func (sa *ikeSA) handleProtected(p Packet, h msg.Header) {
	e := sa.e
	if h.IsResponse() {
		if sa.pending == nil || h.MessageID != sa.pending.id || h.Exchange != sa.pending.exch {
			e.log.Debug("unexpected response", "conn", sa.cfg.Name, "id", h.MessageID)
			return
		}
	} else {
		if sa.state == stInitSent || sa.state == stAuthSent {
			return // no requests before the SA is up
		}
		if sa.respData != nil && h.MessageID+1 == sa.peerNext {
			// A retransmitted request: resend the cached response
			// without processing it again (RFC 7296 §2.1); for a
			// request in fragments, once, on its first (RFC 7383 §2.6.1).
			if m, err := msg.Decode(p.Data); err == nil && (m.Fragment() == nil || m.Fragment().Number == 1) {
				e.sendAll(p.Local, p.Remote, sa.respData)
			}
			return
		}
		if h.MessageID != sa.peerNext {
			e.log.Debug("request outside the window", "conn", sa.cfg.Name, "id", h.MessageID, "want", sa.peerNext)
			return
		}
	}
	m, err := msg.Decode(p.Data)
	if err != nil {
		e.log.Debug("undecodable message", "conn", sa.cfg.Name, "error", err)
		return
	}
	var inner []msg.Payload
	switch sk, f := m.Encrypted(), m.Fragment(); {
	case sk != nil:
		if inner, err = sk.OpenWith(p.Data, sa.in); err != nil {
			e.log.Debug("SK payload did not open", "conn", sa.cfg.Name, "error", err)
			return
		}
	case f != nil && sa.fragOK:
		var done bool
		if inner, done = sa.addFragment(p, h, f); !done {
			return
		}
	default:
		e.log.Debug("unprotected message dropped (no SK payload)", "conn", sa.cfg.Name)
		return
	}
	sa.lastRecv = e.now
	if (sa.natLocal || sa.natRemote || p.Local.Port() == NATTPort) && (p.Remote != sa.remote || p.Local != sa.local) && sa.state != stHalfOpen {
		// NAT-T: follow the peer's address and port (RFC 7296 §2.23).
		sa.remote, sa.local = p.Remote, p.Local
	} else if sa.state == stHalfOpen && (p.Remote != sa.remote || p.Local != sa.local) {
		sa.remote, sa.local = p.Remote, p.Local // port float to 4500
	}
	if h.IsResponse() {
		req := sa.pending
		sa.pending = nil
		sa.nextID++
		if req.onResp != nil {
			req.onResp(h, inner)
		}
		sa.pump()
		return
	}
	sa.handleRequest(p, h, inner)
}

func (sa *ikeSA) handleRequest(p Packet, h msg.Header, inner []msg.Payload) {
	switch h.Exchange {
	case msg.IKE_AUTH:
		if sa.state != stHalfOpen {
			sa.respond(h.Exchange, h.MessageID, p.Remote, p.Local, []msg.Payload{msg.NewNotify(msg.INVALID_SYNTAX, nil)})
			return
		}
		sa.handleAuthRequest(p, h, inner)
	case msg.CREATE_CHILD_SA:
		if sa.state != stEstablished {
			sa.respond(h.Exchange, h.MessageID, p.Remote, p.Local, []msg.Payload{msg.NewNotify(msg.TEMPORARY_FAILURE, nil)})
			return
		}
		sa.handleCreateChildRequest(p, h, inner)
	case msg.INFORMATIONAL:
		if sa.state == stHalfOpen {
			return
		}
		sa.handleInformational(p, h, inner)
	default:
		// Unknown exchange: an empty response would be wrong; RFC 7296
		// §2.21.1 does not require an answer.
		sa.e.log.Debug("unsupported exchange", "exchange", h.Exchange.String())
	}
}

// tick runs this SA's timers.
func (sa *ikeSA) tick() {
	e := sa.e
	now := e.now
	if sa.state == stClosed {
		return
	}
	if sa.state == stHalfOpen && now.Sub(sa.created) >= e.opts.HalfOpenTimeout {
		sa.destroy("half-open timeout", 0, 0)
		return
	}
	if r := sa.pending; r != nil && !now.Before(r.next) {
		if r.tries >= sa.cfg.Retransmit.Tries {
			sa.giveUp(r)
			return
		}
		r.tries++
		r.next = now.Add(sa.cfg.Retransmit.delay(r.tries))
		e.log.Debug("retransmit", "conn", sa.cfg.Name, "exchange", r.exch.String(), "id", r.id, "try", r.tries)
		e.sendAll(r.local, r.remote, r.data)
	}
	if sa.rekeyedBy != nil {
		if !now.Before(sa.expireAt) {
			sa.destroy("replaced by rekey", 0, 0)
		}
		return
	}
	if sa.state != stEstablished {
		return
	}
	if !sa.expireAt.IsZero() && !now.Before(sa.expireAt) {
		sa.e.emit(Event{Kind: EventDown, Conn: sa.cfg.Name, IKE: true, Reason: "IKE SA lifetime expired"})
		sa.sendDeleteNoWait()
		sa.destroy("expired", 0, 0)
		return
	}
	if !sa.rekeyAt.IsZero() && !now.Before(sa.rekeyAt) && sa.rekeying == nil && sa.rekeyedBy == nil {
		sa.rekeyIKE()
	}
	for _, ch := range sa.children {
		if ch.pendingOut != nil && !now.Before(ch.outDue) {
			sa.installPendingOut(ch, "the peer did not delete the replaced CHILD SA in time")
		}
		if ch.state == childInstalled && !ch.rekeyAt.IsZero() && !now.Before(ch.rekeyAt) {
			sa.rekeyChild(ch)
		}
	}
	sa.dpdCheck()
	if sa.natLocal && sa.cfg.NATKeepalive > 0 && now.Sub(sa.lastKeepalive) >= sa.cfg.NATKeepalive {
		sa.lastKeepalive = now
		e.out = append(e.out, Packet{Local: sa.local, Remote: sa.remote, Data: msg.NATKeepalive(), Keepalive: true})
	}
}

// giveUp handles a request whose retransmissions are exhausted.
func (sa *ikeSA) giveUp(r *request) {
	sa.pending = nil
	if r.onTimeout != nil {
		r.onTimeout()
		return
	}
	sa.peerDead()
}

func (sa *ikeSA) peerDead() {
	e := sa.e
	e.log.Warn("peer dead: no answer after retransmissions", "conn", sa.cfg.Name, "remote", sa.remote)
	sa.destroy("no response after retransmissions", EventPeerDead, 0)
}

// destroy removes the SA, its CHILD SAs (kernel state) and, when it is
// the connection's current SA, its tunnel policies, and schedules
// re-initiation. ev, if non-zero, is emitted afterwards (EventDown only
// for an SA that was up).
func (sa *ikeSA) destroy(reason string, ev EventKind, notify msg.NotifyType) {
	e := sa.e
	if sa.state == stClosed {
		return
	}
	wasUp := sa.state == stEstablished || sa.state == stDeleting
	if ev != 0 && !(ev == EventDown && !wasUp) {
		defer e.emit(Event{Kind: ev, Conn: sa.cfg.Name, Notify: notify, Reason: reason})
	}
	sa.state = stClosed
	for _, ch := range append([]*childSA(nil), sa.children...) {
		sa.removeChild(ch)
	}
	if sa.authChild != nil {
		sa.releaseLarval(sa.authChild)
		sa.authChild = nil
	}
	sa.rekeying = nil
	delete(e.sas, sa.localSPI())
	if !sa.initiator {
		delete(e.byInit, initKey{sa.spiI, sa.initRemote()})
	}
	if sa.keys != nil {
		sa.keys.Wipe()
	}
	sa.pending, sa.queue = nil, nil
	e.log.Debug("IKE SA removed", "conn", sa.cfg.Name, "reason", reason)
	c := sa.conn
	if c != nil && c.ike == sa {
		c.ike = nil
		e.removePolicies(c)
		if c.wantUp && c.cfg.Remote.Addr().IsValid() {
			if wasUp && e.now.Sub(sa.established) >= stableUp {
				// A tunnel that was up a while died (the peer restarted,
				// DPD): try again at once, as strongSwan's
				// dpd_action=restart does; the back-off applies to the
				// attempts after this one.
				c.nextInit = e.now
			} else {
				c.nextInit = e.now.Add(c.backoff)
				c.backoff *= 2
				if c.backoff > c.cfg.ReinitBackoffMax {
					c.backoff = c.cfg.ReinitBackoffMax
				}
			}
		}
	}
}

// stableUp is how long an IKE SA must have been up for its death to be
// answered with an immediate re-initiation instead of the back-off (a
// peer that accepts and then drops us at once gets the back-off).
const stableUp = 30 * time.Second

func (sa *ikeSA) initRemote() netip.AddrPort { return sa.initFrom }

// sendDeleteNoWait sends Delete(IKE) without waiting for the answer
// (shutdown, expiry).
func (sa *ikeSA) sendDeleteNoWait() {
	if sa.out == nil || sa.state == stClosed {
		return
	}
	b, err := msg.EncodeEncryptedWith(sa.header(msg.INFORMATIONAL, sa.nextID, false), nil, []msg.Payload{&msg.Delete{Protocol: msg.ProtoIKE}}, sa.out)
	if err == nil {
		sa.nextID++
		sa.e.send(sa.local, sa.remote, b)
	}
}

// deleteIKE runs an INFORMATIONAL exchange with Delete(IKE); the SA is
// removed when the answer arrives or retransmissions give up.
func (sa *ikeSA) deleteIKE(reason string) {
	if sa.state != stEstablished {
		sa.destroy(reason, EventDown, 0)
		return
	}
	sa.state = stDeleting
	done := func() { sa.destroy(reason, EventDown, 0) }
	// A Delete jumps the queue's tail: queued tasks are dropped.
	sa.queue = nil
	sa.sendRequestForce(msg.INFORMATIONAL, []msg.Payload{&msg.Delete{Protocol: msg.ProtoIKE}},
		func(msg.Header, []msg.Payload) { done() }, done)
}

// sendRequestForce is sendRequest that also works in stDeleting.
func (sa *ikeSA) sendRequestForce(exch msg.ExchangeType, payloads []msg.Payload, onResp func(msg.Header, []msg.Payload), onTimeout func()) {
	sa.queue = append(sa.queue, queued{exch: exch, build: func() []msg.Payload { return payloads }, onResp: onResp, onTimeout: onTimeout})
	sa.pump()
}

func (sa *ikeSA) status(ctx context.Context) IKEStatus {
	st := IKEStatus{
		SPIi: sa.spiI, SPIr: sa.spiR, Initiator: sa.initiator, State: sa.state.String(),
		Local: sa.local, Remote: sa.remote, NATLocal: sa.natLocal, NATRemote: sa.natRemote,
		Established: sa.established, RekeyAt: sa.rekeyAt, ExpireAt: sa.expireAt,
		LastReceived: sa.lastRecv, LastDPD: sa.lastDPD,
	}
	if t, ok := sa.prop.Get(msg.TransformENCR); ok {
		st.Encr = t.String()
	}
	if t, ok := sa.prop.Get(msg.TransformPRF); ok {
		st.PRF = msg.PRFID(t.ID).String()
	}
	st.DH = sa.prop.DHGroup().String()
	for _, ch := range sa.children {
		st.Children = append(st.Children, ch.status(ctx, sa))
	}
	return st
}

func (sa *ikeSA) kernel() xfrm.Kernel { return sa.e.kernel }
