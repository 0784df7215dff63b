package msg

import "strconv"

// NotifyType is a Notify payload's Notify Message Type (RFC 7296 §3.10.1,
// IANA "IKEv2 Notify Message Types"). Values below 16384 are errors, values
// from 16384 on are status types; 8192-16383 and 40960-65535 are private use.
type NotifyType uint16

// Notify message types. Error types first, then status types.
const (
	UNSUPPORTED_CRITICAL_PAYLOAD        NotifyType = 1
	INVALID_IKE_SPI                     NotifyType = 4
	INVALID_MAJOR_VERSION               NotifyType = 5
	INVALID_SYNTAX                      NotifyType = 7
	INVALID_MESSAGE_ID                  NotifyType = 9
	INVALID_SPI                         NotifyType = 11
	NO_PROPOSAL_CHOSEN                  NotifyType = 14
	INVALID_KE_PAYLOAD                  NotifyType = 17
	AUTHENTICATION_FAILED               NotifyType = 24
	SINGLE_PAIR_REQUIRED                NotifyType = 34
	NO_ADDITIONAL_SAS                   NotifyType = 35
	INTERNAL_ADDRESS_FAILURE            NotifyType = 36
	FAILED_CP_REQUIRED                  NotifyType = 37
	TS_UNACCEPTABLE                     NotifyType = 38
	INVALID_SELECTORS                   NotifyType = 39
	UNACCEPTABLE_ADDRESSES              NotifyType = 40
	UNEXPECTED_NAT_DETECTED             NotifyType = 41
	USE_ASSIGNED_HoA                    NotifyType = 42
	TEMPORARY_FAILURE                   NotifyType = 43
	CHILD_SA_NOT_FOUND                  NotifyType = 44
	INVALID_GROUP_ID                    NotifyType = 45
	AUTHORIZATION_FAILED                NotifyType = 46
	STATE_NOT_FOUND                     NotifyType = 47
	INITIAL_CONTACT                     NotifyType = 16384
	SET_WINDOW_SIZE                     NotifyType = 16385
	ADDITIONAL_TS_POSSIBLE              NotifyType = 16386
	IPCOMP_SUPPORTED                    NotifyType = 16387
	NAT_DETECTION_SOURCE_IP             NotifyType = 16388
	NAT_DETECTION_DESTINATION_IP        NotifyType = 16389
	COOKIE                              NotifyType = 16390
	USE_TRANSPORT_MODE                  NotifyType = 16391
	HTTP_CERT_LOOKUP_SUPPORTED          NotifyType = 16392
	REKEY_SA                            NotifyType = 16393
	ESP_TFC_PADDING_NOT_SUPPORTED       NotifyType = 16394
	NON_FIRST_FRAGMENTS_ALSO            NotifyType = 16395
	MOBIKE_SUPPORTED                    NotifyType = 16396
	ADDITIONAL_IP4_ADDRESS              NotifyType = 16397
	ADDITIONAL_IP6_ADDRESS              NotifyType = 16398
	NO_ADDITIONAL_ADDRESSES             NotifyType = 16399
	UPDATE_SA_ADDRESSES                 NotifyType = 16400
	COOKIE2                             NotifyType = 16401
	NO_NATS_ALLOWED                     NotifyType = 16402
	AUTH_LIFETIME                       NotifyType = 16403
	MULTIPLE_AUTH_SUPPORTED             NotifyType = 16404
	ANOTHER_AUTH_FOLLOWS                NotifyType = 16405
	REDIRECT_SUPPORTED                  NotifyType = 16406
	REDIRECT                            NotifyType = 16407
	REDIRECTED_FROM                     NotifyType = 16408
	TICKET_LT_OPAQUE                    NotifyType = 16409
	TICKET_REQUEST                      NotifyType = 16410
	TICKET_ACK                          NotifyType = 16411
	TICKET_NACK                         NotifyType = 16412
	TICKET_OPAQUE                       NotifyType = 16413
	LINK_ID                             NotifyType = 16414
	USE_WESP_MODE                       NotifyType = 16415
	ROHC_SUPPORTED                      NotifyType = 16416
	EAP_ONLY_AUTHENTICATION             NotifyType = 16417
	CHILDLESS_IKEV2_SUPPORTED           NotifyType = 16418
	QUICK_CRASH_DETECTION               NotifyType = 16419
	IKEV2_MESSAGE_ID_SYNC_SUPPORTED     NotifyType = 16420
	IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED NotifyType = 16421
	IKEV2_MESSAGE_ID_SYNC               NotifyType = 16422
	IPSEC_REPLAY_COUNTER_SYNC           NotifyType = 16423
	SECURE_PASSWORD_METHODS             NotifyType = 16424
	PSK_PERSIST                         NotifyType = 16425
	PSK_CONFIRM                         NotifyType = 16426
	ERX_SUPPORTED                       NotifyType = 16427
	IFOM_CAPABILITY                     NotifyType = 16428
	SENDER_REQUEST_ID                   NotifyType = 16429
	IKEV2_FRAGMENTATION_SUPPORTED       NotifyType = 16430
	SIGNATURE_HASH_ALGORITHMS           NotifyType = 16431
	CLONE_IKE_SA_SUPPORTED              NotifyType = 16432
	CLONE_IKE_SA                        NotifyType = 16433
	PUZZLE                              NotifyType = 16434
	USE_PPK                             NotifyType = 16435
	PPK_IDENTITY                        NotifyType = 16436
	NO_PPK_AUTH                         NotifyType = 16437
	INTERMEDIATE_EXCHANGE_SUPPORTED     NotifyType = 16438
	IP4_ALLOWED                         NotifyType = 16439
	IP6_ALLOWED                         NotifyType = 16440
	ADDITIONAL_KEY_EXCHANGE             NotifyType = 16441
	USE_AGGFRAG                         NotifyType = 16442
	SUPPORTED_AUTH_METHODS              NotifyType = 16443
)

