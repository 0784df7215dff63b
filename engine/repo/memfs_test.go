package repo

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
)

// memFS is an in-memory FS that models durability and injects faults.
//
// Durability: a file's content is durable as of its last Sync; a
// directory's entries as of its last SyncDir, with the operations since
// kept in order. powerLoss replaces every file by its durable content plus
// a random prefix of what was written after, and every directory by its
// durable entries plus a random prefix of its later operations, which
// covers torn appends, files that vanish or stay empty, and renames and
// removals that did or did not happen. crashProcess only kills the
// process: nothing is lost, but open handles and locks die.
//
// Faults: the failAt-th mutating operation (Create, Write, Sync, Close of
// a written file, Rename, Remove, Mkdir, SyncDir) fails, a failing Write
// after writing a random prefix, and so does every later one, as if the
// process died there; with failOnce only that one fails.
type memFS struct {
	mu       sync.Mutex
	root     *memDir
	locks    map[string]bool
	gen      int // process generation; handles of older ones fail
	epoch    int // power losses so far
	ops      int // mutating operations so far
	failAt   int // 0: none
	failOnce bool
	rng      *rand.Rand
}

var errInjected = errors.New("injected fault")

type memDir struct {
	entries map[string]any // *memDir or *memFile
	durable map[string]any
	log     []dirOp
	epoch   int
}

type dirOp struct {
	name string
	node any // nil: removed
}

type memFile struct {
	data    []byte
	durable []byte
	epoch   int
}

func newMemFS(seed uint64) *memFS {
	return &memFS{root: newMemDir(), locks: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, seed))}
}

func newMemDir() *memDir { return &memDir{entries: map[string]any{}, durable: map[string]any{}} }

func (d *memDir) set(name string, node any) {
	if node == nil {
		delete(d.entries, name)
	} else {
		d.entries[name] = node
	}
	d.log = append(d.log, dirOp{name, node})
}

// op counts a mutating operation and reports whether it fails.
func (m *memFS) op() error {
	m.ops++
	if m.failAt > 0 && (m.ops == m.failAt || !m.failOnce && m.ops > m.failAt) {
		return errInjected
	}
	return nil
}

// split returns the directory holding name and name's last element.
func (m *memFS) split(name string) (*memDir, string, error) {
	parts := strings.Split(name, "/")
	d := m.root
	for _, p := range parts[:len(parts)-1] {
		sub, ok := d.entries[p].(*memDir)
		if !ok {
			return nil, "", &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
		}
		d = sub
	}
	return d, parts[len(parts)-1], nil
}

func (m *memFS) dir(name string) (*memDir, error) {
	if name == "." {
		return m.root, nil
	}
	parent, base, err := m.split(name)
	if err != nil {
		return nil, err
	}
	d, ok := parent.entries[base].(*memDir)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return d, nil
}

func (m *memFS) Create(name string) (File, error) {
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
	f := &memFile{}
	d.set(base, f)
	return &memHandle{m: m, f: f, gen: m.gen, write: true}, nil
}

func (m *memFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.split(name)
	if err != nil {
		return nil, err
	}
	f, ok := d.entries[base].(*memFile)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memHandle{m: m, f: f, gen: m.gen}, nil
}

func (m *memFS) Rename(oldname, newname string) error {
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

func (m *memFS) Remove(name string) error {
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

func (m *memFS) Mkdir(name string) error {
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
	d.set(base, newMemDir())
	return nil
}

func (m *memFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dir(name)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(d.entries)), nil
}

func (m *memFS) SyncDir(name string) error {
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

type memLock struct {
	m    *memFS
	name string
	gen  int
}

func (l *memLock) Close() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.gen == l.m.gen {
		delete(l.m.locks, l.name)
	}
	return nil
}

func (m *memFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] {
		return nil, fmt.Errorf("%w: held in memory", ErrLocked)
	}
	m.locks[name] = true
	return &memLock{m: m, name: name, gen: m.gen}, nil
}

// crashProcess kills the process: handles and locks die, nothing is lost,
// and faults stop.
func (m *memFS) crashProcess() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.locks = map[string]bool{}
	m.failAt = 0
}

// powerLoss kills the machine: what was not durable is lost, in part.
func (m *memFS) powerLoss() {
	m.mu.Lock()
	m.epoch++
	m.root.lose(m.rng, m.epoch)
	m.mu.Unlock()
	m.crashProcess()
}

func (d *memDir) lose(rng *rand.Rand, epoch int) {
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
		case *memDir:
			n.lose(rng, epoch)
		case *memFile:
			n.lose(rng, epoch)
		}
	}
}

func (f *memFile) lose(rng *rand.Rand, epoch int) {
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

type memHandle struct {
	m      *memFS
	f      *memFile
	gen    int
	write  bool
	closed bool
}

var errStale = errors.New("handle of a dead process")

func (h *memHandle) check(write bool) error {
	switch {
	case h.gen != h.m.gen:
		return errStale
	case h.closed:
		return fs.ErrClosed
	case write && !h.write:
		return errors.New("read-only handle")
	}
	return nil
}

func (h *memHandle) Write(p []byte) (int, error) {
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

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, err
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

func (h *memHandle) Sync() error {
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

func (h *memHandle) Size() (int64, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if err := h.check(false); err != nil {
		return 0, err
	}
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error {
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
