package events

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keep/appliance/clock"
)

type fault int32

const (
	healthy    fault = iota
	failWrite        // nothing reaches the file
	shortWrite       // half a batch reaches the file, then an error
	failSync         // writes land, fsync fails
)

// faultyFile is a journal file that fails on cue (kopia's faulty-storage
// pattern): the seam is Journal.open.
type faultyFile struct {
	storageFile
	mode atomic.Int32
}

func (f *faultyFile) Write(b []byte) (int, error) {
	switch fault(f.mode.Load()) {
	case failWrite:
		return 0, syscall.ENOSPC
	case shortWrite:
		n, _ := f.storageFile.Write(b[:len(b)/2])
		return n, syscall.EIO
	}
	return f.storageFile.Write(b)
}

func (f *faultyFile) Sync() error {
	if fault(f.mode.Load()) == failSync {
		return syscall.EIO
	}
	return f.storageFile.Sync()
}

func TestPersistFaultsAreReportedOnceAndRecovered(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mode  fault
		errno syscall.Errno
	}{
		{"write fails", failWrite, syscall.ENOSPC},
		{"short write", shortWrite, syscall.EIO},
		{"fsync fails", failSync, syscall.EIO},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			path := filepath.Join(t.TempDir(), "events.jsonl")
			j := NewJournal(Options{Boot: "A", Clock: clock.NewFake(time.Unix(1e9, 0))})
			ff := &faultyFile{}
			j.open = func(p string, truncate bool) (storageFile, error) {
				f, err := openFile(p, truncate)
				if err != nil {
					return nil, err
				}
				ff.storageFile = f
				return ff, nil
			}
			if _, err := j.AttachFile(path); err != nil {
				t.Fatal(err)
			}
			ff.mode.Store(int32(tt.mode))
			j.Emit(Event{Severity: Warning, Kind: "disk.a"})
			if err := j.Sync(ctx); !errors.Is(err, tt.errno) {
				t.Fatalf("Sync = %v, want %v", err, tt.errno)
			}
			j.Emit(Event{Severity: Warning, Kind: "disk.b"})
			if err := j.Sync(ctx); !errors.Is(err, tt.errno) {
				t.Fatalf("second Sync = %v", err)
			}
			if st := j.Stats(); st.PersistError == "" {
				t.Errorf("Stats.PersistError empty while failing")
			}

			ff.mode.Store(int32(healthy))
			j.Emit(Event{Kind: "disk.c"})
			if err := j.Sync(ctx); err != nil {
				t.Fatalf("Sync after recovery = %v", err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if n := len(j.Query(Filter{Kind: "journal.persist_failed"})); n != 1 {
				t.Errorf("%d persist_failed events, want 1", n)
			}
			if n := len(j.Query(Filter{Kind: "journal.persist_recovered"})); n != 1 {
				t.Errorf("%d persist_recovered events, want 1", n)
			}
			// Nothing lost, nothing doubled, no torn line left by the failures.
			hist, rep, err := ReadHistory(path, Filter{})
			if err != nil || rep.Corrupt != 0 || rep.Torn {
				t.Fatalf("history: %v %+v", err, rep)
			}
			if st := j.Stats(); len(hist) != int(st.Emitted) {
				t.Errorf("file holds %d events, journal emitted %d", len(hist), st.Emitted)
			}
			for i, e := range hist {
				if e.Seq != uint64(i+1) {
					t.Fatalf("file seq %d at position %d", e.Seq, i)
				}
			}
		})
	}
}
