package ikecrypto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// RFC 4231 §4.2 (test case 1) and §4.3 (test case 2).
func TestHMACSHA2RFC4231(t *testing.T) {
	cases := []struct {
		key, data []byte
		want      map[PRFID]string
	}{
		{bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"), map[PRFID]string{
			PRFHMACSHA256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			PRFHMACSHA384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
			PRFHMACSHA512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
		}},
		{[]byte("Jefe"), []byte("what do ya want for nothing?"), map[PRFID]string{
			PRFHMACSHA256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			PRFHMACSHA384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
			PRFHMACSHA512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
		}},
	}
	for i, c := range cases {
		for id, want := range c.want {
			p := mustPRF(t, id)
			// split the data to exercise the variadic form
			got := p.Sum(c.key, c.data[:3], c.data[3:])
			if hex.EncodeToString(got) != want {
				t.Errorf("case %d %v: got %x", i+1, id, got)
			}
		}
	}
	if _, err := NewPRF(2); !errors.Is(err, ErrUnsupportedPRF) {
		t.Errorf("PRF_HMAC_SHA1 accepted: %v", err)
	}
}

func TestPRFPlusBound(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA256)
	if _, err := p.Plus([]byte("k"), []byte("s"), 255*32); err != nil {
		t.Fatalf("255 blocks refused: %v", err)
	}
	if _, err := p.Plus([]byte("k"), []byte("s"), 255*32+1); !errors.Is(err, ErrPRFPlusTooLong) {
		t.Fatalf("256 blocks: %v", err)
	}
	// prefix property: shorter outputs are prefixes of longer ones
	a, _ := p.Plus([]byte("k"), []byte("s"), 100)
	b, _ := p.Plus([]byte("k"), []byte("s"), 33)
	if !bytes.Equal(a[:33], b) {
		t.Fatal("prf+ prefix property violated")
	}
}

type kdfVector map[string]string

// loadACVP reads testdata/acvp_ikev2_kdf.txt: NIST ACVP IKEv2 KDF vectors as
// published in OpenSSL's evpkdf_ikev2.txt.
func loadACVP(t *testing.T) []kdfVector {
	f, err := os.Open("testdata/acvp_ikev2_kdf.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []kdfVector
	cur := kdfVector{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = kdfVector{}
			}
			continue
		}
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		cur[k] = v
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func TestKDFACVP(t *testing.T) {
	vs := loadACVP(t)
	if len(vs) != 7 {
		t.Fatalf("loaded %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v["name"], func(t *testing.T) {
			id := map[string]PRFID{"SHA256": PRFHMACSHA256, "SHA512": PRFHMACSHA512}[v["digest"]]
			p := mustPRF(t, id)
			b := func(k string) []byte { return unhex(t, v[k]) }
			want := b("output")
			var got []byte
			switch v["mode"] {
			case "gen":
				got = SKEYSEED(p, b("ni"), b("nr"), b("secret"))
			case "dkm":
				// check through DeriveIKESAKeys: 3 PRF keys + integ/encr
				// lengths chosen to consume exactly len(want) octets.
				rest := len(want) - 3*p.Size()
				k, err := DeriveIKESAKeys(p, b("key"), b("ni"), b("nr"), b("spii"), b("spir"),
					IKEKeyLengths{Integ: rest / 4, Encr: rest / 4})
				if err != nil {
					t.Fatal(err)
				}
				got = bytes.Join([][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}, nil)
			case "child", "child_dh":
				var gir []byte
				if v["mode"] == "child_dh" {
					gir = b("secret")
				}
				k, err := DeriveChildSAKeys(p, b("key"), gir, b("ni"), b("nr"), len(want)/2, 0)
				if err != nil {
					t.Fatal(err)
				}
				got = append(append([]byte{}, k.EncrI...), k.EncrR...)
			case "rekey":
				got = RekeySKEYSEED(p, b("key"), b("secret"), b("ni"), b("nr"))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mismatch\n got %x\nwant %x", got, want)
			}
		})
	}
}

