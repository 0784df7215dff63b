package local

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/keys"
)

// Changing the passphrase re-wraps the master key; no data is
// re-encrypted (keys.File.ChangePassphrase). When the passphrase is kept
// in a file (the engine's own, or engine.passphrase_file) the key file
// and the passphrase file must change together, and a crash may come
// between the two writes. The order makes every crash point recoverable:
//
//  1. the new passphrase goes to <file>.new (durably);
//  2. the key file is replaced by the re-wrapped one (atomically, durably);
//  3. <file>.new is renamed over <file> (and the directory synced).
//
// At the next open, a key file that the passphrase in <file> does not
// open while <file>.new does means a crash between 2 and 3: the rename is
// finished then. A key file that <file> opens with a <file>.new left
// beside it means a crash between 1 and 2: the stale <file>.new goes.

// MinPassphrase is the shortest operator passphrase ChangePassphrase takes.
const MinPassphrase = 16

// ErrWeakPassphrase: a new passphrase shorter than MinPassphrase.
var ErrWeakPassphrase = errors.New("passphrase too short")

// PassphraseChange is the outcome of ChangePassphrase.
type PassphraseChange struct {
	KeyID string `json:"key_id"`
	// File is where the new passphrase is kept; "" when the engine was
	// opened with a passphrase given directly (the caller keeps it).
	File string `json:"passphrase_file,omitempty"`
	// Generated: the engine made the new passphrase itself.
	Generated bool `json:"generated"`
	// Took is the time to derive the new wrapping key and write the files.
	Took time.Duration `json:"took_ns"`
}

// ChangePassphrase wraps the master key under a new passphrase: newPass,
// or (nil) a random one the engine keeps in its passphrase file, like the
// one made at creation. An operator passphrase is stretched with
// keys.DefaultKDF (the Options' KDF when one was given), a generated one
// with MachineKDF. The recovery key stays valid.
func (e *Engine) ChangePassphrase(newPass []byte) (PassphraseChange, error) {
	start := time.Now()
	generated := newPass == nil
	kdf := keys.DefaultKDF()
	switch {
	case generated:
		kdf = MachineKDF()
		var raw [32]byte
		if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
			return PassphraseChange{}, fmt.Errorf("engine: passphrase: %w", err)
		}
		newPass = []byte(base64.RawURLEncoding.EncodeToString(raw[:]))
		if e.passFile == "" {
			return PassphraseChange{}, errors.New("engine: the engine was opened with a passphrase given directly, so it has no file to keep a generated one in: give the new passphrase instead")
		}
	case len(newPass) < MinPassphrase:
		return PassphraseChange{}, fmt.Errorf("%w: %d characters, use at least %d (or let the engine generate one)", ErrWeakPassphrase, len(newPass), MinPassphrase)
	case e.kdf != nil:
		kdf = *e.kdf
	}
	keyPath := filepath.Join(e.Dir, "key")
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return PassphraseChange{}, fmt.Errorf("engine: %w", err)
	}
	f, err := keys.Decode(b)
	if err != nil {
		return PassphraseChange{}, fmt.Errorf("engine: key file %s: %w", keyPath, err)
	}
	nf, err := f.ChangePassphrase(rand.Reader, e.master, newPass, kdf)
	if err != nil {
		return PassphraseChange{}, fmt.Errorf("engine: %w", err)
	}
	enc, err := nf.Encode()
	if err != nil {
		return PassphraseChange{}, fmt.Errorf("engine: %w", err)
	}
	if e.passFile != "" {
		if err := writeDurable(e.passFile+".new", append(append([]byte(nil), newPass...), '\n')); err != nil {
			return PassphraseChange{}, err
		}
	}
	if err := writeDurable(keyPath, enc); err != nil {
		return PassphraseChange{}, err
	}
	if e.passFile != "" {
		if err := finishPassphraseFile(e.passFile); err != nil {
			return PassphraseChange{}, err
		}
	}
	return PassphraseChange{KeyID: e.KeyID, File: e.passFile, Generated: generated, Took: time.Since(start)}, nil
}

// finishPassphraseFile renames <path>.new over <path>, durably.
func finishPassphraseFile(path string) error {
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("engine: passphrase file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// unlockFile opens the key file f with pass, completing or undoing a
// passphrase change a crash interrupted (see the order above).
func (e *Engine) unlockFile(f *keys.File, pass []byte, log hclog.Logger) (*keys.Master, error) {
	m, err := f.Unlock(pass)
	pending := e.passFile + ".new"
	switch {
	case err == nil:
		if e.passFile != "" {
			if rerr := os.Remove(pending); rerr == nil {
				log.Warn("removed the new passphrase of a change that did not finish (the key file was not yet re-wrapped)", "file", pending)
			}
		}
		return m, nil
	case !errors.Is(err, keys.ErrWrongKey):
		return nil, fmt.Errorf("engine: key file: %w", err)
	case e.passFile == "":
		return nil, ErrWrongPassphrase
	}
	np, rerr := os.ReadFile(pending)
	if rerr != nil {
		return nil, ErrWrongPassphrase
	}
	m, err = f.Unlock(trimNewline(np))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	if err := finishPassphraseFile(e.passFile); err != nil {
		return nil, err
	}
	log.Warn("finished a passphrase change that a crash interrupted (the key file was re-wrapped, the passphrase file not yet renamed)", "file", e.passFile)
	return m, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
