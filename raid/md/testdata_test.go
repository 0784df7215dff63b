package md

import (
	"bytes"
	"testing"
	"time"
)

// sample returns a realistic member superblock: RAID6, 5 active + 1 spare,
// 64 MiB members laid out the way mdadm 4.2 lays them out.
func sample(t testing.TB, devNumber uint32) *Superblock {
	t.Helper()
	rnd := bytes.NewReader(bytes.Repeat([]byte{0x5a, 0xc3, 0x11, 0x97, 0x42}, 16))
	set, err := NewUUID(rnd)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewUUID(rnd)
	if err != nil {
		t.Fatal(err)
	}
	dev[0] = byte(devNumber)
	sb := &Superblock{
		FeatureMap:   FeatureBitmapOffset,
		SetUUID:      set,
		CTime:        NewTime(time.Unix(1700000000, 0)),
		Level:        LevelRAID6,
		Layout:       LayoutLeftSymmetric,
		Size:         126976,
		ChunkSize:    1024,
		RaidDisks:    5,
		BitmapOffset: 8,
		NewLevel:     0,
		DataOffset:   4096,
		DataSize:     126976,
		SuperOffset:  V12SuperOffset,
		DevNumber:    devNumber,
		DeviceUUID:   dev,
		BBLogSize:    8,
		BBLogOffset:  16,
		UTime:        NewTime(time.Unix(1700000100, 0)),
		Events:       18,
		ResyncOffset: ResyncDone,
		DevRoles:     make([]Role, 128),
	}
	sb.SetNameString("keep:data")
	for i := range sb.DevRoles {
		sb.DevRoles[i] = RoleSpare
	}
	for i := 0; i < 5; i++ {
		sb.DevRoles[i] = Role(i)
	}
	return sb
}
