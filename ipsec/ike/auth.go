package ike

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"time"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
	"keep/ipsec/xfrm"
)

// certReqData lists the SHA-1 hashes of our pinned CAs (RFC 7296 §3.7).
func certReqData(c *conf) []byte { return ikecrypto.CertReqData(c.CAs) }

// sigAlgFor picks the RFC 7427 algorithm for our key, preferring a hash
// the peer announced.
func sigAlgFor(key any, peer []msg.HashAlgorithm) (ikecrypto.SigAlg, error) {
	has := func(h msg.HashAlgorithm) bool { return len(peer) == 0 || slices.Contains(peer, h) }
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			if has(msg.HashSHA2_384) {
				return ikecrypto.ECDSAWithSHA384, nil
			}
		case elliptic.P521():
			if has(msg.HashSHA2_512) {
				return ikecrypto.ECDSAWithSHA512, nil
			}
		}
		for _, h := range []msg.HashAlgorithm{msg.HashSHA2_256, msg.HashSHA2_384, msg.HashSHA2_512} {
			if has(h) {
				return ikecrypto.SigAlg{Kind: ikecrypto.SigECDSA, Hash: ikecrypto.HashAlg(h)}, nil
			}
		}
	case *rsa.PublicKey:
		for _, a := range []ikecrypto.SigAlg{ikecrypto.RSAPSSWithSHA256, ikecrypto.RSAPSSWithSHA384, ikecrypto.RSAPSSWithSHA512} {
			if has(msg.HashAlgorithm(a.Hash)) {
				return a, nil
			}
		}
	case ed25519.PublicKey:
		if has(msg.HashIdentity) {
			return ikecrypto.Ed25519Sig, nil
		}
	}
	return ikecrypto.SigAlg{}, errors.New("no signature algorithm in common with the peer")
}

// makeAuth computes our AUTH payload over signed octets.
func (sa *ikeSA) makeAuth(octets []byte) (*msg.Auth, error) {
	c := sa.cfg
	if !c.usesCert() {
		return &msg.Auth{Method: msg.AuthPSK, Data: ikecrypto.PSKAuth(sa.prf, c.PSK, octets)}, nil
	}
	alg, err := sigAlgFor(c.Key.Public(), sa.peerHashes)
	if err != nil {
		return nil, err
	}
	data, err := ikecrypto.SignAuth(ikecrypto.AuthDigitalSignature, alg, c.Key, sa.e.rand, octets)
	if err != nil {
		return nil, err
	}
	return &msg.Auth{Method: msg.AuthDigitalSignature, Data: data}, nil
}

// verifyAuth checks the peer's AUTH (and certificate chain) for cfg.
func (sa *ikeSA) verifyAuth(c *conf, id *msg.ID, auth *msg.Auth, certs []msg.Payload, octets []byte) error {
	if !c.usesCert() {
		if auth.Method != msg.AuthPSK {
			return fmt.Errorf("peer used %s, we expect PSK", auth.Method)
		}
		return ikecrypto.VerifyPSKAuth(sa.prf, c.PSK, octets, auth.Data)
	}
	if auth.Method == msg.AuthPSK {
		return errors.New("peer used PSK, we expect a certificate")
	}
	var leaf []byte
	var inter [][]byte
	for _, p := range certs {
		ct := p.(*msg.Cert)
		if ct.Encoding != msg.CertX509Signature {
			continue
		}
		if leaf == nil {
			leaf = ct.Data
		} else {
			inter = append(inter, ct.Data)
		}
	}
	if leaf == nil {
		return errors.New("peer sent no certificate")
	}
	v := *c.cv
	now := sa.e.now
	v.Now = func() time.Time { return now }
	cert, err := v.Verify(leaf, inter, ikecrypto.PeerID{Type: ikecrypto.IDType(id.IDType), Data: id.Data})
	if err != nil {
		return err
	}
	hashes := []ikecrypto.HashAlg{ikecrypto.HashSHA256, ikecrypto.HashSHA384, ikecrypto.HashSHA512, ikecrypto.HashIdentity}
	return ikecrypto.VerifyAuth(ikecrypto.AuthMethod(auth.Method), auth.Data, cert.PublicKey, octets, &ikecrypto.VerifyOptions{AllowedHashes: hashes})
}

func (sa *ikeSA) certPayloads() []msg.Payload {
	var out []msg.Payload
	for _, c := range sa.cfg.Cert {
		out = append(out, &msg.Cert{Encoding: msg.CertX509Signature, Data: c.Raw})
	}
	return out
}

