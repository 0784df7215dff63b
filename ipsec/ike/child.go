package ike

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

type childState int

const (
	childInstalled childState = iota + 1
	childRekeying             // our CREATE_CHILD_SA rekey is outstanding
	childRekeyed              // replaced; waiting for its Delete
	childDeleting             // our Delete is outstanding
)

func (s childState) String() string {
	switch s {
	case childInstalled:
		return "installed"
	case childRekeying:
		return "rekeying"
	case childRekeyed:
		return "rekeyed"
	case childDeleting:
		return "deleting"
	}
	return "larval"
}

// childSA is one CHILD SA (a pair of kernel SAs).
type childSA struct {
	reqid             uint32
	spiIn, spiOut     uint32
	inID, outID       xfrm.SAID
	localTS, remoteTS []netip.Prefix
	prop              msg.Proposal
	encap             bool
	ni, nr            []byte // nonces of the exchange that created it
	state             childState
	installed         time.Time
	rekeyAt, expireAt time.Time

	rekey     *childRekey // our outstanding rekey of this SA
	peerNew   *childSA    // what the peer created rekeying this SA during ours
	successor *childSA    // what replaced it

	// pendingOut is the outbound SA of a CHILD SA we created answering
	// the peer's rekey, held back until the peer deletes the SA it
	// replaces (or outDue passes): until the peer has our response, it
	// has no inbound SA for it, and the kernel sends on the newest
	// outbound SA of a reqid, so installing it at once would drop what
	// we send in between (strongSwan's responders wait the same way).
	pendingOut *xfrm.SA
	outDue     time.Time
}

// pendingOutLimit is how long a rekey responder waits for the peer to
// delete the replaced CHILD SA before it sends on the new one anyway.
const pendingOutLimit = 10 * time.Second

type childRekey struct {
	old     *childSA
	spiIn   uint32
	ni      []byte
	ks      *ikecrypto.KeyShare
	retried bool
}

func (ch *childSA) status(ctx context.Context, sa *ikeSA) ChildStatus {
	st := ChildStatus{
		Reqid: ch.reqid, SPIIn: ch.spiIn, SPIOut: ch.spiOut, State: ch.state.String(),
		LocalTS: ch.localTS, RemoteTS: ch.remoteTS, ESN: esnOf(ch.prop), Encap: ch.encap,
		Installed: ch.installed, RekeyAt: ch.rekeyAt, ExpireAt: ch.expireAt,
		DH: ch.prop.DHGroup().String(),
	}
	if t, ok := ch.prop.Get(msg.TransformENCR); ok {
		st.Encr = t.String()
	}
	if s, err := sa.e.kernel.SAStats(ctx, ch.inID); err == nil {
		st.BytesIn, st.PacketsIn, st.LastUsedIn = s.Bytes, s.Packets, s.LastUsed
	}
	if s, err := sa.e.kernel.SAStats(ctx, ch.outID); err == nil {
		st.BytesOut, st.PacketsOut = s.Bytes, s.Packets
	}
	return st
}

func esnOf(p msg.Proposal) bool {
	t, ok := p.Get(msg.TransformESN)
	return ok && msg.ESNID(t.ID) == msg.ESN_YES
}

func tsPayload(responder bool, ps []netip.Prefix) *msg.TS {
	ts := &msg.TS{Responder: responder}
	for _, p := range ps {
		ts.Selectors = append(ts.Selectors, msg.TSFromPrefix(p))
	}
	return ts
}

func tsList(ps []netip.Prefix) []msg.TrafficSelector {
	return tsPayload(false, ps).Selectors
}

// tsPrefixes converts selectors (any protocol and port) to prefixes.
func tsPrefixes(ts []msg.TrafficSelector) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ts {
		if s.IPProtocol != 0 || s.StartPort != 0 || s.EndPort != 65535 {
			return nil, fmt.Errorf("selector %v restricts protocol or ports", s)
		}
		p, ok := rangePrefix(s.StartAddr, s.EndAddr)
		if !ok {
			return nil, fmt.Errorf("selector %s-%s is not a prefix", s.StartAddr, s.EndAddr)
		}
		out = append(out, p)
	}
	return out, nil
}

