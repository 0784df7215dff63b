package storetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
	"keep/engine/keys"
	"keep/engine/pack"
	"keep/engine/repo"
)

// testRepo runs engine/repo over the backend.
func (s *suite) testRepo(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st *store)
	}{
		{"InitOpen", repoInitOpen},
		{"PutGet", repoPutGet},
		{"PendingUntilFlush", repoPendingUntilFlush},
		{"LargeBlob", repoLargeBlob},
		{"Reopen", repoReopen},
		{"IndexRebuild", repoIndexRebuild},
		{"MissingPack", repoMissingPack},
		{"TmpCleaned", repoTmpCleaned},
		{"ConcurrentPuts", repoConcurrentPuts},
		{"Lock", repoLock},
		{"ReadOnly", repoReadOnly},
		{"AreaFiles", repoAreaFiles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t, s.newFS(t))) })
	}
}

// store is a repository's FS and key.
type store struct {
	t    *testing.T
	fs   repo.FS
	m    *keys.Master
	fp   *fingerprint.Hasher
	opts repo.Options // PackSize small, so a few blobs make several packs
}

func newStore(t *testing.T, fsys repo.FS) *store {
	t.Helper()
	m, err := keys.NewMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprint.New(m.Subkeys().Fingerprint.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return &store{t: t, fs: fsys, m: m, fp: fp, opts: repo.Options{PackSize: 32 << 10, Packers: 2}}
}

func (st *store) init() *repo.Repo {
	st.t.Helper()
	r, err := repo.Init(st.t.Context(), st.fs, st.m, st.opts)
	if err != nil {
		st.t.Fatalf("Init: %v", err)
	}
	return r
}

func (st *store) open() *repo.Repo {
	st.t.Helper()
	r, err := repo.Open(st.t.Context(), st.fs, st.m, st.opts)
	if err != nil {
		st.t.Fatalf("Open: %v", err)
	}
	return r
}

func (st *store) openReadOnly() *repo.Repo {
	st.t.Helper()
	o := st.opts
	o.ReadOnly = true
	r, err := repo.Open(st.t.Context(), st.fs, st.m, o)
	if err != nil {
		st.t.Fatalf("Open read-only: %v", err)
	}
	return r
}

func closeRepo(t *testing.T, r *repo.Repo) {
	t.Helper()
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// blob is a plaintext and its key.
type blob struct {
	t    pack.BlobType
	id   fingerprint.ID
	data []byte
}

func (b blob) String() string { return fmt.Sprintf("%v %s", b.t, b.id.Short()) }

func (st *store) blob(t pack.BlobType, data []byte) blob { return blob{t, st.fp.Sum(data), data} }

// blobs returns n blobs from seed on: data blobs, random and
// compressible, of up to 6000 bytes, and every fifth a tree.
func (st *store) blobs(seed uint64, n int) []blob {
	var bs []blob
	for i := range uint64(n) {
		size := 1 + int((seed+i)*2654435761%6000)
		switch {
		case i%5 == 4:
			bs = append(bs, st.blob(pack.Tree, corpus.Text(seed+i, size)))
		case i%2 == 0:
			bs = append(bs, st.blob(pack.Data, corpus.Random(seed+i, size)))
		default:
			bs = append(bs, st.blob(pack.Data, corpus.Text(seed+i, size)))
		}
	}
	return bs
}

func put(t *testing.T, r *repo.Repo, b blob) bool {
	t.Helper()
	stored, err := r.Put(t.Context(), b.t, b.id, b.data)
	if err != nil {
		t.Fatalf("Put %v: %v", b, err)
	}
	return stored
}

func flush(t *testing.T, r *repo.Repo) {
	t.Helper()
	if err := r.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func mustGet(t *testing.T, r *repo.Repo, b blob) {
	t.Helper()
	got, err := r.Get(t.Context(), b.t, b.id, nil)
	if err != nil {
		t.Fatalf("Get %v: %v", b, err)
	}
	if !bytes.Equal(got, b.data) {
		t.Fatalf("Get %v: wrong data", b)
	}
}

func mustCheck(t *testing.T, r *repo.Repo) *repo.Report {
	t.Helper()
	rep, err := r.Check(t.Context())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Error(p)
		}
		t.Fatalf("Check found %d problems", rep.Damaged)
	}
	return rep
}

// filled returns a closed repository of 60 blobs in several packs and
// three index files.
func (st *store) filled() []blob {
	st.t.Helper()
	r := st.init()
	bs := st.blobs(0, 60)
	for i, b := range bs {
		put(st.t, r, b)
		if i%20 == 19 {
			flush(st.t, r)
		}
	}
	closeRepo(st.t, r)
	return bs
}

// list returns the full names in dir (none if it is missing).
func list(t *testing.T, fsys repo.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("ReadDir(%q): %v", dir, err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if dir != "." {
			out[i] = dir + "/" + n
		}
	}
	return out
}

// packs returns the names of the pack files, data/<xx>/<pack>.
func packs(t *testing.T, fsys repo.FS) []string {
	t.Helper()
	var out []string
	for _, shard := range list(t, fsys, "data") {
		out = append(out, list(t, fsys, shard)...)
	}
	return out
}

// listing returns every name of the repository layout.
func listing(t *testing.T, fsys repo.FS) []string {
	t.Helper()
	out := list(t, fsys, ".")
	out = append(out, list(t, fsys, "data")...)
	out = append(out, packs(t, fsys)...)
	for _, d := range []string{"index", "tmp", "snapshots"} {
		out = append(out, list(t, fsys, d)...)
	}
	return out
}

func repoInitOpen(t *testing.T, st *store) {
	ctx := t.Context()
	if _, err := repo.Open(ctx, st.fs, st.m, st.opts); !errors.Is(err, repo.ErrNotRepo) {
		t.Fatalf("Open of an empty store: %v, want repo.ErrNotRepo", err)
	}
	r := st.init()
	id := r.Config().ID
	if id == "" {
		t.Fatal("Init made a config without an ID")
	}
	closeRepo(t, r)
	if _, err := repo.Init(ctx, st.fs, st.m, st.opts); !errors.Is(err, repo.ErrExists) {
		t.Fatalf("second Init: %v, want repo.ErrExists", err)
	}
	other, err := keys.NewMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, st.fs, other, st.opts); !errors.Is(err, repo.ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want repo.ErrWrongKey", err)
	}
	r = st.open()
	if got := r.Config().ID; got != id {
		t.Fatalf("reopened config ID %s, want %s", got, id)
	}
	closeRepo(t, r)
	top, err := st.fs.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config", "data", "index", "tmp"} {
		if !slices.Contains(top, want) {
			t.Fatalf("repository directory %q lacks %q", top, want)
		}
	}
}