// sendAuth sends IKE_AUTH with the first CHILD SA (initiator).
func (sa *ikeSA) sendAuth() {
	e, c := sa.e, sa.cfg
	sa.state = stAuthSent
	spi, err := e.kernel.AllocSPI(e.ctx, sa.remote.Addr(), sa.local.Addr(), xfrm.ProtoESP, sa.conn.reqid)
	if err != nil {
		sa.destroy("allocating SPI: "+err.Error(), EventFailed, 0)
		return
	}
	ch := &childSA{reqid: sa.conn.reqid, spiIn: spi, localTS: c.LocalTS, remoteTS: c.RemoteTS, ni: sa.ni, nr: nil}
	sa.authChild = ch
	id := *c.localID
	id.Responder = false
	octets := ikecrypto.SignedOctets(sa.prf, sa.initMsg, sa.nr, sa.keys.SKpi, idBody(&id))
	auth, err := sa.makeAuth(octets)
	if err != nil {
		sa.destroy("computing AUTH: "+err.Error(), EventAuthFailed, 0)
		return
	}
	ps := []msg.Payload{&id}
	if c.usesCert() {
		ps = append(ps, sa.certPayloads()...)
		ps = append(ps, &msg.CertReq{Encoding: msg.CertX509Signature, Data: certReqData(c)})
	}
	if !sa.conn.contacted {
		ps = append(ps, msg.NewNotify(msg.INITIAL_CONTACT, nil))
	}
	idr := *c.remoteID
	idr.Responder = true
	ps = append(ps, &idr, auth,
		msg.NewSA(msg.StripDH(c.espProps), spi32Bytes(spi)),
		tsPayload(false, c.LocalTS), tsPayload(true, c.RemoteTS))
	sa.sendRequest(msg.IKE_AUTH, ps, sa.handleAuthResponse, func() { sa.failTimeout() })
}

// handleAuthResponse completes the IKE SA and the first CHILD SA.
func (sa *ikeSA) handleAuthResponse(h msg.Header, inner []msg.Payload) {
	e, c := sa.e, sa.cfg
	idr, _ := msg.Find(inner, msg.PayloadIDr).(*msg.ID)
	auth, _ := msg.First[*msg.Auth](inner)
	errs := msg.ErrorNotifies(inner)
	if idr == nil || auth == nil {
		if len(errs) > 0 && errs[0].NotifyType == msg.AUTHENTICATION_FAILED {
			sa.destroy("peer rejected our authentication", EventAuthFailed, msg.AUTHENTICATION_FAILED)
			return
		}
		nt := msg.INVALID_SYNTAX
		if len(errs) > 0 {
			nt = errs[0].NotifyType
		}
		sa.destroy("IKE_AUTH failed", EventFailed, nt)
		return
	}
	if !idEqual(idr, c.remoteID) {
		sa.authFailedLocally(fmt.Sprintf("peer identity %q, want %q", idString(idr), c.RemoteID))
		return
	}
	octets := ikecrypto.SignedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, idBody(idr))
	if err := sa.verifyAuth(c, idr, auth, msg.FindAll(inner, msg.PayloadCERT), octets); err != nil {
		sa.authFailedLocally("peer authentication: " + err.Error())
		return
	}
	sa.established = e.now
	sa.lastKeepalive = e.now
	sa.state = stEstablished
	sa.setIKETimers()
	sa.conn.contacted = true
	sa.conn.backoff = c.ReinitBackoff
	e.log.Info("IKE SA established", "conn", c.Name, "spi_i", fmt.Sprintf("%016x", sa.spiI), "spi_r", fmt.Sprintf("%016x", sa.spiR))
	ch := sa.authChild
	sa.authChild = nil
	if len(errs) > 0 {
		sa.releaseLarval(ch)
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Notify: errs[0].NotifyType, Reason: "CHILD SA refused in IKE_AUTH"})
		sa.deleteIKE("CHILD SA refused")
		return
	}
	saR, _ := msg.First[*msg.SA](inner)
	tsi, _ := msg.Find(inner, msg.PayloadTSi).(*msg.TS)
	tsr, _ := msg.Find(inner, msg.PayloadTSr).(*msg.TS)
	if saR == nil || tsi == nil || tsr == nil {
		sa.releaseLarval(ch)
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Notify: msg.INVALID_SYNTAX, Reason: "IKE_AUTH response lacks SA/TS"})
		sa.deleteIKE("bad CHILD SA")
		return
	}
	if err := sa.completeChildInitiator(ch, msg.StripDH(c.espProps), saR, tsi, tsr, nil, sa.ni, sa.nr); err != nil {
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Notify: msg.NO_PROPOSAL_CHOSEN, Reason: err.Error()})
		sa.deleteIKE("bad CHILD SA")
		return
	}
	e.emit(Event{Kind: EventUp, Conn: c.Name, SPIIn: ch.spiIn, SPIOut: ch.spiOut})
}