func rangePrefix(a, b netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() || !b.IsValid() {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= a.BitLen(); bits++ {
		p := netip.PrefixFrom(a, bits).Masked()
		if p.Addr() != a {
			continue
		}
		if lastAddr(p) == b {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// within reports whether every selector of got lies inside ours.
func within(ours []netip.Prefix, got []netip.Prefix) bool {
	for _, g := range got {
		if !slices.ContainsFunc(ours, func(o netip.Prefix) bool { return o.Bits() <= g.Bits() && o.Contains(g.Addr()) }) {
			return false
		}
	}
	return true
}

// completeChildInitiator finishes a CHILD SA we proposed: checks the
// responder's choice and selectors, derives keys and installs it.
func (sa *ikeSA) completeChildInitiator(ch *childSA, offered []msg.Proposal, saR *msg.SA, tsi, tsr *msg.TS, gir ikecrypto.Secret, ni, nr []byte) error {
	prop, err := msg.VerifyChosen(offered, saR)
	if err != nil {
		sa.releaseLarval(ch)
		return err
	}
	spiOut, ok := spi32(prop.SPI)
	if !ok {
		sa.releaseLarval(ch)
		return errors.New("responder's ESP SPI is not 4 octets")
	}
	l, err1 := tsPrefixes(tsi.Selectors)
	r, err2 := tsPrefixes(tsr.Selectors)
	if err := errors.Join(err1, err2); err != nil || !within(sa.cfg.LocalTS, l) || !within(sa.cfg.RemoteTS, r) {
		sa.releaseLarval(ch)
		return fmt.Errorf("responder's traffic selectors are not within ours: %v", err)
	}
	ch.prop, ch.spiOut, ch.localTS, ch.remoteTS, ch.ni, ch.nr = prop, spiOut, l, r, ni, nr
	keys, err := ikecrypto.DeriveChildSAKeys(sa.prf, sa.keys.SKd, gir, ni, nr, ikecrypto.ESPAESGCM256KeyLen, 0)
	if err != nil {
		sa.releaseLarval(ch)
		return err
	}
	defer keys.Wipe()
	return sa.installChild(ch, keys.EncrR, keys.EncrI, false)
}

// respondChild handles the CHILD SA part of an IKE_AUTH or
// CREATE_CHILD_SA request as responder. It returns the installed CHILD
// SA and the payloads for the response (without Nr), or the error
// notify to answer with.
// respondChild answers a request for a CHILD SA; rekey: it replaces one
// (the outbound SA is held back, see childSA.pendingOut).
func (sa *ikeSA) respondChild(inner []msg.Payload, props []msg.Proposal, ni, nr []byte, rekey bool) (*childSA, []msg.Payload, *msg.Notify, string) {
	e, c := sa.e, sa.cfg
	saI, _ := msg.First[*msg.SA](inner)
	tsi, _ := msg.Find(inner, msg.PayloadTSi).(*msg.TS)
	tsr, _ := msg.Find(inner, msg.PayloadTSr).(*msg.TS)
	if saI == nil || tsi == nil || tsr == nil {
		return nil, nil, msg.NewNotify(msg.INVALID_SYNTAX, nil), "request lacks SA or TS"
	}
	prop, err := msg.Choose(props, saI, true)
	if err != nil {
		reason := "no acceptable ESP proposal"
		if withoutPFS(saI.Proposals) && props[0].DHGroup() != msg.DH_NONE {
			reason = noPFSHint("the peer's rekey offers no PFS")
		}
		return nil, nil, msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil), reason
	}
	peerSPI, ok := spi32(prop.SPI)
	if !ok {
		return nil, nil, msg.NewNotify(msg.INVALID_SYNTAX, nil), "bad ESP SPI"
	}
	nti := msg.NarrowTS(tsList(c.RemoteTS), tsi.Selectors)
	ntr := msg.NarrowTS(tsList(c.LocalTS), tsr.Selectors)
	remote, err1 := tsPrefixes(nti)
	local, err2 := tsPrefixes(ntr)
	if len(nti) == 0 || len(ntr) == 0 || err1 != nil || err2 != nil {
		return nil, nil, msg.NewNotify(msg.TS_UNACCEPTABLE, nil), "traffic selectors unacceptable"
	}
	var gir ikecrypto.Secret
	var keOut *msg.KE
	if g := prop.DHGroup(); g != msg.DH_NONE {
		ke, _ := msg.First[*msg.KE](inner)
		if ke == nil || ke.Group != g {
			return nil, nil, msg.NewInvalidKE(g), "KE group mismatch"
		}
		ks, err := ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), e.rand)
		if err != nil {
			return nil, nil, msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil), err.Error()
		}
		if gir, err = ks.SharedSecret(ke.Data); err != nil {
			return nil, nil, msg.NewNotify(msg.INVALID_SYNTAX, nil), err.Error()
		}
		defer gir.Wipe()
		keOut = &msg.KE{Group: g, Data: ks.PublicValue()}
	}
	spiIn, err := e.kernel.AllocSPI(e.ctx, sa.remote.Addr(), sa.local.Addr(), xfrm.ProtoESP, sa.conn.reqid)
	if err != nil {
		return nil, nil, msg.NewNotify(msg.TEMPORARY_FAILURE, nil), "allocating SPI: " + err.Error()
	}
	ch := &childSA{reqid: sa.conn.reqid, spiIn: spiIn, spiOut: peerSPI, localTS: local, remoteTS: remote, prop: prop, ni: ni, nr: nr}
	keys, err := ikecrypto.DeriveChildSAKeys(sa.prf, sa.keys.SKd, gir, ni, nr, ikecrypto.ESPAESGCM256KeyLen, 0)
	if err != nil {
		sa.releaseLarval(ch)
		return nil, nil, msg.NewNotify(msg.TEMPORARY_FAILURE, nil), err.Error()
	}
	defer keys.Wipe()
	if err := sa.installChild(ch, keys.EncrI, keys.EncrR, rekey); err != nil {
		return nil, nil, msg.NewNotify(msg.TEMPORARY_FAILURE, nil), "installing CHILD SA: " + err.Error()
	}
	reply := prop
	reply.SPI = spi32Bytes(spiIn)
	out := []msg.Payload{&msg.SA{Proposals: []msg.Proposal{reply}}}
	if keOut != nil {
		out = append(out, keOut)
	}
	out = append(out, &msg.TS{Selectors: nti}, &msg.TS{Responder: true, Selectors: ntr})
	return ch, out, nil, ""
}

