package raid

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keep/raid/md"
)

func TestNewSpare(t *testing.T) {
	tier, _ := TierByName("compact")
	p, err := NewPlan(tier.Spec("keep:data", sizes(tier.Disks(), mib64)), testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	ref := p.Superblocks[0]
	// The kernel's view after running a while: events moved on.
	ref.Events = 42
	sb, err := NewSpare(ref, mib64*2, []uint32{0, 1, 2, 3, 4, 5}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	if sb.DevNumber != 6 || sb.DevRoles[6] != md.RoleSpare || sb.SetUUID != ref.SetUUID || sb.Events != 42 {
		t.Errorf("spare: dev %d role %v uuid %v events %d", sb.DevNumber, sb.DevRoles[6], sb.SetUUID, sb.Events)
	}
	if sb.DeviceUUID == ref.DeviceUUID {
		t.Error("the spare must get its own device UUID")
	}
	if sb.DataSize != mib64*2-ref.DataOffset {
		t.Errorf("data size %d", sb.DataSize)
	}
	if &sb.DevRoles[0] == &ref.DevRoles[0] {
		t.Error("dev_roles must be a copy, not shared with the reference")
	}
	// A free number in the middle is reused (a removed member's).
	sb, _ = NewSpare(ref, mib64, []uint32{0, 2, 3}, testNow, rng())
	if sb.DevNumber != 1 {
		t.Errorf("dev_number = %d, want the free 1", sb.DevNumber)
	}
	// dev_roles grows when every entry is taken.
	many := make([]uint32, len(ref.DevRoles))
	for i := range many {
		many[i] = uint32(i)
	}
	sb, err = NewSpare(ref, mib64, many, testNow, rng())
	if err != nil || int(sb.DevNumber) != len(ref.DevRoles) || len(sb.DevRoles) != len(ref.DevRoles)+256 {
		t.Errorf("grown: dev %d roles %d, %v", sb.DevNumber, len(sb.DevRoles), err)
	}
	if _, err := NewSpare(ref, ref.DataOffset+ref.Size-1, nil, testNow, rng()); !errors.Is(err, ErrDeviceTooSmall) {
		t.Errorf("small device: %v", err)
	}
}

// TestMdadmExaminesSpare writes a compact array, then a spare for it, and
// has mdadm --examine the spare: our superblock and bitmap for a device
// joining a running array must be what mdadm itself would accept.
func TestMdadmExaminesSpare(t *testing.T) {
	mdadm(t)
	tier, _ := TierByName("compact")
	p, err := NewPlan(tier.Spec("keep:data", sizes(tier.Disks(), mib64)), testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spare")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(mib64 * 512); err != nil {
		t.Fatal(err)
	}
	sb, err := NewSpare(p.Superblocks[0], mib64, []uint32{0, 1, 2, 3, 4, 5}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSpare(f, sb, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("a bitmap array without a bitmap: %v", err)
	}
	if err := WriteSpare(f, sb, p.Bitmap); err != nil {
		t.Fatal(err)
	}
	m := examine(t, "--examine", path)
	for k, want := range map[string]string{
		"Device Role": "spare",
		"Array UUID":  p.ArrayUUID.String(),
		"Raid Level":  "raid6",
		"Name":        "keep:data",
	} {
		if got := m[k]; want != "" && !startsWith(got, want) {
			t.Errorf("mdadm --examine %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasSuffix(m["Checksum"], " - correct") {
		t.Errorf("mdadm Checksum = %q", m["Checksum"])
	}
	// mdadm -X reads a regular file as a bitmap file: cut the area out.
	area := make([]byte, p.Bitmap.Sectors()*512)
	if _, err := f.ReadAt(area, int64(sb.SuperOffset+uint64(sb.BitmapOffset))*512); err != nil {
		t.Fatal(err)
	}
	bf := filepath.Join(t.TempDir(), "bitmap")
	if err := os.WriteFile(bf, area, 0o600); err != nil {
		t.Fatal(err)
	}
	bm := examine(t, "--examine-bitmap", bf)
	if bm["UUID"] != p.ArrayUUID.String() {
		t.Errorf("mdadm --examine-bitmap found no bitmap: %v", bm)
	}
}

func startsWith(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
