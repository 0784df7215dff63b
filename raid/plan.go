package raid

import (
	"fmt"
	"io"
	"slices"
	"time"

	"keep/raid/md"
)

// DefaultChunkKiB is the chunk size when a spec leaves it 0 (mdadm's).
const DefaultChunkKiB = 512

// Spec describes a new array.
type Spec struct {
	// Name is the md set_name (≤ 32 bytes), e.g. "keep:data"
	// (host:name, as mdadm writes it).
	Name     string
	Level    md.Level // RAID5, RAID6 or RAID10
	Members  int      // active members (raid_disks)
	Spares   int      // hot spares
	ChunkKiB uint32   // power of two ≥ 4; 0: DefaultChunkKiB
	Bitmap   bool     // internal write-intent bitmap
	// DeviceSectors are the sizes of the devices in 512-byte sectors,
	// members first (slot order) then spares: len = Members+Spares.
	DeviceSectors []uint64
	// AssumeClean marks the array in sync (resync_offset = MaxSector):
	// only for tests and for devices known to be zeroed. Otherwise the
	// kernel runs the initial resync when the array starts.
	AssumeClean bool
}

// Plan is a new array, computed but not yet written: one superblock per
// device (same index as Spec.DeviceSectors) and, with a bitmap, the bitmap
// superblock every member carries.
type Plan struct {
	ArrayUUID md.UUID
	Level     md.Level
	Layout    uint32
	// ChunkSectors is the md chunk size in sectors.
	ChunkSectors uint32
	// DataOffset is the first data sector on every member.
	DataOffset uint64
	// ComponentSectors is the used size of each member (chunk aligned,
	// set by the smallest device).
	ComponentSectors uint64
	// ArraySectors is the usable size of the array.
	ArraySectors uint64
	// Bitmap is nil without an internal bitmap.
	Bitmap      *md.Bitmap
	Superblocks []*md.Superblock
}

// NewPlan computes the array spec describes, the way mdadm 4.2 would
// create it with --metadata=1.2 (data offset, sizes, bitmap chunk,
// bad-block log), with UUIDs from rnd (crypto/rand.Reader in production)
// and ctime/utime now (whole seconds, as mdadm and the kernel write them).
// It is a pure function: nothing is written.
func NewPlan(spec Spec, now time.Time, rnd io.Reader) (*Plan, error) {
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("plan %q: %w", spec.Name, err)
	}
	chunkKiB := spec.ChunkKiB
	if chunkKiB == 0 {
		chunkKiB = DefaultChunkKiB
	}
	chunk := uint64(chunkKiB) * 2
	// mdadm picks the data offset from the first device; Keep uses the
	// smallest so every member has room (the same for identical disks).
	smallest := slices.Min(spec.DeviceSectors)
	p := &Plan{
		Level:        spec.Level,
		Layout:       layoutFor(spec.Level),
		ChunkSectors: uint32(chunk),
		DataOffset:   dataOffset(smallest, chunk),
	}
	if smallest <= p.DataOffset {
		return nil, fmt.Errorf("plan %q: %d sectors, data starts at %d: %w",
			spec.Name, smallest, p.DataOffset, ErrDeviceTooSmall)
	}
	p.ComponentSectors = (smallest - p.DataOffset) / chunk * chunk
	if p.ComponentSectors == 0 {
		return nil, fmt.Errorf("plan %q: no whole chunk after the metadata: %w", spec.Name, ErrDeviceTooSmall)
	}
	var err error
	if p.ArrayUUID, err = md.NewUUID(rnd); err != nil {
		return nil, fmt.Errorf("plan %q: %w", spec.Name, err)
	}
	tmpl := p.template(spec, now)
	p.ArraySectors = tmpl.ArraySectors()
	reserved := bitmapSpace(p.ComponentSectors)
	if spec.Bitmap {
		if p.Bitmap, err = p.newBitmap(spec); err != nil {
			return nil, fmt.Errorf("plan %q: %w", spec.Name, err)
		}
		tmpl.FeatureMap |= md.FeatureBitmapOffset
		tmpl.BitmapOffset = bitmapOffset
		reserved = p.Bitmap.Sectors()
	}
	if spec.Bitmap && md.V12SuperOffset+bitmapOffset+reserved > p.DataOffset {
		return nil, fmt.Errorf("plan %q: no room for the bitmap before the data: %w", spec.Name, ErrDeviceTooSmall)
	}
	tmpl.BBLogOffset, tmpl.BBLogSize = badBlockLog(p.DataOffset, reserved)
	for i, size := range spec.DeviceSectors {
		sb := *tmpl
		sb.DevRoles = slices.Clone(tmpl.DevRoles)
		sb.DevNumber = uint32(i)
		sb.DataSize = size - p.DataOffset
		if sb.DeviceUUID, err = md.NewUUID(rnd); err != nil {
			return nil, fmt.Errorf("plan %q: device %d: %w", spec.Name, i, err)
		}
		p.Superblocks = append(p.Superblocks, &sb)
	}
	return p, nil
}