// installChild puts both directions into the kernel and the tunnel
// policies if the connection has none yet. keyIn/keyOut are 36 octets.
// With deferOut (a rekey's responder) the outbound SA waits in
// ch.pendingOut for installPendingOut.
func (sa *ikeSA) installChild(ch *childSA, keyIn, keyOut ikecrypto.Secret, deferOut bool) error {
	e, c := sa.e, sa.cfg
	ch.encap = sa.natLocal || sa.natRemote
	ch.installed = e.now
	var jitter time.Duration
	if c.RekeyJitter > 0 {
		jitter = time.Duration(randUint64(e) % uint64(c.RekeyJitter))
	}
	ch.rekeyAt = e.now.Add(c.ChildLifetime - c.RekeyMargin - jitter)
	ch.expireAt = e.now.Add(c.ChildLifetime)
	soft := uint64(ch.rekeyAt.Sub(e.now) / time.Second)
	if soft == 0 {
		soft = 1
	}
	lt := xfrm.Lifetime{SoftSeconds: soft, HardSeconds: uint64(c.ChildLifetime / time.Second)}
	esn := esnOf(ch.prop)
	in := xfrm.SA{Src: sa.remote.Addr(), Dst: sa.local.Addr(), SPI: ch.spiIn, Reqid: ch.reqid, IfID: c.IfID, Key: keyIn.Bytes(), ESN: esn, Lifetime: lt}
	out := xfrm.SA{Src: sa.local.Addr(), Dst: sa.remote.Addr(), SPI: ch.spiOut, Reqid: ch.reqid, IfID: c.IfID, Key: keyOut.Bytes(), ESN: esn, Lifetime: lt}
	if ch.encap {
		in.Encap = &xfrm.Encap{SrcPort: sa.remote.Port(), DstPort: sa.local.Port()}
		out.Encap = &xfrm.Encap{SrcPort: sa.local.Port(), DstPort: sa.remote.Port()}
	}
	ch.inID, ch.outID = in.ID(), out.ID()
	if err := e.kernel.UpdateSA(e.ctx, in); err != nil {
		sa.releaseLarval(ch)
		return err
	}
	if deferOut {
		out.Key = bytes.Clone(out.Key)
		ch.pendingOut, ch.outDue = &out, e.now.Add(pendingOutLimit)
	} else if err := e.kernel.AddSA(e.ctx, out); err != nil {
		_ = e.kernel.DeleteSA(e.ctx, ch.inID)
		return err
	}
	if err := e.ensurePolicies(sa.conn, sa, ch); err != nil {
		ch.dropPendingOut()
		_ = e.kernel.DeleteSA(e.ctx, ch.inID)
		_ = e.kernel.DeleteSA(e.ctx, ch.outID)
		return err
	}
	ch.state = childInstalled
	sa.children = append(sa.children, ch)
	e.log.Info("CHILD SA installed", "conn", c.Name, "spi_in", fmt.Sprintf("%08x", ch.spiIn), "spi_out", fmt.Sprintf("%08x", ch.spiOut), "encap", ch.encap)
	return nil
}

