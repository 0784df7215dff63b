package msg

import "strconv"

// ExchangeType is the IKE header's Exchange Type (RFC 7296 §3.1, IANA
// "IKEv2 Exchange Types").
type ExchangeType uint8

// Exchange types.
const (
	IKE_SA_INIT        ExchangeType = 34
	IKE_AUTH           ExchangeType = 35
	CREATE_CHILD_SA    ExchangeType = 36
	INFORMATIONAL      ExchangeType = 37
	IKE_SESSION_RESUME ExchangeType = 38 // RFC 5723
	IKE_INTERMEDIATE   ExchangeType = 43 // RFC 9242
	IKE_FOLLOWUP_KE    ExchangeType = 44 // RFC 9370
)

func (e ExchangeType) String() string {
	switch e {
	case IKE_SA_INIT:
		return "IKE_SA_INIT"
	case IKE_AUTH:
		return "IKE_AUTH"
	case CREATE_CHILD_SA:
		return "CREATE_CHILD_SA"
	case INFORMATIONAL:
		return "INFORMATIONAL"
	case IKE_SESSION_RESUME:
		return "IKE_SESSION_RESUME"
	case IKE_INTERMEDIATE:
		return "IKE_INTERMEDIATE"
	case IKE_FOLLOWUP_KE:
		return "IKE_FOLLOWUP_KE"
	}
	return "EXCHANGE(" + strconv.Itoa(int(e)) + ")"
}

// Flags are the IKE header flags (RFC 7296 §3.1). Reserved bits are kept as
// received; Encode writes them as given.
type Flags uint8

// Header flag bits.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: sender can speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response
)

func (f Flags) String() string {
	s := ""
	add := func(n string) {
		if s != "" {
			s += "|"
		}
		s += n
	}
	if f&FlagInitiator != 0 {
		add("I")
	}
	if f&FlagVersion != 0 {
		add("V")
	}
	if f&FlagResponse != 0 {
		add("R")
	}
	if r := f &^ (FlagInitiator | FlagVersion | FlagResponse); r != 0 {
		add("0x" + strconv.FormatUint(uint64(r), 16))
	}
	if s == "" {
		return "-"
	}
	return s
}

// PayloadType is a Next Payload value (RFC 7296 §3.2, IANA "IKEv2 Payload
// Types").
type PayloadType uint8

// Payload types. The ones this package decodes have a Go type; the others
// (CP, GSPM, IDg, GSA, KD, PS) and unassigned values decode as *Unknown.
const (
	PayloadNone    PayloadType = 0  // no next payload
	PayloadSA      PayloadType = 33 // Security Association
	PayloadKE      PayloadType = 34 // Key Exchange
	PayloadIDi     PayloadType = 35 // Identification - Initiator
	PayloadIDr     PayloadType = 36 // Identification - Responder
	PayloadCERT    PayloadType = 37 // Certificate
	PayloadCERTREQ PayloadType = 38 // Certificate Request
	PayloadAUTH    PayloadType = 39 // Authentication
	PayloadNonce   PayloadType = 40 // Nonce (Ni, Nr)
	PayloadN       PayloadType = 41 // Notify
	PayloadD       PayloadType = 42 // Delete
	PayloadV       PayloadType = 43 // Vendor ID
	PayloadTSi     PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr     PayloadType = 45 // Traffic Selector - Responder
	PayloadSK      PayloadType = 46 // Encrypted and Authenticated
	PayloadCP      PayloadType = 47 // Configuration
	PayloadEAP     PayloadType = 48 // Extensible Authentication
	PayloadGSPM    PayloadType = 49 // Generic Secure Password Methods (RFC 6467)
	PayloadIDg     PayloadType = 50 // Group Identification (RFC 9838)
	PayloadGSA     PayloadType = 51 // Group Security Association
	PayloadKD      PayloadType = 52 // Key Download
	PayloadSKF     PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
	PayloadPS      PayloadType = 54 // Puzzle Solution (RFC 8019)
)

func (t PayloadType) String() string {
	switch t {
	case PayloadNone:
		return "NONE"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "No"
	case PayloadN:
		return "N"
	case PayloadD:
		return "D"
	case PayloadV:
		return "V"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadGSPM:
		return "GSPM"
	case PayloadIDg:
		return "IDg"
	case PayloadGSA:
		return "GSA"
	case PayloadKD:
		return "KD"
	case PayloadSKF:
		return "SKF"
	case PayloadPS:
		return "PS"
	}
	return "PAYLOAD(" + strconv.Itoa(int(t)) + ")"
}

