package ike

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
)

// rekeyedLinger is how long an IKE SA replaced by a rekey waits for the
// peer's Delete before it is removed anyway.
const rekeyedLinger = 30 * time.Second

type ikeRekey struct {
	spi     uint64
	ni      []byte
	ks      *ikecrypto.KeyShare
	retried bool
}

// handleCreateChildRequest: CHILD SA rekey or IKE SA rekey (responder).
func (sa *ikeSA) handleCreateChildRequest(p Packet, h msg.Header, inner []msg.Payload) {
	e, c := sa.e, sa.cfg
	reply := func(ps ...msg.Payload) { sa.respond(h.Exchange, h.MessageID, p.Remote, p.Local, ps) }
	saI, _ := msg.First[*msg.SA](inner)
	nonce, _ := msg.First[*msg.Nonce](inner)
	if saI == nil || nonce == nil || len(saI.Proposals) == 0 {
		reply(msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	if err := ikecrypto.ValidateNonce(sa.prf, nonce.Data); err != nil {
		reply(msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	if sa.rekeyedBy != nil || sa.state != stEstablished {
		reply(msg.NewNotify(msg.TEMPORARY_FAILURE, nil))
		return
	}
	if saI.Proposals[0].Protocol == msg.ProtoIKE {
		sa.handleIKERekeyRequest(reply, saI, nonce.Data, inner)
		return
	}
	rn := msg.FindNotify(inner, msg.REKEY_SA)
	if rn == nil {
		// Only rekeys: one CHILD SA per connection.
		reply(msg.NewNotify(msg.NO_ADDITIONAL_SAS, nil))
		return
	}
	oldOut, ok := spi32(rn.SPI)
	var old *childSA
	for _, ch := range sa.children {
		if ok && ch.spiOut == oldOut {
			old = ch
		}
	}
	if old == nil || old.state == childDeleting && old.successor == nil {
		reply(&msg.Notify{Protocol: msg.ProtoESP, SPI: rn.SPI, NotifyType: msg.CHILD_SA_NOT_FOUND})
		return
	}
	nr := e.random(nonceLen)
	ch, out, nerr, reason := sa.respondChild(inner, c.espProps, nonce.Data, nr, true)
	if nerr != nil {
		reply(nerr)
		if nerr.NotifyType != msg.INVALID_KE_PAYLOAD {
			e.log.Warn("refusing CHILD SA rekey", "conn", c.Name, "notify", nerr.NotifyType.String(), "reason", reason)
			e.emit(Event{Kind: EventFailed, Conn: c.Name, Child: true, Notify: nerr.NotifyType, Reason: "peer's CHILD SA rekey refused: " + reason})
		}
		return
	}
	reply(append([]msg.Payload{out[0], &msg.Nonce{Data: nr}}, out[1:]...)...)
	switch {
	case old.state == childRekeying:
		old.peerNew = ch // settled when our response arrives
	case old.successor != nil && old.successor.ni != nil && slices.Contains(sa.children, old.successor):
		// Our rekey already completed: collision seen from this side.
		sa.resolveCollisionLate(old, old.successor, ch)
	default:
		old.state = childRekeyed
		old.successor = ch
		e.emit(Event{Kind: EventRekeyed, Conn: c.Name, Child: true, SPIIn: ch.spiIn, SPIOut: ch.spiOut})
	}
}

// resolveCollisionLate: the peer's rekey of old arrived after ours
// completed (and we already sent Delete for old).
func (sa *ikeSA) resolveCollisionLate(old, ours, theirs *childSA) {
	if lowestNonce(ours.ni, ours.nr, theirs.ni, theirs.nr) < 2 {
		sa.e.log.Info("CHILD rekey collision lost", "conn", sa.cfg.Name)
		old.successor = theirs
		if !slices.Contains(sa.children, old) {
			// old is gone already (our Delete was answered).
			sa.installPendingOut(theirs, "the replaced CHILD SA was deleted")
		}
		sa.deleteChild(ours)
		sa.e.emit(Event{Kind: EventRekeyed, Conn: sa.cfg.Name, Child: true, SPIIn: theirs.spiIn, SPIOut: theirs.spiOut})
		return
	}
	sa.e.log.Info("CHILD rekey collision won", "conn", sa.cfg.Name)
}

// handleInformational: Delete, notifies and DPD (empty) requests.
func (sa *ikeSA) handleInformational(p Packet, h msg.Header, inner []msg.Payload) {
	e := sa.e
	var out []msg.Payload
	deleteIKE, rekeyed := false, false
	for _, pl := range msg.FindAll(inner, msg.PayloadD) {
		d := pl.(*msg.Delete)
		switch d.Protocol {
		case msg.ProtoIKE:
			deleteIKE = true
		case msg.ProtoESP:
			var ours []uint32
			for _, spi := range d.SPIs {
				for _, ch := range slices.Clone(sa.children) {
					if ch.spiOut != spi {
						continue
					}
					if ch.state != childDeleting {
						ours = append(ours, ch.spiIn)
					}
					if ch.state == childRekeying && ch.peerNew != nil {
						// Our rekey crossed the peer's, which completed
						// first: the peer's new SA replaces this one.
						e.emit(Event{Kind: EventRekeyed, Conn: sa.cfg.Name, Child: true, SPIIn: ch.peerNew.spiIn, SPIOut: ch.peerNew.spiOut})
						ch.successor = ch.peerNew
						rekeyed = true
					}
					sa.removeChild(ch)
				}
			}
			if len(ours) > 0 {
				out = append(out, &msg.Delete{Protocol: msg.ProtoESP, SPIs: ours})
			}
		}
	}
	if msg.FindNotify(inner, msg.AUTHENTICATION_FAILED) != nil {
		// The initiator rejected our AUTH (RFC 7296 §2.21.2).
		deleteIKE = true
	}
	sa.respond(h.Exchange, h.MessageID, p.Remote, p.Local, out)
	if deleteIKE {
		if sa.rekeyedBy != nil || sa.conn == nil || sa.conn.ike != sa {
			sa.destroy("deleted by peer after rekey", 0, 0)
			return
		}
		reason := "deleted by peer"
		if msg.FindNotify(inner, msg.AUTHENTICATION_FAILED) != nil {
			sa.destroy("peer rejected our authentication", EventAuthFailed, msg.AUTHENTICATION_FAILED)
			return
		}
		sa.destroy(reason, EventDown, 0)
		return
	}
	if len(out) > 0 && !rekeyed && len(sa.liveChildren()) == 0 && sa.conn != nil && sa.conn.ike == sa {
		e.emit(Event{Kind: EventDown, Conn: sa.cfg.Name, Child: true, Reason: "CHILD SA deleted by peer"})
	}
}

// dpdCheck sends an empty INFORMATIONAL when nothing (IKE or inbound
// ESP) was received for the DPD interval (RFC 7296 §2.4). Its failure
// (retransmissions exhausted) is peer death.
func (sa *ikeSA) dpdCheck() {
	e, c := sa.e, sa.cfg
	if c.DPDInterval < 0 || sa.pending != nil || len(sa.queue) > 0 || sa.rekeyedBy != nil {
		return
	}
	if e.now.Sub(sa.lastRecv) < c.DPDInterval {
		return
	}
	for _, ch := range sa.children {
		if st, err := e.kernel.SAStats(e.ctx, ch.inID); err == nil && st.LastUsed.After(sa.lastRecv) {
			sa.lastRecv = st.LastUsed
		}
	}
	if e.now.Sub(sa.lastRecv) < c.DPDInterval {
		return
	}
	sa.lastDPD = e.now
	e.log.Debug("DPD", "conn", c.Name)
	sa.sendRequest(msg.INFORMATIONAL, nil, nil, nil)
}

// rekeyIKE starts an IKE SA rekey (RFC 7296 §1.3.2).
func (sa *ikeSA) rekeyIKE() {
	e, c := sa.e, sa.cfg
	if sa.rekeying != nil || sa.rekeyedBy != nil || sa.state != stEstablished {
		return
	}
	r := &ikeRekey{spi: e.newSPI()}
	ks, err := ikecrypto.GenerateKeyShare(ikecrypto.GroupID(sa.prop.DHGroup()), e.rand)
	if err != nil {
		e.log.Error("IKE rekey key share", "error", err)
		return
	}
	r.ks = ks
	sa.rekeying = r
	e.log.Info("rekeying IKE SA", "conn", c.Name)
	sa.sendIKERekey(r)
}

func (sa *ikeSA) sendIKERekey(r *ikeRekey) {
	e := sa.e
	r.ni = e.random(nonceLen)
	b := spiBytes(r.spi)
	// Our chosen group first, then the rest of the configuration.
	props := slices.Clone(sa.cfg.ikeProps)
	ps := []msg.Payload{
		msg.NewSA(props, b[:]),
		&msg.Nonce{Data: r.ni},
		&msg.KE{Group: msg.DHGroup(r.ks.Group()), Data: r.ks.PublicValue()},
	}
	sa.sendRequest(msg.CREATE_CHILD_SA, ps, func(h msg.Header, inner []msg.Payload) { sa.ikeRekeyResponse(r, inner) }, nil)
}

func (sa *ikeSA) ikeRekeyResponse(r *ikeRekey, inner []msg.Payload) {
	e, c := sa.e, sa.cfg
	fail := func(nt msg.NotifyType, reason string) {
		sa.rekeying = nil
		sa.rekeyAt = e.now.Add(c.Retransmit.Timeout * 3)
		if nt == msg.TEMPORARY_FAILURE && sa.peerRekeyed != nil {
			return // the peer's rekey goes ahead
		}
		e.emit(Event{Kind: EventFailed, Conn: c.Name, IKE: true, Notify: nt, Reason: "IKE SA rekey failed: " + reason})
	}
	if n := msg.FindNotify(inner, msg.INVALID_KE_PAYLOAD); n != nil {
		g, err := n.InvalidKEGroup()
		if err == nil && !r.retried && offersGroup(c.ikeProps, g) {
			r.retried = true
			if r.ks, err = ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), e.rand); err == nil {
				sa.sendIKERekey(r)
				return
			}
		}
		fail(msg.INVALID_KE_PAYLOAD, "peer wants another DH group")
		return
	}
	if errs := msg.ErrorNotifies(inner); len(errs) > 0 {
		fail(errs[0].NotifyType, "refused by peer")
		return
	}
	saR, _ := msg.First[*msg.SA](inner)
	nonce, _ := msg.First[*msg.Nonce](inner)
	ke, _ := msg.First[*msg.KE](inner)
	if saR == nil || nonce == nil || ke == nil {
		fail(msg.INVALID_SYNTAX, "response lacks SA, Nonce or KE")
		return
	}
	prop, err := msg.VerifyChosen(c.ikeProps, saR)
	if err != nil || len(prop.SPI) != 8 || ke.Group != msg.DHGroup(r.ks.Group()) || prop.DHGroup() != ke.Group {
		fail(msg.NO_PROPOSAL_CHOSEN, fmt.Sprintf("bad response: %v", err))
		return
	}
	n := &ikeSA{
		e: e, conn: sa.conn, cfg: c, initiator: true, spiI: r.spi, spiR: binary.BigEndian.Uint64(prop.SPI),
		state: stEstablished, local: sa.local, remote: sa.remote, natLocal: sa.natLocal, natRemote: sa.natRemote,
		ni: r.ni, nr: nonce.Data, ks: r.ks, created: e.now, established: e.now, lastRecv: e.now,
		peerHashes: sa.peerHashes, fragOK: sa.fragOK,
	}
	prop.SPI = nil
	n.prop = prop
	gir, err := r.ks.SharedSecret(ke.Data)
	if err != nil {
		fail(msg.INVALID_SYNTAX, err.Error())
		return
	}
	seed := ikecrypto.RekeySKEYSEED(sa.prf, sa.keys.SKd, gir, n.ni, n.nr)
	gir.Wipe()
	if err := n.deriveKeys(nil, seed); err != nil {
		fail(msg.NO_PROPOSAL_CHOSEN, err.Error())
		return
	}
	sa.rekeying = nil
	e.sas[n.spiI] = n
	if theirs := sa.peerRekeyed; theirs != nil {
		// Simultaneous IKE rekey (RFC 7296 §2.8.2): the SA with the lowest
		// nonce is deleted by its creator.
		if lowestNonce(n.ni, n.nr, theirs.ni, theirs.nr) < 2 {
			e.log.Info("IKE rekey collision lost", "conn", c.Name)
			n.state = stDeleting
			n.sendRequestForce(msg.INFORMATIONAL, []msg.Payload{&msg.Delete{Protocol: msg.ProtoIKE}},
				func(msg.Header, []msg.Payload) { n.destroy("redundant rekey", 0, 0) }, func() { n.destroy("redundant rekey", 0, 0) })
			sa.moveTo(theirs)
			return
		}
		e.log.Info("IKE rekey collision won", "conn", c.Name)
	}
	sa.moveTo(n)
	sa.state = stDeleting
	sa.queue = nil
	sa.sendRequestForce(msg.INFORMATIONAL, []msg.Payload{&msg.Delete{Protocol: msg.ProtoIKE}},
		func(msg.Header, []msg.Payload) { sa.destroy("rekeyed", 0, 0) }, func() { sa.destroy("rekeyed", 0, 0) })
}

// moveTo hands the CHILD SAs and the connection over to the new IKE SA.
func (sa *ikeSA) moveTo(n *ikeSA) {
	e := sa.e
	if sa.rekeyedBy == n {
		return
	}
	n.children = append(n.children, sa.children...)
	sa.children = nil
	sa.rekeyedBy = n
	sa.rekeyAt = time.Time{}
	sa.expireAt = e.now.Add(rekeyedLinger)
	if n.rekeyAt.IsZero() {
		n.setIKETimers()
	}
	if sa.conn != nil && sa.conn.ike == sa {
		sa.conn.ike = n
	}
	e.emit(Event{Kind: EventRekeyed, Conn: sa.cfg.Name, IKE: true})
}

func (sa *ikeSA) handleIKERekeyRequest(reply func(...msg.Payload), saI *msg.SA, ni []byte, inner []msg.Payload) {
	e, c := sa.e, sa.cfg
	prop, err := msg.Choose(c.ikeProps, saI, true)
	if err != nil || len(prop.SPI) != 8 {
		reply(msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil))
		e.emit(Event{Kind: EventFailed, Conn: c.Name, IKE: true, Notify: msg.NO_PROPOSAL_CHOSEN, Reason: "peer's IKE rekey refused"})
		return
	}
	g := prop.DHGroup()
	ke, _ := msg.First[*msg.KE](inner)
	if ke == nil || ke.Group != g {
		reply(msg.NewInvalidKE(g))
		return
	}
	if sa.rekeying != nil && sa.peerRekeyed != nil {
		reply(msg.NewNotify(msg.TEMPORARY_FAILURE, nil))
		return
	}
	ks, err := ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), e.rand)
	if err != nil {
		reply(msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil))
		return
	}
	gir, err := ks.SharedSecret(ke.Data)
	if err != nil {
		reply(msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	n := &ikeSA{
		e: e, conn: sa.conn, cfg: c, initiator: false, spiI: binary.BigEndian.Uint64(prop.SPI), spiR: e.newSPI(),
		state: stEstablished, local: sa.local, remote: sa.remote, natLocal: sa.natLocal, natRemote: sa.natRemote,
		ni: ni, nr: e.random(nonceLen), ks: ks, created: e.now, established: e.now, lastRecv: e.now,
		peerHashes: sa.peerHashes, fragOK: sa.fragOK,
	}
	reply0 := prop
	reply0.SPI = nil
	n.prop = reply0
	seed := ikecrypto.RekeySKEYSEED(sa.prf, sa.keys.SKd, gir, n.ni, n.nr)
	gir.Wipe()
	if err := n.deriveKeys(nil, seed); err != nil {
		reply(msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil))
		return
	}
	b := spiBytes(n.spiR)
	out := prop
	out.SPI = b[:]
	reply(&msg.SA{Proposals: []msg.Proposal{out}}, &msg.Nonce{Data: n.nr}, &msg.KE{Group: g, Data: ks.PublicValue()})
	e.sas[n.spiR] = n
	n.setIKETimers()
	if sa.rekeying != nil {
		sa.peerRekeyed = n // settled when our rekey's response arrives
		return
	}
	sa.moveTo(n)
}
