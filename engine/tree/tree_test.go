package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/repo"
)

// memStore is an in-memory Putter and Getter.
type memStore struct {
	mu    sync.Mutex
	fp    *fingerprint.Hasher
	blobs map[fingerprint.ID][]byte
}

func newMemStore(t testing.TB) *memStore {
	fp, err := fingerprint.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &memStore{fp: fp, blobs: map[fingerprint.ID][]byte{}}
}

func (m *memStore) Sum(b []byte) fingerprint.ID { return m.fp.Sum(b) }

func (m *memStore) PutSize(_ context.Context, t pack.BlobType, id fingerprint.ID, b []byte) (int, error) {
	if t != pack.Tree || m.fp.Sum(b) != id || len(b) > repo.MaxTreeSize {
		return 0, errors.New("bad put")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[id]; ok {
		return 0, nil
	}
	m.blobs[id] = bytes.Clone(b)
	return len(b), nil
}

func (m *memStore) Get(_ context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok || t != pack.Tree {
		return dst, repo.ErrNotFound
	}
	return append(dst, b...), nil
}

func id(s string) fingerprint.ID {
	var i fingerprint.ID
	copy(i[:], s)
	i[31] = 1
	return i
}

// sample returns one node of every type.
func sample() []Node {
	return []Node{
		{Name: "blk", Type: BlockDev, Mode: 0o660, Rdev: 8<<8 | 1, MTime: 1},
		{Name: "chr", Type: CharDev, Mode: 0o666, Rdev: 1<<8 | 3},
		{Name: "dir", Type: Dir, Mode: 0o755, UID: 1000, GID: 1000, User: "u", Group: "g", Subtree: id("sub"), MTime: -5},
		{Name: "fifo", Type: FIFO, Mode: 0o600},
		{Name: "file", Type: File, Mode: 0o4755, Size: 10 + 4096 + 3, MTime: 1700000000123456789, CTime: 1700000000223456789,
			ATime: 1, Inode: 42, Device: 2049, Links: 2,
			Xattrs:  []Xattr{{"system.posix_acl_access", []byte{2, 0, 0, 0}}, {"user.a", []byte("v")}, {"user.empty", []byte{}}},
			Content: []Extent{{ID: id("c1"), Length: 10}, {Hole: true, Length: 4096}, {ID: id("c2"), Length: 3}}},
		{Name: "link", Type: Hardlink, LinkTarget: "a/file", Size: 3, Content: []Extent{{ID: id("c2"), Length: 3}}, Inode: 42, Links: 2},
		{Name: "sock", Type: Socket},
		{Name: "sym", Type: Symlink, Mode: 0o777, LinkTarget: "../x y"},
		{Name: "zero", Type: File},
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := newMemStore(t)
	s := &Saver{Store: st}
	nodes := sample()
	tid, err := s.Save(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, st, tid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nodes) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, nodes)
	}
	// Deterministic: the same nodes give the same ID and store nothing.
	blobs, _, _ := s.Stats()
	tid2, err := s.Save(ctx, sample())
	if err != nil || tid2 != tid {
		t.Fatalf("second save: %v %v", tid2, err)
	}
	if b2, _, _ := s.Stats(); b2 != blobs {
		t.Fatalf("second save stored %d blobs", b2-blobs)
	}
}

func TestSplitLargeDirectory(t *testing.T) {
	ctx := context.Background()
	st := newMemStore(t)
	s := &Saver{Store: st, MaxBlob: 4096, InlineExtents: 8}
	var nodes []Node
	for i := range 500 {
		n := Node{Name: fmt.Sprintf("f%05d", i), Type: File, Mode: 0o644}
		for j := range i % 20 {
			n.Content = append(n.Content, Extent{ID: id(fmt.Sprint(i, j)), Length: 100})
			n.Size += 100
		}
		nodes = append(nodes, n)
	}
	tid, err := s.Save(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := Decode(st.blobs[tid])
	if root.Kind != KindParts || len(root.Parts) < 2 {
		t.Fatalf("root kind %d with %d parts", root.Kind, len(root.Parts))
	}
	for _, b := range st.blobs {
		if len(b) > 4096 {
			t.Fatalf("blob of %d bytes", len(b))
		}
	}
	got, err := Load(ctx, st, tid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nodes) {
		t.Fatal("split directory did not round trip")
	}
	// Insert one node: most parts are unchanged... at least the ones
	// before it.
	if _, err := s.Save(ctx, append([]Node{{Name: "a", Type: FIFO}}, nodes...)); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeRejects(t *testing.T) {
	bad := []Node{
		{Name: "", Type: File},
		{Name: "a/b", Type: File},
		{Name: "..", Type: File},
		{Name: "x", Type: 0},
		{Name: "x", Type: 10},
		{Name: "x", Type: File, Mode: 0o10000},
		{Name: "x", Type: File, Size: 1},
		{Name: "x", Type: Dir},
		{Name: "x", Type: File, Subtree: id("s")},
		{Name: "x", Type: Symlink},
		{Name: "x", Type: FIFO, Rdev: 1},
		{Name: "x", Type: FIFO, LinkTarget: "t"},
		{Name: "x", Type: File, Size: 2, Content: []Extent{{Hole: true, Length: 1}, {Hole: true, Length: 1}}},
		{Name: "x", Type: File, Size: 1, Content: []Extent{{Length: 1}}},
		{Name: "x", Type: File, Content: []Extent{{ID: id("a")}}},
		{Name: "x", Type: File, Xattrs: []Xattr{{"b", nil}, {"a", nil}}},
		{Name: "x", Type: File, Xattrs: []Xattr{{"", nil}}},
		{Name: strings.Repeat("n", 256), Type: File},
	}
	for i, n := range bad {
		if _, err := EncodeNodes([]Node{n}); err == nil {
			t.Errorf("%d: %+v encoded", i, n)
		}
	}
	if _, err := EncodeNodes([]Node{{Name: "b", Type: FIFO}, {Name: "a", Type: FIFO}}); err == nil {
		t.Error("unsorted nodes encoded")
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := EncodeNodes(sample())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good); err != nil {
		t.Fatal(err)
	}
	// Every truncation fails.
	for i := range good {
		if _, err := Decode(good[:i]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
	cases := map[string][]byte{
		"trailing":      append(bytes.Clone(good), 0),
		"version":       append([]byte{2}, good[1:]...),
		"kind":          {1, 9, 0},
		"non-minimal":   {1, byte(KindNodes), 0x80, 0x00},
		"huge count":    {1, byte(KindNodes), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"one part":      append([]byte{1, byte(KindParts), 1}, make([]byte, 32)...),
		"empty extents": {1, byte(KindExtents), 0},
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadRejectsWrongKinds(t *testing.T) {
	ctx := context.Background()
	st := newMemStore(t)
	s := &Saver{Store: st}
	ext, err := s.put(ctx, encodeExtents([]Extent{{ID: id("a"), Length: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, st, ext); !errors.Is(err, ErrFormat) {
		t.Fatalf("extent blob loaded as a directory: %v", err)
	}
	parts, _ := s.put(ctx, encodeParts([]fingerprint.ID{ext, ext}))
	if _, err := Load(ctx, st, parts); !errors.Is(err, ErrFormat) {
		t.Fatalf("parts of extents loaded: %v", err)
	}
	if _, err := Load(ctx, st, id("missing")); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}
