package jobs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"keep/internal/durable"
)

// Kind is what a job does.
type Kind string

// Job kinds.
const (
	Full          Kind = "full"
	Incremental   Kind = "incremental"
	SyntheticFull Kind = "synthetic-full"
	Restore       Kind = "restore"
	Verify        Kind = "verify"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case Full, Incremental, SyntheticFull, Restore, Verify:
		return true
	}
	return false
}

// State is where a job is.
type State string

// Job states. Running is the only non-final state.
const (
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Partial   State = "partial" // done, with items skipped
)

func (s State) final() bool { return s == Succeeded || s == Failed || s == Partial }

// MaxItems bounds the skipped items a job lists; Skipped counts them all.
const MaxItems = 1000

// DefaultPersistEvery is how often Update persists a running job.
const DefaultPersistEvery = 5 * time.Second

// DefaultKeepPerClient is how many finished jobs of each client the log
// keeps: years of daily backups with their restores, while a client that
// starts and ends jobs in a loop cannot fill the vault's disk with records
// (nor slow List, which reads them all).
const DefaultKeepPerClient = 1000

// ErrNotFound: no job of that ID.
var ErrNotFound = errors.New("job not found")

// ErrFormat: a job file is damaged.
var ErrFormat = errors.New("invalid job file")

// Item is a skipped or failed item with its reason.
type Item struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Counts are a job's running totals.
type Counts struct {
	Files       int64 `json:"files"`        // non-directory items seen
	Dirs        int64 `json:"dirs"`         //
	BytesSeen   int64 `json:"bytes_seen"`   // file sizes
	BytesRead   int64 `json:"bytes_read"`   // read at the source
	BytesNew    int64 `json:"bytes_new"`    // plaintext new to the vault
	BytesSent   int64 `json:"bytes_sent"`   // plaintext transferred (blobs sent or read)
	BytesStored int64 `json:"bytes_stored"` // sealed bytes written (blobs in bundles: their share, estimated)
	BlobsSent   int64 `json:"blobs_sent"`   //
	BlobsNew    int64 `json:"blobs_new"`    //
}