// ProtocolID is the Protocol ID of proposals, notifies and deletes (RFC 7296
// §3.3.1).
type ProtocolID uint8

// Protocol IDs.
const (
	ProtoNone ProtocolID = 0
	ProtoIKE  ProtocolID = 1
	ProtoAH   ProtocolID = 2
	ProtoESP  ProtocolID = 3
)

func (p ProtocolID) String() string {
	switch p {
	case ProtoNone:
		return "NONE"
	case ProtoIKE:
		return "IKE"
	case ProtoAH:
		return "AH"
	case ProtoESP:
		return "ESP"
	}
	return "PROTO(" + strconv.Itoa(int(p)) + ")"
}

// TransformType is a transform substructure's type (RFC 7296 §3.3.2).
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1 // Encryption Algorithm
	TransformPRF   TransformType = 2 // Pseudorandom Function
	TransformINTEG TransformType = 3 // Integrity Algorithm
	TransformDH    TransformType = 4 // Diffie-Hellman / Key Exchange Method
	TransformESN   TransformType = 5 // Extended Sequence Numbers
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return "TRANSFORM_TYPE(" + strconv.Itoa(int(t)) + ")"
}

// EncrID is a Transform Type 1 (encryption) ID.
type EncrID uint16

// Encryption transform IDs (IANA).
const (
	ENCR_DES_IV64          EncrID = 1
	ENCR_DES               EncrID = 2
	ENCR_3DES              EncrID = 3
	ENCR_RC5               EncrID = 4
	ENCR_IDEA              EncrID = 5
	ENCR_CAST              EncrID = 6
	ENCR_BLOWFISH          EncrID = 7
	ENCR_3IDEA             EncrID = 8
	ENCR_DES_IV32          EncrID = 9
	ENCR_NULL              EncrID = 11
	ENCR_AES_CBC           EncrID = 12
	ENCR_AES_CTR           EncrID = 13
	ENCR_AES_CCM_8         EncrID = 14
	ENCR_AES_CCM_12        EncrID = 15
	ENCR_AES_CCM_16        EncrID = 16
	ENCR_AES_GCM_8         EncrID = 18
	ENCR_AES_GCM_12        EncrID = 19
	ENCR_AES_GCM_16        EncrID = 20
	ENCR_NULL_AUTH_GMAC    EncrID = 21
	ENCR_CAMELLIA_CBC      EncrID = 23
	ENCR_CAMELLIA_CTR      EncrID = 24
	ENCR_CAMELLIA_CCM_8    EncrID = 25
	ENCR_CAMELLIA_CCM_12   EncrID = 26
	ENCR_CAMELLIA_CCM_16   EncrID = 27
	ENCR_CHACHA20_POLY1305 EncrID = 28
)

// IsAEAD reports whether the cipher is a combined-mode (AEAD) cipher, for
// which no INTEG transform is negotiated (RFC 5282 §8).
func (e EncrID) IsAEAD() bool {
	switch e {
	case ENCR_AES_CCM_8, ENCR_AES_CCM_12, ENCR_AES_CCM_16,
		ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16,
		ENCR_CAMELLIA_CCM_8, ENCR_CAMELLIA_CCM_12, ENCR_CAMELLIA_CCM_16,
		ENCR_CHACHA20_POLY1305:
		return true
	}
	return false
}

// NeedsKeyLength reports whether the transform must carry a Key Length
// attribute (variable key length ciphers, RFC 7296 §3.3.5).
func (e EncrID) NeedsKeyLength() bool {
	switch e {
	case ENCR_AES_CBC, ENCR_AES_CTR, ENCR_AES_CCM_8, ENCR_AES_CCM_12, ENCR_AES_CCM_16,
		ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16, ENCR_NULL_AUTH_GMAC,
		ENCR_CAMELLIA_CBC, ENCR_CAMELLIA_CTR, ENCR_CAMELLIA_CCM_8, ENCR_CAMELLIA_CCM_12, ENCR_CAMELLIA_CCM_16:
		return true
	}
	return false
}

