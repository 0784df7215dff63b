package raid

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"keep/raid/md"
)

var testNow = time.Unix(1700000000, 987654321)

// rng is a deterministic "random" source for UUIDs.
func rng() *bytes.Reader {
	b := make([]byte, 16*200)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return bytes.NewReader(b)
}

func sizes(n int, s uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = s
	}
	return out
}

const mib64 = 64 << 20 >> 9 // 64 MiB in sectors

func TestPlanCompactTier(t *testing.T) {
	tier, err := TierByName("compact")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(tier.Spec("keep:data", sizes(tier.Disks(), mib64)), testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	if p.DataOffset != 4096 || p.ComponentSectors != 126976 || p.ArraySectors != 3*126976 {
		t.Fatalf("offset %d component %d array %d", p.DataOffset, p.ComponentSectors, p.ArraySectors)
	}
	if p.Bitmap == nil || p.Bitmap.Chunk != 64<<20 || p.Bitmap.SyncSize != 126976 || p.Bitmap.UUID != p.ArrayUUID {
		t.Fatalf("bitmap %+v", p.Bitmap)
	}
	if len(p.Superblocks) != 6 {
		t.Fatalf("%d superblocks", len(p.Superblocks))
	}
	devUUIDs := map[md.UUID]bool{}
	for i, sb := range p.Superblocks {
		wantRole := md.Role(i)
		if i == 5 {
			wantRole = md.RoleSpare
		}
		switch {
		case sb.Role() != wantRole, sb.DevNumber != uint32(i):
			t.Errorf("dev %d: role %v", i, sb.Role())
		case sb.SetUUID != p.ArrayUUID, sb.Name() != "keep:data":
			t.Errorf("dev %d: identity %s %q", i, sb.SetUUID, sb.Name())
		case sb.Level != md.LevelRAID6, sb.Layout != 2, sb.ChunkSize != 1024, sb.RaidDisks != 5:
			t.Errorf("dev %d: geometry", i)
		case sb.FeatureMap != md.FeatureBitmapOffset, sb.BitmapOffset != 8, sb.BBLogOffset != 16, sb.BBLogSize != 8:
			t.Errorf("dev %d: bitmap/bblog %v %d %d", i, sb.FeatureMap, sb.BitmapOffset, sb.BBLogOffset)
		case sb.DataSize != mib64-4096, sb.Size != 126976, sb.SuperOffset != 8:
			t.Errorf("dev %d: sizes", i)
		case sb.Events != 0, sb.ResyncOffset != 0:
			t.Errorf("dev %d: events %d resync %d", i, sb.Events, sb.ResyncOffset)
		case len(sb.DevRoles) != 128:
			t.Errorf("dev %d: max_dev %d", i, len(sb.DevRoles))
		case sb.CTime.Seconds() != 1700000000 || sb.CTime.Microseconds() != 0 || sb.UTime != sb.CTime:
			t.Errorf("dev %d: times", i)
		}
		devUUIDs[sb.DeviceUUID] = true
	}
	if len(devUUIDs) != 6 || devUUIDs[p.ArrayUUID] {
		t.Error("device UUIDs not distinct")
	}
	// Deterministic with the same inputs; independent copies of roles.
	q, _ := NewPlan(tier.Spec("keep:data", sizes(6, mib64)), testNow, rng())
	if q.ArrayUUID != p.ArrayUUID {
		t.Error("not deterministic")
	}
	q.Superblocks[0].DevRoles[0] = md.RoleFaulty
	if q.Superblocks[1].DevRoles[0] != 0 {
		t.Error("dev_roles shared between superblocks")
	}
}

func TestPlanLevels(t *testing.T) {
	cases := []struct {
		tier           string
		array, layout  uint64
		bitmapSync     uint64
		members, total int
	}{
		{"small", 3 * 126976, 2, 126976, 4, 5},
		{"standard", 4 * 126976, 2, 126976, 6, 7},
		{"performance", 4 * 126976, 0x102, 4 * 126976, 8, 8},
	}
	for _, c := range cases {
		tier, err := TierByName(c.tier)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlan(tier.Spec("keep:"+c.tier, sizes(tier.Disks(), mib64)), testNow, rng())
		if err != nil {
			t.Fatal(err)
		}
		if p.ArraySectors != c.array || uint64(p.Layout) != c.layout || p.Bitmap.SyncSize != c.bitmapSync ||
			len(p.Superblocks) != c.total || int(p.Superblocks[0].RaidDisks) != c.members {
			t.Errorf("%s: array %d layout %#x sync %d devices %d", c.tier, p.ArraySectors, p.Layout,
				p.Bitmap.SyncSize, len(p.Superblocks))
		}
	}
}

func TestPlanMixedSizes(t *testing.T) {
	devs := []uint64{mib64 * 2, mib64, mib64 + 5000, mib64 * 3}
	p, err := NewPlan(Spec{Name: "m", Level: md.LevelRAID5, Members: 4, DeviceSectors: devs}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	if p.ComponentSectors != 126976 {
		t.Fatalf("component %d: the smallest device rules", p.ComponentSectors)
	}
	for i, sb := range p.Superblocks {
		if sb.DataSize != devs[i]-p.DataOffset || sb.Size != 126976 {
			t.Errorf("dev %d: data_size %d size %d", i, sb.DataSize, sb.Size)
		}
		if sb.FeatureMap != 0 || sb.BBLogOffset != 16 {
			t.Errorf("dev %d: no bitmap expected, bblog after 8 reserved sectors: %v %d", i, sb.FeatureMap, sb.BBLogOffset)
		}
	}
}

func TestPlanAssumeCleanAndChunk(t *testing.T) {
	p, err := NewPlan(Spec{Name: "c", Level: md.LevelRAID10, Members: 3, ChunkKiB: 64, AssumeClean: true,
		DeviceSectors: sizes(3, mib64)}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	sb := p.Superblocks[0]
	if sb.ResyncOffset != md.ResyncDone || sb.ChunkSize != 128 || p.DataOffset != 2048 {
		t.Fatalf("resync %d chunk %d offset %d", sb.ResyncOffset, sb.ChunkSize, p.DataOffset)
	}
	// Odd RAID10: 3 members near-2 hold 1.5 members' worth.
	if p.ArraySectors != (mib64-2048)/128*3/2*128 {
		t.Fatalf("array %d", p.ArraySectors)
	}
}

func TestPlanErrors(t *testing.T) {
	ok := Spec{Name: "x", Level: md.LevelRAID6, Members: 4, Spares: 1, DeviceSectors: sizes(5, mib64)}
	cases := []struct {
		name string
		mod  func(*Spec)
		rnd  *bytes.Reader
		want error
	}{
		{"raid0", func(s *Spec) { s.Level = md.LevelRAID0 }, nil, ErrInvalidSpec},
		{"raid6 of 3", func(s *Spec) { s.Members, s.DeviceSectors = 3, sizes(4, mib64) }, nil, ErrInvalidSpec},
		{"sizes", func(s *Spec) { s.DeviceSectors = sizes(4, mib64) }, nil, ErrInvalidSpec},
		{"spares", func(s *Spec) { s.Spares = -1 }, nil, ErrInvalidSpec},
		{"name", func(s *Spec) { s.Name = string(make([]byte, 33)) }, nil, ErrInvalidSpec},
		{"chunk", func(s *Spec) { s.ChunkKiB = 96 }, nil, ErrInvalidSpec},
		{"tiny", func(s *Spec) { s.DeviceSectors[2] = 4000 }, nil, ErrDeviceTooSmall},
		{"no chunk after offset", func(s *Spec) { s.DeviceSectors[2] = 4096 + 1000 }, nil, ErrDeviceTooSmall},
		{"no randomness", func(s *Spec) {}, bytes.NewReader(nil), nil},
	}
	for _, c := range cases {
		s := ok
		s.DeviceSectors = sizes(5, mib64)
		c.mod(&s)
		rnd := c.rnd
		if rnd == nil {
			rnd = rng()
		}
		_, err := NewPlan(s, testNow, rnd)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := TierByName("huge"); !errors.Is(err, ErrUnknownTier) {
		t.Error(err)
	}
}
