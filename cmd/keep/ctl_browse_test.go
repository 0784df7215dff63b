package main

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/appliance"
	"keep/appliance/api"
	"keep/engine/backup"
	"keep/engine/local"
)

// TestCtlBrowse: ls, find and cat against a hosted vault holding a
// client's backup, as an operator types them; cat -o of a file with a
// damaged chunk leaves no file behind and fails.
func TestCtlBrowse(t *testing.T) {
	dir := t.TempDir()
	edir := filepath.Join(dir, "engine")
	src := filepath.Join(dir, "srv")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "www"), 0o755))
	page := make([]byte, 2<<20) // incompressible: its chunks fill the largest pack
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range page {
		page[i] = byte(rng.Uint32())
	}
	must(os.WriteFile(filepath.Join(src, "www", "index.html"), page, 0o644))
	must(os.Symlink("index.html", filepath.Join(src, "www", "home.html")))
	// A backup of client web1 straight into the engine's repository.
	bg := context.Background()
	e, err := local.Open(bg, local.Options{Dir: edir})
	must(err)
	res, err := backup.Run(bg, e.Repo, []string{src}, backup.Options{Hostname: "web1", Client: "web1"})
	must(err)
	must(e.Close(bg))
	snap := res.Snapshot.ID.String()

	sock := filepath.Join(dir, "api.sock")
	c := api.NewUnixClient(sock)
	// start runs the hosted vault on edir until the returned stop.
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := appliance.Run(ctx, appliance.Options{Version: "test", ConfigPath: appliance.NoConfigFile, Cmdline: filepath.Join(dir, "none"),
				APISocket: sock, HostedEngine: &appliance.HostedEngine{Dir: edir, Listen: "127.0.0.1:0"}})
			done <- err
		}()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := c.EngineStatus(bg); err == nil {
				break
			} else if time.Now().After(deadline) {
				cancel()
				t.Fatalf("the hosted engine did not start: %v", err)
			}
		}
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				<-done
			})
		}
		t.Cleanup(stop)
		return stop
	}
	stop := start()
	run := func(args ...string) (string, error) {
		var buf bytes.Buffer
		err := runCtl(bg, c, &ctlOut{w: &buf}, args[0], args[1:])
		return buf.String(), err
	}

	out, err := run("ls", "latest", "--client", "web1", filepath.Join(src, "www"))
	if err != nil || !strings.Contains(out, "snapshot "+snap[:12]+" of web1") || !strings.Contains(out, "/srv/www/index.html") ||
		!strings.Contains(out, "/srv/www/home.html -> index.html") || !strings.Contains(out, "2097152") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	if _, err := run("ls", "latest", "--client", "web9"); err == nil || !strings.Contains(err.Error(), "no snapshots") {
		t.Fatalf("ls of a client without snapshots: %v", err)
	}
	out, err = run("find", "*.html", "--client", "web1")
	if err != nil || strings.Count(out, snap[:12]) != 2 || !strings.Contains(out, "/srv/www/index.html") {
		t.Fatalf("find: %v\n%s", err, out)
	}
	out, err = run("cat", snap[:8], "/srv/www/index.html")
	if err != nil || out != string(page) {
		t.Fatalf("cat: %v, %d bytes", err, len(out))
	}
	file := filepath.Join(dir, "got.html")
	if _, err := run("cat", "latest", "srv/www/index.html", "--client", "web1", "-o", file); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, page) {
		t.Fatalf("cat -o: %d bytes, %v", len(b), err)
	}
	if _, err := run("cat", "latest", "srv/www"); err == nil || !strings.Contains(err.Error(), "only files") {
		t.Fatalf("cat of a directory: %v", err)
	}

	// Damage the largest pack a quarter in (the page's data; trees are
	// written last); restart the vault's engine so nothing is cached.
	stop()
	var packPath string
	var packSize int64
	must(filepath.Walk(filepath.Join(edir, "repo", "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() > packSize {
			packPath, packSize = p, info.Size()
		}
		return err
	}))
	b, err := os.ReadFile(packPath)
	must(err)
	b[len(b)/4] ^= 0x40
	must(os.WriteFile(packPath, b, 0o600))
	start()
	bad := filepath.Join(dir, "bad.html")
	_, err = run("cat", "latest", "srv/www/index.html", "--client", "web1", "-o", bad)
	// Which message depends on whether the first damaged chunk is the
	// file's first (an error response) or a later one (the body cut
	// short): TestDownloadFails covers both.
	if err == nil || !(strings.Contains(err.Error(), "stored data is corrupt") || strings.Contains(err.Error(), "cut short")) {
		t.Fatalf("cat -o of a damaged file: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a damaged download left %s: %v", bad, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".bad.html*")); len(left) != 0 {
		t.Fatalf("a damaged download left %v", left)
	}
	if js, err := c.Jobs(bg, api.JobQuery{Client: "web1", State: "failed"}); err != nil || len(js) != 1 || js[0].Kind != "restore" {
		t.Fatalf("the failed download's job: %+v %v", js, err)
	}
}

// TestInterspersed: flags anywhere among positional arguments, and none
// after "--".
func TestInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := fs.String("o", "", "")
	c := fs.String("client", "", "")
	pos, err := interspersed(fs, []string{"latest", "--client", "web1", "/a", "-o", "f", "--", "-o", "b"})
	if err != nil || strings.Join(pos, " ") != "latest /a -o b" || *o != "f" || *c != "web1" {
		t.Fatalf("positional %q, -o %q, --client %q, %v", pos, *o, *c, err)
	}
}
