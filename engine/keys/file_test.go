package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	f, m, _ := create(t)
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Fatalf("round trip changed the file:\n%+v\n%+v", f, g)
	}
	got, err := g.Unlock(pass)
	if err != nil || !got.Equal(m) {
		t.Fatalf("unlock decoded file: %v", err)
	}
	for _, want := range []string{`"version": 1`, `"algorithm": "argon2id"`, `"memory_kib": 64`, `"key_id": "` + m.ID()} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("encoded file lacks %s:\n%s", want, b)
		}
	}
}

// mutate returns f's JSON after edit changed its generic form.
func mutate(t *testing.T, f *File, edit func(map[string]any)) []byte {
	t.Helper()
	b, _ := f.Encode()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	edit(v)
	out, _ := json.Marshal(v)
	return out
}

func TestDecodeRejects(t *testing.T) {
	f, _, _ := create(t)
	good, _ := f.Encode()
	kdf := func(v map[string]any) map[string]any { return v["passphrase"].(map[string]any)["kdf"].(map[string]any) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not json", []byte("hello")},
		{"array", []byte("[]")},
		{"trailing data", append(bytes.Clone(good), []byte(`{"x":1}`)...)},
		{"too large", bytes.Repeat([]byte(" "), maxFileSize+1)},
		{"version 0", mutate(t, f, func(v map[string]any) { v["version"] = 0 })},
		{"version 2", mutate(t, f, func(v map[string]any) { v["version"] = 2 })},
		{"unknown field", mutate(t, f, func(v map[string]any) { v["plaintext_key"] = "x" })},
		{"bad key id", mutate(t, f, func(v map[string]any) { v["key_id"] = "xyz" })},
		{"no recovery", mutate(t, f, func(v map[string]any) { delete(v, "recovery") })},
		{"short nonce", mutate(t, f, func(v map[string]any) { v["recovery"].(map[string]any)["nonce"] = "AAAA" })},
		{"kdf scrypt", mutate(t, f, func(v map[string]any) { kdf(v)["algorithm"] = "scrypt" })},
		{"kdf time 0", mutate(t, f, func(v map[string]any) { kdf(v)["time"] = 0 })},
		{"kdf huge time", mutate(t, f, func(v map[string]any) { kdf(v)["time"] = 1 << 20 })},
		{"kdf huge memory", mutate(t, f, func(v map[string]any) { kdf(v)["memory_kib"] = 1 << 30 })},
		{"kdf no threads", mutate(t, f, func(v map[string]any) { kdf(v)["threads"] = 0 })},
		{"kdf short salt", mutate(t, f, func(v map[string]any) { kdf(v)["salt"] = "AAAA" })},
	}
	for _, tt := range tests {
		if _, err := Decode(tt.in); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Decode error = %v, want ErrFormat", tt.name, err)
		}
	}
}

func TestTamperedFile(t *testing.T) {
	f, _, rk := create(t)
	// Each edit keeps the file well-formed; unlocking must fail cleanly.
	tests := []struct {
		name string
		edit func(*File)
	}{
		{"passphrase wrapped", func(f *File) { f.Passphrase.Wrapped[0] ^= 1 }},
		{"passphrase nonce", func(f *File) { f.Passphrase.Nonce[0] ^= 1 }},
		{"salt", func(f *File) { f.Passphrase.KDF.Salt[0] ^= 1 }},
		{"kdf time", func(f *File) { f.Passphrase.KDF.Time++ }},
		{"key id", func(f *File) { f.KeyID = strings.Repeat("0", 32) }},
	}
	for _, tt := range tests {
		b, _ := f.Encode()
		g, _ := Decode(b)
		tt.edit(g)
		if _, err := g.Unlock(pass); !errors.Is(err, ErrWrongKey) {
			t.Errorf("%s: Unlock = %v, want ErrWrongKey", tt.name, err)
		}
	}
	g, _ := Decode(mustEncode(t, f))
	g.Recovery.Wrapped[5] ^= 1
	if _, err := g.UnlockWithRecovery(rk); !errors.Is(err, ErrWrongKey) {
		t.Errorf("recovery wrapped: %v, want ErrWrongKey", err)
	}
	if _, err := g.Unlock(pass); err != nil {
		t.Errorf("damaged recovery slot broke the passphrase slot: %v", err)
	}
}

func mustEncode(t *testing.T, f *File) []byte {
	t.Helper()
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	kf, _, _, err := Create(strings.NewReader(strings.Repeat("0123456789abcdef", 20)), pass, InsecureTestKDF())
	if err != nil {
		f.Fatal(err)
	}
	good, _ := kf.Encode()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Decode error %v is not ErrFormat", err)
			}
			return
		}
		again, err := Decode(mustEncode(t, kf))
		if err != nil || !reflect.DeepEqual(kf, again) {
			t.Fatalf("re-encoded file does not decode the same: %v", err)
		}
		// Unlocking a decoded file fails cleanly or works; it never
		// panics. Skip when the KDF would be slow.
		if kf.Passphrase.KDF.MemoryKiB <= 1024 && kf.Passphrase.KDF.Time <= 2 {
			if _, err := kf.Unlock(pass); err != nil && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrFormat) {
				t.Fatalf("Unlock: %v", err)
			}
		}
	})
}
