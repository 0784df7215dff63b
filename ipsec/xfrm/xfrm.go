package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// Errors the adapter returns. Callers test them with errors.Is; the
// returned errors wrap them with context (operation, SPI, addresses, never
// keys).
var (
	// ErrNotFound: the SA, policy or interface does not exist (ESRCH,
	// ENOENT, ENODEV from the kernel).
	ErrNotFound = errors.New("xfrm: not found")
	// ErrExists: an SA with the same (dst, proto, SPI), a policy with the
	// same (selector, dir, mark, if_id) or an interface with the same name
	// is already installed (EEXIST).
	ErrExists = errors.New("xfrm: already exists")
	// ErrNoESP: the kernel cannot install ESP SAs (no esp4/esp6, no
	// rfc4106(gcm(aes)) AEAD). The kernel answered ENOSYS ("Requested AEAD
	// algorithm not found") or EPROTONOSUPPORT ("Requested type not
	// found"). Policies and ALLOCSPI may still work on such a kernel.
	ErrNoESP = errors.New("xfrm: kernel lacks ESP/AEAD support (esp4/esp6 and rfc4106(gcm(aes)))")
	// ErrNoInterface: the kernel cannot create xfrm interfaces
	// (CONFIG_XFRM_INTERFACE is not set).
	ErrNoInterface = errors.New("xfrm: kernel lacks xfrm interfaces (CONFIG_XFRM_INTERFACE)")
	// ErrInvalid: the request is malformed (bad key length, replay window
	// above 32 without ESN, mixed address families, zero SPI...). Nothing
	// was sent to the kernel.
	ErrInvalid = errors.New("xfrm: invalid request")
	// ErrNotOwned: the request carries a reqid, if_id or block priority
	// outside Keep's [Owner] rule; installing it would leave state Flush
	// could not recognise. Nothing was sent to the kernel.
	ErrNotOwned = errors.New("xfrm: outside Keep's reqid/if_id/priority range")
	// ErrPermission: the process lacks CAP_NET_ADMIN (EPERM).
	ErrPermission = errors.New("xfrm: permission denied (CAP_NET_ADMIN needed)")
)

// AEAD is the only ESP transform Keep installs: AES-256-GCM with a 16-byte
// ICV (RFC 4106), keyed with 32 bytes of key followed by 4 bytes of salt.
const (
	AEADName   = "rfc4106(gcm(aes))"
	AEADKeyLen = 36
	AEADICV    = 128
)

// Replay windows. Without ESN the kernel's legacy replay state holds at most
// 32 packets, and netlink v1.3.1 only sends the ESN replay attribute when ESN
// is on, so larger windows need ESN.
const (
	ReplayWindowLegacy = 32
	ReplayWindowESN    = 128
)

// Proto is the IPsec protocol of an SA. Only ESP is supported.
type Proto uint8

// ProtoESP is IP protocol 50.
const ProtoESP Proto = syscall.IPPROTO_ESP

