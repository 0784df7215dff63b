package ike

import (
	"fmt"
	"net/netip"
	"slices"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
)

const nonceLen = 32

// ourHashes are the RFC 7427 hashes we announce and accept.
func ourHashes() []msg.HashAlgorithm {
	return []msg.HashAlgorithm{msg.HashSHA2_256, msg.HashSHA2_384, msg.HashSHA2_512}
}

// startInitiator creates an IKE SA for c and sends IKE_SA_INIT.
func (e *Engine) startInitiator(c *connection) {
	sa := &ikeSA{
		e: e, conn: c, cfg: c.cfg, initiator: true, spiI: e.newSPI(), state: stInitSent,
		local: c.cfg.Local, remote: c.cfg.Remote, created: e.now, lastRecv: e.now,
	}
	e.sas[sa.spiI] = sa
	c.ike = sa
	g := c.cfg.ikeProps[0].DHGroup()
	if err := sa.newKeyShare(g); err != nil {
		sa.destroy(err.Error(), EventFailed, 0)
		return
	}
	sa.ni = e.random(nonceLen)
	e.log.Info("initiating IKE SA", "conn", c.cfg.Name, "remote", sa.remote, "group", g.String())
	sa.sendInit()
}

func (sa *ikeSA) newKeyShare(g msg.DHGroup) error {
	ks, err := ikecrypto.GenerateKeyShare(ikecrypto.GroupID(g), sa.e.rand)
	if err != nil {
		return fmt.Errorf("key share for %s: %w", g, err)
	}
	sa.ks = ks
	return nil
}

func (sa *ikeSA) sendInit() {
	e := sa.e
	var ps []msg.Payload
	if sa.cookie != nil {
		ps = append(ps, msg.NewNotify(msg.COOKIE, sa.cookie))
	}
	g := msg.DHGroup(sa.ks.Group())
	ps = append(ps,
		msg.NewSA(sa.cfg.ikeProps, nil),
		&msg.KE{Group: g, Data: sa.ks.PublicValue()},
		&msg.Nonce{Data: sa.ni},
	)
	ps = append(ps, natNotifies(sa.spiI, 0, sa.local, sa.remote)...)
	ps = append(ps, msg.NewNotify(msg.IKEV2_FRAGMENTATION_SUPPORTED, nil))
	ps = append(ps, msg.NewSignatureHashAlgorithms(ourHashes()...))
	h := msg.Header{SPIi: sa.spiI, Exchange: msg.IKE_SA_INIT, Flags: msg.FlagInitiator}
	b, err := (&msg.Message{Header: h, Payloads: ps}).Encode()
	if err != nil {
		sa.destroy("encoding IKE_SA_INIT: "+err.Error(), EventFailed, 0)
		return
	}
	sa.initMsg = b
	sa.pending = &request{id: 0, exch: msg.IKE_SA_INIT, data: [][]byte{b}, local: sa.local, remote: sa.remote,
		next: e.now.Add(sa.cfg.Retransmit.delay(0)), onTimeout: func() { sa.failTimeout() }}
	e.send(sa.local, sa.remote, b)
}

func (sa *ikeSA) failTimeout() {
	sa.destroy(fmt.Sprintf("no response to %s", sa.stateExchange()), EventFailed, 0)
}

func (sa *ikeSA) stateExchange() string {
	if sa.state == stInitSent {
		return "IKE_SA_INIT"
	}
	return "IKE_AUTH"
}

func natNotifies(spii, spir uint64, local, remote netip.AddrPort) []msg.Payload {
	src := ikecrypto.NATDetectionHash(spiBytes(spii), spiBytes(spir), local)
	dst := ikecrypto.NATDetectionHash(spiBytes(spii), spiBytes(spir), remote)
	return []msg.Payload{
		msg.NewNotify(msg.NAT_DETECTION_SOURCE_IP, src[:]),
		msg.NewNotify(msg.NAT_DETECTION_DESTINATION_IP, dst[:]),
	}
}

