# Regenerates the annotated IKE fixtures in this directory (python3 + the "cryptography" package).
# The Go tests never run this; they read the .hex files it wrote.
import hashlib, os, struct, socket
ke_i = "06c57652ff498036972019eecf0b0c941f94d335083d867cabc500e6dbeb1807ff2b44b99b6ef8517ba885848465d0f8b05ef75862db2823344e662b9f4021aa5aa7ad8f140620e8410a82d9fb99657c0e6b4c0c63a73934ee025d5968135012"
ke_r = "e0d1a2463a7fdb1970ff9f36100636178ff4691fd9f9ce43258e6ac3416d19dea2c285fa7273296ff64bcf05608fa983d11d83c8a6e9d285d398ab8e374371f3ffb4f391ca317a027c4c627d1420af9cd11491cfb319a9b0489d1b89c4de4000"
ni = "f12f368370ad6f1b3f3b770edfea8aa0b8bf415f1a2e83c280bb61caa00aa1c8"
nr = "88cb7558cc7d52d24bf04356cdfd9a614fd35bfa61769b8a42a2bc01de5425ec"
spii = bytes.fromhex("5f3a9c21d40e77b8")
spir = bytes.fromhex("c1e25b07a9d4f063")
vault = ("192.0.2.10", 500)
noc = ("203.0.113.1", 500)
def natd(si, sr, ep):
    return hashlib.sha1(si+sr+socket.inet_aton(ep[0])+struct.pack(">H", ep[1])).hexdigest()
VID = hashlib.md5(b"strongSwan").hexdigest()

def h(n, v): return format(v, "0%dx" % (2*n))
def sp(s): return " ".join(s[i:i+2] for i in range(0, len(s), 2))
def wrap(s, ind="      "):
    b = sp(s).split(" ")
    return "\n".join(ind + " ".join(b[i:i+16]) for i in range(0, len(b), 16))

class Msg:
    def __init__(s): s.lines=[]; s.data=""
    def add(s, hexs, comment):
        s.data += hexs.replace(" ", "")
        if len(hexs.replace(" ",""))>32:
            s.lines.append("# " + comment); s.lines.append(wrap(hexs.replace(" ","")))
        else:
            s.lines.append("%-54s # %s" % ("      "+sp(hexs.replace(" ","")), comment))