func repoPutGet(t *testing.T, st *store) {
	r := st.init()
	defer closeRepo(t, r)
	bs := st.blobs(100, 40)
	bs = append(bs,
		st.blob(pack.Data, []byte{1}),
		st.blob(pack.Data, corpus.Random(1, 100<<10)), // more than a pack
		st.blob(pack.Tree, []byte("{}")),
		st.blob(pack.Tree, []byte{1}), // the same bytes as a data blob: another blob
	)
	for _, b := range bs {
		if !put(t, r, b) {
			t.Fatalf("first Put of %v was deduplicated", b)
		}
	}
	for _, b := range bs {
		if put(t, r, b) {
			t.Fatalf("second Put of %v stored it again", b)
		}
	}
	flush(t, r)
	for _, b := range bs {
		if !r.Has(b.t, b.id) {
			t.Fatalf("Has %v: false after Flush", b)
		}
		mustGet(t, r, b)
	}
	absent := st.blob(pack.Data, []byte("never stored"))
	if _, err := r.Get(t.Context(), absent.t, absent.id, nil); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("Get of an absent blob: %v, want repo.ErrNotFound", err)
	}
	if got := r.Stats().Blobs; got != len(bs) {
		t.Fatalf("Stats().Blobs = %d, want %d", got, len(bs))
	}
	if len(packs(t, st.fs)) < 2 {
		t.Fatalf("%d packs, want several", len(packs(t, st.fs)))
	}
	mustCheck(t, r)
}

// repoPendingUntilFlush: with a default pack size, a blob stays in the
// open pack (repo.ErrPending, nothing in data/) until Flush writes the
// pack and an index file.
func repoPendingUntilFlush(t *testing.T, st *store) {
	st.opts.PackSize = 0
	r := st.init()
	defer closeRepo(t, r)
	b := st.blob(pack.Data, corpus.Text(1, 5000))
	put(t, r, b)
	if _, err := r.Get(t.Context(), b.t, b.id, nil); !errors.Is(err, repo.ErrPending) {
		t.Fatalf("Get before Flush: %v, want repo.ErrPending", err)
	}
	if got := packs(t, st.fs); len(got) != 0 {
		t.Fatalf("packs before Flush: %q", got)
	}
	flush(t, r)
	mustGet(t, r, b)
	if got := packs(t, st.fs); len(got) != 1 {
		t.Fatalf("packs after Flush: %q, want one", got)
	}
	if got := list(t, st.fs, "index"); len(got) != 1 {
		t.Fatalf("index files after Flush: %q, want one", got)
	}
	if got := list(t, st.fs, "tmp"); len(got) != 0 {
		t.Fatalf("tmp/ after Flush: %q", got)
	}
}