func (e *Engine) ensurePolicies(c *connection, sa *ikeSA, ch *childSA) error {
	if len(c.policies) > 0 {
		return nil
	}
	var ps []xfrm.Policy
	for _, l := range ch.localTS {
		for _, r := range ch.remoteTS {
			if l.Addr().Is4() != r.Addr().Is4() {
				continue
			}
			out := xfrm.Template{Src: sa.local.Addr(), Dst: sa.remote.Addr(), Reqid: c.reqid}
			in := xfrm.Template{Src: sa.remote.Addr(), Dst: sa.local.Addr(), Reqid: c.reqid}
			prio := c.cfg.PriorityBase
			ps = append(ps,
				xfrm.Policy{Selector: xfrm.Selector{Src: l, Dst: r}, Dir: xfrm.DirOut, Priority: prio, IfID: c.cfg.IfID, Templates: []xfrm.Template{out}},
				xfrm.Policy{Selector: xfrm.Selector{Src: r, Dst: l}, Dir: xfrm.DirIn, Priority: prio, IfID: c.cfg.IfID, Templates: []xfrm.Template{in}},
				xfrm.Policy{Selector: xfrm.Selector{Src: r, Dst: l}, Dir: xfrm.DirFwd, Priority: prio, IfID: c.cfg.IfID, Templates: []xfrm.Template{in}},
			)
		}
	}
	for i, p := range ps {
		if err := e.kernel.AddPolicy(e.ctx, p); err != nil && !errors.Is(err, xfrm.ErrExists) {
			for _, q := range ps[:i] {
				_ = e.kernel.DeletePolicy(e.ctx, q.ID())
			}
			return err
		}
	}
	c.policies = ps
	return nil
}

func (e *Engine) removePolicies(c *connection) {
	for _, p := range c.policies {
		if err := e.kernel.DeletePolicy(e.ctx, p.ID()); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
			e.log.Warn("removing policy", "conn", c.cfg.Name, "policy", p.String(), "error", err)
		}
	}
	c.policies = nil
}

