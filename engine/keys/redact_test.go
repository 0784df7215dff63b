package keys

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSecretsNeverFormat formats every secret type, alone, by pointer and
// inside structs (exported and unexported fields), with every common verb,
// and checks no key material appears in any encoding a log could show.
func TestSecretsNeverFormat(t *testing.T) {
	f, m, rk := create(t)
	sk := m.Subkeys()
	secrets := map[string][]byte{
		"master": m.k.Bytes(), "recovery": rk.k.Bytes(),
		"chunk": sk.Chunk.Bytes(), "meta": sk.Meta.Bytes(), "fingerprint": sk.Fingerprint.Bytes(), "gear": sk.Gear.Bytes(),
	}
	type holder struct {
		Master   *Master
		Sub      Subkeys
		Recovery RecoveryKey
		hidden   Key
		hiddenM  Master
		hiddenRK RecoveryKey
	}
	h := holder{m, sk, rk, sk.Chunk, *m, rk}
	values := []any{m, *m, sk, &sk, sk.Chunk, &sk.Chunk, rk, &rk, h, &h, []Key{sk.Meta}, map[string]Key{"k": sk.Gear}}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%T"}
	for _, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			for name, s := range secrets {
				checkAbsent(t, fmt.Sprintf("%s of %T", verb, v), out, name, s, rk.Reveal())
			}
		}
		if b, err := json.Marshal(v); err == nil {
			for name, s := range secrets {
				checkAbsent(t, fmt.Sprintf("JSON of %T", v), string(b), name, s, rk.Reveal())
			}
		}
	}
	// The key file itself holds nothing secret in the clear.
	b, _ := f.Encode()
	for name, s := range secrets {
		checkAbsent(t, "key file", string(b), name, s, rk.Reveal())
	}
}

func checkAbsent(t *testing.T, what, out, name string, secret []byte, recoveryText string) {
	t.Helper()
	forms := []string{
		hex.EncodeToString(secret[:8]),
		strings.ToUpper(hex.EncodeToString(secret[:8])),
		strings.Trim(fmt.Sprint(secret[:6]), "[]"),      // decimal bytes
		fmt.Sprintf("%#v", secret[:4])[len("[]byte{"):], // Go syntax
		string(secret[:8]),
		recoveryText[:9],
	}
	for _, form := range forms {
		if strings.Contains(out, form) {
			t.Errorf("%s shows the %s key (%q) in %q", what, name, form, out)
		}
	}
}

func TestErrorsDoNotQuoteSecrets(t *testing.T) {
	f, _, _ := create(t)
	secret := "hunter2-hunter2"
	_, err := f.Unlock([]byte(secret))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("Unlock error %v", err)
	}
	rk, _ := NewRecoveryKey(rand.Reader)
	text := rk.Reveal()
	_, err = ParseRecoveryKey(text[:len(text)-1] + "U")
	if err == nil || strings.Contains(err.Error(), text[:9]) {
		t.Fatalf("ParseRecoveryKey error %v", err)
	}
}
