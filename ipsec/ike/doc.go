// Package ike is Keep's IKEv2 (RFC 7296) initiator and responder for
// site-to-site tunnels to the provider's NOC: one connection (Config) per
// peer, one IKE SA and one tunnel-mode ESP CHILD SA (AES-GCM-16-256) per
// connection, driving an xfrm.Kernel. It interoperates with strongSwan
// 5.9.8 (see the interop tests).
//
// # Layers
//
//   - Engine: the state machine, free of I/O and of goroutines. Inputs:
//     Receive (a datagram), Tick (timers), KernelEvent (xfrm soft/hard
//     expire), and the API calls Initiate, Terminate, RekeyChild, RekeyIKE
//     and Close; every input carries the caller's time (the clock is
//     injected). Outputs: datagrams (Outgoing), Kernel calls (AllocSPI,
//     UpdateSA, AddSA, DeleteSA, AddPolicy, DeletePolicy, SAStats) and
//     events (Options.OnEvent: up, down, rekeyed, auth failed with reason,
//     failed with the error notify, peer dead). Status is a snapshot with
//     SPIs, algorithms, lifetimes, byte counters from Kernel.SAStats and the
//     last DPD.
//   - Daemon: the Engine on UDP sockets 500 and 4500 (non-ESP marker on
//     4500; Kernel.BypassSocket on both, Kernel.EnableUDPEncap on 4500).
//     The responder accepts IKE on either port: strongSwan floats IKE_AUTH
//     to 4500 even without NAT because it announces MOBIKE.
//
// # Goroutines
//
// The Engine has none and is not safe for concurrent use. Daemon.Run
// owns all of the Daemon's: one reader per socket, one reading
// Kernel.Events, and the loop that ticks the Engine every TickInterval
// (100 ms); they all drive the Engine under one mutex and have stopped
// when Run returns (after Close has sent the Deletes and removed the SAs).
// OnEvent runs on whichever of them fed the input and must not block or
// call back into the Engine/Daemon.
//
// # States and exchanges
//
//	IKE SA state   entered when                                 left by
//	connecting     initiator sent IKE_SA_INIT (or IKE_AUTH);    IKE_AUTH response -> established;
//	               responder answered IKE_SA_INIT (half-open)   error notify/timeout -> removed
//	established    IKE_AUTH done, first CHILD SA installed      Delete (either side), peer dead,
//	                                                            lifetime, replaced by IKE rekey
//	deleting       we sent Delete(IKE)                          its answer or give-up -> removed
//
//	exchange          initiated by                      what it does here
//	IKE_SA_INIT       the connection's initiator        SA(IKE), KE, Ni/Nr, NAT_DETECTION_*,
//	                  (Initiate, AutoStart, re-init)    SIGNATURE_HASH_ALGORITHMS, [COOKIE],
//	                                                    [CERTREQ]; INVALID_KE_PAYLOAD -> retry
//	                                                    with the named group; COOKIE -> retry
//	IKE_AUTH          the same                          IDi/IDr, AUTH (PSK or RFC 7427 signature),
//	                                                    [CERT], [CERTREQ], INITIAL_CONTACT on the
//	                                                    first SA since start; first CHILD SA
//	                                                    (ESP proposals with DH stripped)
//	CREATE_CHILD_SA   either side                       CHILD rekey (REKEY_SA, KE when the ESP
//	                                                    proposals name a group: PFS) on lifetime,
//	                                                    soft expire or RekeyChild; IKE rekey
//	                                                    (SA(IKE) with the new SPI, KE) on
//	                                                    lifetime or RekeyIKE
//	INFORMATIONAL     either side                       DPD (empty), Delete(ESP)/Delete(IKE),
//	                                                    AUTHENTICATION_FAILED after a bad
//	                                                    responder AUTH
//
// Failures: a responder that cannot authenticate the initiator answers
// AUTHENTICATION_FAILED and drops the SA; an initiator that cannot
// authenticate the responder sends INFORMATIONAL AUTHENTICATION_FAILED and
// drops it; both emit EventAuthFailed and leave nothing in the kernel.
// NO_PROPOSAL_CHOSEN and TS_UNACCEPTABLE in IKE_AUTH leave the responder
// with a child-less IKE SA which our initiator then deletes. A PFS
// mismatch passes IKE_AUTH (no KE there) and fails the first CHILD rekey
// with NO_PROPOSAL_CHOSEN in either direction; the old CHILD SA is kept
// and the rekey retried later.
//
// Rekey collisions (RFC 7296 §2.8.1/§2.8.2): when both sides rekey the
// same CHILD SA (or the IKE SA) at once, the new SA created by the
// exchange holding the lowest of the four nonces is deleted by its
// creator, and the winner's creator deletes the old SA; a peer's rekey
// arriving after ours completed is settled the same way. After an IKE
// rekey the CHILD SAs move to the new IKE SA, whose original initiator is
// the side that started the rekey; the old SA is deleted by the rekey's
// initiator (and dropped after 30 s if that Delete never comes).
//
// # Rules
//
//   - Message IDs: our requests count from 0 (IKE_SA_INIT) per IKE SA,
//     window size 1: one outstanding request, later ones queue. A
//     response is accepted only for the outstanding ID. Peer requests
//     must carry the next expected ID; the previous ID is a retransmission.
//   - Retransmission: the n-th retransmission (n = 1, 2, ...) is sent
//     Timeout·Base^(n-1) after the previous transmission (defaults 4 s, 1.8, 5 tries, as
//     strongSwan); after the last one and one more timeout the exchange
//     fails: IKE_SA_INIT/IKE_AUTH with EventFailed, anything later (DPD
//     included) with EventPeerDead. Failed or dead AutoStart/Initiate
//     connections are re-initiated after ReinitBackoff, doubling up to
//     ReinitBackoffMax.
//   - Cache: the last response of each IKE SA is kept as sent and resent
//     verbatim for a retransmitted request (no second processing); the
//     responder's IKE_SA_INIT response is resent for a byte-identical
//     retransmitted IKE_SA_INIT request.
//   - Half-open responder SAs are capped (Options.MaxHalfOpen, further
//     IKE_SA_INIT dropped), expire after HalfOpenTimeout, and from
//     CookieThreshold on an IKE_SA_INIT must return a COOKIE (stateless,
//     ikecrypto.CookieJar). INVALID_KE_PAYLOAD answers keep no state.
//   - DPD: an empty INFORMATIONAL when neither IKE nor inbound ESP (the
//     inbound SA's LastUsed from Kernel.SAStats) was seen for DPDInterval.
//   - NAT-T: after a NAT is detected IKE moves to port 4500 (non-ESP
//     marker) and ESP is UDP-encapsulated; while we are behind the NAT a
//     NAT-keepalive (0xFF, Packet.Keepalive) goes out every NATKeepalive.
//   - Kernel: inbound SPIs come from Kernel.AllocSPI (the larval SA is
//     completed with UpdateSA, released with DeleteSA on failure);
//     outbound SAs with AddSA; each connection owns one reqid
//     (Options.Owner.ReqidMin+1+index) shared by its CHILD SAs across
//     rekeys, so the tunnel policies (out, in, fwd; priority
//     Config.PriorityBase, below Keep's block band) stay in place during
//     rekeys and are removed when the connection goes down. ESP is
//     UDP-encapsulated when NAT was detected on either side. Fail-closed
//     block policies are the caller's (Config.FailClosedPolicies builds
//     them); the engine never touches them.
//   - Secrets (PSK, keys, SKEYSEED, KEYMAT) are never logged or put in
//     events or Status; Config prints without them.
//
// # Interop facts relied on (strongSwan 5.9.8, measured)
//
//   - strongSwan floats to 4500 even without NAT; with kernel-libipsec it
//     fakes NAT (its NAT_DETECTION_SOURCE_IP never matches), so we detect
//     "remote behind NAT", float to 4500 and encapsulate ESP.
//   - It sends its certificate only when asked: we send CERTREQ with the
//     SHA-1 hashes of our pinned CAs' keys.
//   - With N(SIGNATURE_HASH_ALGORITHMS) on both sides it authenticates with
//     RFC 7427 (method 14, ECDSA with SHA-384 for P-384); we do the same.
//   - It ignores DH in IKE_AUTH CHILD proposals and needs KE at rekey when
//     PFS is configured.
//   - Status notifies it sends (INITIAL_CONTACT, MOBIKE_SUPPORTED,
//     NO_ADDITIONAL_ADDRESSES, MULTIPLE_AUTH_SUPPORTED, EAP_ONLY,
//     MESSAGE_ID_SYNC_SUPPORTED, REDIRECT_SUPPORTED, CHILDLESS_IKEV2_SUPPORTED,
//     SIGNATURE_HASH_ALGORITHMS) are skipped; IKEV2_FRAGMENTATION_SUPPORTED
//     is honoured (below).
//   - The defaults' ESP proposals name no DH group: with a NOC that leaves
//     esp_proposals unset, the first CHILD SA (IKE_AUTH) comes up and every
//     rekey is refused both ways (we require PFS); the failure event says so.
//
// IKE fragmentation (RFC 7383): both ends announce it in IKE_SA_INIT (and
// a rekeyed IKE SA keeps it); an encrypted message larger than
// Config.FragmentSize (the IP datagram, default 1280 like strongSwan's)
// goes out as SKF fragments, each sealed on its own, and retransmits as a
// set; incoming fragments are authenticated one by one and reassembled
// (at most 64 fragments and 64 KiB), and a fragmented retransmitted
// request gets the cached response once, on its first fragment. With
// RSA 3072 certificates both IKE_AUTH messages are fragmented against
// charon (TestInteropFragmentation).
//
// Not implemented: MOBIKE, additional CHILD SAs (CREATE_CHILD_SA without REKEY_SA is
// answered NO_ADDITIONAL_SAS), updating installed SAs on a NAT mapping
// change (xfrm EventMapping is ignored; the IKE SA does follow the
// peer's address), EAP, reauthentication.
package ike
