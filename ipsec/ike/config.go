package ike

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	ikecrypto "keep/ipsec/ike/crypto"
	"keep/ipsec/ike/msg"
)

// Default proposals: the NOC profile (notes §3). IKE offers DH 31, 19, 20
// and, as a fallback, MODP 2048; ESP lists the same groups for PFS at
// rekey (stripped in IKE_AUTH, msg.StripDH).
const (
	DefaultIKEProposals = "aes256gcm16-prfsha384-prfsha256-curve25519-ecp256-ecp384-modp2048"
	DefaultESPProposals = "aes256gcm16-curve25519-ecp256-ecp384-modp2048-noesn"
)

// Config is one site-to-site connection to one peer. The zero values of
// the optional fields select the defaults documented on each field.
type Config struct {
	// Name identifies the connection in events, logs and Status.
	Name string
	// Local is our outer (WAN) address; Remote the peer's. Remote may be
	// the zero value for a responder-only connection that accepts any
	// peer address. Ports are 500 unless set (tests use other ports).
	Local, Remote netip.AddrPort
	// LocalID and RemoteID are IKE identities: an IP address, an e-mail
	// address (RFC822) or an FQDN.
	LocalID, RemoteID string

	// PSK selects pre-shared-key authentication (never logged).
	PSK []byte
	// Cert/Key (our end-entity certificate chain, leaf first, and its
	// key) and CAs (the pinned pool the peer's chain must verify to)
	// select RFC 7427 signature authentication. The CAs are also
	// announced in CERTREQ (strongSwan sends its certificate only when
	// asked).
	Cert []*x509.Certificate
	Key  crypto.Signer
	CAs  []*x509.Certificate

	// LocalTS and RemoteTS are the protected networks.
	LocalTS, RemoteTS []netip.Prefix

	// IKEProposals and ESPProposals in strongSwan syntax
	// (DefaultIKEProposals, DefaultESPProposals). A DH group in
	// ESPProposals means PFS at CHILD rekey.
	IKEProposals, ESPProposals string

	// IKELifetime and ChildLifetime are hard lifetimes (default 4h and
	// 1h). A CHILD SA is rekeyed RekeyMargin (default 10% of its
	// lifetime) plus a random part of RekeyJitter (default 5%; negative:
	// none) before it expires; it is installed with that soft and the
	// hard lifetime in the kernel, so a soft expire also rekeys. The IKE
	// SA is rekeyed 10% + up to 5% of IKELifetime before expiry.
	IKELifetime, ChildLifetime time.Duration
	RekeyMargin, RekeyJitter   time.Duration

	// DPDInterval: send a liveness check when nothing was received for
	// this long (default 30s; negative disables).
	DPDInterval time.Duration
	// NATKeepalive is the interval of NAT-keepalives while we are behind
	// a NAT (default 20s; negative disables).
	NATKeepalive time.Duration
	// FragmentSize is the largest IP datagram an encrypted IKE message
	// may fill before it is sent as RFC 7383 fragments, when the peer
	// announced support (IKE_AUTH with certificate chains is the usual
	// case: IP fragments of UDP are what NATs and firewalls drop).
	// Default 1280 (strongSwan's fragment_size), at least 576.
	FragmentSize int
	// Retransmit policy (default strongSwan's: 4s, 1.8, 5 tries).
	Retransmit Retransmit
	// ReinitBackoff is the first delay before re-initiating after the
	// peer died or an attempt failed, doubled each time up to
	// ReinitBackoffMax (defaults 2s and 5m). Only for Initiator
	// connections.
	ReinitBackoff, ReinitBackoffMax time.Duration
	// AutoStart makes the engine initiate when started and re-initiate
	// after failures (a site-to-site "start" connection).
	AutoStart bool
	// PriorityBase is the policy priority of the tunnel policies
	// (default 0x4b440000, below Keep's block band so tunnel wins).
	PriorityBase uint32
	// Mark/IfID for route-based setups (0: policy-based).
	IfID uint32
}