// FailClosedPolicies returns the block policies a caller installs before
// the tunnel comes up and keeps while it is down (one per RemoteTS,
// with priority, taken from Keep's block band, higher than the tunnel's so
// tunnel policies win while the tunnel is up). The engine never installs
// or removes them.
func (c *Config) FailClosedPolicies(priority uint32) []xfrm.Policy {
	var out []xfrm.Policy
	for _, r := range c.RemoteTS {
		out = append(out, xfrm.BlockPolicy(r, priority))
	}
	return out
}

func (sa *ikeSA) releaseLarval(ch *childSA) {
	if ch == nil || ch.spiIn == 0 {
		return
	}
	id := xfrm.SAID{Src: sa.remote.Addr(), Dst: sa.local.Addr(), SPI: ch.spiIn}
	if err := sa.e.kernel.DeleteSA(sa.e.ctx, id); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
		sa.e.log.Warn("releasing SPI", "spi", fmt.Sprintf("%08x", ch.spiIn), "error", err)
	}
}

// installPendingOut installs ch's held-back outbound SA, if any.
func (sa *ikeSA) installPendingOut(ch *childSA, why string) {
	if ch == nil || ch.pendingOut == nil {
		return
	}
	out := *ch.pendingOut
	if err := sa.e.kernel.AddSA(sa.e.ctx, out); err != nil {
		sa.e.log.Warn("installing the outbound SA of a rekeyed CHILD SA", "spi_out", fmt.Sprintf("%08x", ch.spiOut), "error", err)
	} else {
		sa.e.log.Debug("outbound SA installed", "conn", sa.cfg.Name, "spi_out", fmt.Sprintf("%08x", ch.spiOut), "why", why)
	}
	ch.dropPendingOut()
}

// dropPendingOut forgets the held-back outbound SA and wipes its key.
func (ch *childSA) dropPendingOut() {
	if ch.pendingOut != nil {
		clear(ch.pendingOut.Key)
		ch.pendingOut = nil
	}
}

func (sa *ikeSA) removeChild(ch *childSA) {
	i := slices.Index(sa.children, ch)
	if i < 0 {
		return
	}
	// Make before break: the successor's outbound SA goes in before
	// this one's goes out.
	sa.installPendingOut(ch.successor, "the replaced CHILD SA was deleted")
	ch.dropPendingOut()
	sa.children = slices.Delete(sa.children, i, i+1)
	for _, id := range []xfrm.SAID{ch.inID, ch.outID} {
		if err := sa.e.kernel.DeleteSA(sa.e.ctx, id); err != nil && !errors.Is(err, xfrm.ErrNotFound) {
			sa.e.log.Warn("removing SA", "sa", id.String(), "error", err)
		}
	}
	if ch.rekey != nil {
		sa.releaseLarval(&childSA{spiIn: ch.rekey.spiIn})
		ch.rekey = nil
	}
	sa.e.log.Debug("CHILD SA removed", "conn", sa.cfg.Name, "spi_in", fmt.Sprintf("%08x", ch.spiIn))
}

func (sa *ikeSA) activeChild() *childSA {
	for i := len(sa.children) - 1; i >= 0; i-- {
		if sa.children[i].state == childInstalled {
			return sa.children[i]
		}
	}
	return nil
}

func (sa *ikeSA) liveChildren() []*childSA {
	var out []*childSA
	for _, ch := range sa.children {
		if ch.state == childInstalled || ch.state == childRekeying {
			out = append(out, ch)
		}
	}
	return out
}

