// Package xfrm is the kernel adapter Keep's IKEv2 daemon drives: it
// allocates SPIs, installs and removes ESP SAs and XFRM policies, creates
// route-based xfrm interfaces, exempts the IKE sockets from IPsec, turns on
// ESP-in-UDP on the NAT-T socket and reports SA expiry and NAT mapping
// changes.
//
// [Kernel] is the interface. [Netlink] implements it on Linux through
// github.com/vishvananda/netlink v1.3.1 plus raw NETLINK_XFRM where that
// library falls short; [Fake] records everything in memory, enforces the
// kernel's invariants and injects errors and events for the state machine's
// tests.
//
// # What Keep owns
//
// The kernel's SAD and SPD are shared with anything else on the machine
// (in hosted mode a distribution's strongSwan may be running). Keep never
// flushes blindly; [Netlink.Flush] removes only what the [Owner] rule
// claims:
//
//   - an SA is Keep's when its reqid lies in [Owner.ReqidMin, Owner.ReqidMax],
//     or its if_id is one of [Owner.IfIDs];
//   - a policy is Keep's when it has templates and every template's reqid lies
//     in that range, or its if_id is one of Owner.IfIDs, or it has no template,
//     action block and a priority in [Owner.PriorityMin, Owner.PriorityMax]
//     (Keep's fail-closed band);
//   - socket policies (the IKE bypass) are never flushed: they live and die
//     with their socket.
//
// Everything Keep installs satisfies the rule by construction: callers take
// reqids from the owner's range and block priorities from its band, and the
// adapter refuses ([ErrNotOwned]) to install an SA or policy the rule would
// not later recognise, so a restart can always clean up after a crash.
//
// # Safety
//
// Key material never leaves this package in logs or errors: [SA.String]
// omits the key, and netlink.XfrmState values are never formatted (in
// v1.3.1 their String method dereferences a nil Pcpunum and panics).
package xfrm
