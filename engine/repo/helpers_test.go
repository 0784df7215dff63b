package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"keep/engine/fingerprint"
	"keep/engine/keys"
	"keep/engine/pack"
)

func newMaster(t testing.TB) *keys.Master {
	t.Helper()
	m, err := keys.NewMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hasher(t testing.TB, m *keys.Master) *fingerprint.Hasher {
	t.Helper()
	h, err := fingerprint.New(m.Subkeys().Fingerprint.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fixture is a repository in a temporary directory.
type fixture struct {
	t    testing.TB
	dir  string
	fs   FS
	m    *keys.Master
	fp   *fingerprint.Hasher
	opts Options
	log  *logBuffer
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	m := newMaster(t)
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, fs: DirFS(dir), m: m, fp: hasher(t, m), opts: opts, log: &logBuffer{}}
	if f.opts.Logger == nil {
		f.opts.Logger = hclog.New(&hclog.LoggerOptions{Output: f.log, Level: hclog.Debug})
	}
	return f
}

func (f *fixture) init() *Repo {
	f.t.Helper()
	r, err := Init(context.Background(), f.fs, f.m, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) open() *Repo {
	f.t.Helper()
	r, err := Open(context.Background(), f.fs, f.m, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func closeRepo(t testing.TB, r *Repo) {
	t.Helper()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// blob is a plaintext and its key.
type blob struct {
	t    pack.BlobType
	id   fingerprint.ID
	data []byte
}

func (f *fixture) blob(t pack.BlobType, data []byte) blob {
	return blob{t, f.fp.Sum(data), data}
}

func put(t testing.TB, r *Repo, b blob) bool {
	t.Helper()
	stored, err := r.Put(context.Background(), b.t, b.id, b.data)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func mustGet(t testing.TB, r *Repo, b blob) {
	t.Helper()
	got, err := r.Get(context.Background(), b.t, b.id, nil)
	if err != nil {
		t.Fatalf("Get %v %s: %v", b.t, b.id.Short(), err)
	}
	if !bytes.Equal(got, b.data) {
		t.Fatalf("Get %v %s: wrong data", b.t, b.id.Short())
	}
}

func mustCheck(t testing.TB, r *Repo) *Report {
	t.Helper()
	rep, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Error(p)
		}
		t.Fatalf("Check found %d problems", rep.Damaged)
	}
	return rep
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