// IsError reports whether t is an error type (< 16384). Unrecognized error
// types in a response mean the request failed (RFC 7296 §3.10.1); unrecognized
// status types MUST be ignored.
func (t NotifyType) IsError() bool { return t < 16384 }

func (t NotifyType) String() string {
	switch t {
	case UNSUPPORTED_CRITICAL_PAYLOAD:
		return "UNSUPPORTED_CRITICAL_PAYLOAD"
	case INVALID_IKE_SPI:
		return "INVALID_IKE_SPI"
	case INVALID_MAJOR_VERSION:
		return "INVALID_MAJOR_VERSION"
	case INVALID_SYNTAX:
		return "INVALID_SYNTAX"
	case INVALID_MESSAGE_ID:
		return "INVALID_MESSAGE_ID"
	case INVALID_SPI:
		return "INVALID_SPI"
	case NO_PROPOSAL_CHOSEN:
		return "NO_PROPOSAL_CHOSEN"
	case INVALID_KE_PAYLOAD:
		return "INVALID_KE_PAYLOAD"
	case AUTHENTICATION_FAILED:
		return "AUTHENTICATION_FAILED"
	case SINGLE_PAIR_REQUIRED:
		return "SINGLE_PAIR_REQUIRED"
	case NO_ADDITIONAL_SAS:
		return "NO_ADDITIONAL_SAS"
	case INTERNAL_ADDRESS_FAILURE:
		return "INTERNAL_ADDRESS_FAILURE"
	case FAILED_CP_REQUIRED:
		return "FAILED_CP_REQUIRED"
	case TS_UNACCEPTABLE:
		return "TS_UNACCEPTABLE"
	case INVALID_SELECTORS:
		return "INVALID_SELECTORS"
	case UNACCEPTABLE_ADDRESSES:
		return "UNACCEPTABLE_ADDRESSES"
	case UNEXPECTED_NAT_DETECTED:
		return "UNEXPECTED_NAT_DETECTED"
	case USE_ASSIGNED_HoA:
		return "USE_ASSIGNED_HoA"
	case TEMPORARY_FAILURE:
		return "TEMPORARY_FAILURE"
	case CHILD_SA_NOT_FOUND:
		return "CHILD_SA_NOT_FOUND"
	case INVALID_GROUP_ID:
		return "INVALID_GROUP_ID"
	case AUTHORIZATION_FAILED:
		return "AUTHORIZATION_FAILED"
	case STATE_NOT_FOUND:
		return "STATE_NOT_FOUND"
	case INITIAL_CONTACT:
		return "INITIAL_CONTACT"
	case SET_WINDOW_SIZE:
		return "SET_WINDOW_SIZE"
	case ADDITIONAL_TS_POSSIBLE:
		return "ADDITIONAL_TS_POSSIBLE"
	case IPCOMP_SUPPORTED:
		return "IPCOMP_SUPPORTED"
	case NAT_DETECTION_SOURCE_IP:
		return "NAT_DETECTION_SOURCE_IP"
	case NAT_DETECTION_DESTINATION_IP:
		return "NAT_DETECTION_DESTINATION_IP"
	case COOKIE:
		return "COOKIE"
	case USE_TRANSPORT_MODE:
		return "USE_TRANSPORT_MODE"
	case HTTP_CERT_LOOKUP_SUPPORTED:
		return "HTTP_CERT_LOOKUP_SUPPORTED"
	case REKEY_SA:
		return "REKEY_SA"
	case ESP_TFC_PADDING_NOT_SUPPORTED:
		return "ESP_TFC_PADDING_NOT_SUPPORTED"
	case NON_FIRST_FRAGMENTS_ALSO:
		return "NON_FIRST_FRAGMENTS_ALSO"
	case MOBIKE_SUPPORTED:
		return "MOBIKE_SUPPORTED"
	case ADDITIONAL_IP4_ADDRESS:
		return "ADDITIONAL_IP4_ADDRESS"
	case ADDITIONAL_IP6_ADDRESS:
		return "ADDITIONAL_IP6_ADDRESS"
	case NO_ADDITIONAL_ADDRESSES:
		return "NO_ADDITIONAL_ADDRESSES"
	case UPDATE_SA_ADDRESSES:
		return "UPDATE_SA_ADDRESSES"
	case COOKIE2:
		return "COOKIE2"
	case NO_NATS_ALLOWED:
		return "NO_NATS_ALLOWED"
	case AUTH_LIFETIME:
		return "AUTH_LIFETIME"
	case MULTIPLE_AUTH_SUPPORTED:
		return "MULTIPLE_AUTH_SUPPORTED"
	case ANOTHER_AUTH_FOLLOWS:
		return "ANOTHER_AUTH_FOLLOWS"
	case REDIRECT_SUPPORTED:
		return "REDIRECT_SUPPORTED"
	case REDIRECT:
		return "REDIRECT"
	case REDIRECTED_FROM:
		return "REDIRECTED_FROM"
	case TICKET_LT_OPAQUE:
		return "TICKET_LT_OPAQUE"
	case TICKET_REQUEST:
		return "TICKET_REQUEST"
	case TICKET_ACK:
		return "TICKET_ACK"
	case TICKET_NACK:
		return "TICKET_NACK"
	case TICKET_OPAQUE:
		return "TICKET_OPAQUE"
	case LINK_ID:
		return "LINK_ID"
	case USE_WESP_MODE:
		return "USE_WESP_MODE"
	case ROHC_SUPPORTED:
		return "ROHC_SUPPORTED"
	case EAP_ONLY_AUTHENTICATION:
		return "EAP_ONLY_AUTHENTICATION"
	case CHILDLESS_IKEV2_SUPPORTED:
		return "CHILDLESS_IKEV2_SUPPORTED"
	case QUICK_CRASH_DETECTION:
		return "QUICK_CRASH_DETECTION"
	case IKEV2_MESSAGE_ID_SYNC_SUPPORTED:
		return "IKEV2_MESSAGE_ID_SYNC_SUPPORTED"
	case IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED:
		return "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED"
	case IKEV2_MESSAGE_ID_SYNC:
		return "IKEV2_MESSAGE_ID_SYNC"
	case IPSEC_REPLAY_COUNTER_SYNC:
		return "IPSEC_REPLAY_COUNTER_SYNC"
	case SECURE_PASSWORD_METHODS:
		return "SECURE_PASSWORD_METHODS"
	case PSK_PERSIST:
		return "PSK_PERSIST"
	case PSK_CONFIRM:
		return "PSK_CONFIRM"
	case ERX_SUPPORTED:
		return "ERX_SUPPORTED"
	case IFOM_CAPABILITY:
		return "IFOM_CAPABILITY"
	case SENDER_REQUEST_ID:
		return "SENDER_REQUEST_ID"
	case IKEV2_FRAGMENTATION_SUPPORTED:
		return "IKEV2_FRAGMENTATION_SUPPORTED"
	case SIGNATURE_HASH_ALGORITHMS:
		return "SIGNATURE_HASH_ALGORITHMS"
	case CLONE_IKE_SA_SUPPORTED:
		return "CLONE_IKE_SA_SUPPORTED"
	case CLONE_IKE_SA:
		return "CLONE_IKE_SA"
	case PUZZLE:
		return "PUZZLE"
	case USE_PPK:
		return "USE_PPK"
	case PPK_IDENTITY:
		return "PPK_IDENTITY"
	case NO_PPK_AUTH:
		return "NO_PPK_AUTH"
	case INTERMEDIATE_EXCHANGE_SUPPORTED:
		return "INTERMEDIATE_EXCHANGE_SUPPORTED"
	case IP4_ALLOWED:
		return "IP4_ALLOWED"
	case IP6_ALLOWED:
		return "IP6_ALLOWED"
	case ADDITIONAL_KEY_EXCHANGE:
		return "ADDITIONAL_KEY_EXCHANGE"
	case USE_AGGFRAG:
		return "USE_AGGFRAG"
	case SUPPORTED_AUTH_METHODS:
		return "SUPPORTED_AUTH_METHODS"
	}
	return "NOTIFY(" + strconv.Itoa(int(t)) + ")"
}
