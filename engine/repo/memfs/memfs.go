// Package memfs is an in-memory repo.FS that models durability and injects
// faults, for tests of anything that stores a repository: engine/repo's
// crash tests, the storetest conformance suite, and layers above the
// repository that want a fast, deterministic store.
//
// Durability: a file's content is durable as of its last File.Sync; a
// directory's entries as of its last SyncDir, with the operations since
// kept in order. PowerLoss replaces every file by its durable content plus
// a random prefix of what was written after, and every directory by its
// durable entries plus a random prefix of its later operations, which
// covers torn appends, files that vanish or stay empty, and renames and
// removals that did or did not happen. CrashProcess only kills the
// process: nothing is lost, but open handles and locks die.
//
// Faults: with FailAt, the n-th mutating operation (Create, Write, Sync,
// Close of a written file, Rename, Remove, Mkdir, SyncDir) fails with
// ErrInjected, a failing Write after writing a random prefix, and so does
// every later one, as if the process died there; with once, only that one
// fails. Corrupt damages stored bytes, as a failing disk would.
//
// Randomness (the prefixes kept by PowerLoss and written by a failing
// Write) comes from the seed given to New, so a run is reproducible.
//
// An FS is safe for concurrent use.
package memfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"keep/engine/repo"
)

// ErrInjected is the error of an operation that FailAt made fail.
var ErrInjected = errors.New("memfs: injected fault")

// ErrStale is the error of a handle opened before CrashProcess or
// PowerLoss.
var ErrStale = errors.New("memfs: handle of a dead process")

// FS is an in-memory repo.FS. Create it with New.
type FS struct {
	mu       sync.Mutex
	root     *dir
	locks    map[string]bool
	gen      int // process generation; handles of older ones fail
	epoch    int // power losses so far
	ops      int // mutating operations so far
	failAt   int // 0: none
	failOnce bool
	rng      *rand.Rand
}

var _ repo.FS = (*FS)(nil)

type dir struct {
	entries map[string]any // *dir or *file
	durable map[string]any
	log     []dirOp
	epoch   int
}

type dirOp struct {
	name string
	node any // nil: removed
}

type file struct {
	data    []byte
	durable []byte
	epoch   int
}

// New returns an empty FS whose random choices derive from seed.
func New(seed uint64) *FS {
	return &FS{root: newDir(), locks: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, seed))}
}

func newDir() *dir { return &dir{entries: map[string]any{}, durable: map[string]any{}} }

func (d *dir) set(name string, node any) {
	if node == nil {
		delete(d.entries, name)
	} else {
		d.entries[name] = node
	}
	d.log = append(d.log, dirOp{name, node})
}

// Ops returns how many mutating operations the FS has seen (counting
// failed ones).
func (m *FS) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// FailAt makes the n-th mutating operation, counted from New (see Ops),
// fail with ErrInjected, and every later one unless once. n <= 0 stops
// injecting faults.
func (m *FS) FailAt(n int, once bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAt, m.failOnce = max(n, 0), once
}

// FailAfter is FailAt(Ops()+k, once), atomically: the k-th mutating
// operation from now fails.
func (m *FS) FailAfter(k int, once bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAt, m.failOnce = m.ops+k, once
	if k <= 0 {
		m.failAt = 0
	}
}

// op counts a mutating operation and reports whether it fails.
func (m *FS) op() error {
	m.ops++
	if m.failAt > 0 && (m.ops == m.failAt || !m.failOnce && m.ops > m.failAt) {
		return ErrInjected
	}
	return nil
}

// split returns the directory holding name and name's last element.
func (m *FS) split(name string) (*dir, string, error) {
	parts := strings.Split(name, "/")
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		sub, ok := d.entries[p].(*dir)
		if !ok {
			return nil, "", &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
		}
		d = sub
	}
	return d, parts[len(parts)-1], nil
}

func (m *FS) dir(name string) (*dir, error) {
	if name == "." {
		return m.root, nil
	}
	parent, base, err := m.split(name)
	if err != nil {
		return nil, err
	}
	d, ok := parent.entries[base].(*dir)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return d, nil
}

