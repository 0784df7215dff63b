package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FileVersion is the key file format this package writes and reads.
const FileVersion = 1

// maxFileSize bounds what Decode reads; a real key file is under 1 KiB.
const maxFileSize = 64 << 10

// Errors callers branch on.
var (
	// ErrWrongKey: the passphrase or recovery key does not unlock this
	// key file. (A damaged slot looks the same; the other slot may still
	// open.)
	ErrWrongKey = errors.New("wrong passphrase or recovery key")
	// ErrFormat: the key file is malformed or of an unsupported version.
	ErrFormat = errors.New("invalid key file")
	// ErrEmptyPassphrase: a vault needs a non-empty passphrase.
	ErrEmptyPassphrase = errors.New("passphrase is empty")
	// ErrKeyMismatch: the master key given is not the one of this file.
	ErrKeyMismatch = errors.New("master key does not belong to this key file")
)

// File is a vault's key file: the master key wrapped twice, by a key derived
// from the passphrase (Argon2id, parameters stored here) and by the
// recovery key. It holds no secret in the clear and is stored as JSON.
type File struct {
	Version    int            `json:"version"`
	KeyID      string         `json:"key_id"` // Master.ID, public
	Passphrase PassphraseSlot `json:"passphrase"`
	Recovery   Slot           `json:"recovery"`
}

// PassphraseSlot is the master key wrapped by a passphrase-derived key.
type PassphraseSlot struct {
	KDF     KDFParams `json:"kdf"`
	Nonce   []byte    `json:"nonce"`
	Wrapped []byte    `json:"wrapped"`
}

// Slot is the master key wrapped by a full-entropy key.
type Slot struct {
	Nonce   []byte `json:"nonce"`
	Wrapped []byte `json:"wrapped"`
}

const (
	slotPassphrase = "passphrase"
	slotRecovery   = "recovery"
)

// Create makes a new vault key: a random master key, a random recovery key,
// and the key file wrapping the master key under both. kdf is normally
// DefaultKDF(); a fresh salt is drawn. r is the randomness (crypto/rand in
// production). Show the recovery key to the provider once (Reveal).
func Create(r io.Reader, passphrase []byte, kdf KDFParams) (*File, *Master, RecoveryKey, error) {
	m, err := NewMaster(r)
	if err != nil {
		return nil, nil, RecoveryKey{}, fmt.Errorf("create key file: %w", err)
	}
	rk, err := NewRecoveryKey(r)
	if err != nil {
		return nil, nil, RecoveryKey{}, fmt.Errorf("create key file: %w", err)
	}
	f := &File{Version: FileVersion, KeyID: m.ID()}
	if f.Recovery.Nonce, f.Recovery.Wrapped, err = wrap(r, rk.kek(), m, wrapAD(slotRecovery, f.KeyID)); err != nil {
		return nil, nil, RecoveryKey{}, fmt.Errorf("create key file: recovery slot: %w", err)
	}
	if err := f.setPassphrase(r, m, passphrase, kdf); err != nil {
		return nil, nil, RecoveryKey{}, fmt.Errorf("create key file: %w", err)
	}
	return f, m, rk, nil
}

// setPassphrase (re)wraps m into the passphrase slot with a fresh salt.
func (f *File) setPassphrase(r io.Reader, m *Master, passphrase []byte, kdf KDFParams) error {
	if len(passphrase) == 0 {
		return ErrEmptyPassphrase
	}
	kdf, err := kdf.withSalt(r)
	if err != nil {
		return fmt.Errorf("passphrase slot: %w", err)
	}
	nonce, wrapped, err := wrap(r, kdf.derive(passphrase), m, wrapAD(slotPassphrase, f.KeyID))
	if err != nil {
		return fmt.Errorf("passphrase slot: %w", err)
	}
	f.Passphrase = PassphraseSlot{KDF: kdf, Nonce: nonce, Wrapped: wrapped}
	return nil
}

// Unlock returns the master key wrapped under passphrase, or ErrWrongKey.
func (f *File) Unlock(passphrase []byte) (*Master, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	kek := f.Passphrase.KDF.derive(passphrase)
	m, err := unwrap(kek, f.Passphrase.Nonce, f.Passphrase.Wrapped, wrapAD(slotPassphrase, f.KeyID))
	if err != nil {
		return nil, fmt.Errorf("unlock key %s with passphrase: %w", f.KeyID, err)
	}
	return f.checkID(m)
}

// UnlockWithRecovery returns the master key wrapped under rk, or
// ErrWrongKey.
func (f *File) UnlockWithRecovery(rk RecoveryKey) (*Master, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	m, err := unwrap(rk.kek(), f.Recovery.Nonce, f.Recovery.Wrapped, wrapAD(slotRecovery, f.KeyID))
	if err != nil {
		return nil, fmt.Errorf("unlock key %s with recovery key: %w", f.KeyID, err)
	}
	return f.checkID(m)
}

func (f *File) checkID(m *Master) (*Master, error) {
	if m.ID() != f.KeyID {
		return nil, fmt.Errorf("%w: slot holds key %s, file names %s", ErrFormat, m.ID(), f.KeyID)
	}
	return m, nil
}

// ChangePassphrase returns a copy of f whose passphrase slot wraps m under
// newPassphrase (fresh salt and nonce, parameters kdf). The master key, the
// recovery slot and all data stay as they are: nothing is re-encrypted. The
// caller unlocked m first (with the old passphrase or the recovery key) and
// replaces the stored file atomically.
func (f *File) ChangePassphrase(r io.Reader, m *Master, newPassphrase []byte, kdf KDFParams) (*File, error) {
	if m.ID() != f.KeyID {
		return nil, fmt.Errorf("change passphrase of key %s: %w", f.KeyID, ErrKeyMismatch)
	}
	nf := *f
	if err := nf.setPassphrase(r, m, newPassphrase, kdf); err != nil {
		return nil, fmt.Errorf("change passphrase of key %s: %w", f.KeyID, err)
	}
	return &nf, nil
}

// Encode returns the key file as JSON.
func (f *File) Encode() ([]byte, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key file: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode parses and validates a key file. Unknown fields, trailing data,
// other versions and out-of-range parameters are ErrFormat.
func Decode(b []byte) (*File, error) {
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d", ErrFormat, len(b), maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrFormat)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// validate checks the structure (not the secrets) of f.
func (f *File) validate() error {
	if f.Version != FileVersion {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrFormat, f.Version, FileVersion)
	}
	if id, err := hex.DecodeString(f.KeyID); err != nil || len(id) != 16 {
		return fmt.Errorf("%w: key_id is not 32 hex digits", ErrFormat)
	}
	if err := f.Passphrase.KDF.validate(); err != nil {
		return fmt.Errorf("passphrase slot: %w", err)
	}
	for _, s := range []struct {
		name           string
		nonce, wrapped []byte
	}{
		{slotPassphrase, f.Passphrase.Nonce, f.Passphrase.Wrapped},
		{slotRecovery, f.Recovery.Nonce, f.Recovery.Wrapped},
	} {
		if len(s.nonce) != wrapNonceSize || len(s.wrapped) != wrappedSize {
			return fmt.Errorf("%w: %s slot: nonce %d bytes, wrapped key %d bytes; want %d and %d",
				ErrFormat, s.name, len(s.nonce), len(s.wrapped), wrapNonceSize, wrappedSize)
		}
	}
	return nil
}
