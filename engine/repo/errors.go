package repo

import "errors"

// Errors callers branch on. Every error a Repo returns wraps one of these,
// a context error, or the filesystem's error.
var (
	// ErrNotFound: the repository holds no blob of that type and ID.
	ErrNotFound = errors.New("blob not found")
	// ErrPending: the blob was accepted but its pack is not written yet;
	// it can be read after the next Flush.
	ErrPending = errors.New("blob not yet flushed")
	// ErrCorrupt: stored data is damaged or missing: a blob fails to
	// authenticate or its plaintext does not hash to its ID, or its pack
	// is gone or short.
	ErrCorrupt = errors.New("stored data is corrupt")
	// ErrIDMismatch: Put was given data whose fingerprint is not the ID.
	ErrIDMismatch = errors.New("data does not match its fingerprint")
	// ErrTooLarge: a blob is larger than its type allows (data: the
	// config's chunker Max; tree: MaxTreeSize).
	ErrTooLarge = errors.New("blob too large")
	// ErrType: the blob type is not pack.Data or pack.Tree.
	ErrType = errors.New("invalid blob type")
	// ErrLocked: another process (or Repo) has the repository open for
	// writing.
	ErrLocked = errors.New("repository is locked")
	// ErrNotRepo: the directory holds no repository (no config).
	ErrNotRepo = errors.New("not a repository")
	// ErrExists: Init found a repository already there.
	ErrExists = errors.New("repository already exists")
	// ErrWrongKey: the repository belongs to another master key.
	ErrWrongKey = errors.New("repository belongs to another key")
	// ErrConfig: the config file is damaged or of an unsupported version.
	ErrConfig = errors.New("invalid repository config")
	// ErrReadOnly: a write on a repository opened read-only.
	ErrReadOnly = errors.New("repository is open read-only")
	// ErrClosed: the Repo was closed.
	ErrClosed = errors.New("repository is closed")
)
