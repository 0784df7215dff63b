package md

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamineAcceptsOurSuperblocks writes our superblocks (no bitmap, so the
// superblock stands alone) to sparse 64 MiB files and checks that mdadm
// --examine reports a correct checksum and the fields we wrote.
func TestExamineAcceptsOurSuperblocks(t *testing.T) {
	mdadm(t)
	for dev := uint32(0); dev < 6; dev++ {
		t.Run(fmt.Sprint("dev", dev), func(t *testing.T) {
			sb := sample(t, dev)
			sb.FeatureMap = 0
			sb.BitmapOffset = 0
			sb.Events = 18 + uint64(dev)
			if dev == 5 {
				sb.DevRoles[5] = RoleSpare
			}
			f := memberFile(t, "m", 64<<20)
			if err := Write(f, sb); err != nil {
				t.Fatal(err)
			}
			m := examine(t, f.Name(), "--examine")
			want := map[string]string{
				"Magic":          "a92b4efc",
				"Version":        "1.2",
				"Feature Map":    "0x0",
				"Array UUID":     sb.SetUUID.String(),
				"Name":           "keep:data",
				"Raid Level":     "raid6",
				"Raid Devices":   "5",
				"Avail Dev Size": "126976 sectors (62.00 MiB 65.01 MB)",
				"Array Size":     "190464 KiB (186.00 MiB 195.04 MB)",
				"Data Offset":    "4096 sectors",
				"Super Offset":   "8 sectors",
				"State":          "clean",
				"Device UUID":    sb.DeviceUUID.String(),
				"Events":         fmt.Sprint(sb.Events),
				"Layout":         "left-symmetric",
				"Chunk Size":     "512K",
				"Array State":    "AAAAA ('A' == active, '.' == missing, 'R' == replacing)",
				"Bad Block Log":  "512 entries available at offset 16 sectors",
			}
			if dev < 5 {
				want["Device Role"] = fmt.Sprintf("Active device %d", dev)
			} else {
				want["Device Role"] = "spare"
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("mdadm %s = %q, want %q", k, m[k], v)
				}
			}
			b, _ := sb.Encode()
			wantSum := fmt.Sprintf("%x - correct", Checksum(b))
			if m["Checksum"] != wantSum {
				t.Errorf("mdadm Checksum = %q, want %q", m["Checksum"], wantSum)
			}
			if got := m["Creation Time"]; got != "Tue Nov 14 22:13:20 2023" {
				t.Errorf("mdadm Creation Time = %q", got)
			}
			if got := m["Update Time"]; got != "Tue Nov 14 22:15:00 2023" {
				t.Errorf("mdadm Update Time = %q", got)
			}
		})
	}
}

// TestExamineOddMaxDev: an odd max_dev makes the checksum end on a 16-bit
// word; mdadm must agree with our sum.
func TestExamineOddMaxDev(t *testing.T) {
	mdadm(t)
	sb := sample(t, 2)
	sb.FeatureMap, sb.BitmapOffset = 0, 0
	sb.DevRoles = sb.DevRoles[:7]
	f := memberFile(t, "odd", 64<<20)
	if err := Write(f, sb); err != nil {
		t.Fatal(err)
	}
	m := examine(t, f.Name(), "--examine")
	want := fmt.Sprintf("%x - correct", Checksum(encode(t, sb)))
	if m["Checksum"] != want || m["Device Role"] != "Active device 2" {
		t.Fatalf("mdadm: Checksum %q (want %q), Device Role %q", m["Checksum"], want, m["Device Role"])
	}
}

// TestExamineBitmap writes a superblock with an internal bitmap and checks
// mdadm --examine and --examine-bitmap.
func TestExamineBitmap(t *testing.T) {
	mdadm(t)
	sb := sample(t, 0)
	sb.BBLogOffset = 16 // bitmap at 8 sectors, 8 sectors long: log after it
	bm := sampleBitmap()
	bm.UUID = sb.SetUUID
	bm.Events, bm.EventsCleared = 18, 17
	f := memberFile(t, "bm", 64<<20)
	if err := WriteBitmap(f, sb, bm); err != nil {
		t.Fatal(err)
	}
	if err := Write(f, sb); err != nil {
		t.Fatal(err)
	}
	m := examine(t, f.Name(), "--examine")
	if m["Feature Map"] != "0x1" || m["Internal Bitmap"] != "8 sectors from superblock" ||
		!strings.HasSuffix(m["Checksum"], "- correct") {
		t.Errorf("mdadm --examine: Feature Map %q, Internal Bitmap %q, Checksum %q",
			m["Feature Map"], m["Internal Bitmap"], m["Checksum"])
	}
	// mdadm -X reads a regular file as an external bitmap file (the same
	// format), so hand it the internal bitmap area cut out of the member.
	area := make([]byte, bm.Sectors()*SectorSize)
	if _, err := f.ReadAt(area, (V12SuperOffset+int64(sb.BitmapOffset))*SectorSize); err != nil {
		t.Fatal(err)
	}
	bf := filepath.Join(t.TempDir(), "bitmap")
	if err := os.WriteFile(bf, area, 0o600); err != nil {
		t.Fatal(err)
	}
	x := examine(t, bf, "--examine-bitmap")
	want := map[string]string{
		"Filename":       bf,
		"Magic":          "6d746962",
		"Version":        "4",
		"UUID":           sb.SetUUID.String(),
		"Events":         "18",
		"Events Cleared": "17",
		"State":          "OK",
		"Chunksize":      "64 MB",
		"Daemon":         "5s flush period",
		"Write Mode":     "Normal",
		"Sync Size":      "63488 (62.00 MiB 65.01 MB)",
		"Bitmap":         "1 bits (chunks), 1 dirty (100.0%)",
	}
	for k, v := range want {
		if x[k] != v {
			t.Errorf("mdadm -X %s = %q, want %q", k, x[k], v)
		}
	}
}
