package memfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"testing"

	"keep/engine/repo/memfs"
)

// The repo.FS contract and the durability model are covered by
// engine/repo/storetest (TestMemFS there); these tests cover the fault
// injection API.

func TestFailAt(t *testing.T) {
	m := memfs.New(1)
	if err := m.Mkdir("a"); err != nil {
		t.Fatal(err)
	}
	if got := m.Ops(); got != 1 {
		t.Fatalf("Ops() = %d after one Mkdir", got)
	}
	m.FailAt(3, false) // the 3rd operation and every later one
	if err := m.Mkdir("b"); err != nil {
		t.Fatalf("2nd operation: %v", err)
	}
	for _, name := range []string{"c", "d"} {
		if err := m.Mkdir(name); !errors.Is(err, memfs.ErrInjected) {
			t.Fatalf("Mkdir(%s) after the failure point: %v, want ErrInjected", name, err)
		}
	}
	if _, err := m.ReadDir("c"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Mkdir created its directory: %v", err)
	}
	if _, err := m.ReadDir("."); err != nil { // reads never fail
		t.Fatal(err)
	}
	m.FailAt(0, false)
	if err := m.Mkdir("e"); err != nil {
		t.Fatalf("after FailAt(0): %v", err)
	}
}

func TestFailAfterOnce(t *testing.T) {
	m := memfs.New(2)
	f, err := m.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	m.FailAfter(1, true) // the next operation only
	p := bytes.Repeat([]byte("x"), 1000)
	n, err := f.Write(p)
	if !errors.Is(err, memfs.ErrInjected) || n > len(p) {
		t.Fatalf("failing Write: %d, %v", n, err)
	}
	if _, err := f.Write([]byte("y")); err != nil {
		t.Fatalf("Write after the one failure: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := m.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n+1)
	if k, _ := r.ReadAt(got, 0); k != n+1 || !bytes.Equal(got, append(p[:n:n], 'y')) {
		t.Fatalf("file holds %q, want the failing Write's prefix of %d bytes, then y", got[:k], n)
	}
}

func TestCrashProcess(t *testing.T) {
	m := memfs.New(3)
	f, err := m.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("unsynced")); err != nil {
		t.Fatal(err)
	}
	m.FailAt(m.Ops()+1, false)
	m.CrashProcess()
	if _, err := f.Write([]byte("more")); !errors.Is(err, memfs.ErrStale) {
		t.Fatalf("Write of a dead process's handle: %v, want ErrStale", err)
	}
	if err := m.Mkdir("d"); err != nil {
		t.Fatalf("faults outlived the process: %v", err)
	}
	r, err := m.Open("f") // a process crash loses nothing
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	if n, _ := r.ReadAt(got, 0); string(got[:n]) != "unsynced" {
		t.Fatalf("after the crash: %q", got[:n])
	}
}

// TestPowerLossForgets: what was never synced is lost on some power losses
// and kept on others, depending on the seed.
func TestPowerLossForgets(t *testing.T) {
	kept, lost := 0, 0
	for seed := range uint64(20) {
		m := memfs.New(seed)
		f, err := m.Create("f")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		m.PowerLoss()
		if _, err := m.Open("f"); err == nil {
			kept++
		} else if errors.Is(err, fs.ErrNotExist) {
			lost++
		} else {
			t.Fatal(err)
		}
	}
	if kept == 0 || lost == 0 {
		t.Fatalf("an unsynced file was kept %d and lost %d times in 20 power losses", kept, lost)
	}
}

func TestCorrupt(t *testing.T) {
	m := memfs.New(4)
	f, err := m.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	ops := m.Ops()
	if err := m.Corrupt("f", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Corrupt("f", 3); err == nil {
		t.Fatal("Corrupt past the end succeeded")
	}
	if m.Ops() != ops {
		t.Fatal("Corrupt counted as a mutating operation")
	}
	_ = f.Close()
	if err := m.SyncDir("."); err != nil {
		t.Fatal(err)
	}
	m.PowerLoss() // the damage is in the durable content too
	r, err := m.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if n, _ := r.ReadAt(got, 0); n != 3 || string(got) != "aBc" {
		t.Fatalf("after Corrupt and a power loss: %q", got[:n])
	}
}