// Retransmit is the retransmission schedule of requests: the n-th
// retransmission (n = 1, 2, ...) is sent Timeout·Base^(n-1) after the
// previous transmission; after Tries retransmissions and one more timeout
// (Timeout·Base^Tries) the exchange fails.
type Retransmit struct {
	Timeout time.Duration
	Base    float64
	Tries   int
}

func (r Retransmit) withDefaults() Retransmit {
	if r.Timeout <= 0 {
		r.Timeout = 4 * time.Second
	}
	if r.Base < 1 {
		r.Base = 1.8
	}
	if r.Tries <= 0 {
		r.Tries = 5
	}
	return r
}

// delay returns the wait after the try-th transmission (0 = first).
func (r Retransmit) delay(try int) time.Duration {
	d := float64(r.Timeout)
	for i := 0; i < try; i++ {
		d *= r.Base
	}
	return time.Duration(d)
}

// conf is a validated Config with parsed fields.
type conf struct {
	Config
	ikeProps []msg.Proposal
	espProps []msg.Proposal
	localID  *msg.ID
	remoteID *msg.ID
	cv       *ikecrypto.CertValidator
}

func (c *Config) validate() (*conf, error) {
	cc := &conf{Config: *c}
	if c.Name == "" {
		return nil, errors.New("ike: config needs a Name")
	}
	if !c.Local.Addr().IsValid() {
		return nil, fmt.Errorf("ike: %s: Local address required", c.Name)
	}
	if cc.Local.Port() == 0 {
		cc.Local = netip.AddrPortFrom(c.Local.Addr(), 500)
	}
	if c.Remote.Addr().IsValid() && cc.Remote.Port() == 0 {
		cc.Remote = netip.AddrPortFrom(c.Remote.Addr(), 500)
	}
	if c.AutoStart && !c.Remote.Addr().IsValid() {
		return nil, fmt.Errorf("ike: %s: AutoStart needs a Remote address", c.Name)
	}
	if len(c.PSK) == 0 && (len(c.Cert) == 0 || c.Key == nil || len(c.CAs) == 0) {
		return nil, fmt.Errorf("ike: %s: need a PSK or Cert, Key and CAs", c.Name)
	}
	if len(c.LocalTS) == 0 || len(c.RemoteTS) == 0 {
		return nil, fmt.Errorf("ike: %s: LocalTS and RemoteTS required", c.Name)
	}
	var err error
	if cc.IKEProposals == "" {
		cc.IKEProposals = DefaultIKEProposals
	}
	if cc.ESPProposals == "" {
		cc.ESPProposals = DefaultESPProposals
	}
	if cc.ikeProps, err = msg.ParseProposals(msg.ProtoIKE, cc.IKEProposals); err != nil {
		return nil, fmt.Errorf("ike: %s: IKE proposals: %w", c.Name, err)
	}
	if cc.espProps, err = msg.ParseProposals(msg.ProtoESP, cc.ESPProposals); err != nil {
		return nil, fmt.Errorf("ike: %s: ESP proposals: %w", c.Name, err)
	}
	for _, p := range append(append([]msg.Proposal{}, cc.ikeProps...), cc.espProps...) {
		for _, t := range p.Transforms {
			ok := true
			switch t.Type {
			case msg.TransformENCR:
				ok = msg.EncrID(t.ID) == msg.ENCR_AES_GCM_16 && t.KeyLength == 256
			case msg.TransformPRF:
				ok = t.ID == uint16(msg.PRF_HMAC_SHA2_256) || t.ID == uint16(msg.PRF_HMAC_SHA2_384) || t.ID == uint16(msg.PRF_HMAC_SHA2_512)
			case msg.TransformDH:
				ok = ikecrypto.GroupID(t.ID).PublicValueLen() > 0 || t.ID == 0
			case msg.TransformINTEG:
				ok = t.ID == 0
			}
			if !ok {
				return nil, fmt.Errorf("ike: %s: unsupported transform %s (only aes256gcm16, prfsha256/384/512, DH 14/19/20/31)", c.Name, t)
			}
		}
	}
	if cc.localID, err = parseID(c.LocalID, false); err != nil {
		return nil, fmt.Errorf("ike: %s: LocalID: %w", c.Name, err)
	}
	if cc.remoteID, err = parseID(c.RemoteID, true); err != nil {
		return nil, fmt.Errorf("ike: %s: RemoteID: %w", c.Name, err)
	}
	if cc.IKELifetime <= 0 {
		cc.IKELifetime = 4 * time.Hour
	}
	if cc.ChildLifetime <= 0 {
		cc.ChildLifetime = time.Hour
	}
	if cc.RekeyMargin <= 0 {
		cc.RekeyMargin = cc.ChildLifetime / 10
	}
	if cc.RekeyJitter < 0 {
		cc.RekeyJitter = 0
	} else if cc.RekeyJitter == 0 {
		cc.RekeyJitter = cc.ChildLifetime / 20
	}
	if cc.DPDInterval == 0 {
		cc.DPDInterval = 30 * time.Second
	}
	if cc.NATKeepalive == 0 {
		cc.NATKeepalive = 20 * time.Second
	}
	if cc.FragmentSize == 0 {
		cc.FragmentSize = 1280
	}
	if cc.FragmentSize < 576 {
		return nil, fmt.Errorf("ike: %s: FragmentSize %d is below 576", c.Name, cc.FragmentSize)
	}
	cc.Retransmit = c.Retransmit.withDefaults()
	if cc.ReinitBackoff <= 0 {
		cc.ReinitBackoff = 2 * time.Second
	}
	if cc.ReinitBackoffMax <= 0 {
		cc.ReinitBackoffMax = 5 * time.Minute
	}
	if cc.PriorityBase == 0 {
		cc.PriorityBase = 0x4b440000
	}
	if len(c.CAs) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range c.CAs {
			pool.AddCert(ca)
		}
		cc.cv = &ikecrypto.CertValidator{Roots: pool}
	}
	return cc, nil
}

