package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)}
	l, err := Open(dir, Options{Now: c.now, PersistEvery: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.Start(Job{Client: "web1", Kind: Full, Paths: []string{"/srv"}})
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func() Job {
		t.Helper()
		j, err := l.read(id)
		if err != nil {
			t.Fatal(err)
		}
		return *j
	}
	if j := onDisk(); j.State != Running || j.Client != "web1" || !j.Start.Equal(c.t) {
		t.Fatalf("start record %+v", j)
	}
	c.t = c.t.Add(3 * time.Second)
	must(t, l.Update(id, func(j *Job) { j.Counts.BytesSeen, j.Counts.BytesNew, j.Counts.BytesStored = 1000, 100, 50 }))
	if j, _ := l.Get(id); j.Counts.BytesSeen != 1000 || j.DedupRatio != 10 || j.Compression != 2 {
		t.Fatalf("live %+v", j)
	}
	if j := onDisk(); j.Counts.BytesSeen != 0 {
		t.Fatal("update persisted before PersistEvery elapsed")
	}
	c.t = c.t.Add(10 * time.Second)
	must(t, l.Update(id, func(j *Job) { j.Counts.BytesSeen = 2000 }))
	if j := onDisk(); j.Counts.BytesSeen != 2000 {
		t.Fatal("update not persisted after PersistEvery")
	}
	must(t, l.Finish(id, Succeeded, "", func(j *Job) { j.Snapshot = "abc" }))
	if err := l.Finish(id, Failed, "again", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second finish: %v", err)
	}
	if j := onDisk(); j.State != Succeeded || j.Snapshot != "abc" || !j.End.Equal(c.t) {
		t.Fatalf("final %+v", j)
	}
	must(t, l.Amend(id, func(j *Job) { j.AddItems(Item{"/srv/x", "permission denied"}) }))
	if j := onDisk(); j.State != Partial || j.Skipped != 1 {
		t.Fatalf("amended %+v", j)
	}
	c.t = c.t.Add(time.Second)
	id2, err := l.Start(Job{Client: "web2", Kind: Restore})
	must(t, err)
	all, err := l.List()
	must(t, err)
	if len(all) != 2 || all[0].ID != id || all[1].ID != id2 || all[1].State != Running {
		t.Fatalf("list %+v", all)
	}
	// A new process finds id2 running: it failed.
	l2, err := Open(dir, Options{Now: c.now})
	must(t, err)
	j, err := l2.Get(id2)
	must(t, err)
	if j.State != Failed || !strings.Contains(j.Reason, "stopped") {
		t.Fatalf("orphan %+v", j)
	}
	if fi, err := os.Stat(filepath.Join(dir, id+".json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("perm %v %v", fi.Mode(), err)
	}
}

func TestItemsCapped(t *testing.T) {
	var j Job
	for range MaxItems + 5 {
		j.AddItems(Item{"p", "r"})
	}
	if len(j.Items) != MaxItems || j.Skipped != MaxItems+5 {
		t.Fatal(len(j.Items), j.Skipped)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := `{"id":"20261203T070000Z-0a0b0c0d","client":"a","kind":"full","state":"running","start":"2026-12-03T07:00:00Z","updated":"2026-12-03T07:00:00Z","counts":{"files":0,"dirs":0,"bytes_seen":0,"bytes_read":0,"bytes_new":0,"bytes_sent":0,"bytes_stored":0,"blobs_sent":0,"blobs_new":0},"dedup_ratio":0,"compression_ratio":0,"skipped":0}`
	if _, err := Decode([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		good + "{}",
		strings.Replace(good, `"full"`, `"nightly"`, 1),
		strings.Replace(good, `"running"`, `"asleep"`, 1),
		strings.Replace(good, `0a0b0c0d`, `../../x`, 1),
		strings.Replace(good, `"client"`, `"klient"`, 1),
		"", "null",
	} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("accepted %q: %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"20261203T070000Z-0a0b0c0d","client":"a","kind":"full","state":"failed","start":"2026-12-03T07:00:00Z","updated":"2026-12-03T07:00:00Z","counts":{},"items":[{"path":"x","reason":"y"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		if !j.Kind.Valid() || len(j.Items) > MaxItems {
			t.Fatalf("accepted invalid job %+v", j)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeepPerClient: each client keeps the KeepPerClient finished jobs
// that ended last: a long job that ends after newer ones is kept (and can
// be read and amended after its Finish); running jobs and other clients'
// are not touched; reopening with a smaller limit trims; a List racing a
// trim does not fail.
func TestKeepPerClient(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)}
	l, err := Open(dir, Options{Now: c.now, KeepPerClient: 3})
	must(t, err)
	start := func(client string) string {
		t.Helper()
		c.t = c.t.Add(time.Minute)
		id, err := l.Start(Job{Client: client, Kind: Full})
		must(t, err)
		return id
	}
	finish := func(id string) {
		t.Helper()
		c.t = c.t.Add(time.Minute)
		must(t, l.Finish(id, Succeeded, "", nil))
	}
	long := start("a")
	var a []string
	for range 5 {
		a = append(a, start("a"))
	}
	b1, b2 := start("b"), start("b")
	running := start("a")
	for _, id := range a {
		finish(id)
	}
	finish(long)
	if _, err := l.Get(long); err != nil {
		t.Fatalf("the long job, just finished: %v", err)
	}
	must(t, l.Amend(long, func(j *Job) { j.AddItems(Item{"/x", "skipped"}) }))
	finish(b1)
	finish(b2)
	ids := func() []string {
		t.Helper()
		all, err := l.List()
		must(t, err)
		var out []string
		for _, j := range all {
			out = append(out, j.ID)
		}
		return out
	}
	want := []string{long, a[3], a[4], b1, b2, running}
	if got := ids(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("kept %v, want %v", got, want)
	}
	c.t = c.t.Add(time.Minute)
	l, err = Open(dir, Options{Now: c.now, KeepPerClient: 2}) // "running" is finalised as failed, ending now
	must(t, err)
	want = []string{long, b1, b2, running}
	if got := ids(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("reopened with 2: kept %v, want %v", got, want)
	}

	// List while other goroutines' Finish trims.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := l.Start(Job{Client: "c", Kind: Full})
				if err == nil {
					err = l.Finish(id, Succeeded, "", nil)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 200 {
		if _, err := l.List(); err != nil {
			t.Errorf("List during trims: %v", err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
