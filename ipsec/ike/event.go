package ike

import (
	"fmt"
	"net/netip"
	"time"

	"keep/ipsec/ike/msg"
)

// EventKind says what happened to a connection.
type EventKind int

// Event kinds.
const (
	// EventUp: the IKE SA and its first CHILD SA are established and
	// installed in the kernel.
	EventUp EventKind = iota + 1
	// EventDown: the tunnel is gone (deleted by us or the peer, or a
	// hard expiry); SAs and tunnel policies are removed.
	EventDown
	// EventRekeyed: a CHILD SA (Child set) or the IKE SA (IKE set) was
	// replaced by a new one.
	EventRekeyed
	// EventAuthFailed: authentication failed, on either side; Reason
	// says why. Nothing is left installed.
	EventAuthFailed
	// EventFailed: negotiation failed for another reason: Notify holds
	// the error notify received or sent (NO_PROPOSAL_CHOSEN,
	// TS_UNACCEPTABLE, ...), or the exchange timed out.
	EventFailed
	// EventPeerDead: a request (DPD or other) got no answer after all
	// retransmissions; SAs are removed.
	EventPeerDead
)

func (k EventKind) String() string {
	switch k {
	case EventUp:
		return "up"
	case EventDown:
		return "down"
	case EventRekeyed:
		return "rekeyed"
	case EventAuthFailed:
		return "auth-failed"
	case EventFailed:
		return "failed"
	case EventPeerDead:
		return "peer-dead"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a notification about a connection. It never carries keys.
type Event struct {
	Kind EventKind
	Conn string
	Time time.Time
	// Notify is the error notify behind an EventAuthFailed or
	// EventFailed (0 for local failures and timeouts).
	Notify msg.NotifyType
	// Reason is a human-readable cause.
	Reason string
	// IKE is set for IKE SA level events; Child for CHILD SA rekeys.
	IKE   bool
	Child bool
	// SPIIn/SPIOut: the CHILD SA concerned (the new one for rekeys).
	SPIIn, SPIOut uint32
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Conn, e.Kind)
	if e.Notify != 0 {
		s += " " + e.Notify.String()
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Status is a snapshot of the engine's connections.
type Status struct {
	Conns []ConnStatus
}

// ConnStatus is one connection.
type ConnStatus struct {
	Name string
	// State: "down", "connecting", "established", "rekeying", "deleting".
	State string
	// IKE lists the connection's IKE SAs (normally one; two during a
	// rekey).
	IKE []IKEStatus
	// NextAttempt is when the connection will be re-initiated (zero if
	// none is scheduled).
	NextAttempt time.Time
}

// IKEStatus is an IKE SA.
type IKEStatus struct {
	SPIi, SPIr           uint64
	Initiator            bool
	State                string
	Local, Remote        netip.AddrPort
	NATLocal, NATRemote  bool
	Encr, PRF, DH        string
	Established, RekeyAt time.Time
	ExpireAt             time.Time
	LastReceived         time.Time
	LastDPD              time.Time
	Children             []ChildStatus
}

// ChildStatus is a CHILD SA with its kernel counters.
type ChildStatus struct {
	Reqid                 uint32
	SPIIn, SPIOut         uint32
	State                 string
	LocalTS, RemoteTS     []netip.Prefix
	Encr, DH              string
	ESN, Encap            bool
	Installed             time.Time
	RekeyAt, ExpireAt     time.Time
	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64
	LastUsedIn            time.Time
}