// rekeyChild starts a CREATE_CHILD_SA rekey of old (RFC 7296 §1.3.3),
// with a KE when the ESP proposals name a DH group (PFS).
func (sa *ikeSA) rekeyChild(old *childSA) {
	e := sa.e
	if old.state != childInstalled || sa.state != stEstablished {
		return
	}
	spi, err := e.kernel.AllocSPI(e.ctx, sa.remote.Addr(), sa.local.Addr(), xfrm.ProtoESP, old.reqid)
	if err != nil {
		e.log.Warn("CHILD rekey: allocating SPI", "conn", sa.cfg.Name, "error", err)
		old.rekeyAt = e.now.Add(10 * time.Second)
		return
	}
	old.state = childRekeying
	r := &childRekey{old: old, spiIn: spi}
	old.rekey = r
	if g := sa.cfg.espProps[0].DHGroup(); g != msg.DH_NONE {
		if r.ks, err = ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), e.rand); err != nil {
			e.log.Error("CHILD rekey key share", "error", err)
			return
		}
	}
	sa.sendChildRekey(r)
}

func (sa *ikeSA) sendChildRekey(r *childRekey) {
	e, c := sa.e, sa.cfg
	r.ni = e.random(nonceLen)
	old := r.old
	ps := []msg.Payload{
		&msg.Notify{Protocol: msg.ProtoESP, SPI: spi32Bytes(old.spiIn), NotifyType: msg.REKEY_SA},
		msg.NewSA(c.espProps, spi32Bytes(r.spiIn)),
		&msg.Nonce{Data: r.ni},
	}
	if r.ks != nil {
		ps = append(ps, &msg.KE{Group: msg.DHGroup(r.ks.Group()), Data: r.ks.PublicValue()})
	}
	ps = append(ps, tsPayload(false, old.localTS), tsPayload(true, old.remoteTS))
	e.log.Info("rekeying CHILD SA", "conn", c.Name, "spi_in", fmt.Sprintf("%08x", old.spiIn))
	sa.sendRequest(msg.CREATE_CHILD_SA, ps, func(h msg.Header, inner []msg.Payload) { sa.childRekeyResponse(r, inner) }, nil)
}

func (sa *ikeSA) childRekeyResponse(r *childRekey, inner []msg.Payload) {
	e, c := sa.e, sa.cfg
	old := r.old
	fail := func(nt msg.NotifyType, reason string) {
		sa.releaseLarval(&childSA{spiIn: r.spiIn})
		old.rekey = nil
		if !slices.Contains(sa.children, old) {
			// The peer deleted old meanwhile (its own rekey of it won a
			// collision): nothing failed.
			e.log.Info("CHILD rekey obsolete: the SA was replaced by the peer", "conn", c.Name)
			return
		}
		if old.state == childRekeying {
			old.state = childInstalled
		}
		// Keep the old SA; try again later (strongSwan's behaviour).
		old.rekeyAt = e.now.Add(c.Retransmit.Timeout * 3)
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Child: true, Notify: nt, Reason: "CHILD SA rekey failed: " + reason})
	}
	if n := msg.FindNotify(inner, msg.INVALID_KE_PAYLOAD); n != nil {
		g, err := n.InvalidKEGroup()
		if err == nil && !r.retried && offersGroup(c.espProps, g) {
			r.retried = true
			if r.ks, err = ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), e.rand); err == nil {
				sa.sendChildRekey(r)
				return
			}
		}
		fail(msg.INVALID_KE_PAYLOAD, "peer wants another DH group")
		return
	}
	if errs := msg.ErrorNotifies(inner); len(errs) > 0 {
		reason := "refused by peer"
		if errs[0].NotifyType == msg.NO_PROPOSAL_CHOSEN && r.ks != nil {
			reason = noPFSHint("the peer refused our rekey with PFS (" + msg.DHGroup(r.ks.Group()).String() + ")")
		}
		fail(errs[0].NotifyType, reason)
		return
	}
	saR, _ := msg.First[*msg.SA](inner)
	nonce, _ := msg.First[*msg.Nonce](inner)
	tsi, _ := msg.Find(inner, msg.PayloadTSi).(*msg.TS)
	tsr, _ := msg.Find(inner, msg.PayloadTSr).(*msg.TS)
	if saR == nil || nonce == nil || tsi == nil || tsr == nil {
		fail(msg.INVALID_SYNTAX, "response lacks SA, Nonce or TS")
		return
	}
	var gir ikecrypto.Secret
	if len(saR.Proposals) == 1 && saR.Proposals[0].DHGroup() != msg.DH_NONE {
		ke, _ := msg.First[*msg.KE](inner)
		if ke == nil || r.ks == nil || ke.Group != msg.DHGroup(r.ks.Group()) {
			fail(msg.INVALID_KE_PAYLOAD, "responder's KE does not match")
			return
		}
		var err error
		if gir, err = r.ks.SharedSecret(ke.Data); err != nil {
			fail(msg.INVALID_SYNTAX, err.Error())
			return
		}
		defer gir.Wipe()
	}
	ch := &childSA{reqid: old.reqid, spiIn: r.spiIn}
	if err := sa.completeChildInitiator(ch, c.espProps, saR, tsi, tsr, gir, r.ni, nonce.Data); err != nil {
		old.rekey = nil
		old.state = childInstalled
		old.rekeyAt = e.now.Add(c.Retransmit.Timeout * 3)
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Child: true, Notify: msg.NO_PROPOSAL_CHOSEN, Reason: "CHILD SA rekey failed: " + err.Error()})
		return
	}
	old.rekey = nil
	if theirs := old.peerNew; theirs != nil {
		sa.resolveChildCollision(old, ch, theirs)
		return
	}
	old.successor = ch
	sa.deleteChild(old)
	e.emit(Event{Kind: EventRekeyed, Conn: c.Name, Child: true, SPIIn: ch.spiIn, SPIOut: ch.spiOut})
}

