package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"keep/engine/fingerprint"
	"keep/engine/seal"
)

func testConfig() *Config {
	return &Config{
		Version: Version, ID: strings.Repeat("ab", 32),
		Chunker: ChunkerParams{Min: 256 << 10, Avg: 1 << 20, Max: 4 << 20},
		Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func testSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	s, err := seal.New(bytes.Repeat([]byte{9}, seal.KeySize), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

var testKeyID = bytes.Repeat([]byte{0x11}, keyIDSize)

func TestConfigRoundTrip(t *testing.T) {
	s := testSealer(t)
	b, err := encodeConfig(s, testKeyID, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeConfig(s, testKeyID, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, testConfig()) {
		t.Fatalf("round trip: %+v", got)
	}
	if !bytes.Equal(b[len(configMagic):len(configMagic)+keyIDSize], testKeyID) {
		t.Fatal("config does not name its key")
	}
}

func TestConfigRejects(t *testing.T) {
	s := testSealer(t)
	good, _ := encodeConfig(s, testKeyID, testConfig())
	edit := func(f func(map[string]any)) []byte {
		plain, _ := json.Marshal(testConfig())
		var v map[string]any
		_ = json.Unmarshal(plain, &v)
		f(v)
		plain, _ = json.Marshal(v)
		b := append([]byte(configMagic), testKeyID...)
		b, _ = s.Seal(b, typeConfig, fingerprint.ID{}, plain)
		return b
	}
	raw := func(plain string) []byte {
		b := append([]byte(configMagic), testKeyID...)
		b, _ = s.Seal(b, typeConfig, fingerprint.ID{}, []byte(plain))
		return b
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrConfig},
		{"not a config", []byte("hello, world, this is not it"), ErrConfig},
		{"too large", make([]byte, maxConfigSize+1), ErrConfig},
		{"other key", append(append([]byte(configMagic), bytes.Repeat([]byte{2}, keyIDSize)...), good[len(configMagic)+keyIDSize:]...), ErrWrongKey},
		{"tampered", flipped, ErrConfig},
		{"truncated", good[:len(good)-1], ErrConfig},
		{"version 2", edit(func(v map[string]any) { v["version"] = 2 }), ErrConfig},
		{"short id", edit(func(v map[string]any) { v["id"] = "abcd" }), ErrConfig},
		{"unknown field", edit(func(v map[string]any) { v["key"] = "plaintext" }), ErrConfig},
		{"bad chunker", edit(func(v map[string]any) { v["chunker"] = map[string]int{"min": 1, "avg": 3, "max": 2} }), ErrConfig},
		{"no created", edit(func(v map[string]any) { delete(v, "created") }), ErrConfig},
		{"trailing data", raw(`{"version":1}{}`), ErrConfig},
		{"trailing bracket", raw(string(must(json.Marshal(testConfig()))) + "]"), ErrConfig},
		{"array", raw(`[]`), ErrConfig},
	}
	for _, tt := range tests {
		if c, err := decodeConfig(s, testKeyID, tt.b); !errors.Is(err, tt.want) || c != nil {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzDecodeConfig: arbitrary config files never panic and fail with
// ErrConfig or ErrWrongKey.
func FuzzDecodeConfig(f *testing.F) {
	s := testSealer(f)
	good, _ := encodeConfig(s, testKeyID, testConfig())
	f.Add(good)
	f.Add([]byte(configMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeConfig(s, testKeyID, b); err != nil && !errors.Is(err, ErrConfig) && !errors.Is(err, ErrWrongKey) {
			t.Fatalf("error %v is neither ErrConfig nor ErrWrongKey", err)
		}
	})
}

// FuzzParseConfig: arbitrary JSON (what a holder of the key could seal)
// never panics; what is accepted is valid and re-encodes to the same
// config.
func FuzzParseConfig(f *testing.F) {
	good, _ := json.Marshal(testConfig())
	f.Add(good)
	f.Add([]byte(`{"version":1,"id":"","chunker":{"min":-1,"avg":0,"max":1e300}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			return
		}
		again, err := parseConfig(must(json.Marshal(c)))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("accepted config does not round-trip: %v", err)
		}
	})
}