// Job is one job record.
type Job struct {
	ID       string    `json:"id"`
	Client   string    `json:"client"`
	Hostname string    `json:"hostname,omitempty"`
	Kind     Kind      `json:"kind"`
	State    State     `json:"state"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
	Updated  time.Time `json:"updated"`
	Paths    []string  `json:"paths,omitempty"`
	Parent   string    `json:"parent,omitempty"`   // snapshot ID
	Snapshot string    `json:"snapshot,omitempty"` // snapshot ID made or read
	Counts   Counts    `json:"counts"`
	// DedupRatio is bytes seen per new plaintext byte, Compression new
	// plaintext per sealed byte; zero when undefined.
	DedupRatio  float64 `json:"dedup_ratio"`
	Compression float64 `json:"compression_ratio"`
	Skipped     int64   `json:"skipped"`         // items skipped, all of them
	Items       []Item  `json:"items,omitempty"` // the first MaxItems
	Reason      string  `json:"reason,omitempty"`
}

// AddItems records skipped items (the list is capped at MaxItems; the
// count is not).
func (j *Job) AddItems(items ...Item) {
	j.Skipped += int64(len(items))
	if room := MaxItems - len(j.Items); room > 0 {
		j.Items = append(j.Items, items[:min(room, len(items))]...)
	}
}

func (j *Job) ratios() {
	j.DedupRatio, j.Compression = 0, 0
	if j.Counts.BytesNew > 0 {
		j.DedupRatio = float64(j.Counts.BytesSeen) / float64(j.Counts.BytesNew)
	}
	if j.Counts.BytesStored > 0 {
		j.Compression = float64(j.Counts.BytesNew) / float64(j.Counts.BytesStored)
	}
}

func (j *Job) clone() Job {
	c := *j
	c.Paths = slices.Clone(j.Paths)
	c.Items = slices.Clone(j.Items)
	return c
}

// Options configure Open.
type Options struct {
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// PersistEvery is the least time between two writes of a running
	// job by Update; zero: DefaultPersistEvery.
	PersistEvery time.Duration
	// Rand makes job IDs; nil: crypto/rand.
	Rand io.Reader
	// KeepPerClient is how many finished jobs of each client are kept,
	// the last to end; older ones are deleted as jobs finish (never the
	// one finishing). Zero: DefaultKeepPerClient.
	KeepPerClient int
}

// Log is the durable job log in one directory: a JSON file per job,
// <id>.json. It is safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu    sync.Mutex
	live  map[string]*Job      // running jobs
	saved map[string]time.Time // when each running job was last written
	done  map[string][]string  // finished jobs' IDs by client, in the order they ended
}

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

// Open opens (creating) the job log in dir. Jobs left running by a
// previous process are finalised as failed: the process that ran them is
// gone.
func Open(dir string, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PersistEvery <= 0 {
		opts.PersistEvery = DefaultPersistEvery
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.KeepPerClient <= 0 {
		opts.KeepPerClient = DefaultKeepPerClient
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	l := &Log{dir: dir, opts: opts, live: map[string]*Job{}, saved: map[string]time.Time{}, done: map[string][]string{}}
	all, err := l.readAll()
	if err != nil {
		return nil, err
	}
	for i := range all {
		if j := &all[i]; j.State == Running {
			j.State, j.End, j.Updated = Failed, opts.Now().UTC(), opts.Now().UTC()
			j.Reason = "the vault stopped while the job ran; run it again"
			if err := l.write(j); err != nil {
				return nil, err
			}
		}
	}
	// Finished jobs by when they ended (a long job that ended last is
	// the newest, whenever it started).
	slices.SortStableFunc(all, func(a, b Job) int { return a.End.Compare(b.End) })
	for _, j := range all {
		l.done[j.Client] = append(l.done[j.Client], j.ID)
	}
	for c := range l.done {
		l.trim(c)
	}
	return l, nil
}

// trim deletes the oldest finished jobs of client beyond KeepPerClient.
// Under mu (or before the log is shared).
func (l *Log) trim(client string) {
	ids := l.done[client]
	for len(ids) > l.opts.KeepPerClient {
		if err := os.Remove(filepath.Join(l.dir, ids[0]+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			break // kept; tried again when the next job finishes
		}
		ids = ids[1:]
	}
	l.done[client] = ids
}

func (l *Log) newID() (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(l.opts.Rand, b[:]); err != nil {
		return "", err
	}
	return l.opts.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

// Start records a new running job from j (Client, Kind and what else the
// caller knows); it sets ID, State, Start and Updated, writes it and
// returns its ID.
func (l *Log) Start(j Job) (string, error) {
	if !j.Kind.Valid() {
		return "", fmt.Errorf("jobs: start: unknown kind %q", j.Kind)
	}
	id, err := l.newID()
	if err != nil {
		return "", fmt.Errorf("jobs: start: %w", err)
	}
	now := l.opts.Now().UTC()
	j.ID, j.State, j.Start, j.Updated, j.End = id, Running, now, now, time.Time{}
	j.Paths = slices.Clone(j.Paths)
	j.Items = nil
	if err := l.write(&j); err != nil {
		return "", fmt.Errorf("jobs: start: %w", err)
	}
	l.mu.Lock()
	l.live[id] = &j
	l.saved[id] = now
	l.mu.Unlock()
	return id, nil
}

// Update changes a running job in memory with fn and writes it if the
// last write is PersistEvery old or more. fn must not retain j.
func (l *Log) Update(id string, fn func(j *Job)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.live[id]
	if !ok {
		return fmt.Errorf("jobs: update %s: %w (or it has ended)", id, ErrNotFound)
	}
	now := l.opts.Now().UTC()
	fn(j)
	j.ratios()
	j.Updated = now
	if now.Sub(l.saved[id]) >= l.opts.PersistEvery {
		if err := l.write(j); err != nil {
			return fmt.Errorf("jobs: update %s: %w", id, err)
		}
		l.saved[id] = now
	}
	return nil
}

// Finish ends a running job in state (Succeeded, Failed or Partial),
// with a reason for failures, after applying fn (nil: nothing), and
// writes it. A job finishes once; later calls return ErrNotFound.
func (l *Log) Finish(id string, state State, reason string, fn func(j *Job)) error {
	if !state.final() {
		return fmt.Errorf("jobs: finish %s: %q is not a final state", id, state)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.live[id]
	if !ok {
		return fmt.Errorf("jobs: finish %s: %w (or it has ended)", id, ErrNotFound)
	}
	if fn != nil {
		fn(j)
	}
	now := l.opts.Now().UTC()
	j.State, j.Reason, j.End, j.Updated = state, reason, now, now
	if state == Succeeded && j.Skipped > 0 {
		j.State = Partial
	}
	j.ratios()
	if err := l.write(j); err != nil {
		return fmt.Errorf("jobs: finish %s: %w", id, err)
	}
	delete(l.live, id)
	delete(l.saved, id)
	l.done[j.Client] = append(l.done[j.Client], id) // the newest: it ended last
	l.trim(j.Client)
	return nil
}

// Amend changes a finished job (items reported after its commit) and
// writes it. A Succeeded job with skipped items becomes Partial.
func (l *Log) Amend(id string, fn func(j *Job)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.live[id]; ok {
		return fmt.Errorf("jobs: amend %s: still running, use Update", id)
	}
	j, err := l.read(id)
	if err != nil {
		return fmt.Errorf("jobs: amend: %w", err)
	}
	fn(j)
	if j.State == Succeeded && j.Skipped > 0 {
		j.State = Partial
	}
	j.ratios()
	j.Updated = l.opts.Now().UTC()
	if err := l.write(j); err != nil {
		return fmt.Errorf("jobs: amend %s: %w", id, err)
	}
	return nil
}

// Get returns a job: live progress for a running one.
func (l *Log) Get(id string) (Job, error) {
	l.mu.Lock()
	if j, ok := l.live[id]; ok {
		c := j.clone()
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	j, err := l.read(id)
	if err != nil {
		return Job{}, fmt.Errorf("jobs: %w", err)
	}
	return *j, nil
}

// List returns every job, oldest first, running ones with live progress.
// Damaged files are skipped and reported in the error (with the jobs that
// could be read).
func (l *Log) List() ([]Job, error) {
	all, err := l.readAll()
	l.mu.Lock()
	for i := range all {
		if j, ok := l.live[all[i].ID]; ok {
			all[i] = j.clone()
		}
	}
	l.mu.Unlock()
	return all, err
}

func (l *Log) readAll() ([]Job, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	var (
		all  []Job
		errs []error
	)
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !idRE.MatchString(id) {
			continue
		}
		j, err := l.read(id)
		if errors.Is(err, ErrNotFound) {
			continue // trimmed since the listing
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, *j)
	}
	slices.SortFunc(all, func(a, b Job) int { return strings.Compare(a.ID, b.ID) })
	if len(errs) > 0 {
		return all, fmt.Errorf("jobs: %w", errors.Join(errs...))
	}
	return all, nil
}

func (l *Log) read(id string) (*Job, error) {
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(l.dir, id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	j, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	if j.ID != id {
		return nil, fmt.Errorf("job %s: %w: file names job %q", id, ErrFormat, j.ID)
	}
	return j, nil
}

// Decode parses a job file strictly (unknown fields, trailing data,
// unknown kinds or states, bad IDs, over-long lists are ErrFormat).
func Decode(b []byte) (*Job, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var j Job
	if err := d.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrFormat)
	}
	switch {
	case !idRE.MatchString(j.ID):
		return nil, fmt.Errorf("%w: ID %q", ErrFormat, j.ID)
	case !j.Kind.Valid():
		return nil, fmt.Errorf("%w: kind %q", ErrFormat, j.Kind)
	case j.State != Running && !j.State.final():
		return nil, fmt.Errorf("%w: state %q", ErrFormat, j.State)
	case len(j.Items) > MaxItems:
		return nil, fmt.Errorf("%w: %d items", ErrFormat, len(j.Items))
	}
	return &j, nil
}

func (l *Log) write(j *Job) error {
	b, err := json.MarshalIndent(j, "", "\t")
	if err != nil {
		return err
	}
	return writeFile(l.dir, j.ID+".json", b)
}

// writeFile writes data to dir/name durably: a temporary file (0600),
// fsynced, renamed over name, dir fsynced.
func writeFile(dir, name string, data []byte) error {
	return durable.WriteFile(dir, name, data, 0o600)
}