// Values computed at test-writing time with an independent implementation
// (Python 3 hmac/hashlib, prf+ written from RFC 7296 §2.13) for the
// AES-GCM-16-256 + PRF_HMAC_SHA2_384 suite we negotiate with strongSwan.
func TestKeyDerivationSHA384GCM(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA384)
	ni, nr := make([]byte, 32), make([]byte, 32)
	for i := range ni {
		ni[i], nr[i] = byte(0x10+i), byte(0x40+i)
	}
	gir := bytes.Repeat([]byte{0xab}, 48)
	spii, spir := unhex(t, "0011223344556677"), unhex(t, "8899aabbccddeeff")
	sks := SKEYSEED(p, ni, nr, gir)
	if want := unhex(t, "51eabb8cf329db9b4f704ae385bec9d5fa45b6a1847824a5df3814c04630ac09d90a258542e0e1473ce78b8c016aed70"); !bytes.Equal(sks, want) {
		t.Fatalf("SKEYSEED %x", []byte(sks))
	}
	k, err := DeriveIKESAKeys(p, sks, ni, nr, spii, spir, AESGCM16IKEKeyLengths)
	if err != nil {
		t.Fatal(err)
	}
	km := unhex(t, "de6c1b171920ef2b70210cdb23b71574b36b893fc412ff91392bf8719e752c7263c331fbc25fc9e0e07eccd86d55688d6e2cac3ad7f80296fe443c3518c0bacf89e95da113c813f703c4184d780d22b6867f61df833dcfa39edcbc27e777d6e7a58db033783b21e535f1d02cf5c2b2ccabe34e83cf9979fa4f8747e6297f78d2d2d8fbede734574db38e5fe6086069bb407deeb1e95685eb28d3ef718bd9635656c4396700d50eefb51cfa37e1bbf316e308926a22f6060e4719fb0c223b83fa92d91f1505d5b00ed1a9eafd598526b56233314ef97e2368")
	if len(k.SKai) != 0 || len(k.SKar) != 0 {
		t.Fatal("GCM must have no SK_a")
	}
	parts := []struct {
		name string
		got  Secret
		off  int
		n    int
	}{
		{"SK_d", k.SKd, 0, 48}, {"SK_ei", k.SKei, 48, 36}, {"SK_er", k.SKer, 84, 36},
		{"SK_pi", k.SKpi, 120, 48}, {"SK_pr", k.SKpr, 168, 48},
	}
	for _, pt := range parts {
		if !bytes.Equal(pt.got, km[pt.off:pt.off+pt.n]) {
			t.Errorf("%s wrong", pt.name)
		}
	}
	child, err := DeriveChildSAKeys(p, k.SKd, nil, ni, nr, ESPAESGCM256KeyLen, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantChild := unhex(t, "3020a41531f18ca9d0c723e40ffa70bae6bd795314a0ac9dc9bc0ff570607248e4bd89428e810dbd0564e44b98c4321f755a80914424a2897f777f1e23b1358dfb9e9b207a09313b")
	if !bytes.Equal(child.EncrI, wantChild[:36]) || !bytes.Equal(child.EncrR, wantChild[36:]) {
		t.Errorf("child keymat (no PFS) wrong")
	}
	girNew := bytes.Repeat([]byte{0xcd}, 48)
	child, err = DeriveChildSAKeys(p, k.SKd, girNew, ni, nr, ESPAESGCM256KeyLen, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantChild = unhex(t, "adaa51f2aee152b90deeb8b247dc07ff6e9e40312c15a733c43484f005b5ea161eb40010fe24c43a3a30ac805216abcd758e21ff50c6ac38f186cefb51ec4f76626f8acd56f94af6")
	if !bytes.Equal(child.EncrI, wantChild[:36]) || !bytes.Equal(child.EncrR, wantChild[36:]) {
		t.Errorf("child keymat (PFS) wrong")
	}
	rk := RekeySKEYSEED(p, k.SKd, girNew, ni, nr)
	if want := unhex(t, "d18798961ef63e8e230ab9fa106dd8fa1ae487947f41ffb29af61f3ba980142f6aef936e6d6a7f97ac0e185a608ab719"); !bytes.Equal(rk, want) {
		t.Errorf("rekey SKEYSEED wrong")
	}
	if _, err := DeriveIKESAKeys(p, sks, ni, nr, spii[:4], spir, AESGCM16IKEKeyLengths); err == nil {
		t.Error("short SPI accepted")
	}
}

func TestValidateNonce(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA512) // key size 64 -> nonce >= 32
	for n, ok := range map[int]bool{15: false, 16: false, 31: false, 32: true, 256: true, 257: false} {
		if err := ValidateNonce(p, make([]byte, n)); (err == nil) != ok {
			t.Errorf("len %d: %v", n, err)
		}
	}
	if err := ValidateNonce(mustPRF(t, PRFHMACSHA256), make([]byte, 16)); err != nil {
		t.Error(err)
	}
}