func (c *conf) usesCert() bool { return len(c.PSK) == 0 }

// parseID turns "203.0.113.1", "user@example.net" or "host.example.net"
// into an ID payload.
func parseID(s string, responder bool) (*msg.ID, error) {
	if s == "" {
		return nil, errors.New("empty identity")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return msg.NewIDAddr(responder, a), nil
	}
	if strings.Contains(s, "@") {
		return &msg.ID{Responder: responder, IDType: msg.ID_RFC822_ADDR, Data: []byte(s)}, nil
	}
	return msg.NewIDFQDN(responder, s), nil
}

// idBody is the ID payload after its generic header (RestOfIDPayload).
func idBody(id *msg.ID) []byte {
	b := make([]byte, 4, 4+len(id.Data))
	b[0] = byte(id.IDType)
	return append(b, id.Data...)
}

func idEqual(a, b *msg.ID) bool {
	return a.IDType == b.IDType && strings.EqualFold(string(a.Data), string(b.Data))
}

func idString(id *msg.ID) string {
	if a, ok := id.Addr(); ok {
		return a.String()
	}
	switch id.IDType {
	case msg.ID_FQDN, msg.ID_RFC822_ADDR:
		return string(id.Data)
	}
	return fmt.Sprintf("%s:%x", id.IDType, id.Data)
}

// String describes the connection without its secrets (PSK, key), so a
// Config printed with %v, %+v or %s never leaks them.
func (c Config) String() string {
	auth := "psk"
	if len(c.PSK) == 0 {
		auth = "pubkey"
	}
	return fmt.Sprintf("ike.Config{%s %s[%s] <-> %s[%s] auth=%s %v === %v}", c.Name, c.Local, c.LocalID, c.Remote, c.RemoteID, auth, c.LocalTS, c.RemoteTS)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }
