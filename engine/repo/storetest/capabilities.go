package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"keep/engine/pack"
	"keep/engine/repo"
)

// testPowerLoss: what was made durable survives a simulated power loss.
func (s *suite) testPowerLoss(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys repo.FS, pl PowerLosser)
	}{
		{"SyncedFile", powerSyncedFile},
		{"SyncedPrefix", powerSyncedPrefix},
		{"Rename", powerRename},
		{"Remove", powerRemove},
		{"Mkdir", powerMkdir},
		{"LockReleased", powerLock},
		{"Repeated", powerRepeated},
		{"Repo", powerRepo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, pl := capable[PowerLosser](t, s, "PowerLosser")
			tt.fn(t, fsys, pl)
		})
	}
}

// powerSyncedFile: a file written as the repository writes it (synced
// content, renamed, directory synced) survives; so does its directory,
// created and synced in its parent.
func powerSyncedFile(t *testing.T, fsys repo.FS, pl PowerLosser) {
	layout(t, fsys)
	mkdir(t, fsys, "data/ab")
	syncDir(t, fsys, "data")
	name := "data/ab/" + hexName(1)
	data := content(1, 10000)
	writeDurably(t, fsys, name, "data/ab", data)
	writeDurably(t, fsys, "config", ".", []byte("config"))
	pl.PowerLoss()
	mustContain(t, fsys, name, data)
	mustContain(t, fsys, "config", []byte("config"))
}

// powerSyncedPrefix: writes after the last Sync may be lost, but the
// synced content stays.
func powerSyncedPrefix(t *testing.T, fsys repo.FS, pl PowerLosser) {
	synced, later := content(2, 3000), content(3, 3000)
	f, err := fsys.Create("config")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(synced); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(later); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, fsys, ".")
	pl.PowerLoss()
	got := mustRead(t, fsys, "config")
	if !bytes.HasPrefix(got, synced) {
		t.Fatalf("after the power loss the file holds %d bytes without its %d synced ones", len(got), len(synced))
	}
}

// powerRename: a rename over an existing file, its directory synced,
// survives with the new content.
func powerRename(t *testing.T, fsys repo.FS, pl PowerLosser) {
	layout(t, fsys)
	writeDurably(t, fsys, "index/a", "index", []byte("old"))
	create(t, fsys, "tmp/new", []byte("new"), true)
	if err := fsys.Rename("tmp/new", "index/a"); err != nil {
		t.Fatal(err)
	}
	syncDir(t, fsys, "index")
	pl.PowerLoss()
	mustContain(t, fsys, "index/a", []byte("new"))
}

// powerRemove: a removal, its directory synced, survives.
func powerRemove(t *testing.T, fsys repo.FS, pl PowerLosser) {
	layout(t, fsys)
	writeDurably(t, fsys, "index/a", "index", []byte("a"))
	writeDurably(t, fsys, "index/b", "index", []byte("b"))
	if err := fsys.Remove("index/a"); err != nil {
		t.Fatal(err)
	}
	syncDir(t, fsys, "index")
	pl.PowerLoss()
	mustNotExist(t, fsys, "index/a")
	mustContain(t, fsys, "index/b", []byte("b"))
}

// powerMkdir: directories created and synced in their parents survive.
func powerMkdir(t *testing.T, fsys repo.FS, pl PowerLosser) {
	mkdir(t, fsys, "data")
	syncDir(t, fsys, ".")
	mkdir(t, fsys, "data/00")
	mkdir(t, fsys, "data/ff")
	syncDir(t, fsys, "data")
	pl.PowerLoss()
	mustList(t, fsys, "data", "00", "ff")
	mustList(t, fsys, "data/ff")
}

// powerLock: the holder's process died with the power, so the lock is
// free.
func powerLock(t *testing.T, fsys repo.FS, pl PowerLosser) {
	if _, err := fsys.Lock("lock"); err != nil {
		t.Fatal(err)
	}
	pl.PowerLoss()
	l, err := fsys.Lock("lock")
	if err != nil {
		t.Fatalf("Lock after the power loss: %v", err)
	}
	_ = l.Close()
}