// authFailedLocally: we rejected the responder's AUTH. Tell it (RFC 7296
// §2.21.2, INFORMATIONAL with AUTHENTICATION_FAILED) and drop the SA.
func (sa *ikeSA) authFailedLocally(reason string) {
	sa.e.log.Warn("authentication failed", "conn", sa.cfg.Name, "reason", reason)
	b, err := msg.EncodeEncryptedWith(sa.header(msg.INFORMATIONAL, sa.nextID, false), nil,
		[]msg.Payload{msg.NewNotify(msg.AUTHENTICATION_FAILED, nil)}, sa.out)
	if err == nil {
		sa.nextID++
		sa.e.send(sa.local, sa.remote, b)
	}
	sa.destroy(reason, EventAuthFailed, msg.AUTHENTICATION_FAILED)
}

func (sa *ikeSA) setIKETimers() {
	c := sa.cfg
	jitter := time.Duration(0)
	if j := c.IKELifetime / 20; j > 0 {
		jitter = time.Duration(randUint64(sa.e) % uint64(j))
	}
	sa.rekeyAt = sa.e.now.Add(c.IKELifetime - c.IKELifetime/10 - jitter)
	sa.expireAt = sa.e.now.Add(c.IKELifetime)
}

// handleAuthRequest authenticates the initiator and creates the first
// CHILD SA (responder).
func (sa *ikeSA) handleAuthRequest(p Packet, h msg.Header, inner []msg.Payload) {
	e := sa.e
	reply := func(ps ...msg.Payload) { sa.respond(h.Exchange, h.MessageID, p.Remote, p.Local, ps) }
	idi, _ := msg.Find(inner, msg.PayloadIDi).(*msg.ID)
	idr, _ := msg.Find(inner, msg.PayloadIDr).(*msg.ID)
	auth, _ := msg.First[*msg.Auth](inner)
	if idi == nil || auth == nil {
		reply(msg.NewNotify(msg.INVALID_SYNTAX, nil))
		sa.destroy("IKE_AUTH without IDi/AUTH", 0, 0)
		return
	}
	conn := e.matchByID(p.Local, p.Remote, idi, idr)
	fail := func(reason string) {
		e.log.Warn("authentication failed", "conn", sa.cfg.Name, "peer_id", idString(idi), "reason", reason)
		reply(msg.NewNotify(msg.AUTHENTICATION_FAILED, nil))
		sa.destroy(reason, EventAuthFailed, msg.AUTHENTICATION_FAILED)
	}
	if conn == nil {
		fail(fmt.Sprintf("no connection for peer identity %q", idString(idi)))
		return
	}
	sa.conn, sa.cfg = conn, conn.cfg
	c := conn.cfg
	octets := ikecrypto.SignedOctets(sa.prf, sa.initMsg, sa.nr, sa.keys.SKpi, idBody(idi))
	if err := sa.verifyAuth(c, idi, auth, msg.FindAll(inner, msg.PayloadCERT), octets); err != nil {
		fail("peer authentication: " + err.Error())
		return
	}
	sa.peerCertReq = sa.peerCertReq || msg.Find(inner, msg.PayloadCERTREQ) != nil
	myID := *c.localID
	myID.Responder = true
	myAuth, err := sa.makeAuth(ikecrypto.SignedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, idBody(&myID)))
	if err != nil {
		fail("computing our AUTH: " + err.Error())
		return
	}
	out := []msg.Payload{&myID}
	if c.usesCert() {
		out = append(out, sa.certPayloads()...)
	}
	out = append(out, myAuth)
	// The IKE SA is authenticated: replace an older one of this
	// connection (INITIAL_CONTACT, or a restart of the peer).
	if old := conn.ike; old != nil && old != sa {
		e.log.Info("replacing older IKE SA", "conn", c.Name)
		if old.state == stEstablished {
			old.sendDeleteNoWait()
		}
		conn.ike = nil
		old.destroy("replaced", EventDown, 0)
		conn.nextInit = time.Time{}
	}
	conn.ike = sa
	conn.contacted = true
	sa.state = stEstablished
	sa.established = e.now
	sa.setIKETimers()
	e.log.Info("IKE SA established", "conn", c.Name, "spi_i", fmt.Sprintf("%016x", sa.spiI), "spi_r", fmt.Sprintf("%016x", sa.spiR))

	ch, childPayloads, nerr, reason := sa.respondChild(inner, msg.StripDH(c.espProps), sa.ni, sa.nr, false)
	if nerr != nil {
		out = append(out, nerr)
		reply(out...)
		e.emit(Event{Kind: EventFailed, Conn: c.Name, Notify: nerr.NotifyType, Reason: reason})
		return
	}
	out = append(out, childPayloads...)
	reply(out...)
	e.emit(Event{Kind: EventUp, Conn: c.Name, SPIIn: ch.spiIn, SPIOut: ch.spiOut})
}
