package md

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"
)

func encode(t *testing.T, sb *Superblock) []byte {
	t.Helper()
	b, err := sb.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	sb := sample(t, 3)
	sb.FeatureMap |= FeatureRecoveryOffset | FeatureReshapeActive | FeatureNewOffset
	sb.RecoveryOffset = 4242
	sb.NewLevel = LevelRAID6
	sb.ReshapePosition = 1 << 33
	sb.DeltaDisks = -1
	sb.NewLayout = 18
	sb.NewChunk = 128
	sb.NewOffset = -2048
	sb.CntCorrectedRead = 7
	sb.DevFlags = DevFlagWriteMostly | DevFlagFailFast
	sb.BBLogShift = 3
	sb.BBLogOffset = -8
	sb.CTime = NewTime(time.Unix(1700000000, 123456000))
	b := encode(t, sb)
	if len(b) != 256+2*128 {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	sb.Checksum = binary.LittleEndian.Uint32(b[216:])
	if !reflect.DeepEqual(got, sb) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, sb)
	}
	if got.CTime.Microseconds() != 123456 || got.CTime.Seconds() != 1700000000 {
		t.Fatalf("ctime %d s %d µs", got.CTime.Seconds(), got.CTime.Microseconds())
	}
}

// Field offsets pinned against md_p.h, so a reordering cannot hide behind
// a symmetric encode/decode pair.
func TestLayoutOffsets(t *testing.T) {
	sb := sample(t, 2)
	b := encode(t, sb)
	le := binary.LittleEndian
	checks := []struct {
		name string
		off  int
		got  uint64
		want uint64
	}{
		{"magic", 0, uint64(le.Uint32(b[0:])), 0xa92b4efc},
		{"major_version", 4, uint64(le.Uint32(b[4:])), 1},
		{"feature_map", 8, uint64(le.Uint32(b[8:])), 1},
		{"level", 72, uint64(le.Uint32(b[72:])), 6},
		{"layout", 76, uint64(le.Uint32(b[76:])), 2},
		{"size", 80, le.Uint64(b[80:]), 126976},
		{"chunksize", 88, uint64(le.Uint32(b[88:])), 1024},
		{"raid_disks", 92, uint64(le.Uint32(b[92:])), 5},
		{"bitmap_offset", 96, uint64(le.Uint32(b[96:])), 8},
		{"data_offset", 128, le.Uint64(b[128:]), 4096},
		{"data_size", 136, le.Uint64(b[136:]), 126976},
		{"super_offset", 144, le.Uint64(b[144:]), 8},
		{"dev_number", 160, uint64(le.Uint32(b[160:])), 2},
		{"bblog_size", 186, uint64(le.Uint16(b[186:])), 8},
		{"bblog_offset", 188, uint64(le.Uint32(b[188:])), 16},
		{"events", 200, le.Uint64(b[200:]), 18},
		{"resync_offset", 208, le.Uint64(b[208:]), ResyncDone},
		{"max_dev", 220, uint64(le.Uint32(b[220:])), 128},
		{"dev_roles[2]", 260, uint64(le.Uint16(b[260:])), 2},
		{"dev_roles[5]", 266, uint64(le.Uint16(b[266:])), 0xffff},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s at %d = %#x, want %#x", c.name, c.off, c.got, c.want)
		}
	}
	if !bytes.Equal(b[32:41], []byte("keep:data")) || b[41] != 0 {
		t.Errorf("set_name = %q", b[32:64])
	}
}

// TestChecksumGolden pins a checksum mdadm --examine reported "correct"
// for this superblock (TestExamineAcceptsOurSuperblocks, dev0).
func TestChecksumGolden(t *testing.T) {
	sb := sample(t, 0)
	sb.FeatureMap, sb.BitmapOffset = 0, 0
	if got := Checksum(encode(t, sb)); got != 0xcde158a1 {
		t.Fatalf("checksum %#x, want 0xcde158a1 (mdadm-verified)", got)
	}
}