func (e EncrID) String() string {
	switch e {
	case ENCR_DES_IV64:
		return "ENCR_DES_IV64"
	case ENCR_DES:
		return "ENCR_DES"
	case ENCR_3DES:
		return "ENCR_3DES"
	case ENCR_RC5:
		return "ENCR_RC5"
	case ENCR_IDEA:
		return "ENCR_IDEA"
	case ENCR_CAST:
		return "ENCR_CAST"
	case ENCR_BLOWFISH:
		return "ENCR_BLOWFISH"
	case ENCR_3IDEA:
		return "ENCR_3IDEA"
	case ENCR_DES_IV32:
		return "ENCR_DES_IV32"
	case ENCR_NULL:
		return "ENCR_NULL"
	case ENCR_AES_CBC:
		return "ENCR_AES_CBC"
	case ENCR_AES_CTR:
		return "ENCR_AES_CTR"
	case ENCR_AES_CCM_8:
		return "ENCR_AES_CCM_8"
	case ENCR_AES_CCM_12:
		return "ENCR_AES_CCM_12"
	case ENCR_AES_CCM_16:
		return "ENCR_AES_CCM_16"
	case ENCR_AES_GCM_8:
		return "ENCR_AES_GCM_8"
	case ENCR_AES_GCM_12:
		return "ENCR_AES_GCM_12"
	case ENCR_AES_GCM_16:
		return "ENCR_AES_GCM_16"
	case ENCR_NULL_AUTH_GMAC:
		return "ENCR_NULL_AUTH_AES_GMAC"
	case ENCR_CAMELLIA_CBC:
		return "ENCR_CAMELLIA_CBC"
	case ENCR_CAMELLIA_CTR:
		return "ENCR_CAMELLIA_CTR"
	case ENCR_CAMELLIA_CCM_8:
		return "ENCR_CAMELLIA_CCM_8"
	case ENCR_CAMELLIA_CCM_12:
		return "ENCR_CAMELLIA_CCM_12"
	case ENCR_CAMELLIA_CCM_16:
		return "ENCR_CAMELLIA_CCM_16"
	case ENCR_CHACHA20_POLY1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return "ENCR(" + strconv.Itoa(int(e)) + ")"
}

// PRFID is a Transform Type 2 (PRF) ID.
type PRFID uint16

// PRF transform IDs.
const (
	PRF_HMAC_MD5      PRFID = 1
	PRF_HMAC_SHA1     PRFID = 2
	PRF_HMAC_TIGER    PRFID = 3
	PRF_AES128_XCBC   PRFID = 4
	PRF_HMAC_SHA2_256 PRFID = 5
	PRF_HMAC_SHA2_384 PRFID = 6
	PRF_HMAC_SHA2_512 PRFID = 7
	PRF_AES128_CMAC   PRFID = 8
)

func (p PRFID) String() string {
	switch p {
	case PRF_HMAC_MD5:
		return "PRF_HMAC_MD5"
	case PRF_HMAC_SHA1:
		return "PRF_HMAC_SHA1"
	case PRF_HMAC_TIGER:
		return "PRF_HMAC_TIGER"
	case PRF_AES128_XCBC:
		return "PRF_AES128_XCBC"
	case PRF_HMAC_SHA2_256:
		return "PRF_HMAC_SHA2_256"
	case PRF_HMAC_SHA2_384:
		return "PRF_HMAC_SHA2_384"
	case PRF_HMAC_SHA2_512:
		return "PRF_HMAC_SHA2_512"
	case PRF_AES128_CMAC:
		return "PRF_AES128_CMAC"
	}
	return "PRF(" + strconv.Itoa(int(p)) + ")"
}

// IntegID is a Transform Type 3 (integrity) ID.
type IntegID uint16

// Integrity transform IDs.
const (
	AUTH_NONE              IntegID = 0
	AUTH_HMAC_MD5_96       IntegID = 1
	AUTH_HMAC_SHA1_96      IntegID = 2
	AUTH_DES_MAC           IntegID = 3
	AUTH_KPDK_MD5          IntegID = 4
	AUTH_AES_XCBC_96       IntegID = 5
	AUTH_HMAC_MD5_128      IntegID = 6
	AUTH_HMAC_SHA1_160     IntegID = 7
	AUTH_AES_CMAC_96       IntegID = 8
	AUTH_AES_128_GMAC      IntegID = 9
	AUTH_AES_192_GMAC      IntegID = 10
	AUTH_AES_256_GMAC      IntegID = 11
	AUTH_HMAC_SHA2_256_128 IntegID = 12
	AUTH_HMAC_SHA2_384_192 IntegID = 13
	AUTH_HMAC_SHA2_512_256 IntegID = 14
)

func (i IntegID) String() string {
	switch i {
	case AUTH_NONE:
		return "AUTH_NONE"
	case AUTH_HMAC_MD5_96:
		return "AUTH_HMAC_MD5_96"
	case AUTH_HMAC_SHA1_96:
		return "AUTH_HMAC_SHA1_96"
	case AUTH_DES_MAC:
		return "AUTH_DES_MAC"
	case AUTH_KPDK_MD5:
		return "AUTH_KPDK_MD5"
	case AUTH_AES_XCBC_96:
		return "AUTH_AES_XCBC_96"
	case AUTH_HMAC_MD5_128:
		return "AUTH_HMAC_MD5_128"
	case AUTH_HMAC_SHA1_160:
		return "AUTH_HMAC_SHA1_160"
	case AUTH_AES_CMAC_96:
		return "AUTH_AES_CMAC_96"
	case AUTH_AES_128_GMAC:
		return "AUTH_AES_128_GMAC"
	case AUTH_AES_192_GMAC:
		return "AUTH_AES_192_GMAC"
	case AUTH_AES_256_GMAC:
		return "AUTH_AES_256_GMAC"
	case AUTH_HMAC_SHA2_256_128:
		return "AUTH_HMAC_SHA2_256_128"
	case AUTH_HMAC_SHA2_384_192:
		return "AUTH_HMAC_SHA2_384_192"
	case AUTH_HMAC_SHA2_512_256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return "AUTH(" + strconv.Itoa(int(i)) + ")"
}

// DHGroup is a Transform Type 4 (Diffie-Hellman group / key exchange method)
// ID, also carried in the KE payload and in INVALID_KE_PAYLOAD.
type DHGroup uint16

// Diffie-Hellman groups.
const (
	DH_NONE          DHGroup = 0
	MODP_768         DHGroup = 1
	MODP_1024        DHGroup = 2
	MODP_1536        DHGroup = 5
	MODP_2048        DHGroup = 14
	MODP_3072        DHGroup = 15
	MODP_4096        DHGroup = 16
	MODP_6144        DHGroup = 17
	MODP_8192        DHGroup = 18
	ECP_256          DHGroup = 19
	ECP_384          DHGroup = 20
	ECP_521          DHGroup = 21
	MODP_1024_160    DHGroup = 22
	MODP_2048_224    DHGroup = 23
	MODP_2048_256    DHGroup = 24
	ECP_192          DHGroup = 25
	ECP_224          DHGroup = 26
	BRAINPOOL_P224R1 DHGroup = 27
	BRAINPOOL_P256R1 DHGroup = 28
	BRAINPOOL_P384R1 DHGroup = 29
	BRAINPOOL_P512R1 DHGroup = 30
	CURVE_25519      DHGroup = 31
	CURVE_448        DHGroup = 32
)

// PublicSize is the exact length in octets of a KE payload's key exchange data
// for the group (RFC 7296 §3.4, RFC 5903 §7, RFC 8031 §3.1), or 0 when the
// group is not one whose size this package knows.
func (g DHGroup) PublicSize() int {
	switch g {
	case MODP_768:
		return 96
	case MODP_1024, MODP_1024_160:
		return 128
	case MODP_1536:
		return 192
	case MODP_2048, MODP_2048_224, MODP_2048_256:
		return 256
	case MODP_3072:
		return 384
	case MODP_4096:
		return 512
	case MODP_6144:
		return 768
	case MODP_8192:
		return 1024
	case ECP_192:
		return 48
	case ECP_224, BRAINPOOL_P224R1:
		return 56
	case ECP_256, BRAINPOOL_P256R1:
		return 64
	case ECP_384, BRAINPOOL_P384R1:
		return 96
	case ECP_521:
		return 132
	case BRAINPOOL_P512R1:
		return 128
	case CURVE_25519:
		return 32
	case CURVE_448:
		return 56
	}
	return 0
}

func (g DHGroup) String() string {
	switch g {
	case DH_NONE:
		return "NONE"
	case MODP_768:
		return "MODP_768"
	case MODP_1024:
		return "MODP_1024"
	case MODP_1536:
		return "MODP_1536"
	case MODP_2048:
		return "MODP_2048"
	case MODP_3072:
		return "MODP_3072"
	case MODP_4096:
		return "MODP_4096"
	case MODP_6144:
		return "MODP_6144"
	case MODP_8192:
		return "MODP_8192"
	case ECP_256:
		return "ECP_256"
	case ECP_384:
		return "ECP_384"
	case ECP_521:
		return "ECP_521"
	case MODP_1024_160:
		return "MODP_1024_160"
	case MODP_2048_224:
		return "MODP_2048_224"
	case MODP_2048_256:
		return "MODP_2048_256"
	case ECP_192:
		return "ECP_192"
	case ECP_224:
		return "ECP_224"
	case BRAINPOOL_P224R1:
		return "ECP_224_BP"
	case BRAINPOOL_P256R1:
		return "ECP_256_BP"
	case BRAINPOOL_P384R1:
		return "ECP_384_BP"
	case BRAINPOOL_P512R1:
		return "ECP_512_BP"
	case CURVE_25519:
		return "CURVE_25519"
	case CURVE_448:
		return "CURVE_448"
	}
	return "DH(" + strconv.Itoa(int(g)) + ")"
}

// ESNID is a Transform Type 5 (Extended Sequence Numbers) ID.
type ESNID uint16

// ESN transform IDs.
const (
	ESN_NO  ESNID = 0
	ESN_YES ESNID = 1
)

func (e ESNID) String() string {
	switch e {
	case ESN_NO:
		return "NO_EXT_SEQ"
	case ESN_YES:
		return "EXT_SEQ"
	}
	return "ESN(" + strconv.Itoa(int(e)) + ")"
}

// TransformIDString names a transform ID of the given type.
func TransformIDString(t TransformType, id uint16) string {
	switch t {
	case TransformENCR:
		return EncrID(id).String()
	case TransformPRF:
		return PRFID(id).String()
	case TransformINTEG:
		return IntegID(id).String()
	case TransformDH:
		return DHGroup(id).String()
	case TransformESN:
		return ESNID(id).String()
	}
	return t.String() + "/" + strconv.Itoa(int(id))
}

// AttributeType is a transform attribute type (RFC 7296 §3.3.5), without the
// AF (format) bit.
type AttributeType uint16

// AttrKeyLength is the only attribute RFC 7296 defines; it is TV-encoded and
// counts bits.
const AttrKeyLength AttributeType = 14

func (a AttributeType) String() string {
	if a == AttrKeyLength {
		return "KEY_LENGTH"
	}
	return "ATTR(" + strconv.Itoa(int(a)) + ")"
}

// IDType is an Identification payload's ID Type (RFC 7296 §3.5).
type IDType uint8

// ID types.
const (
	ID_IPV4_ADDR   IDType = 1
	ID_FQDN        IDType = 2
	ID_RFC822_ADDR IDType = 3
	ID_IPV6_ADDR   IDType = 5
	ID_DER_ASN1_DN IDType = 9
	ID_DER_ASN1_GN IDType = 10
	ID_KEY_ID      IDType = 11
	ID_FC_NAME     IDType = 12
	ID_NULL        IDType = 13 // RFC 7619
)

func (t IDType) String() string {
	switch t {
	case ID_IPV4_ADDR:
		return "ID_IPV4_ADDR"
	case ID_FQDN:
		return "ID_FQDN"
	case ID_RFC822_ADDR:
		return "ID_RFC822_ADDR"
	case ID_IPV6_ADDR:
		return "ID_IPV6_ADDR"
	case ID_DER_ASN1_DN:
		return "ID_DER_ASN1_DN"
	case ID_DER_ASN1_GN:
		return "ID_DER_ASN1_GN"
	case ID_KEY_ID:
		return "ID_KEY_ID"
	case ID_FC_NAME:
		return "ID_FC_NAME"
	case ID_NULL:
		return "ID_NULL"
	}
	return "ID(" + strconv.Itoa(int(t)) + ")"
}

// AuthMethod is an AUTH payload's Auth Method (RFC 7296 §3.8, RFC 7427).
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSASig           AuthMethod = 1
	AuthPSK              AuthMethod = 2 // Shared Key Message Integrity Code
	AuthDSSSig           AuthMethod = 3
	AuthECDSA256         AuthMethod = 9  // RFC 4754
	AuthECDSA384         AuthMethod = 10 // RFC 4754
	AuthECDSA521         AuthMethod = 11 // RFC 4754
	AuthGSPAM            AuthMethod = 12 // RFC 6467
	AuthNULL             AuthMethod = 13 // RFC 7619
	AuthDigitalSignature AuthMethod = 14 // RFC 7427
)

func (a AuthMethod) String() string {
	switch a {
	case AuthRSASig:
		return "RSA_SIG"
	case AuthPSK:
		return "PSK"
	case AuthDSSSig:
		return "DSS_SIG"
	case AuthECDSA256:
		return "ECDSA_256"
	case AuthECDSA384:
		return "ECDSA_384"
	case AuthECDSA521:
		return "ECDSA_521"
	case AuthGSPAM:
		return "GSPAM"
	case AuthNULL:
		return "NULL"
	case AuthDigitalSignature:
		return "DIGITAL_SIGNATURE"
	}
	return "AUTH_METHOD(" + strconv.Itoa(int(a)) + ")"
}

// CertEncoding is a CERT/CERTREQ Cert Encoding (RFC 7296 §3.6).
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7           CertEncoding = 1
	CertPGP             CertEncoding = 2
	CertDNSSignedKey    CertEncoding = 3
	CertX509Signature   CertEncoding = 4
	CertKerberos        CertEncoding = 6
	CertCRL             CertEncoding = 7
	CertARL             CertEncoding = 8
	CertSPKI            CertEncoding = 9
	CertX509Attribute   CertEncoding = 10
	CertRawRSA          CertEncoding = 11
	CertHashURLX509     CertEncoding = 12
	CertHashURLX509Bndl CertEncoding = 13
	CertOCSPContent     CertEncoding = 14 // RFC 4806
	CertRawPublicKey    CertEncoding = 15 // RFC 7670
)