// resolveChildCollision settles simultaneous rekeys of old (RFC 7296
// §2.8.1): of ours and theirs, the SA created with the lowest of the four
// nonces is deleted by the side that created it; the winner's creator
// deletes old.
func (sa *ikeSA) resolveChildCollision(old, ours, theirs *childSA) {
	e := sa.e
	low := lowestNonce(ours.ni, ours.nr, theirs.ni, theirs.nr)
	if low < 2 {
		// We lost: delete ours; the peer deletes old.
		e.log.Info("CHILD rekey collision lost", "conn", sa.cfg.Name)
		old.state = childRekeyed
		old.successor = theirs
		sa.deleteChild(ours)
		e.emit(Event{Kind: EventRekeyed, Conn: sa.cfg.Name, Child: true, SPIIn: theirs.spiIn, SPIOut: theirs.spiOut})
		return
	}
	e.log.Info("CHILD rekey collision won", "conn", sa.cfg.Name)
	old.successor = ours
	if old.state != childDeleting {
		sa.deleteChild(old)
	}
	e.emit(Event{Kind: EventRekeyed, Conn: sa.cfg.Name, Child: true, SPIIn: ours.spiIn, SPIOut: ours.spiOut})
}

// deleteChild sends Delete(ESP) for ch and removes it on the answer.
func (sa *ikeSA) deleteChild(ch *childSA) {
	ch.state = childDeleting
	sa.sendRequest(msg.INFORMATIONAL, []msg.Payload{&msg.Delete{Protocol: msg.ProtoESP, SPIs: []uint32{ch.spiIn}}},
		func(msg.Header, []msg.Payload) { sa.removeChild(ch) }, nil)
}

// withoutPFS: none of the proposals names a DH group.
func withoutPFS(ps []msg.Proposal) bool {
	for i := range ps {
		if ps[i].DHGroup() != msg.DH_NONE {
			return false
		}
	}
	return true
}

// noPFSHint explains a CHILD rekey refused for want of PFS: our ESP
// proposals require a DH group ("nothing weaker offered"), and
// strongSwan's default ESP proposals have none, so a NOC that leaves
// esp_proposals unset gets its first CHILD SA (made in IKE_AUTH, where no
// DH is exchanged) and then fails every rekey.
func noPFSHint(what string) string {
	return what + ": the NOC's esp_proposals must name a DH group, e.g. aes256gcm16-ecp384 or aes256gcm16-x25519 (strongSwan's default ESP proposals have none)"
}