func (m *FS) file(name string) (*file, error) {
	d, base, err := m.split(name)
	if err != nil {
		return nil, err
	}
	f, ok := d.entries[base].(*file)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

// Create implements repo.FS.
func (m *FS) Create(name string) (repo.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return nil, err
	}
	d, base, err := m.split(name)
	if err != nil {
		return nil, err
	}
	if _, ok := d.entries[base]; ok {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	f := &file{}
	d.set(base, f)
	return &handle{m: m, f: f, gen: m.gen, write: true}, nil
}

// Open implements repo.FS.
func (m *FS) Open(name string) (repo.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.file(name)
	if err != nil {
		return nil, err
	}
	return &handle{m: m, f: f, gen: m.gen}, nil
}

// Rename implements repo.FS.
func (m *FS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	od, obase, err := m.split(oldname)
	if err != nil {
		return err
	}
	node, ok := od.entries[obase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	nd, nbase, err := m.split(newname)
	if err != nil {
		return err
	}
	od.set(obase, nil)
	nd.set(nbase, node)
	return nil
}

// Remove implements repo.FS.
func (m *FS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	d, base, err := m.split(name)
	if err != nil {
		return err
	}
	if _, ok := d.entries[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	d.set(base, nil)
	return nil
}

// Mkdir implements repo.FS.
func (m *FS) Mkdir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	d, base, err := m.split(name)
	if err != nil {
		return err
	}
	if _, ok := d.entries[base]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	d.set(base, newDir())
	return nil
}

// ReadDir implements repo.FS.
func (m *FS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dir(name)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(d.entries)), nil
}

// SyncDir implements repo.FS.
func (m *FS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	d, err := m.dir(name)
	if err != nil {
		return err
	}
	d.durable = maps.Clone(d.entries)
	d.log = nil
	return nil
}

type lock struct {
	m    *FS
	name string
	gen  int
}

func (l *lock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.gen == l.m.gen {
		delete(l.m.locks, l.name)
	}
	return nil
}

// Lock implements repo.FS: locks live in memory, one namespace per FS, and
// die with CrashProcess and PowerLoss.
func (m *FS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] {
		return nil, fmt.Errorf("%w: held in memory", repo.ErrLocked)
	}
	m.locks[name] = true
	return &lock{m: m, name: name, gen: m.gen}, nil
}

// CrashProcess kills the process: handles and locks die, nothing is lost,
// and injected faults stop.
func (m *FS) CrashProcess() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.locks = map[string]bool{}
	m.failAt = 0
}

// PowerLoss kills the machine: what was not durable is lost, in part (see
// the package doc), then the process dies as in CrashProcess.
func (m *FS) PowerLoss() {
	m.mu.Lock()
	m.epoch++
	m.root.lose(m.rng, m.epoch)
	m.mu.Unlock()
	m.CrashProcess()
}

// Corrupt flips bits of the byte at offset off of file name (off < 0
// counts from the end), in its current and its durable content, as
// storage damage would. It fails with fs.ErrNotExist if name is not a
// file, and with an error if off is outside it. It is not a mutating
// operation: it neither counts nor fails on cue.
func (m *FS) Corrupt(name string, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.file(name)
	if err != nil {
		return err
	}
	n := int64(len(f.data))
	if off < 0 {
		off += n
	}
	if off < 0 || off >= n {
		return fmt.Errorf("memfs: corrupt %s: offset %d outside %d bytes", name, off, n)
	}
	f.data[off] ^= 0x20 // durable never shares data's array
	if off < int64(len(f.durable)) {
		f.durable[off] ^= 0x20
	}
	return nil
}

func (d *dir) lose(rng *rand.Rand, epoch int) {
	if d.epoch == epoch {
		return
	}
	d.epoch = epoch
	e := maps.Clone(d.durable)
	for _, op := range d.log[:rng.IntN(len(d.log)+1)] {
		if op.node == nil {
			delete(e, op.name)
		} else {
			e[op.name] = op.node
		}
	}
	d.entries, d.durable, d.log = e, maps.Clone(e), nil
	for _, n := range e {
		switch n := n.(type) {
		case *dir:
			n.lose(rng, epoch)
		case *file:
			n.lose(rng, epoch)
		}
	}
}

func (f *file) lose(rng *rand.Rand, epoch int) {
	if f.epoch == epoch {
		return
	}
	f.epoch = epoch
	keep := slices.Clone(f.durable)
	if len(f.data) > len(f.durable) && string(f.data[:len(f.durable)]) == string(f.durable) {
		extra := f.data[len(f.durable):]
		keep = append(keep, extra[:rng.IntN(len(extra)+1)]...)
	}
	f.data, f.durable = keep, slices.Clone(keep)
}

// handle is an open file.
type handle struct {
	m      *FS
	f      *file
	gen    int
	write  bool
	closed bool
}

func (h *handle) check(write bool) error {
	switch {
	case h.gen != h.m.gen:
		return ErrStale
	case h.closed:
		return fs.ErrClosed
	case write && !h.write:
		return errors.New("memfs: write to a read-only handle")
	}
	return nil
}

func (h *handle) Write(p []byte) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(true); err != nil {
		return 0, err
	}
	if err := h.m.op(); err != nil {
		n := h.m.rng.IntN(len(p) + 1)
		h.f.data = append(h.f.data, p[:n]...)
		return n, err
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errors.New("memfs: negative offset")
	}
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *handle) Sync() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return err
	}
	if err := h.m.op(); err != nil {
		return err
	}
	h.f.durable = slices.Clone(h.f.data)
	return nil
}

func (h *handle) Size() (int64, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

func (h *handle) Close() error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return err
	}
	h.closed = true
	if h.write {
		return h.m.op()
	}
	return nil
}
