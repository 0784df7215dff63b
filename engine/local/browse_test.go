package local

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keep/engine/backup"
	"keep/engine/browse"
	"keep/engine/jobs"
)

// TestBrowseAndDownload: the vault lists a directory of a client's
// snapshot, finds files across clients' snapshots and downloads a file
// (recorded as a restore job of its client); a damaged chunk fails the
// download after the bytes before it, never with wrong bytes.
func TestBrowseAndDownload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := Open(ctx, Options{Dir: dir})
	must(t, err)
	defer func() { e.Close(context.Background()) }()

	src := filepath.Join(t.TempDir(), "srv")
	must(t, os.MkdirAll(filepath.Join(src, "conf"), 0o755))
	big := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	must(t, os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "conf", "app.conf"), []byte("port=80\n"), 0o644))
	for _, c := range []string{"web1", "web2"} {
		_, err := backup.Run(ctx, e.Repo, []string{src}, backup.Options{Hostname: c, Client: c})
		must(t, err)
	}

	l, err := e.List(ctx, "latest", "web1", src) // an original path
	must(t, err)
	if l.Snapshot.Client != "web1" || l.Path != "srv" || len(l.Entries) != 2 || l.Entries[0].Name != "big.bin" || l.Entries[0].Size != uint64(len(big)) || l.Entries[1].Name != "conf" {
		t.Fatalf("listing %+v", l)
	}
	l, err = e.List(ctx, l.Snapshot.ID.String()[:12], "", "srv/conf") // a path from the root, a prefix of any client's
	must(t, err)
	if len(l.Entries) != 1 || l.Entries[0].Path != "/srv/conf/app.conf" {
		t.Fatalf("listing %+v", l)
	}
	for spec, want := range map[string]error{"nothex": ErrBadSpec, "ffffffffffff": jobs.ErrNotFound, "": ErrBadSpec} {
		if _, err := e.List(ctx, spec, "", "/"); !errors.Is(err, want) {
			t.Errorf("snapshot %q: %v, want %v", spec, err, want)
		}
	}
	if _, err := e.List(ctx, "latest", "db1", "/"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("a client without snapshots: %v", err)
	}

	found, err := e.Find(ctx, "*.conf", browse.Filter{}, 0)
	must(t, err)
	if len(found.Found) != 2 || found.Found[0].Path != "/srv/conf/app.conf" || found.Found[0].Snapshot == found.Found[1].Snapshot {
		t.Fatalf("find: %+v", found)
	}
	found, err = e.Find(ctx, "*.conf", browse.Filter{Client: "web2"}, 0)
	must(t, err)
	if len(found.Found) != 1 {
		t.Fatalf("find in web2's: %+v", found)
	}

	if _, err := e.OpenDownload(ctx, "latest", "web1", src+"/conf"); err == nil || !strings.Contains(err.Error(), "only files") {
		t.Fatalf("download of a directory: %v", err)
	}
	d, err := e.OpenDownload(ctx, "latest", "web1", src+"/big.bin")
	must(t, err)
	var out bytes.Buffer
	j, err := d.WriteTo(ctx, &out, "operator")
	must(t, err)
	if !bytes.Equal(out.Bytes(), big) {
		t.Fatalf("downloaded %d bytes, not the file's %d", out.Len(), len(big))
	}
	if j.Kind != jobs.Restore || j.Client != "web1" || j.Hostname != "operator" || j.State != jobs.Succeeded || j.Counts.BytesSent != int64(len(big)) || j.Snapshot != d.Snapshot.ID.String() {
		t.Fatalf("job %+v", j)
	}

	// Back up until two snapshots share a first hex digit (at most 17).
	seen := map[byte]bool{}
	var dup byte
	snaps, _, err := e.Snapshots(ctx, browse.Filter{})
	must(t, err)
	for i := 0; dup == 0; i++ {
		var id string
		if i < len(snaps) {
			id = snaps[i].ID.String()
		} else {
			must(t, os.WriteFile(filepath.Join(src, "conf", "n"), []byte{byte(i)}, 0o644))
			res, err := backup.Run(ctx, e.Repo, []string{src}, backup.Options{Hostname: "web3", Client: "web3"})
			must(t, err)
			id = res.Snapshot.ID.String()
		}
		if seen[id[0]] {
			dup = id[0]
		}
		seen[id[0]] = true
	}
	if _, err := e.List(ctx, string(dup), "", "/"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	must(t, os.Remove(filepath.Join(src, "conf", "n")))

	// Damage the largest pack a quarter in (data; trees are written
	// last), in a reopened engine (nothing cached).
	must(t, e.Close(ctx))
	var packPath string
	var packSize int64
	must(t, filepath.Walk(filepath.Join(dir, "repo", "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() > packSize {
			packPath, packSize = p, info.Size()
		}
		return err
	}))
	raw, err := os.ReadFile(packPath)
	must(t, err)
	raw[len(raw)/4] ^= 0x40
	must(t, os.WriteFile(packPath, raw, 0o600))
	e, err = Open(ctx, Options{Dir: dir})
	must(t, err)
	d, err = e.OpenDownload(ctx, "latest", "web1", "srv/big.bin")
	must(t, err)
	out.Reset()
	j, err = d.WriteTo(ctx, &out, "operator")
	if err == nil || j.State != jobs.Failed || j.Counts.BytesSent != int64(out.Len()) {
		t.Fatalf("download of a damaged file: %v, job %+v", err, j)
	}
	if out.Len() >= len(big) || !bytes.Equal(out.Bytes(), big[:out.Len()]) {
		t.Fatalf("damaged download wrote %d bytes, not a prefix of the file", out.Len())
	}
	t.Logf("damaged: %v after %d bytes", err, out.Len())
}
