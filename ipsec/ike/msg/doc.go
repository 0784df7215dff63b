// Package msg is a strict, allocation-bounded codec for IKEv2 messages
// (RFC 7296 §3) as keep's NOC tunnel exchanges them with strongSwan.
//
// # What it parses
//
//   - The IKE header (Header, DecodeHeader): SPIs, version (major must be 2),
//     exchange type, flags I/V/R, message ID, and the Length field, which must
//     equal the datagram's length.
//   - The generic payload chain with the critical bit: an unknown payload
//     with the critical bit set fails the whole message with a *CriticalError
//     (errors.Is ErrCritical; its Notify method gives the
//     N(UNSUPPORTED_CRITICAL_PAYLOAD) to answer with); an unknown payload
//     without it decodes as *Unknown and round-trips.
//   - Payloads: SA (proposals, transforms, Key Length and other attributes),
//     KE, IDi/IDr, CERT, CERTREQ, AUTH (with RFC 7427 signature layout), Nonce,
//     Notify, Delete, Vendor ID, TSi/TSr, EAP (opaque), SK (RFC 5282) and SKF
//     (RFC 7383). CP and the group/puzzle payloads decode as *Unknown.
//   - SK/SKF: the codec exposes the raw parts (Encrypted.Parts: the exact
//     AAD as sent, IV, ciphertext||ICV) and, given the caller's AEAD, opens
//     the payload, strips the IKE padding and decodes the inner chain
//     (Encrypted.Open, Fragment.Open + Reassemble). EncodeEncrypted,
//     EncodeFragment and EncodeFragments seal. EncodeInner/DecodeInner work
//     on a plaintext inner chain. The crypto is the caller's, through one of
//     two small interfaces: AEAD (explicit IV, no padding; this package pads)
//     or SKSealer (the cipher owns IV and padding, as ipsec/ike/crypto's
//     SKCipher does; use EncodeEncryptedWith, EncodeFragmentWith, OpenWith).
//   - UDP 4500 demultiplexing (ClassifyUDP4500): NAT-keepalive, non-ESP
//     marker + IKE, ESP.
//
// Helpers for the state machine: Find, FindAll, First, Notifies, FindNotify,
// ErrorNotifies; ParseProposals (strongSwan-style "aes256gcm16-prfsha384-
// ecp384"), NewSA, Choose (responder choice per RFC 7296 §3.3.6, else
// ErrNoProposalChosen), VerifyChosen (initiator check of the reply),
// StripDH (CHILD proposals in IKE_AUTH), NarrowTS and TSFromPrefix (traffic
// selector narrowing, RFC 7296 §2.9); ErrorNotify maps a decode error to the
// notify to answer with (nil for errors to drop silently, e.g. ErrDecrypt).
//
// # Strictness
//
//   - Every length field is checked against its container before use:
//     datagram, payload, proposal, transform, attribute, selector. A length
//     past the container's end is ErrTruncated; one below the structure's
//     fixed part, or not filling the container exactly, is ErrLength.
//   - Fixed sizes are exact: IKE header 28, TS_IPV4_ADDR_RANGE 16,
//     TS_IPV6_ADDR_RANGE 40, ID_IPV4_ADDR 4, ID_IPV6_ADDR 16, Delete SPIs 4
//     each (and 0 for IKE), KE data = the group's public value size for
//     groups with a known size (MODP, ECP, brainpool, Curve25519/448),
//     N(NAT_DETECTION_*) 20, N(INVALID_KE_PAYLOAD) 2,
//     N(UNSUPPORTED_CRITICAL_PAYLOAD) 1, N(COOKIE) 1..64, nonces 16..256,
//     X509_SIGNATURE CERTREQ a multiple of 20, EAP length = its payload.
//   - Structure rules are enforced (ErrMalformed): Last Substruc values
//     (proposal 2/0, transform 3/0) agree with the position; proposals are
//     numbered 1, 2, ... when there are several, and never 0; SPI sizes are
//     0/8 for IKE and 4 for ESP/AH; Key Length is TV, non-zero and unique;
//     SK and SKF are the last payload and never nested; SKF numbers are
//     1..Total; Delete protocols are IKE, AH or ESP; TS and SA are not empty.
//   - Reserved fields and the critical bit of known payloads are ignored on
//     receipt (as RFC 7296 requires) and written as zero. The minor version
//     and header flag bits are kept as received.
//   - Errors wrap one sentinel (ErrTruncated, ErrLength, ErrVersion,
//     ErrCritical, ErrMalformed, ErrLimit, ErrEncode, ErrDecrypt,
//     ErrNoProposalChosen, ErrProposalMismatch) with context, for errors.Is.
//
// # Limits and allocation
//
// Decode copies the datagram once and every decoded byte slice aliases
// that copy; apart from it the decoder allocates only the Go values it
// returns, each backed by at least 4 octets of input, so memory is linear
// in the input and never in a claimed length or count. Counts are bounded
// (MaxPayloads 128 per chain, MaxProposals 64, MaxTransforms 128 per
// proposal, MaxAttributes 16 per transform, MaxSelectors 64 per TS) and
// slices are sized from counts only after they are checked against the
// input. A decoded message's byte slices never hold zero octets (empty
// decodes as nil), so values compare with reflect.DeepEqual.
//
// # Canonical encoding
//
// Encode derives the Next Payload and Length fields, writes version 2 and
// zero reserved bits, and refuses (ErrEncode) values Decode would reject, so
// Decode(Encode(m)) equals m for every valid m, and Encode(Decode(b)) == b
// for every canonical b.
package msg
