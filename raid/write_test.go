package raid

import (
	"errors"
	"fmt"
	"testing"

	"keep/raid/md"
)

// memDev is a member in memory that logs the order of writes and syncs,
// and can fail chosen calls (kopia's faulty-fake pattern).
type memDev struct {
	name      string
	b         []byte
	log       *[]string
	failWrite int // fail the n-th write (1-based); 0 never
	failSync  bool
	writes    int
}

func (d *memDev) ReadAt(p []byte, off int64) (int, error) { return copy(p, d.b[off:]), nil }

func (d *memDev) WriteAt(p []byte, off int64) (int, error) {
	d.writes++
	if d.writes == d.failWrite {
		return 0, errors.New("EIO")
	}
	*d.log = append(*d.log, fmt.Sprintf("%s write %d", d.name, off))
	return copy(d.b[off:], p), nil
}

func (d *memDev) Sync() error {
	if d.failSync {
		return errors.New("EIO on flush")
	}
	*d.log = append(*d.log, d.name+" sync")
	return nil
}

func newDevs(n int, log *[]string) ([]*memDev, []MemberDevice) {
	var mds []*memDev
	var devs []MemberDevice
	for i := 0; i < n; i++ {
		d := &memDev{name: fmt.Sprint("d", i), b: make([]byte, 1<<20), log: log}
		mds = append(mds, d)
		devs = append(devs, d)
	}
	return mds, devs
}

func TestWriteMembersOrder(t *testing.T) {
	p, err := NewPlan(Spec{Name: "w", Level: md.LevelRAID5, Members: 3, Bitmap: true,
		DeviceSectors: sizes(3, mib64)}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	mds, devs := newDevs(3, &log)
	if err := WriteMembers(p, devs); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d0 write 8192", "d0 sync", "d1 write 8192", "d1 sync", "d2 write 8192", "d2 sync",
		"d0 write 4096", "d0 sync", "d1 write 4096", "d1 sync", "d2 write 4096", "d2 sync",
	}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Fatalf("order:\n got %v\nwant %v", log, want)
	}
	for i, d := range mds {
		sb, err := md.Read(d)
		if err != nil || sb.DevNumber != uint32(i) || sb.SetUUID != p.ArrayUUID {
			t.Fatalf("dev %d: %v", i, err)
		}
		bm, err := md.ReadBitmap(d, sb)
		if err != nil || bm.UUID != p.ArrayUUID {
			t.Fatalf("dev %d bitmap: %v", i, err)
		}
	}
}

func TestWriteMembersStopsOnError(t *testing.T) {
	p, err := NewPlan(Spec{Name: "w", Level: md.LevelRAID5, Members: 3, Bitmap: true,
		DeviceSectors: sizes(3, mib64)}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	// Second device fails its superblock write: no superblock after it.
	var log []string
	mds, devs := newDevs(3, &log)
	mds[1].failWrite = 2
	if err := WriteMembers(p, devs); err == nil {
		t.Fatal("no error")
	}
	if _, err := md.Read(mds[2]); !errors.Is(err, md.ErrBadMagic) {
		t.Fatalf("d2 got a superblock after d1 failed: %v", err)
	}
	// A failed flush of a bitmap: no superblock anywhere.
	log = nil
	mds, devs = newDevs(3, &log)
	mds[0].failSync = true
	if err := WriteMembers(p, devs); err == nil {
		t.Fatal("no error")
	}
	for i, d := range mds {
		if _, err := md.Read(d); !errors.Is(err, md.ErrBadMagic) {
			t.Fatalf("d%d has a superblock: %v", i, err)
		}
	}
	if err := WriteMembers(p, devs[:2]); !errors.Is(err, ErrInvalidSpec) {
		t.Fatal(err)
	}
}