func (c CertEncoding) String() string {
	switch c {
	case CertPKCS7:
		return "PKCS7_WRAPPED_X509"
	case CertPGP:
		return "PGP"
	case CertDNSSignedKey:
		return "DNS_SIGNED_KEY"
	case CertX509Signature:
		return "X509_SIGNATURE"
	case CertKerberos:
		return "KERBEROS_TOKEN"
	case CertCRL:
		return "CRL"
	case CertARL:
		return "ARL"
	case CertSPKI:
		return "SPKI"
	case CertX509Attribute:
		return "X509_ATTRIBUTE"
	case CertRawRSA:
		return "RAW_RSA_KEY"
	case CertHashURLX509:
		return "HASH_URL_X509_CERT"
	case CertHashURLX509Bndl:
		return "HASH_URL_X509_BUNDLE"
	case CertOCSPContent:
		return "OCSP_CONTENT"
	case CertRawPublicKey:
		return "RAW_PUBLIC_KEY"
	}
	return "CERT_ENCODING(" + strconv.Itoa(int(c)) + ")"
}

// TSType is a traffic selector's TS Type (RFC 7296 §3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TS_IPV4_ADDR_RANGE TSType = 7
	TS_IPV6_ADDR_RANGE TSType = 8
	TS_FC_ADDR_RANGE   TSType = 9  // RFC 4595
	TS_SECLABEL        TSType = 10 // RFC 9478
)

func (t TSType) String() string {
	switch t {
	case TS_IPV4_ADDR_RANGE:
		return "TS_IPV4_ADDR_RANGE"
	case TS_IPV6_ADDR_RANGE:
		return "TS_IPV6_ADDR_RANGE"
	case TS_FC_ADDR_RANGE:
		return "TS_FC_ADDR_RANGE"
	case TS_SECLABEL:
		return "TS_SECLABEL"
	}
	return "TS(" + strconv.Itoa(int(t)) + ")"
}

// HashAlgorithm is an RFC 7427 hash algorithm identifier, as listed in
// N(SIGNATURE_HASH_ALGORITHMS).
type HashAlgorithm uint16

// Hash algorithms (IANA "IKEv2 Hash Algorithms").
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA2_256 HashAlgorithm = 2
	HashSHA2_384 HashAlgorithm = 3
	HashSHA2_512 HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5 // RFC 8420
)

func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA2_256:
		return "SHA2_256"
	case HashSHA2_384:
		return "SHA2_384"
	case HashSHA2_512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return "HASH(" + strconv.Itoa(int(h)) + ")"
}
