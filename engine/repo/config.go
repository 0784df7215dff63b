package repo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
	"keep/engine/seal"
)

// Version is the repository format this package writes and reads.
const Version = 1

// typeConfig is the seal type of the config (see the package doc's table).
const typeConfig seal.Type = 18

// Config file layout:
//
//	"KRC1" | key ID (16 bytes, the master key's public ID) | seal(JSON)
//
// The key ID is in the clear so that opening with another key says so
// (ErrWrongKey) instead of "damaged".
const (
	configMagic = "KRC1"
	keyIDSize   = 16
	// maxConfigSize bounds what Open reads; a config is about 200 bytes.
	maxConfigSize = 64 << 10
)

// Config is a repository's identity and format parameters, fixed at Init.
type Config struct {
	Version int `json:"version"`
	// ID is 32 random bytes in hex naming this repository (replication
	// uses it to tell repositories apart).
	ID      string        `json:"id"`
	Chunker ChunkerParams `json:"chunker"`
	Created time.Time     `json:"created"`
}

// ChunkerParams are the chunk size bounds every writer of this repository
// cuts with (chunker.Params, with JSON names).
type ChunkerParams struct {
	Min int `json:"min"`
	Avg int `json:"avg"`
	Max int `json:"max"`
}

// Params returns p as chunker.Params.
func (p ChunkerParams) Params() chunker.Params {
	return chunker.Params{Min: p.Min, Avg: p.Avg, Max: p.Max}
}

func (c *Config) validate() error {
	if c.Version != Version {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrConfig, c.Version, Version)
	}
	if id, err := hex.DecodeString(c.ID); err != nil || len(id) != 32 {
		return fmt.Errorf("%w: id is not 64 hex digits", ErrConfig)
	}
	if err := c.Chunker.Params().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Created.IsZero() {
		return fmt.Errorf("%w: no creation time", ErrConfig)
	}
	return nil
}

// encodeConfig returns the config file of c for the key with public ID
// keyID, sealed with s (the metadata sealer).
func encodeConfig(s *seal.Sealer, keyID []byte, c *Config) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	b := append([]byte(configMagic), keyID...)
	return s.Seal(b, typeConfig, fingerprint.ID{}, plain)
}

// decodeConfig checks the config file b against the key with public ID
// keyID, opens it with s and parses it.
func decodeConfig(s *seal.Sealer, keyID []byte, b []byte) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrConfig, len(b))
	}
	if len(b) < len(configMagic)+keyIDSize || string(b[:len(configMagic)]) != configMagic {
		return nil, fmt.Errorf("%w: not a repository config", ErrConfig)
	}
	if got := b[len(configMagic) : len(configMagic)+keyIDSize]; !bytes.Equal(got, keyID) {
		return nil, fmt.Errorf("%w: config names key %x, this key is %x", ErrWrongKey, got, keyID)
	}
	plain, err := s.Open(nil, typeConfig, fingerprint.ID{}, b[len(configMagic)+keyIDSize:], maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return parseConfig(plain)
}

// parseConfig parses the config's JSON: one object, no unknown fields, no
// trailing data, valid values.
func parseConfig(plain []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrConfig)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
