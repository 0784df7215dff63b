package raid

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mdadm returns the oracle's path; missing mdadm fails (only -short skips).
func mdadm(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mdadm oracle skipped in -short mode")
	}
	p, err := exec.LookPath("mdadm")
	if err != nil {
		t.Fatalf("mdadm not found (the oracle for md superblocks): run make deps: %v", err)
	}
	return p
}

func examine(t *testing.T, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(mdadm(t), args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdadm %v: %v\n%s\n%s", args, err, out, stderr.String())
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " : "); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestMdadmExaminesPlannedArrays creates every tier on sparse 64 MiB files
// with WriteMembers and has mdadm --examine every member and
// --examine-bitmap the bitmap area.
func TestMdadmExaminesPlannedArrays(t *testing.T) {
	mdadm(t)
	layouts := map[string]string{"small": "left-symmetric", "compact": "left-symmetric",
		"standard": "left-symmetric", "performance": "near=2"}
	for _, tier := range Tiers() {
		t.Run(tier.Name, func(t *testing.T) {
			p, err := NewPlan(tier.Spec("keep:"+tier.Name, sizes(tier.Disks(), mib64)), testNow, rng())
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var devs []MemberDevice
			var files []string
			for i := range p.Superblocks {
				f, err := os.Create(filepath.Join(dir, fmt.Sprint("d", i)))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Truncate(mib64 * 512); err != nil {
					t.Fatal(err)
				}
				devs = append(devs, f)
				files = append(files, f.Name())
			}
			if err := WriteMembers(p, devs); err != nil {
				t.Fatal(err)
			}
			state := strings.Repeat("A", tier.Members) + " ('A' == active, '.' == missing, 'R' == replacing)"
			for i, path := range files {
				m := examine(t, "--examine", path)
				role := fmt.Sprintf("Active device %d", i)
				if i >= tier.Members {
					role = "spare"
				}
				want := map[string]string{
					"Version":         "1.2",
					"Feature Map":     "0x1",
					"Array UUID":      p.ArrayUUID.String(),
					"Name":            "keep:" + tier.Name,
					"Creation Time":   "Tue Nov 14 22:13:20 2023",
					"Raid Level":      tier.Level.String(),
					"Raid Devices":    fmt.Sprint(tier.Members),
					"Avail Dev Size":  "126976 sectors (62.00 MiB 65.01 MB)",
					"Array Size":      fmt.Sprintf("%d KiB", p.ArraySectors/2),
					"Data Offset":     "4096 sectors",
					"Super Offset":    "8 sectors",
					"State":           "active",
					"Device UUID":     p.Superblocks[i].DeviceUUID.String(),
					"Internal Bitmap": "8 sectors from superblock",
					"Bad Block Log":   "512 entries available at offset 16 sectors",
					"Events":          "0",
					"Layout":          layouts[tier.Name],
					"Chunk Size":      "512K",
					"Device Role":     role,
					"Array State":     state,
				}
				for k, v := range want {
					got := m[k]
					if k == "Array Size" {
						got, _, _ = strings.Cut(got, " (")
					}
					if got != v {
						t.Errorf("%s: mdadm %s = %q, want %q", path, k, got, v)
					}
				}
				if !strings.HasSuffix(m["Checksum"], " - correct") {
					t.Errorf("%s: mdadm Checksum = %q", path, m["Checksum"])
				}
			}
			// The bitmap area, cut out: mdadm -X reads a regular file as
			// a bitmap file (same format).
			area := make([]byte, p.Bitmap.Sectors()*512)
			f0, _ := os.Open(files[0])
			defer f0.Close()
			if _, err := f0.ReadAt(area, 16*512); err != nil {
				t.Fatal(err)
			}
			bf := filepath.Join(dir, "bitmap")
			if err := os.WriteFile(bf, area, 0o600); err != nil {
				t.Fatal(err)
			}
			x := examine(t, "--examine-bitmap", bf)
			sync := fmt.Sprintf("%d (", p.Bitmap.SyncSize/2)
			if x["UUID"] != p.ArrayUUID.String() || x["Chunksize"] != "64 MB" || x["Version"] != "4" ||
				!strings.HasPrefix(x["Sync Size"], sync) || x["State"] != "OK" {
				t.Errorf("mdadm -X: %v", x)
			}
		})
	}
}