func TestChecksumFoldsCarry(t *testing.T) {
	b := make([]byte, 258) // odd max_dev: a trailing 16-bit word
	for i := range b {
		b[i] = 0xff
	}
	// 63 words of 0xffffffff (csum word skipped) + 0xffff.
	sum := uint64(63)*0xffffffff + 0xffff
	want := uint32(sum&0xffffffff + sum>>32)
	if got := Checksum(b); got != want {
		t.Fatalf("got %#x want %#x", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, sample(t, 1))
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	reseal := func(b []byte) {
		binary.LittleEndian.PutUint32(b[216:], Checksum(b[:256+2*int(binary.LittleEndian.Uint32(b[220:]))]))
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", good[:255], ErrTruncated},
		{"short roles", good[:300], ErrTruncated},
		{"zeros", make([]byte, 4096), ErrBadMagic},
		{"version 0", mutate(func(b []byte) { b[4] = 0 }), ErrUnsupportedVersion},
		{"version 2", mutate(func(b []byte) { b[4] = 2 }), ErrUnsupportedVersion},
		{"bad checksum", mutate(func(b []byte) { b[216] ^= 1 }), ErrBadChecksum},
		{"flipped data", mutate(func(b []byte) { b[100] ^= 0x80 }), ErrBadChecksum},
		{"flipped role", mutate(func(b []byte) { b[300] ^= 1 }), ErrBadChecksum},
		{"max_dev too big", mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[220:], 1921) }), ErrInvalid},
		{"unknown feature", mutate(func(b []byte) { b[9] = 0x20; reseal(b) }), ErrUnsupportedFeature},
		{"pad0", mutate(func(b []byte) { b[12] = 1; reseal(b) }), ErrInvalid},
		{"pad3", mutate(func(b []byte) { b[255] = 1; reseal(b) }), ErrInvalid},
		{"data_size", mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[136:], 9); reseal(b) }), ErrInvalid},
		{"raid0 layout on raid6", mutate(func(b []byte) { b[9] = 0x10; reseal(b) }), ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Superblock)
		want error
	}{
		{"too many roles", func(sb *Superblock) { sb.DevRoles = make([]Role, MaxDevs+1) }, ErrInvalid},
		{"unknown feature", func(sb *Superblock) { sb.FeatureMap |= 1 << 20 }, ErrUnsupportedFeature},
		{"tiny data", func(sb *Superblock) { sb.DataSize = 0 }, ErrInvalid},
	}
	for _, c := range cases {
		sb := sample(t, 0)
		c.mod(sb)
		if _, err := sb.Encode(); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	sb := sample(t, 4)
	if sb.Role() != 4 {
		t.Errorf("role %v", sb.Role())
	}
	sb.DevNumber = 500
	if sb.Role() != RoleSpare {
		t.Errorf("out-of-table dev_number: role %v, want spare", sb.Role())
	}
	if sb.Name() != "keep:data" {
		t.Errorf("name %q", sb.Name())
	}
	if sb.SetNameString(string(make([]byte, 33))) {
		t.Error("33-byte name accepted")
	}
	sb.BitmapOffset = int32(uint32(0x0100fff8)) // ppl: offset -8, size 256
	if off, size := sb.PPL(); off != -8 || size != 256 {
		t.Errorf("ppl %d %d", off, size)
	}
	for _, c := range []struct {
		level  Level
		layout uint32
		disks  uint32
		want   uint64
	}{
		{LevelRAID5, 2, 5, 4 * 126976},
		{LevelRAID6, 2, 7, 5 * 126976},
		{LevelRAID10, 0x102, 8, 4 * 126976},
		{LevelRAID10, 0x102, 3, 124 * 1024 * 3 / 2},
		{LevelRAID1, 0, 2, 126976},
		{LevelRAID0, 0, 4, 0},
	} {
		sb.Level, sb.Layout, sb.RaidDisks = c.level, c.layout, c.disks
		if got := sb.ArraySectors(); got != c.want {
			t.Errorf("%s/%#x/%d: %d sectors, want %d", c.level, c.layout, c.disks, got, c.want)
		}
	}
}

func TestUUIDAndTime(t *testing.T) {
	u, err := ParseUUID("5ac31197:425ac311:97425ac3:1197425a")
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != "5ac31197:425ac311:97425ac3:1197425a" {
		t.Fatal(u)
	}
	if _, err := ParseUUID("zz"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := NewUUID(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Fatal("short random source accepted")
	}
	tm := NewTime(time.Unix(1<<41, 0))
	if tm.Seconds() != 1<<40-1 {
		t.Fatalf("not clamped: %d", tm.Seconds())
	}
	if NewTime(time.Unix(-5, 0)).Seconds() != 0 {
		t.Fatal("negative not clamped")
	}
	want := time.Unix(1700000000, 5000).UTC()
	if got := NewTime(want).Time(); !got.Equal(want) {
		t.Fatalf("%v != %v", got, want)
	}
}

type failingRW struct{}

func (failingRW) ReadAt([]byte, int64) (int, error)  { return 0, errors.New("EIO") }
func (failingRW) WriteAt([]byte, int64) (int, error) { return 0, errors.New("EIO") }

func TestReadWriteMember(t *testing.T) {
	dev := newMemDev(64 << 10)
	sb := sample(t, 1)
	if err := Write(dev, sb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dev.b[:4096], make([]byte, 4096)) {
		t.Fatal("wrote before 4 KiB")
	}
	got, err := Read(dev)
	if err != nil {
		t.Fatal(err)
	}
	if got.SetUUID != sb.SetUUID || got.DevNumber != 1 {
		t.Fatalf("%+v", got)
	}
	if _, err := Read(newMemDev(8192)); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("blank: %v", err)
	}
	if _, err := Read(newMemDev(4096)); !errors.Is(err, ErrTruncated) {
		t.Fatalf("tiny: %v", err)
	}
	if _, err := Read(failingRW{}); err == nil {
		t.Fatal("EIO swallowed")
	}
	if err := Write(failingRW{}, sb); err == nil {
		t.Fatal("EIO swallowed")
	}
	sb.SuperOffset = 0
	if err := Write(dev, sb); !errors.Is(err, ErrInvalid) {
		t.Fatalf("1.1 offset: %v", err)
	}
	// A superblock claiming another location, or data over the superblock.
	for _, mod := range []func(*Superblock){
		func(s *Superblock) { s.SuperOffset = 0 },
		func(s *Superblock) { s.DataOffset = 8 },
	} {
		s := sample(t, 1)
		mod(s)
		b := encode(t, s)
		d := newMemDev(64 << 10)
		copy(d.b[4096:], b)
		if _, err := Read(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("read: %v, want ErrInvalid", err)
		}
	}
}