// template is the superblock every member shares.
func (p *Plan) template(spec Spec, now time.Time) *md.Superblock {
	t := md.NewTime(now.Truncate(time.Second))
	sb := &md.Superblock{
		SetUUID:     p.ArrayUUID,
		CTime:       t,
		Level:       spec.Level,
		Layout:      p.Layout,
		Size:        p.ComponentSectors,
		ChunkSize:   p.ChunkSectors,
		RaidDisks:   uint32(spec.Members),
		DataOffset:  p.DataOffset,
		SuperOffset: md.V12SuperOffset,
		UTime:       t,
		// mdadm writes 0; the kernel bumps it when it first starts the array.
		Events:   0,
		DevRoles: newRoles(spec.Members, spec.Spares),
	}
	sb.SetNameString(spec.Name)
	if spec.AssumeClean {
		sb.ResyncOffset = md.ResyncDone
	}
	return sb
}

// newRoles is mdadm's dev_roles table: max_dev rounds 256+2*devices up to a
// whole sector (128 entries for up to 128 devices); slots for the members,
// spare for everything else.
func newRoles(members, spares int) []md.Role {
	bytes := md.HeaderSize + 2*(members+spares)
	bytes = (bytes + md.SectorSize - 1) / md.SectorSize * md.SectorSize
	roles := make([]md.Role, (bytes-md.HeaderSize)/2)
	for i := range roles {
		roles[i] = md.RoleSpare
		if i < members {
			roles[i] = md.Role(i)
		}
	}
	return roles
}

// newBitmap sizes the internal bitmap as mdadm does: it covers the resync
// range (the component; for RAID10 the array), chunk chosen to fit the
// reserved room.
func (p *Plan) newBitmap(spec Spec) (*md.Bitmap, error) {
	sync := p.ComponentSectors
	if spec.Level == md.LevelRAID10 {
		near, far := md.RAID10Copies(p.Layout)
		sync = sync * uint64(spec.Members) / uint64(near*far)
	}
	chunk, ok := bitmapChunk(sync, p.ComponentSectors)
	if !ok {
		return nil, fmt.Errorf("no room for an internal bitmap: %w", ErrDeviceTooSmall)
	}
	return &md.Bitmap{
		Version:     md.BitmapVersion,
		UUID:        p.ArrayUUID,
		SyncSize:    sync,
		Chunk:       chunk,
		DaemonSleep: md.DefaultDaemonSleep,
	}, nil
}

func layoutFor(l md.Level) uint32 {
	if l == md.LevelRAID10 {
		return md.LayoutRAID10Near2
	}
	return md.LayoutLeftSymmetric
}

// minMembers is the smallest array Keep creates per level.
func minMembers(l md.Level) int {
	switch l {
	case md.LevelRAID5:
		return 3
	case md.LevelRAID6:
		return 4
	case md.LevelRAID10:
		return 2
	}
	return 0
}

func (s Spec) validate() error {
	min := minMembers(s.Level)
	switch {
	case min == 0:
		return fmt.Errorf("level %s: Keep creates raid5, raid6, raid10: %w", s.Level, ErrInvalidSpec)
	case s.Members < min:
		return fmt.Errorf("%s needs at least %d members, got %d: %w", s.Level, min, s.Members, ErrInvalidSpec)
	case s.Spares < 0:
		return fmt.Errorf("%d spares: %w", s.Spares, ErrInvalidSpec)
	case s.Members+s.Spares > md.MaxDevs:
		return fmt.Errorf("%d devices > %d: %w", s.Members+s.Spares, md.MaxDevs, ErrInvalidSpec)
	case len(s.DeviceSectors) != s.Members+s.Spares:
		return fmt.Errorf("%d device sizes for %d members + %d spares: %w",
			len(s.DeviceSectors), s.Members, s.Spares, ErrInvalidSpec)
	case len(s.Name) > 32:
		return fmt.Errorf("name longer than 32 bytes: %w", ErrInvalidSpec)
	case s.ChunkKiB != 0 && (s.ChunkKiB < 4 || s.ChunkKiB&(s.ChunkKiB-1) != 0):
		return fmt.Errorf("chunk %d KiB is not a power of two ≥ 4: %w", s.ChunkKiB, ErrInvalidSpec)
	}
	return nil
}
