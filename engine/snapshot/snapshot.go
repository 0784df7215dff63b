package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"keep/engine/fingerprint"
)

// Version is the snapshot format version.
const Version = 1

// ErrFormat: a snapshot file's plaintext is not a valid snapshot.
var ErrFormat = errors.New("invalid snapshot")

// JobType is how the snapshot was made, as the user understands it.
type JobType string

// Job types.
const (
	Full          JobType = "full"           // every file read
	Incremental   JobType = "incremental"    // unchanged files taken from the parent
	SyntheticFull JobType = "synthetic-full" // made on the vault from what it holds
)

func (j JobType) valid() bool { return j == Full || j == Incremental || j == SyntheticFull }

// Snapshot is one backup: a root tree and what made it. Every snapshot is
// logically full.
type Snapshot struct {
	// ID is the fingerprint of the encoded snapshot, which names its file;
	// it is not part of the encoding.
	ID       fingerprint.ID `json:"-"`
	Version  int            `json:"version"`
	Time     time.Time      `json:"time"` // when the backup started
	End      time.Time      `json:"end"`  // when it was committed
	Hostname string         `json:"hostname"`
	Client   string         `json:"client,omitempty"`
	Paths    []string       `json:"paths"`
	Tags     []string       `json:"tags,omitempty"`
	Parent   fingerprint.ID `json:"parent,omitzero"`
	Tree     fingerprint.ID `json:"tree"`
	Job      JobType        `json:"job"`
	Summary  Summary        `json:"summary"`
}

// Summary counts what a backup saw, read and stored.
type Summary struct {
	FilesSeen      int64 `json:"files_seen"`      // non-directory nodes
	DirsSeen       int64 `json:"dirs_seen"`       //
	BytesSeen      int64 `json:"bytes_seen"`      // file sizes, holes included
	FilesNew       int64 `json:"files_new"`       // not in the parent
	FilesChanged   int64 `json:"files_changed"`   // in the parent, metadata differs
	FilesUnchanged int64 `json:"files_unchanged"` // taken from the parent, not read
	FilesRead      int64 `json:"files_read"`      //
	BytesRead      int64 `json:"bytes_read"`      // data bytes read from files
	HoleBytes      int64 `json:"hole_bytes"`      // sparse bytes recorded, not read
	ChunksNew      int64 `json:"chunks_new"`      // data blobs stored
	BytesNew       int64 `json:"bytes_new"`       // plaintext of new data and tree blobs
	BytesStored    int64 `json:"bytes_stored"`    // sealed size of new blobs (bundled ones: estimated, repo.PutSize)
	TreesNew       int64 `json:"trees_new"`       //
	Skipped        int64 `json:"skipped"`         // items skipped after errors
	// Excluded counts items left out by exclude patterns (added after
	// version 1 shipped: omitted when zero, so snapshots without
	// exclusions encode exactly as before).
	Excluded int64 `json:"excluded,omitempty"`
	// DedupRatio is bytes read per new plaintext data byte; Compression
	// is new plaintext per sealed byte stored. Zero when undefined.
	DedupRatio  float64 `json:"dedup_ratio"`
	Compression float64 `json:"compression_ratio"`
}

// Encode returns the canonical encoding of s (JSON, without ID).
func Encode(s *Snapshot) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Decode parses a snapshot's plaintext strictly: unknown fields, trailing
// data, another version, a missing tree or time, or an unknown job type
// are ErrFormat. The ID is left zero for the caller to set.
func Decode(b []byte) (*Snapshot, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var s Snapshot
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrFormat)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Snapshot) validate() error {
	switch {
	case s.Version != Version:
		return fmt.Errorf("%w: version %d", ErrFormat, s.Version)
	case s.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrFormat)
	case s.Tree.IsZero():
		return fmt.Errorf("%w: no tree", ErrFormat)
	case !s.Job.valid():
		return fmt.Errorf("%w: job type %q", ErrFormat, s.Job)
	case s.Job == Incremental && s.Parent.IsZero():
		return fmt.Errorf("%w: incremental without a parent", ErrFormat)
	}
	return nil
}