// repoLargeBlob: a 3 MiB tree blob, alone in a default-size pack, read
// back after reopening.
func repoLargeBlob(t *testing.T, st *store) {
	st.opts.PackSize = 0
	r := st.init()
	b := st.blob(pack.Tree, corpus.Random(7, 3<<20))
	put(t, r, b)
	closeRepo(t, r)
	r = st.open()
	defer closeRepo(t, r)
	mustGet(t, r, b)
}

func repoReopen(t *testing.T, st *store) {
	bs := st.filled()
	r := st.open()
	for _, b := range bs {
		mustGet(t, r, b)
	}
	if got := r.Stats().Blobs; got != len(bs) {
		t.Fatalf("Stats().Blobs after reopening = %d, want %d", got, len(bs))
	}
	mustCheck(t, r)
	more := st.blobs(1000, 10)
	for _, b := range more {
		put(t, r, b)
	}
	closeRepo(t, r) // Close flushes
	r = st.open()
	defer closeRepo(t, r)
	for _, b := range append(bs, more...) {
		mustGet(t, r, b)
	}
}

// repoIndexRebuild: with every index file removed, Open indexes the
// packs from their headers and writes a new index file.
func repoIndexRebuild(t *testing.T, st *store) {
	bs := st.filled()
	for _, name := range list(t, st.fs, "index") {
		if err := st.fs.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	r := st.open()
	for _, b := range bs {
		mustGet(t, r, b)
	}
	mustCheck(t, r)
	closeRepo(t, r)
	if got := list(t, st.fs, "index"); len(got) == 0 {
		t.Fatal("Open rebuilt the index but wrote no index file")
	}
	r = st.open()
	defer closeRepo(t, r)
	if got := r.Stats().Blobs; got != len(bs) {
		t.Fatalf("Stats().Blobs after the rebuild = %d, want %d", got, len(bs))
	}
}

// repoMissingPack: a pack removed behind the repository's back is dropped
// from the index, reported by Check, and its blobs are stored again.
func repoMissingPack(t *testing.T, st *store) {
	bs := st.filled()
	victim := packs(t, st.fs)[0]
	if err := st.fs.Remove(victim); err != nil {
		t.Fatal(err)
	}
	r := st.open()
	defer closeRepo(t, r)
	if got := r.Stats().MissingPack; got != 1 {
		t.Fatalf("Stats().MissingPack = %d, want 1", got)
	}
	var lost []blob
	for _, b := range bs {
		if r.Has(b.t, b.id) {
			mustGet(t, r, b)
		} else {
			lost = append(lost, b)
		}
	}
	if len(lost) == 0 {
		t.Fatal("no blob lost with its pack")
	}
	rep, err := r.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := victim[strings.LastIndexByte(victim, '/')+1:]
	if rep.OK() || !strings.Contains(fmt.Sprint(rep.Problems), base) {
		t.Fatalf("Check after removing pack %s: %d problems %v", base, rep.Damaged, rep.Problems)
	}
	for _, b := range lost {
		if !put(t, r, b) {
			t.Fatalf("lost blob %v deduplicated against the missing pack", b)
		}
	}
	flush(t, r)
	for _, b := range lost {
		mustGet(t, r, b)
	}
}

// repoTmpCleaned: Open for writing removes what a crashed writer left in
// tmp/.
func repoTmpCleaned(t *testing.T, st *store) {
	bs := st.filled()
	create(t, st.fs, "tmp/pack-0123456789abcdef01234567", []byte("half a pack"), false)
	create(t, st.fs, "tmp/file-0123456789abcdef01234567", nil, false)
	r := st.open()
	defer closeRepo(t, r)
	mustList(t, st.fs, "tmp")
	for _, b := range bs {
		mustGet(t, r, b)
	}
}

// repoConcurrentPuts: four goroutines put overlapping sets of blobs; each
// distinct blob is stored once and reads back.
func repoConcurrentPuts(t *testing.T, st *store) {
	r := st.init()
	const workers, each = 4, 40
	all := st.blobs(0, each*(workers+1)/2)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		mine := all[w*each/2:][:each] // half shared with the next worker
		wg.Go(func() {
			for _, b := range mine {
				if _, err := r.Put(t.Context(), b.t, b.id, b.data); err != nil {
					errs <- fmt.Errorf("worker %d: Put %v: %w", w, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	flush(t, r)
	type key struct {
		t  pack.BlobType
		id fingerprint.ID
	}
	distinct := map[key]bool{}
	for _, b := range all {
		distinct[key{b.t, b.id}] = true
		mustGet(t, r, b)
	}
	unique := len(distinct)
	if got := r.Stats().Blobs; got != unique {
		t.Fatalf("Stats().Blobs = %d, want %d distinct blobs", got, unique)
	}
	mustCheck(t, r)
	closeRepo(t, r)
	r = st.open()
	defer closeRepo(t, r)
	if got := r.Stats().Blobs; got != unique {
		t.Fatalf("Stats().Blobs after reopening = %d, want %d", got, unique)
	}
}

// repoLock: one writer at a time; the lock is free again after Close.
func repoLock(t *testing.T, st *store) {
	r := st.init()
	if _, err := repo.Open(t.Context(), st.fs, st.m, st.opts); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("second writer: %v, want repo.ErrLocked", err)
	}
	closeRepo(t, r)
	r = st.open()
	closeRepo(t, r)
}

// repoReadOnly: a read-only Open beside a writer reads everything, writes
// nothing (not even the index it rebuilds) and refuses writes.
func repoReadOnly(t *testing.T, st *store) {
	bs := st.filled()
	for _, name := range list(t, st.fs, "index")[1:] {
		if err := st.fs.Remove(name); err != nil { // left for the reader to index in memory
			t.Fatal(err)
		}
	}
	before := listing(t, st.fs)
	r := st.openReadOnly()
	defer closeRepo(t, r)
	for _, b := range bs {
		mustGet(t, r, b)
	}
	b := st.blob(pack.Data, []byte("refused"))
	if _, err := r.Put(t.Context(), b.t, b.id, b.data); !errors.Is(err, repo.ErrReadOnly) {
		t.Fatalf("Put on a read-only repository: %v, want repo.ErrReadOnly", err)
	}
	if err := r.Flush(t.Context()); !errors.Is(err, repo.ErrReadOnly) {
		t.Fatalf("Flush on a read-only repository: %v, want repo.ErrReadOnly", err)
	}
	if _, err := r.WriteFile(t.Context(), repo.Snapshots, []byte("x")); !errors.Is(err, repo.ErrReadOnly) {
		t.Fatalf("WriteFile on a read-only repository: %v, want repo.ErrReadOnly", err)
	}
	if after := listing(t, st.fs); !slices.Equal(before, after) {
		t.Fatalf("the read-only Repo changed the files:\nbefore %q\nafter  %q", before, after)
	}
	// A writer opens beside the reader (the reader holds no lock).
	w := st.open()
	defer closeRepo(t, w)
	put(t, w, b)
	flush(t, w)
	mustGet(t, w, b)
	for _, b := range bs {
		mustGet(t, r, b)
	}
}

// repoAreaFiles: WriteFile, ListFiles, ReadFile and RemoveFile of
// repo.Snapshots, across a reopen.
func repoAreaFiles(t *testing.T, st *store) {
	ctx := t.Context()
	r := st.init()
	a, b := []byte("snapshot a"), corpus.Text(2, 10000)
	ida, err := r.WriteFile(ctx, repo.Snapshots, a)
	if err != nil {
		t.Fatal(err)
	}
	idb, err := r.WriteFile(ctx, repo.Snapshots, b)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.WriteFile(ctx, repo.Snapshots, a); err != nil || again != ida {
		t.Fatalf("WriteFile of the same data: %s, %v; want %s", again.Short(), err, ida.Short())
	}
	closeRepo(t, r)
	r = st.open()
	defer closeRepo(t, r)
	ids, err := r.ListFiles(ctx, repo.Snapshots)
	if err != nil {
		t.Fatal(err)
	}
	want := []fingerprint.ID{ida, idb}
	slices.SortFunc(want, func(x, y fingerprint.ID) int { return bytes.Compare(x[:], y[:]) })
	slices.SortFunc(ids, func(x, y fingerprint.ID) int { return bytes.Compare(x[:], y[:]) })
	if !slices.Equal(ids, want) {
		t.Fatalf("ListFiles = %v, want %v", ids, want)
	}
	for id, data := range map[fingerprint.ID][]byte{ida: a, idb: b} {
		got, err := r.ReadFile(ctx, repo.Snapshots, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFile %s: %v", id.Short(), err)
		}
	}
	if err := r.RemoveFile(ctx, repo.Snapshots, ida); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile(ctx, repo.Snapshots, ida); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("ReadFile of a removed file: %v, want repo.ErrNotFound", err)
	}
	if ids, err := r.ListFiles(ctx, repo.Snapshots); err != nil || len(ids) != 1 || ids[0] != idb {
		t.Fatalf("ListFiles after RemoveFile: %v, %v", ids, err)
	}
}