func (p Proto) String() string {
	if p == ProtoESP {
		return "esp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// SAID names an installed SA. The kernel keys SAs by (dst, proto, SPI); Src
// is checked too when set.
type SAID struct {
	Src, Dst netip.Addr
	SPI      uint32
}

func (id SAID) String() string {
	return fmt.Sprintf("esp spi 0x%08x %s->%s", id.SPI, id.Src, id.Dst)
}

// Encap is ESP-in-UDP (RFC 3948) for NAT traversal: the outer UDP ports of
// the SA's packets.
type Encap struct {
	SrcPort, DstPort uint16
	// OriginalAddress is the peer's address before NAT (for transport mode
	// checksum fix-ups); zero for tunnel mode.
	OriginalAddress netip.Addr
}

// Lifetime are the kernel's soft and hard limits. Zero means no limit.
// Soft expiry raises an [EventSoftExpire] (start the rekey); hard expiry
// deletes the SA and raises [EventHardExpire].
type Lifetime struct {
	SoftSeconds, HardSeconds uint64
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// SA is one direction of a tunnel-mode ESP CHILD_SA.
type SA struct {
	Src, Dst netip.Addr // outer (tunnel) addresses
	SPI      uint32
	Reqid    uint32
	// IfID binds the SA to an xfrm interface (route-based); 0 for none.
	IfID uint32
	// Key is the 36-byte rfc4106 key (32 key + 4 salt). Never printed.
	Key []byte
	// ICVBits is the ICV length; 0 means 128, the only value accepted.
	ICVBits int
	// ESN turns on 64-bit extended sequence numbers (RFC 4304).
	ESN bool
	// ReplayWindow in packets; 0 means ReplayWindowLegacy without ESN and
	// ReplayWindowESN with ESN. Above 32 requires ESN.
	ReplayWindow uint32
	Encap        *Encap
	Lifetime     Lifetime
	// Selector restricts the SA to inner traffic (optional; tunnel SAs
	// with if_id usually leave it empty).
	Selector Selector
}

// ID returns the SA's identity.
func (sa SA) ID() SAID { return SAID{Src: sa.Src, Dst: sa.Dst, SPI: sa.SPI} }

// String describes the SA without its key.
func (sa SA) String() string {
	s := fmt.Sprintf("esp spi 0x%08x %s->%s reqid %d if_id %d esn %t replay %d", sa.SPI, sa.Src, sa.Dst, sa.Reqid, sa.IfID, sa.ESN, sa.ReplayWindow)
	if sa.Encap != nil {
		s += fmt.Sprintf(" espinudp %d->%d", sa.Encap.SrcPort, sa.Encap.DstPort)
	}
	return s
}

// GoString keeps %#v from printing the key.
func (sa SA) GoString() string { return "xfrm.SA{" + sa.String() + "}" }

// normalise fills defaults and validates; the result is safe to install.
func (sa SA) normalise() (SA, error) {
	if !sa.Src.IsValid() || !sa.Dst.IsValid() || sa.Src.Is4() != sa.Dst.Is4() {
		return sa, fmt.Errorf("%w: SA %s: addresses must be valid and of one family", ErrInvalid, sa.ID())
	}
	sa.Src, sa.Dst = sa.Src.Unmap(), sa.Dst.Unmap()
	if sa.SPI < 0x100 {
		return sa, fmt.Errorf("%w: SA %s: SPI below 256 is reserved", ErrInvalid, sa.ID())
	}
	if len(sa.Key) != AEADKeyLen {
		return sa, fmt.Errorf("%w: SA %s: %s key is %d bytes, want %d (32 key + 4 salt)", ErrInvalid, sa.ID(), AEADName, len(sa.Key), AEADKeyLen)
	}
	if sa.ICVBits == 0 {
		sa.ICVBits = AEADICV
	}
	if sa.ICVBits != AEADICV {
		return sa, fmt.Errorf("%w: SA %s: ICV %d bits, want %d", ErrInvalid, sa.ID(), sa.ICVBits, AEADICV)
	}
	if sa.ReplayWindow == 0 {
		sa.ReplayWindow = ReplayWindowLegacy
		if sa.ESN {
			sa.ReplayWindow = ReplayWindowESN
		}
	}
	if !sa.ESN && sa.ReplayWindow > ReplayWindowLegacy {
		return sa, fmt.Errorf("%w: SA %s: replay window %d needs ESN (without ESN the kernel clamps to %d)", ErrInvalid, sa.ID(), sa.ReplayWindow, ReplayWindowLegacy)
	}
	if sa.ReplayWindow > 4096 {
		return sa, fmt.Errorf("%w: SA %s: replay window %d above 4096", ErrInvalid, sa.ID(), sa.ReplayWindow)
	}
	if sa.Encap != nil && (sa.Encap.SrcPort == 0 || sa.Encap.DstPort == 0) {
		return sa, fmt.Errorf("%w: SA %s: ESP-in-UDP needs both ports", ErrInvalid, sa.ID())
	}
	if err := sa.Selector.check(); err != nil {
		return sa, fmt.Errorf("%w: SA %s: %v", ErrInvalid, sa.ID(), err)
	}
	sa.Key = slices.Clone(sa.Key)
	return sa, nil
}

// Stats are an SA's counters, read from the kernel.
type Stats struct {
	Bytes, Packets uint64
	// Added is when the SA was installed; LastUsed is when it last
	// carried a packet (zero if never). DPD uses LastUsed of the inbound
	// SA to decide whether the peer has been quiet.
	Added, LastUsed time.Time
	// ReplayDrops and IntegrityFailures count rejected packets.
	ReplayDrops, IntegrityFailures uint32
}

// Dir is a policy direction.
type Dir uint8

// Policy directions (the kernel's values).
const (
	DirIn  Dir = 0
	DirOut Dir = 1
	DirFwd Dir = 2
)

func (d Dir) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	case DirFwd:
		return "fwd"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// Action is what a policy does with matching packets.
type Action uint8

// Policy actions.
const (
	ActionAllow Action = 0 // apply the templates (or pass, with none)
	ActionBlock Action = 1 // drop: the fail-closed policy
)

// Selector matches inner traffic by prefix, and optionally IP protocol and
// ports. Both prefixes must be valid and of one family.
type Selector struct {
	Src, Dst         netip.Prefix
	Proto            uint8
	SrcPort, DstPort uint16
}

func (s Selector) isZero() bool { return s == Selector{} }

func (s Selector) check() error {
	if s.isZero() {
		return nil
	}
	if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Addr().Is4() != s.Dst.Addr().Is4() {
		return fmt.Errorf("selector %s->%s: prefixes must be valid and of one family", s.Src, s.Dst)
	}
	return nil
}

func (s Selector) String() string {
	str := fmt.Sprintf("%s->%s", s.Src, s.Dst)
	if s.Proto != 0 {
		str += fmt.Sprintf(" proto %d", s.Proto)
	}
	if s.SrcPort != 0 || s.DstPort != 0 {
		str += fmt.Sprintf(" ports %d->%d", s.SrcPort, s.DstPort)
	}
	return str
}

// Template is one tunnel-mode ESP transformation of an allow policy.
type Template struct {
	Src, Dst netip.Addr // tunnel endpoints
	Reqid    uint32
}

// PolicyID names an installed policy: the kernel keys policies by
// (selector, dir, mark, if_id); Keep uses no marks.
type PolicyID struct {
	Selector Selector
	Dir      Dir
	IfID     uint32
}

func (id PolicyID) String() string {
	return fmt.Sprintf("%s dir %s if_id %d", id.Selector, id.Dir, id.IfID)
}

// Policy is an SPD entry.
type Policy struct {
	Selector Selector
	Dir      Dir
	Action   Action
	// Priority: lower values win. Tunnel policies must have a lower value
	// than the block policy covering the same traffic.
	Priority  uint32
	IfID      uint32
	Templates []Template
}

// ID returns the policy's identity.
func (p Policy) ID() PolicyID { return PolicyID{Selector: p.Selector, Dir: p.Dir, IfID: p.IfID} }

func (p Policy) String() string {
	a := "allow"
	if p.Action == ActionBlock {
		a = "block"
	}
	return fmt.Sprintf("policy %s %s priority %d templates %d", p.ID(), a, p.Priority, len(p.Templates))
}

func (p Policy) check() error {
	if p.Selector.isZero() {
		return fmt.Errorf("%w: %s: a policy needs a selector", ErrInvalid, p)
	}
	if err := p.Selector.check(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, p, err)
	}
	if p.Dir > DirFwd {
		return fmt.Errorf("%w: %s: bad direction", ErrInvalid, p)
	}
	if p.Action == ActionBlock && len(p.Templates) > 0 {
		return fmt.Errorf("%w: %s: a block policy has no templates", ErrInvalid, p)
	}
	for _, t := range p.Templates {
		if !t.Src.IsValid() || !t.Dst.IsValid() || t.Src.Is4() != t.Dst.Is4() {
			return fmt.Errorf("%w: %s: template endpoints must be valid and of one family", ErrInvalid, p)
		}
	}
	return nil
}

// BlockPolicy is the fail-closed policy for a NOC network: outbound
// traffic to dst is dropped unless a tunnel policy with a lower priority
// value (or an xfrm interface route with its own if_id) takes it. Install it
// before the tunnel comes up and keep it while the tunnel is down.
func BlockPolicy(dst netip.Prefix, priority uint32) Policy {
	src := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if dst.Addr().Is6() {
		src = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return Policy{
		Selector: Selector{Src: src, Dst: dst.Masked()},
		Dir:      DirOut,
		Action:   ActionBlock,
		Priority: priority,
	}
}

// Interface is a route-based xfrm interface: traffic routed into it is
// matched against policies and SAs with the same if_id.
type Interface struct {
	Name string
	IfID uint32
	// Parent is the underlying (WAN) link's name; optional.
	Parent string
}

// EventKind says what happened to an SA.
type EventKind int

// Event kinds.
const (
	// EventSoftExpire: a soft limit was reached; rekey now. The SA still works.
	EventSoftExpire EventKind = iota + 1
	// EventHardExpire: a hard limit was reached; the kernel has deleted the SA.
	EventHardExpire
	// EventMapping: an ESP-in-UDP packet arrived from a new address or port
	// (the NAT mapping changed); update the SA and IKE peer address.
	EventMapping
	// EventLost: the subscription failed (e.g. ENOBUFS after an overrun);
	// events were lost. Err says why; the channel closes after it. Resync
	// by reading SA state and subscribe again.
	EventLost
)

func (k EventKind) String() string {
	switch k {
	case EventSoftExpire:
		return "soft-expire"
	case EventHardExpire:
		return "hard-expire"
	case EventMapping:
		return "mapping"
	case EventLost:
		return "lost"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is a kernel notification about an SA.
type Event struct {
	Kind  EventKind
	SA    SAID
	Reqid uint32
	// OldAddr and NewAddr are the peer's outer address and UDP port before
	// and after a mapping change (EventMapping only).
	OldAddr, NewAddr netip.AddrPort
	Err              error // EventLost only
}

func (e Event) String() string {
	switch e.Kind {
	case EventMapping:
		return fmt.Sprintf("%s %s reqid %d %s->%s", e.Kind, e.SA, e.Reqid, e.OldAddr, e.NewAddr)
	case EventLost:
		return fmt.Sprintf("%s: %v", e.Kind, e.Err)
	}
	return fmt.Sprintf("%s %s reqid %d", e.Kind, e.SA, e.Reqid)
}

// Owner is the rule that says which kernel state is Keep's (see the
// package documentation).
type Owner struct {
	ReqidMin, ReqidMax       uint32
	IfIDs                    []uint32
	PriorityMin, PriorityMax uint32 // band for template-less block policies
}

// defaultOwner is Keep's reservation: reqids 0x4b450000-0x4b45ffff ("KE"),
// block priorities 0x4b450000-0x4b45ffff (worse than any tunnel priority
// Keep uses, which stay below 0x10000), and if_id 0x4b45 for the NOC
// interface.
var defaultOwner = Owner{ReqidMin: 0x4b450000, ReqidMax: 0x4b45ffff, IfIDs: []uint32{0x4b45}, PriorityMin: 0x4b450000, PriorityMax: 0x4b45ffff}

// DefaultOwner returns Keep's reservation (a fresh copy): reqids and block
// priorities 0x4b450000-0x4b45ffff, if_id 0x4b45.
func DefaultOwner() Owner {
	o := defaultOwner
	o.IfIDs = slices.Clone(o.IfIDs)
	return o
}

func (o Owner) reqid(r uint32) bool { return r >= o.ReqidMin && r <= o.ReqidMax && r != 0 }
func (o Owner) ifid(id uint32) bool { return id != 0 && slices.Contains(o.IfIDs, id) }

// OwnsSA applies the ownership rule to an SA's reqid and if_id.
func (o Owner) OwnsSA(reqid, ifID uint32) bool { return o.reqid(reqid) || o.ifid(ifID) }

// OwnsPolicy applies the ownership rule to a policy.
func (o Owner) OwnsPolicy(p Policy) bool {
	if o.ifid(p.IfID) {
		return true
	}
	if len(p.Templates) > 0 {
		for _, t := range p.Templates {
			if !o.reqid(t.Reqid) {
				return false
			}
		}
		return true
	}
	return p.Action == ActionBlock && p.Priority >= o.PriorityMin && p.Priority <= o.PriorityMax
}

// Kernel is the XFRM data plane as the IKE state machine sees it. All
// methods are safe for concurrent use. A method that returns an error has
// changed nothing unless its documentation says otherwise; errors wrap one
// of the Err* values above when the cause is known, else the kernel's
// errno.
type Kernel interface {
	// AllocSPI reserves a random unused SPI for an inbound SA from src to
	// dst (the responder's and the rekey's flow) by creating a larval SA
	// with the given reqid, which UpdateSA later completes. A larval SA
	// that is never completed expires after net.core.xfrm_acq_expires
	// seconds with an EventHardExpire. Errors: ErrInvalid, ErrNotOwned,
	// ErrPermission; nothing is reserved on error.
	AllocSPI(ctx context.Context, src, dst netip.Addr, proto Proto, reqid uint32) (uint32, error)
	// AddSA installs a complete SA. Errors: ErrInvalid/ErrNotOwned before
	// anything is sent; ErrExists if (dst, SPI) is taken (including by a
	// larval SA: use UpdateSA for those); ErrNoESP if the kernel cannot
	// do ESP with AES-GCM. Nothing is installed on error.
	AddSA(ctx context.Context, sa SA) error
	// UpdateSA completes a larval SA from AllocSPI (or replaces an
	// installed one with the same ID). Errors: as AddSA, and ErrNotFound
	// if no SA with that ID exists. On error the old SA is unchanged.
	UpdateSA(ctx context.Context, sa SA) error
	// DeleteSA removes an SA (complete or larval). ErrNotFound if it is
	// not there, which callers tearing down may treat as success.
	DeleteSA(ctx context.Context, id SAID) error
	// SAStats reads an SA's counters. ErrNotFound if it is not there.
	SAStats(ctx context.Context, id SAID) (Stats, error)
	// AddPolicy installs a policy. ErrExists if one with the same ID is
	// installed (the kernel keys by selector, dir and if_id, not by
	// priority: a block policy must differ from the tunnel's by selector or
	// if_id). ErrInvalid, ErrNotOwned before anything is sent.
	AddPolicy(ctx context.Context, p Policy) error
	// DeletePolicy removes a policy. ErrNotFound if it is not there.
	DeletePolicy(ctx context.Context, id PolicyID) error
	// Policies lists the installed policies Keep owns (by the Owner rule).
	// A dump interrupted by concurrent changes is retried; partial results
	// are never returned.
	Policies(ctx context.Context) ([]Policy, error)
	// SAs lists the installed SAs Keep owns, without keys.
	SAs(ctx context.Context) ([]SAID, error)
	// CreateInterface creates an xfrm interface and sets it up.
	// ErrNoInterface if the kernel lacks them, ErrExists if the name is
	// taken, ErrNotOwned if the if_id is not Keep's; nothing is created
	// on error.
	CreateInterface(ctx context.Context, ifc Interface) error
	// DeleteInterface deletes an xfrm interface by name. ErrNotFound if
	// there is none; ErrInvalid if the link is not an xfrm interface.
	DeleteInterface(ctx context.Context, name string) error
	// BypassSocket exempts a socket from IPsec in both directions (socket
	// policies via IP_XFRM_POLICY / IPV6_XFRM_POLICY). Every IKE socket
	// needs it once a policy or route covers the peer's address. An IPv6
	// socket gets IPV6_XFRM_POLICY, whose empty selector also covers its
	// v4-mapped traffic (proven on a dual-stack socket). On error the
	// socket may have the inbound policy set but not the outbound one;
	// close it.
	BypassSocket(c syscall.Conn) error
	// EnableUDPEncap makes a UDP socket the ESP-in-UDP (RFC 3948) receiver:
	// packets to it without the non-ESP marker are ESP. This is the IKE
	// daemon's port-4500 socket.
	EnableUDPEncap(c syscall.Conn) error
	// Events subscribes to soft/hard expire and NAT mapping events. The
	// channel closes when ctx is done or after an EventLost. Error if the
	// subscription cannot be made (nothing to close then).
	Events(ctx context.Context) (<-chan Event, error)
	// Flush deletes the SAs and policies Keep owns (see the package
	// documentation) and nothing else: run it at start before installing
	// the fail-closed policies. It returns how many SAs and policies it
	// removed; on error some may have been removed.
	Flush(ctx context.Context) (sas, policies int, err error)
}