// detectNAT checks the peer's NAT_DETECTION notifies (RFC 7296 §2.23):
// its source hash against the address we saw it from, its destination
// hash against our own address. Absent notifies mean no NAT-T.
func detectNAT(ps []msg.Payload, spii, spir uint64, local, remote netip.AddrPort) (natLocal, natRemote, present bool) {
	dst := msg.FindNotify(ps, msg.NAT_DETECTION_DESTINATION_IP)
	var srcs []*msg.Notify
	for _, n := range msg.Notifies(ps) {
		if n.NotifyType == msg.NAT_DETECTION_SOURCE_IP {
			srcs = append(srcs, n)
		}
	}
	if dst == nil || len(srcs) == 0 {
		return false, false, false
	}
	want := ikecrypto.NATDetectionHash(spiBytes(spii), spiBytes(spir), remote)
	natRemote = true
	for _, n := range srcs {
		if string(n.Data) == string(want[:]) {
			natRemote = false
		}
	}
	me := ikecrypto.NATDetectionHash(spiBytes(spii), spiBytes(spir), local)
	natLocal = string(dst.Data) != string(me[:])
	return natLocal, natRemote, true
}

// deriveKeys computes SKEYSEED and the IKE SA keys after IKE_SA_INIT.
func (sa *ikeSA) deriveKeys(peerKE []byte, skeyseed ikecrypto.Secret) error {
	p, ok := sa.prop.Get(msg.TransformPRF)
	if !ok {
		return fmt.Errorf("no PRF chosen")
	}
	prf, err := ikecrypto.NewPRF(ikecrypto.PRFID(p.ID))
	if err != nil {
		return err
	}
	enc, _ := sa.prop.Get(msg.TransformENCR)
	sa.prf = prf
	if skeyseed == nil {
		gir, err := sa.ks.SharedSecret(peerKE)
		if err != nil {
			return err
		}
		skeyseed = ikecrypto.SKEYSEED(prf, sa.ni, sa.nr, gir)
		gir.Wipe()
	}
	defer skeyseed.Wipe()
	si, sr := spiBytes(sa.spiI), spiBytes(sa.spiR)
	keys, err := ikecrypto.DeriveIKESAKeys(prf, skeyseed, sa.ni, sa.nr, si[:], sr[:], ikecrypto.IKEKeyLengths{Encr: int(enc.KeyLength)/8 + 4})
	if err != nil {
		return err
	}
	sa.keys = keys
	ei, err := ikecrypto.NewSKCipher(ikecrypto.EncrAESGCM16, keys.SKei)
	if err != nil {
		return err
	}
	er, err := ikecrypto.NewSKCipher(ikecrypto.EncrAESGCM16, keys.SKer)
	if err != nil {
		return err
	}
	if sa.initiator {
		sa.out, sa.in = ei, er
	} else {
		sa.out, sa.in = er, ei
	}
	return nil
}

// handleInitResponse processes the IKE_SA_INIT response (initiator).
func (sa *ikeSA) handleInitResponse(p Packet, h msg.Header) {
	e := sa.e
	if sa.state != stInitSent || sa.pending == nil || h.MessageID != 0 {
		return
	}
	m, err := msg.Decode(p.Data)
	if err != nil {
		e.log.Debug("bad IKE_SA_INIT response", "conn", sa.cfg.Name, "error", err)
		return
	}
	ps := m.Payloads
	if n := msg.FindNotify(ps, msg.COOKIE); n != nil {
		if sa.initTry++; sa.initTry > 3 {
			sa.destroy("too many COOKIE requests", EventFailed, msg.COOKIE)
			return
		}
		e.log.Info("responder asked for a COOKIE", "conn", sa.cfg.Name)
		sa.cookie = n.Data
		sa.sendInit()
		return
	}
	if n := msg.FindNotify(ps, msg.INVALID_KE_PAYLOAD); n != nil {
		g, err := n.InvalidKEGroup()
		if err != nil || !offersGroup(sa.cfg.ikeProps, g) || g == msg.DHGroup(sa.ks.Group()) || sa.initTry >= 3 {
			sa.destroy(fmt.Sprintf("INVALID_KE_PAYLOAD for group %s", g), EventFailed, msg.INVALID_KE_PAYLOAD)
			return
		}
		sa.initTry++
		e.log.Info("responder wants another DH group", "conn", sa.cfg.Name, "group", g.String())
		if err := sa.newKeyShare(g); err != nil {
			sa.destroy(err.Error(), EventFailed, 0)
			return
		}
		sa.sendInit()
		return
	}
	if errs := msg.ErrorNotifies(ps); len(errs) > 0 {
		sa.destroy("IKE_SA_INIT refused", EventFailed, errs[0].NotifyType)
		return
	}
	saP, _ := msg.First[*msg.SA](ps)
	ke, _ := msg.First[*msg.KE](ps)
	nonce, _ := msg.First[*msg.Nonce](ps)
	if saP == nil || ke == nil || nonce == nil || h.SPIr == 0 {
		sa.destroy("IKE_SA_INIT response lacks SA, KE or Nonce", EventFailed, msg.INVALID_SYNTAX)
		return
	}
	prop, err := msg.VerifyChosen(sa.cfg.ikeProps, saP)
	if err != nil {
		sa.destroy(err.Error(), EventFailed, msg.NO_PROPOSAL_CHOSEN)
		return
	}
	if prop.DHGroup() != ke.Group || ke.Group != msg.DHGroup(sa.ks.Group()) {
		sa.destroy("responder's KE group does not match", EventFailed, msg.INVALID_KE_PAYLOAD)
		return
	}
	sa.prop = prop
	sa.spiR = h.SPIr
	sa.nr = slices.Clone(nonce.Data)
	sa.initResp = slices.Clone(p.Data)
	if err := sa.deriveKeys(ke.Data, nil); err != nil {
		sa.destroy("key derivation: "+err.Error(), EventFailed, 0)
		return
	}
	if err := ikecrypto.ValidateNonce(sa.prf, sa.nr); err != nil {
		sa.destroy("bad nonce: "+err.Error(), EventFailed, msg.INVALID_SYNTAX)
		return
	}
	sa.natLocal, sa.natRemote, _ = detectNAT(ps, sa.spiI, sa.spiR, sa.local, sa.remote)
	if n := msg.FindNotify(ps, msg.SIGNATURE_HASH_ALGORITHMS); n != nil {
		sa.peerHashes, _ = n.HashAlgorithms()
	}
	sa.peerCertReq = msg.Find(ps, msg.PayloadCERTREQ) != nil
	sa.fragOK = msg.FindNotify(ps, msg.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	sa.pending = nil
	sa.nextID = 1
	sa.lastRecv = e.now
	if sa.natLocal || sa.natRemote {
		// Float to 4500 (RFC 7296 §2.23) for IKE and ESP-in-UDP.
		sa.local = netip.AddrPortFrom(sa.local.Addr(), NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), NATTPort)
		e.log.Debug("NAT detected, floating to 4500", "conn", sa.cfg.Name, "local_nat", sa.natLocal, "remote_nat", sa.natRemote)
	}
	sa.sendAuth()
}

func offersGroup(ps []msg.Proposal, g msg.DHGroup) bool {
	for _, p := range ps {
		if slices.Contains(p.DHGroups(), g) {
			return true
		}
	}
	return false
}

// handleInitRequest answers an IKE_SA_INIT request (responder).
func (e *Engine) handleInitRequest(p Packet, h msg.Header) {
	key := initKey{h.SPIi, p.Remote}
	if sa := e.byInit[key]; sa != nil {
		if string(sa.initMsg) == string(p.Data) && sa.initResp != nil {
			e.send(p.Local, p.Remote, sa.initResp) // retransmission
		}
		return
	}
	half := e.halfOpen()
	if half >= e.opts.MaxHalfOpen {
		e.log.Warn("half-open limit reached, dropping IKE_SA_INIT", "from", p.Remote)
		return
	}
	m, err := msg.Decode(p.Data)
	if err != nil {
		if n := msg.ErrorNotify(err); n != nil {
			e.sendClearNotify(p, h, 0, n)
		}
		return
	}
	ps := m.Payloads
	c := e.matchResponder(p.Local, p.Remote)
	if c == nil {
		e.log.Info("no connection for IKE_SA_INIT", "from", p.Remote, "to", p.Local)
		e.sendClearNotify(p, h, 0, msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil))
		return
	}
	saP, _ := msg.First[*msg.SA](ps)
	ke, _ := msg.First[*msg.KE](ps)
	nonce, _ := msg.First[*msg.Nonce](ps)
	if saP == nil || ke == nil || nonce == nil {
		e.sendClearNotify(p, h, 0, msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	if e.opts.CookieThreshold < 0 || half >= e.opts.CookieThreshold {
		ck := msg.FindNotify(ps, msg.COOKIE)
		if ck == nil || !e.cookies.Verify(ck.Data, nonce.Data, p.Remote.Addr(), spiBytes(h.SPIi)) {
			e.log.Debug("demanding COOKIE", "from", p.Remote, "half_open", half)
			e.sendClearNotify(p, h, 0, msg.NewNotify(msg.COOKIE, e.cookies.Cookie(nonce.Data, p.Remote.Addr(), spiBytes(h.SPIi))))
			return
		}
	}
	prop, err := msg.Choose(c.cfg.ikeProps, saP, true)
	if err != nil {
		e.log.Info("no acceptable IKE proposal", "conn", c.cfg.Name, "from", p.Remote)
		e.emit(Event{Kind: EventFailed, Conn: c.cfg.Name, Notify: msg.NO_PROPOSAL_CHOSEN, Reason: "no acceptable IKE proposal from " + p.Remote.String()})
		e.sendClearNotify(p, h, 0, msg.NewNotify(msg.NO_PROPOSAL_CHOSEN, nil))
		return
	}
	g := prop.DHGroup()
	if ke.Group != g {
		// Ask for our preferred group among the offered ones (RFC 7296
		// §1.2); no state is kept.
		e.sendClearNotify(p, h, 0, msg.NewInvalidKE(g))
		return
	}
	sa := &ikeSA{
		e: e, conn: c, cfg: c.cfg, spiI: h.SPIi, spiR: e.newSPI(), state: stHalfOpen,
		local: p.Local, remote: p.Remote, initFrom: p.Remote, created: e.now, lastRecv: e.now, peerNext: 1,
		ni: slices.Clone(nonce.Data), nr: e.random(nonceLen), initMsg: slices.Clone(p.Data),
	}
	prop.SPI = nil
	sa.prop = prop
	if err := sa.newKeyShare(g); err != nil {
		e.log.Error("key share", "error", err)
		return
	}
	if err := sa.deriveKeys(ke.Data, nil); err != nil {
		e.log.Info("IKE_SA_INIT rejected", "from", p.Remote, "error", err)
		e.sendClearNotify(p, h, 0, msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	if err := ikecrypto.ValidateNonce(sa.prf, sa.ni); err != nil {
		e.sendClearNotify(p, h, 0, msg.NewNotify(msg.INVALID_SYNTAX, nil))
		return
	}
	var natPresent bool
	sa.natLocal, sa.natRemote, natPresent = detectNAT(ps, sa.spiI, 0, sa.local, sa.remote)
	if n := msg.FindNotify(ps, msg.SIGNATURE_HASH_ALGORITHMS); n != nil {
		sa.peerHashes, _ = n.HashAlgorithms()
	}
	sa.peerCertReq = msg.Find(ps, msg.PayloadCERTREQ) != nil
	sa.fragOK = msg.FindNotify(ps, msg.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	out := []msg.Payload{
		&msg.SA{Proposals: []msg.Proposal{prop}},
		&msg.KE{Group: g, Data: sa.ks.PublicValue()},
		&msg.Nonce{Data: sa.nr},
	}
	if natPresent {
		out = append(out, natNotifies(sa.spiI, sa.spiR, sa.local, sa.remote)...)
	}
	if c.cfg.usesCert() {
		out = append(out, &msg.CertReq{Encoding: msg.CertX509Signature, Data: certReqData(c.cfg)})
	}
	if sa.fragOK {
		out = append(out, msg.NewNotify(msg.IKEV2_FRAGMENTATION_SUPPORTED, nil))
	}
	out = append(out, msg.NewSignatureHashAlgorithms(ourHashes()...))
	rh := sa.header(msg.IKE_SA_INIT, 0, true)
	b, err := (&msg.Message{Header: rh, Payloads: out}).Encode()
	if err != nil {
		e.log.Error("encoding IKE_SA_INIT response", "error", err)
		return
	}
	sa.initResp = b
	e.sas[sa.spiR] = sa
	e.byInit[key] = sa
	e.log.Debug("IKE_SA_INIT answered", "conn", c.cfg.Name, "from", p.Remote, "group", g.String())
	e.send(p.Local, p.Remote, b)
}