def payload(m, name, nxt, nxtname, body_parts):
    blen = sum(len(p[0].replace(" ",""))//2 for p in body_parts)
    m.lines.append("")
    m.lines.append("# --- %s payload, %d octets" % (name, 4+blen))
    m.add(h(1,nxt), "next payload %d (%s)" % (nxt, nxtname))
    m.add("00", "critical bit 0, reserved")
    m.add(h(2,4+blen), "payload length %d" % (4+blen))
    for p in body_parts: m.add(p[0], p[1])

def notify(m, nxt, nxtname, ntype, tname, data, dname):
    parts=[("00","protocol ID 0 (no SPI)"),("00","SPI size 0"),(h(2,ntype),"notify type %d %s"%(ntype,tname))]
    if data: parts.append((data,dname))
    payload(m, "N(%s)"%tname, nxt, nxtname, parts)

def build(hdr_fn, pl_fn, title):
    m=Msg(); pl_fn(m)
    body=m.data; blines=m.lines
    total=28+len(body)//2
    m2=Msg()
    m2.lines.append("# "+title)
    m2.lines.append("# Built field by field from RFC 7296 §3 (annotated, not a capture: strongSwan cannot run here). Lines: hex octets, '#' starts a comment.")
    m2.lines.append("")
    m2.lines.append("# --- IKE header (RFC 7296 §3.1), 28 octets")
    hdr_fn(m2, total)
    m2.lines += blines
    return "\n".join(m2.lines)+"\n", m2.data+body

def sa_init_req_hdr(m,total):
    m.add(spii.hex(), "initiator SPI")
    m.add("00"*8, "responder SPI 0 (IKE_SA_INIT request)")
    m.add("21", "next payload 33 (SA)")
    m.add("20", "version 2.0")
    m.add("22", "exchange type 34 (IKE_SA_INIT)")
    m.add("08", "flags: I (initiator)")
    m.add("00000000", "message ID 0")
    m.add(h(4,total), "length %d" % total)

def sa_body(m, chosen):
    # proposal
    tr = [("03 00 000c 01 00 0014 800e 0100", "transform: more(3), len 12, ENCR, ENCR_AES_GCM_16, attr KEY_LENGTH (TV 0x800e) = 256"),
          ("03 00 0008 02 00 0006", "transform: more(3), len 8, PRF, PRF_HMAC_SHA2_384"),
          ("00 00 0008 04 00 0014", "transform: last(0), len 8, DH, ECP_384 (20)")]
    return [("00 00 0024 01 01 00 03", "proposal: last(0), reserved, len 36, #1, protocol IKE, SPI size 0, 3 transforms")] + tr

def req_payloads(m):
    payload(m, "SA", 34, "KE", sa_body(m, False))
    payload(m, "KE", 40, "Nonce", [("0014","DH group 20 (ECP_384)"),("0000","reserved"),(ke_i,"P-384 public value x || y (96 octets, RFC 5903)")])
    payload(m, "Nonce", 41, "N", [(ni, "Ni, 32 octets")])
    notify(m, 41, "N", 16388, "NAT_DETECTION_SOURCE_IP", natd(spii, b"\0"*8, vault), "SHA-1(SPIi | SPIr | 192.0.2.10 | 500)")
    notify(m, 41, "N", 16389, "NAT_DETECTION_DESTINATION_IP", natd(spii, b"\0"*8, noc), "SHA-1(SPIi | SPIr | 203.0.113.1 | 500)")
    notify(m, 41, "N", 16430, "IKEV2_FRAGMENTATION_SUPPORTED", "", "")
    notify(m, 41, "N", 16431, "SIGNATURE_HASH_ALGORITHMS", "0002000300040005", "SHA2_256, SHA2_384, SHA2_512, IDENTITY")
    notify(m, 43, "V", 16406, "REDIRECT_SUPPORTED", "", "")
    payload(m, "V", 0, "none", [(VID, "MD5(\"strongSwan\")")])

def sa_init_resp_hdr(m,total):
    m.add(spii.hex(), "initiator SPI")
    m.add(spir.hex(), "responder SPI")
    m.add("21", "next payload 33 (SA)")
    m.add("20", "version 2.0")
    m.add("22", "exchange type 34 (IKE_SA_INIT)")
    m.add("20", "flags: R (response)")
    m.add("00000000", "message ID 0")
    m.add(h(4,total), "length %d" % total)

def resp_payloads(m):
    payload(m, "SA", 34, "KE", sa_body(m, True))
    payload(m, "KE", 40, "Nonce", [("0014","DH group 20 (ECP_384)"),("0000","reserved"),(ke_r,"P-384 public value")])
    payload(m, "Nonce", 41, "N", [(nr, "Nr, 32 octets")])
    notify(m, 41, "N", 16388, "NAT_DETECTION_SOURCE_IP", natd(spii, spir, noc), "SHA-1(SPIi | SPIr | 203.0.113.1 | 500)")
    notify(m, 38, "CERTREQ", 16389, "NAT_DETECTION_DESTINATION_IP", natd(spii, spir, vault), "SHA-1(SPIi | SPIr | 192.0.2.10 | 500)")
    payload(m, "CERTREQ", 41, "N", [("04","cert encoding 4 (X509_SIGNATURE)"),(hashlib.sha1(b"example CA SubjectPublicKeyInfo").hexdigest(),"SHA-1 of a CA's SubjectPublicKeyInfo")])
    notify(m, 41, "N", 16430, "IKEV2_FRAGMENTATION_SUPPORTED", "", "")
    notify(m, 41, "N", 16431, "SIGNATURE_HASH_ALGORITHMS", "0002000300040005", "SHA2_256, SHA2_384, SHA2_512, IDENTITY")
    notify(m, 41, "N", 16418, "CHILDLESS_IKEV2_SUPPORTED", "", "")
    notify(m, 0, "none", 16404, "MULTIPLE_AUTH_SUPPORTED", "", "")

for name, hdr, pl, title in [
  ("strongswan_ike_sa_init_request.hex", sa_init_req_hdr, req_payloads, "IKE_SA_INIT request as strongSwan 5.9.8 sends it with proposals = aes256gcm16-prfsha384-ecp384:\n# [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) V ], vault 192.0.2.10:500 -> NOC 203.0.113.1:500."),
  ("strongswan_ike_sa_init_response.hex", sa_init_resp_hdr, resp_payloads, "IKE_SA_INIT response as strongSwan 5.9.8 answers the request above:\n# [ SA KE No N(NATD_S_IP) N(NATD_D_IP) CERTREQ N(FRAG_SUP) N(HASH_ALG) N(CHDLESS_SUP) N(MULT_AUTH) ].")]:
    text, data = build(hdr, pl, title)
    open(os.path.dirname(os.path.abspath(__file__))+"/"+name,"w").write(text)
    print(name, len(data)//2)
print("natd_req_src", natd(spii, b"\0"*8, vault))

# ---------------- IKE_AUTH (PSK) encrypted with AES-GCM-16-256 ----------------
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
SKEI = bytes(range(0x40, 0x60))      # 32-octet AES key (test value)
SALT = bytes.fromhex("a1b2c3d4")     # 4-octet salt (test value)
IV = bytes.fromhex("0000000000000001")

def ts(m, name, nxt, nxtname, start, end):
    payload(m, name, nxt, nxtname, [("01","number of TSs 1"),("000000","reserved"),
        ("07","TS type 7 (TS_IPV4_ADDR_RANGE)"),("00","IP protocol 0 (any)"),("0010","selector length 16"),
        ("0000","start port 0"),("ffff","end port 65535"),
        (socket.inet_aton(start).hex(),"start address "+start),(socket.inet_aton(end).hex(),"end address "+end)])

def auth_inner(m):
    payload(m, "IDi", 41, "N", [("02","ID type 2 (ID_FQDN)"),("000000","reserved"),(b"vault-01.example.net".hex(),'"vault-01.example.net"')])
    notify(m, 36, "IDr", 16384, "INITIAL_CONTACT", "", "")
    payload(m, "IDr", 39, "AUTH", [("02","ID type 2 (ID_FQDN)"),("000000","reserved"),(b"noc.example.net".hex(),'"noc.example.net"')])
    payload(m, "AUTH", 33, "SA", [("02","auth method 2 (shared key MIC)"),("000000","reserved"),
        (hashlib.sha384(b"test AUTH value").hexdigest(),"prf(prf(secret, \"Key Pad for IKEv2\"), <InitiatorSignedOctets>), 48 octets (test value)")])
    payload(m, "SA", 44, "TSi", [("00 00 0028 01 03 04 03","proposal: last, len 40, #1, protocol ESP, SPI size 4, 3 transforms"),
        ("c7a1b2f3","ESP SPI (inbound, of the initiator)"),
        ("03 00 000c 01 00 0014 800e 0100","transform: more, len 12, ENCR, ENCR_AES_GCM_16, KEY_LENGTH 256"),
        ("03 00 0008 05 00 0000","transform: more, len 8, ESN, NO_EXT_SEQ"),
        ("00 00 0008 05 00 0001","transform: last, len 8, ESN, EXT_SEQ")])
    ts(m, "TSi", 45, "TSr", "10.2.0.0", "10.2.0.255")
    ts(m, "TSr", 41, "N", "10.1.0.0", "10.1.0.255")
    notify(m, 41, "N", 16396, "MOBIKE_SUPPORTED", "", "")
    notify(m, 41, "N", 16399, "NO_ADDITIONAL_ADDRESSES", "", "")
    notify(m, 41, "N", 16404, "MULTIPLE_AUTH_SUPPORTED", "", "")
    notify(m, 41, "N", 16417, "EAP_ONLY_AUTHENTICATION", "", "")
    notify(m, 0, "none", 16420, "IKEV2_MESSAGE_ID_SYNC_SUPPORTED", "", "")

pm = Msg(); auth_inner(pm)
plain = bytes.fromhex(pm.data)
padded = plain + b"\x00"          # no padding octets, Pad Length 0 (block size 1)
sklen = 4 + 8 + len(padded) + 16
total = 28 + sklen
hdr = spii + spir + bytes([46, 0x20, 35, 0x08]) + struct.pack(">II", 1, total)
skh = bytes([35, 0]) + struct.pack(">H", sklen)
aad = hdr + skh
ct = AESGCM(SKEI).encrypt(SALT + IV, padded, aad)
m = Msg()
m.lines.append("# IKE_AUTH request 1 as strongSwan 5.9.8 sends it for PSK auth (on UDP 4500 after the non-ESP marker):")
m.lines.append("# [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUP) N(NO_ADD_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]")
m.lines.append("# Built field by field (annotated, not a capture) and sealed with Python's cryptography AESGCM (an oracle")
m.lines.append("# independent of Go) under ENCR_AES_GCM_16: SK_ei = 40 41 .. 5f, salt a1 b2 c3 d4, nonce = salt || IV.")
m.lines.append("# The plaintext (inner payloads || Pad Length 0) is in strongswan_ike_auth_request.plain.hex.")
m.lines.append("")
m.lines.append("# --- IKE header, 28 octets")
m.add(spii.hex(), "initiator SPI"); m.add(spir.hex(), "responder SPI")
m.add("2e","next payload 46 (SK)"); m.add("20","version 2.0"); m.add("23","exchange type 35 (IKE_AUTH)")
m.add("08","flags: I"); m.add("00000001","message ID 1"); m.add(h(4,total),"length %d"%total)
m.lines.append(""); m.lines.append("# --- SK payload (RFC 7296 §3.14, RFC 5282 §3), %d octets" % sklen)
m.add("23","next payload 35 (IDi): the first inner payload"); m.add("00","critical 0, reserved"); m.add(h(2,sklen),"payload length %d"%sklen)
m.lines.append("# (AAD = the 32 octets above, RFC 5282 §5.1)")
m.add(IV.hex(),"IV (8 octets)")
m.add(ct[:-16].hex(),"ciphertext (%d octets)"%(len(ct)-16))
m.add(ct[-16:].hex(),"ICV (16 octets)")
open("/work/main/ipsec/ike/msg/testdata/strongswan_ike_auth_request.hex","w").write("\n".join(m.lines)+"\n")
p = Msg(); p.lines = ["# Plaintext of the SK payload in strongswan_ike_auth_request.hex: the inner payload chain, then Pad Length.",""]
auth_inner(p); p.lines.append(""); p.add("00","Pad Length 0 (no padding octets)")
open("/work/main/ipsec/ike/msg/testdata/strongswan_ike_auth_request.plain.hex","w").write("\n".join(p.lines)+"\n")
print("auth total", total)
