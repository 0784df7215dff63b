package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keep/engine/jobs"
)

var testTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// TestBackupSkippedItems: an item that cannot be read is skipped with its
// reason, the snapshot is made, the exit code is 3 and the vault's job
// record is partial and lists it.
func TestBackupSkippedItems(t *testing.T) {
	v, adir := enrolAgent(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "ok.txt"), []byte("readable\n"), 0o644, testTime)
	var bad string
	if os.Geteuid() != 0 {
		bad = filepath.Join(src, "secret")
		writeFile(t, bad, []byte("unreadable\n"), 0o000, testTime)
	} else {
		// Root reads everything on a normal filesystem; a write-only
		// sysfs attribute cannot be opened for reading even by root.
		bad = "/sys/bus/pci/rescan"
		if f, err := os.Open(bad); err == nil {
			f.Close()
			t.Fatalf("%s is readable here: the test needs an item root cannot read (a write-only sysfs attribute)", bad)
		} else if !os.IsPermission(err) {
			t.Fatalf("%s: %v: the test needs this write-only sysfs attribute (a PCI bus) to have an item root cannot read", bad, err)
		}
	}
	args := []string{"backup", "--dir", adir, "--hostname", testHost, "--json", src}
	if os.Geteuid() == 0 {
		args = append(args, bad)
	}
	r := agentOK(t, 3, nil, args...)
	s := parseJSON[summary](t, r.stdout)
	if len(s.Skipped) != 1 || s.Skipped[0].Path != bad || !strings.Contains(s.Skipped[0].Reason, "permission denied") {
		t.Fatalf("skipped: %+v", s.Skipped)
	}
	j := waitJob(t, v.dir, jobOf(r), func(j *jobs.Job) bool { return j.State != jobs.Running })
	if j.State != jobs.Partial || j.Skipped != 1 || len(j.Items) != 1 || j.Items[0].Path != bad || !strings.Contains(j.Items[0].Reason, "permission denied") {
		t.Fatalf("job record: %+v", j)
	}
	// The human summary names it too.
	args = []string{"backup", "--dir", adir, "--hostname", testHost, src}
	if os.Geteuid() == 0 {
		args = append(args, bad)
	}
	r = agentOK(t, 3, nil, args...)
	if !strings.Contains(r.stdout, "skipped      1 items:") || !strings.Contains(r.stdout, bad+": ") {
		t.Fatalf("summary:\n%s", r.stdout)
	}
}

// TestImageRoundTrip backs up a disk image file with --image and writes
// it back with restore --to.
func TestImageRoundTrip(t *testing.T) {
	_, adir := enrolAgent(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	must(t, err)
	data := randBytes(randFor(5), 512<<10, true)
	_, err = f.WriteAt(data, 1<<20)
	must(t, err)
	_, err = f.WriteAt(data[:4096], 8<<20-4096)
	must(t, err)
	must(t, f.Close())
	r := agentOK(t, 0, nil, "backup", "--image", img, "--dir", adir, "--hostname", testHost, "--json")
	s := parseJSON[summary](t, r.stdout)
	r = agentOK(t, 0, nil, "ls", s.Snapshot[:8], "--dir", adir, "--json")
	if es := parseJSON[[]entryJSON](t, r.stdout); len(es) != 1 || es[0].Type != "image" || es[0].Size != 8<<20 {
		t.Fatalf("ls image snapshot: %s", r.stdout)
	}
	out := filepath.Join(dir, "restored.img")
	agentOK(t, 0, nil, "restore", s.Snapshot[:8], img, "--to", out, "--dir", adir)
	if !bytes.Equal(readFile(t, img), readFile(t, out)) {
		t.Fatal("image restored with different bytes")
	}
	// --to needs exactly one image.
	agentOK(t, 2, nil, "restore", s.Snapshot[:8], "--to", out, "--dir", adir)
}