// powerRepeated: rounds of durable files and unsynced junk, each ended by
// a power loss; every durable file of every round survives them all.
func powerRepeated(t *testing.T, fsys repo.FS, pl PowerLosser) {
	layout(t, fsys)
	durable := map[string][]byte{}
	for round := range 5 {
		for i := range 4 {
			seed := uint64(round*10 + i)
			name := "index/" + hexName(seed)
			durable[name] = content(seed, 500*i)
			writeDurably(t, fsys, name, "index", durable[name])
			// Junk that is never made durable.
			junk := fmt.Sprintf("tmp/pack-%d-%d", round, i)
			create(t, fsys, junk, content(seed+100, 700), false)
			if err := fsys.Rename(junk, "index/"+hexName(seed+1000)); err != nil {
				t.Fatal(err)
			}
		}
		pl.PowerLoss()
		for name, data := range durable {
			mustContain(t, fsys, name, data)
		}
		// Whatever junk survived may be cleared, as repo.Open clears tmp/.
		for _, n := range list(t, fsys, "tmp") {
			if err := fsys.Remove(n); err != nil {
				t.Fatal(err)
			}
		}
		syncDir(t, fsys, "tmp")
	}
}

// powerRepo: every blob whose Flush returned nil survives a power loss,
// round after round, and the repository checks clean.
func powerRepo(t *testing.T, fsys repo.FS, pl PowerLosser) {
	st := newStore(t, fsys)
	st.opts.PackSize = 4 << 10
	r := st.init()
	var flushed []blob
	for round := range uint64(4) {
		bs := st.blobs(round*100, 30)
		for _, b := range bs[:20] {
			put(t, r, b)
		}
		flush(t, r)
		flushed = append(flushed, bs[:20]...)
		for _, b := range bs[20:] { // accepted, never flushed
			put(t, r, b)
		}
		pl.PowerLoss() // the Repo dies unclosed
		r = st.open()
		for _, b := range flushed {
			mustGet(t, r, b)
		}
		mustCheck(t, r)
	}
	closeRepo(t, r)
}

// testProcessCrash: the death of the process using the FS releases its
// locks and keeps what it made durable.
func (s *suite) testProcessCrash(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys repo.FS, pc ProcessCrasher)
	}{
		{"LockReleased", crashLock},
		{"SyncedKept", crashSynced},
		{"Repo", crashRepo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, pc := capable[ProcessCrasher](t, s, "ProcessCrasher")
			tt.fn(t, fsys, pc)
		})
	}
}

func crashLock(t *testing.T, fsys repo.FS, pc ProcessCrasher) {
	if _, err := fsys.Lock("lock"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Lock("lock"); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("second Lock: %v, want repo.ErrLocked", err)
	}
	pc.CrashProcess()
	l, err := fsys.Lock("lock")
	if err != nil {
		t.Fatalf("Lock after the holder's process died: %v", err)
	}
	_ = l.Close()
}

func crashSynced(t *testing.T, fsys repo.FS, pc ProcessCrasher) {
	layout(t, fsys)
	data := content(5, 2000)
	writeDurably(t, fsys, "index/"+hexName(5), "index", data)
	pc.CrashProcess()
	mustContain(t, fsys, "index/"+hexName(5), data)
}

// crashRepo: a writer dies holding the lock with unflushed blobs; the
// next Open takes the lock, repairs, and has every flushed blob.
func crashRepo(t *testing.T, fsys repo.FS, pc ProcessCrasher) {
	st := newStore(t, fsys)
	st.opts.PackSize = 4 << 10
	r := st.init()
	bs := st.blobs(0, 40)
	for _, b := range bs[:30] {
		put(t, r, b)
	}
	flush(t, r)
	for _, b := range bs[30:] {
		put(t, r, b)
	}
	pc.CrashProcess()
	r = st.open()
	for _, b := range bs[:30] {
		mustGet(t, r, b)
	}
	mustCheck(t, r)
	nb := st.blob(pack.Data, []byte("after the crash"))
	put(t, r, nb)
	closeRepo(t, r)
	r = st.open()
	defer closeRepo(t, r)
	mustGet(t, r, nb)
}

