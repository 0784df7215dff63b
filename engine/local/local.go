package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/engine/enrol"
	"keep/engine/jobs"
	"keep/engine/keys"
	"keep/engine/repo"
	"keep/engine/server"
	"keep/internal/durable"
)

// ErrWrongPassphrase: the passphrase does not open the key file.
var ErrWrongPassphrase = errors.New("the passphrase does not open the engine's key file: give the passphrase it was created with")

// Options configure Open.
type Options struct {
	// Dir is the engine's directory; created if missing.
	Dir string
	// Passphrase unlocks the key file; if nil, PassphraseFile is read, and
	// if that is empty too the engine's own passphrase file in Dir is used
	// (made at creation).
	Passphrase     []byte
	PassphraseFile string
	// KDF is the passphrase KDF at creation; nil: keys.DefaultKDF.
	KDF *keys.KDFParams
	// Hosts are the names and addresses in the server certificate.
	Hosts []string
	Log   hclog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Repo tunes the repository (Logger and Now are set from here).
	Repo repo.Options
}

// Engine is an open engine directory.
type Engine struct {
	Dir    string
	Repo   *repo.Repo
	CA     *enrol.CA
	Jobs   *jobs.Log
	Server *server.Server
	// Created is true when this Open created the key file.
	Created bool
	// KeyID is the master key's public name.
	KeyID string

	grants *grants
	// master is the unlocked key (ChangePassphrase re-wraps it); passFile
	// is where the passphrase is kept ("" when given in Options); kdf the
	// Options' KDF for operator passphrases (nil: keys.DefaultKDF).
	master   *keys.Master
	passFile string
	kdf      *keys.KDFParams
}

// Open opens the engine in opts.Dir, creating it on first use.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, errors.New("engine: no directory")
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{Dir: opts.Dir, kdf: opts.KDF}
	m, err := e.unlock(opts)
	if err != nil {
		return nil, err
	}
	e.KeyID, e.master = m.ID(), m
	ropts := opts.Repo
	ropts.Logger, ropts.Now = opts.Log.Named("repo"), opts.Now
	rdir := filepath.Join(opts.Dir, "repo")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	r, err := repo.Open(ctx, repo.DirFS(rdir), m, ropts)
	if errors.Is(err, repo.ErrNotRepo) {
		opts.Log.Info("creating the repository", "dir", rdir)
		r, err = repo.Init(ctx, repo.DirFS(rdir), m, ropts)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: repository %s: %w", rdir, err)
	}
	e.Repo = r
	fail := func(err error) (*Engine, error) {
		_ = r.Close(context.Background())
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.CA, err = enrol.Open(enrol.Options{Dir: filepath.Join(opts.Dir, "ca"), Now: opts.Now}); err != nil {
		return fail(err)
	}
	if e.Jobs, err = jobs.Open(filepath.Join(opts.Dir, "jobs"), jobs.Options{Now: opts.Now}); err != nil {
		return fail(err)
	}
	if e.grants, err = loadGrants(opts.Dir, opts.Now); err != nil {
		return fail(err)
	}
	sk := m.Subkeys()
	e.Server = &server.Server{
		Repo: r, CA: e.CA, Jobs: e.Jobs, Log: opts.Log.Named("agents"), Clock: opts.Now,
		FingerprintKey: sk.Fingerprint, GearSeed: sk.Gear, Hosts: opts.Hosts, MayRead: e.grants.mayRead,
	}
	return e, nil
}

// unlock unlocks (or creates) the key file.
func (e *Engine) unlock(opts Options) (*keys.Master, error) {
	keyPath := filepath.Join(e.Dir, "key")
	pass, generated, err := e.passphrase(opts)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(keyPath)
	switch {
	case err == nil:
		f, err := keys.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("engine: key file %s: %w", keyPath, err)
		}
		return e.unlockFile(f, pass, opts.Log)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("engine: %w", err)
	}
	kdf := keys.DefaultKDF()
	switch {
	case opts.KDF != nil:
		kdf = *opts.KDF
	case generated:
		kdf = MachineKDF()
	}
	opts.Log.Info("creating the engine's master key", "dir", e.Dir)
	f, m, rk, err := keys.Create(rand.Reader, pass, kdf)
	if err != nil {
		return nil, fmt.Errorf("engine: create key: %w", err)
	}
	enc, err := f.Encode()
	if err != nil {
		return nil, fmt.Errorf("engine: create key: %w", err)
	}
	// The recovery key first: a key file whose recovery key was lost is
	// worse than a recovery key for a key file that never appeared.
	if err := writeDurable(filepath.Join(e.Dir, "recovery-key"), []byte(rk.Reveal()+"\n")); err != nil {
		return nil, err
	}
	if err := writeDurable(keyPath, enc); err != nil {
		return nil, err
	}
	e.Created = true
	return m, nil
}

// MachineKDF are the Argon2id parameters for a passphrase the engine made
// itself: 256 random bits need no stretching, so the unlock at every boot
// costs milliseconds and 16 MiB, not DefaultKDF's 256 MiB and a second
// (which would also crowd a small appliance's memory at boot). Operator
// passphrases get keys.DefaultKDF.
func MachineKDF() keys.KDFParams {
	k := keys.DefaultKDF()
	k.Time, k.MemoryKiB, k.Threads = 1, 16<<10, 1
	return k
}

// passphrase finds the passphrase: given, from a file, or the engine's own
// (made now if there is neither a key file nor one; generated says so).
func (e *Engine) passphrase(opts Options) (pass []byte, generated bool, err error) {
	if opts.Passphrase != nil {
		return opts.Passphrase, false, nil
	}
	path := opts.PassphraseFile
	own := path == ""
	if own {
		path = filepath.Join(e.Dir, "passphrase")
	}
	e.passFile = path
	b, err := os.ReadFile(path)
	if err == nil {
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, false, fmt.Errorf("engine: passphrase file %s is empty", path)
		}
		return b, false, nil
	}
	if !own || !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("engine: passphrase: %w", err)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "key")); err == nil {
		return nil, false, fmt.Errorf("engine: the key file exists but its passphrase file %s is gone: restore it, or set engine.passphrase_file", path)
	}
	var raw [32]byte
	if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
		return nil, false, fmt.Errorf("engine: passphrase: %w", err)
	}
	p := []byte(base64.RawURLEncoding.EncodeToString(raw[:]))
	if err := writeDurable(path, append(p, '\n')); err != nil {
		return nil, false, err
	}
	return p, true, nil
}

// RecoveryKey returns the recovery key written at creation, until
// ForgetRecoveryKey; ok is false once it is gone.
func (e *Engine) RecoveryKey() (string, bool, error) {
	b, err := os.ReadFile(filepath.Join(e.Dir, "recovery-key"))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("engine: %w", err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// ForgetRecoveryKey removes the recovery key from the box, once the
// operator has it.
func (e *Engine) ForgetRecoveryKey() error {
	err := os.Remove(filepath.Join(e.Dir, "recovery-key"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("engine: %w", err)
	}
	return syncDir(e.Dir)
}

// Serve accepts agents on ln until ctx ends.
func (e *Engine) Serve(ctx context.Context, ln net.Listener) error {
	return e.Server.Serve(ctx, ln)
}

// Close flushes and closes the repository.
func (e *Engine) Close(ctx context.Context) error {
	return e.Repo.Close(ctx)
}

// writeDurable writes a 0600 file atomically and durably.
func writeDurable(path string, data []byte) error {
	if err := durable.WriteFile(filepath.Dir(path), filepath.Base(path), data, 0o600); err != nil {
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