// testCorrupt: damaged stored bytes are seen, and the repository reports
// or repairs them.
func (s *suite) testCorrupt(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys repo.FS, c Corrupter)
	}{
		{"Read", corruptRead},
		{"Pack", corruptPack},
		{"PackHeader", corruptPackHeader},
		{"IndexFile", corruptIndex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, c := capable[Corrupter](t, s, "Corrupter")
			tt.fn(t, fsys, c)
		})
	}
}

// corruptRead: Corrupt changes exactly the byte it names, from the start
// or the end, and fails for a missing file.
func corruptRead(t *testing.T, fsys repo.FS, c Corrupter) {
	data := content(6, 1000)
	create(t, fsys, "config", data, true)
	if err := c.Corrupt("config", 10); err != nil {
		t.Fatal(err)
	}
	if err := c.Corrupt("config", -1); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, fsys, "config")
	if len(got) != len(data) {
		t.Fatalf("Corrupt changed the size from %d to %d", len(data), len(got))
	}
	for i := range got {
		if (got[i] != data[i]) != (i == 10 || i == len(data)-1) {
			t.Fatalf("byte %d: %#x, was %#x", i, got[i], data[i])
		}
	}
	if err := c.Corrupt("missing", 0); err == nil {
		t.Fatal("Corrupt of a missing file succeeded")
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Corrupt of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// corruptPack: a damaged blob reads as repo.ErrCorrupt, the others of its
// pack read fine, and Check names the pack.
func corruptPack(t *testing.T, fsys repo.FS, c Corrupter) {
	st := newStore(t, fsys)
	bs := st.filled()
	victim := packs(t, fsys)[0]
	if err := c.Corrupt(victim, 100); err != nil { // inside the pack's first blob
		t.Fatal(err)
	}
	r := st.open()
	defer closeRepo(t, r)
	corrupt := 0
	for _, b := range bs {
		got, err := r.Get(t.Context(), b.t, b.id, nil)
		switch {
		case errors.Is(err, repo.ErrCorrupt):
			corrupt++
		case err != nil:
			t.Fatalf("Get %v: %v", b, err)
		case !bytes.Equal(got, b.data):
			t.Fatalf("Get %v: wrong data without an error", b)
		}
	}
	if corrupt != 1 {
		t.Fatalf("%d blobs read as corrupt, want 1", corrupt)
	}
	rep, err := r.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := victim[strings.LastIndexByte(victim, '/')+1:]
	if rep.OK() || !strings.Contains(fmt.Sprint(rep.Problems), base) {
		t.Fatalf("Check after damaging pack %s: %d problems %v", base, rep.Damaged, rep.Problems)
	}
}

// corruptPackHeader: with its header damaged, a pack's blobs still read
// through the index, and Check reports the pack.
func corruptPackHeader(t *testing.T, fsys repo.FS, c Corrupter) {
	st := newStore(t, fsys)
	bs := st.filled()
	victim := packs(t, fsys)[0]
	if err := c.Corrupt(victim, -20); err != nil { // in the sealed header
		t.Fatal(err)
	}
	r := st.open()
	defer closeRepo(t, r)
	for _, b := range bs {
		mustGet(t, r, b)
	}
	rep, err := r.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Blobs != len(bs) {
		t.Fatalf("Check after damaging a pack header: %d problems, %d of %d blobs verified", rep.Damaged, rep.Blobs, len(bs))
	}
}

// corruptIndex: a damaged index file is replaced by one rebuilt from the
// packs, and nothing is lost.
func corruptIndex(t *testing.T, fsys repo.FS, c Corrupter) {
	st := newStore(t, fsys)
	bs := st.filled()
	idx := list(t, fsys, "index")
	victim := idx[0]
	f, err := fsys.Open(victim)
	if err != nil {
		t.Fatal(err)
	}
	size, err := f.Size()
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Corrupt(victim, size/2); err != nil {
		t.Fatal(err)
	}
	r := st.open()
	for _, b := range bs {
		mustGet(t, r, b)
	}
	mustCheck(t, r)
	closeRepo(t, r)
	mustNotExist(t, fsys, victim)
	r = st.open()
	defer closeRepo(t, r)
	if got := r.Stats().Blobs; got != len(bs) {
		t.Fatalf("Stats().Blobs after the repair = %d, want %d", got, len(bs))
	}
}
