package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/jobs"
	"keep/engine/snapshot"
)

const testHost = "e2e-host"

// enrolAgent starts a vault in a temp dir and enrols an agent with it;
// it returns the vault and the agent's credentials directory.
func enrolAgent(t *testing.T, clients ...string) (*vault, string) {
	t.Helper()
	if len(clients) == 0 {
		clients = []string{"web1"}
	}
	v := startVault(t, t.TempDir(), "", 0, clients...)
	adir := filepath.Join(t.TempDir(), "agent")
	r := agentOK(t, 0, nil, "enrol", v.tokens[clients[0]], "--dir", adir)
	if !strings.Contains(r.stdout, `enrolled as client "`+clients[0]+`"`) {
		t.Fatalf("enrol output: %s", r)
	}
	fi, err := os.Stat(filepath.Join(adir, "agent.key"))
	if err != nil {
		ents, _ := os.ReadDir(adir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("credentials in %s: %v (files %q)", adir, err, names)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent key mode %v, want 0600", fi.Mode().Perm())
	}
	// A token works once.
	r = agent(t, nil, "enrol", v.tokens[clients[0]], "--dir", filepath.Join(t.TempDir(), "again"))
	if r.code != 1 || !strings.Contains(r.stderr, "already used") {
		t.Fatalf("second use of a token: %s", r)
	}
	return v, adir
}

func TestAgentRoundTrip(t *testing.T) {
	v, adir := enrolAgent(t, "web1", "db1")
	data := t.TempDir()
	g := makeTree(t, data, 1)

	// Full backup.
	r := agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", "--progress-every", "10ms", "--tag", "first", g.root)
	s1 := parseJSON[summary](t, r.stdout)
	if s1.Job != snapshot.Full || s1.Parent != "" || len(s1.Skipped) != 0 {
		t.Fatalf("first backup: %+v", s1)
	}
	if s1.BytesSent < 3<<20 || s1.BytesNew == 0 || s1.Compression <= 1 {
		t.Fatalf("first backup sent %d bytes, new %d, compression %.2f", s1.BytesSent, s1.BytesNew, s1.Compression)
	}
	// The vault's job record is complete.
	j1 := waitJob(t, v.dir, jobOf(r), func(j *jobs.Job) bool { return j.State != jobs.Running })
	if j1.State != jobs.Succeeded || j1.Kind != jobs.Full || j1.Snapshot != s1.Snapshot || j1.Counts.Files != s1.Files ||
		j1.Counts.BytesSent < s1.BytesSent || j1.Counts.BytesSeen != s1.BytesSeen || j1.Client != "web1" {
		t.Fatalf("job record %+v\nsummary %+v", j1, s1)
	}
	// The vault's stored bytes are exact (bundled chunks too): the fresh
	// repository's packs less their headers (under 64 bytes per blob).
	var packs int64
	must(t, filepath.WalkDir(filepath.Join(v.dir, "repo", "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, err := d.Info()
			if err == nil {
				packs += fi.Size()
			}
			return err
		}
		return err
	}))
	if st := j1.Counts.BytesStored; st > packs || st < packs-64*j1.Counts.BlobsNew-4096 {
		t.Fatalf("job record: %d bytes stored, the packs hold %d (%d blobs)", st, packs, j1.Counts.BlobsNew)
	}

	// Out-of-place restore of everything, compared item by item.
	out := filepath.Join(t.TempDir(), "out")
	r = agentOK(t, 0, nil, "restore", s1.Snapshot[:10], "--target", out, "--dir", adir)
	compareTrees(t, g.root, filepath.Join(out, "src"))
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(out, "src", g.sparse), &st))
	if st.Blocks*512 > 1<<20 {
		t.Fatalf("sparse file restored with %d bytes allocated of %d", st.Blocks*512, st.Size)
	}
	if g.device == "" {
		t.Log("not root: device nodes and owners not tested")
	}

	// Second backup: incremental against the first, reads and sends
	// (almost) nothing.
	r = agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", g.root)
	s2 := parseJSON[summary](t, r.stdout)
	if s2.Job != snapshot.Incremental || s2.Parent != s1.Snapshot {
		t.Fatalf("second backup: job %s parent %s, want incremental of %s", s2.Job, s2.Parent, s1.Snapshot)
	}
	if s2.BytesRead != 0 || s2.BytesSent > 64<<10 || s2.BytesSeen != s1.BytesSeen {
		t.Fatalf("second backup read %d, sent %d bytes (first sent %d)", s2.BytesRead, s2.BytesSent, s1.BytesSent)
	}
	t.Logf("full: sent %d bytes; incremental: read %d, sent %d", s1.BytesSent, s2.BytesRead, s2.BytesSent)
	// --full reads everything again but sends no data chunk.
	r = agentOK(t, 0, nil, "backup", "--dir", adir, "--hostname", testHost, "--json", "--full", g.root)
	s3 := parseJSON[summary](t, r.stdout)
	if s3.Job != snapshot.Full || s3.BytesRead == 0 || s3.BytesSent > 64<<10 {
		t.Fatalf("--full: %+v", s3)
	}

	// snapshots.
	r = agentOK(t, 0, nil, "snapshots", "--dir", adir, "--json")
	snaps := parseJSON[[]snapJSON](t, r.stdout)
	if len(snaps) != 3 || snaps[0].ID != s1.Snapshot || snaps[1].ID != s2.Snapshot || !slices.Equal(snaps[0].Tags, []string{"first"}) ||
		snaps[0].Hostname != testHost || !slices.Equal(snaps[0].Paths, []string{g.root}) {
		t.Fatalf("snapshots: %s", r.stdout)
	}
	r = agentOK(t, 0, nil, "snapshots", "--dir", adir, "--json", "--path", filepath.Join(g.root, "d0"), "--since", "1h")
	if n := len(parseJSON[[]snapJSON](t, r.stdout)); n != 3 {
		t.Fatalf("snapshots --path --since: %d", n)
	}
	r = agentOK(t, 0, nil, "snapshots", "--dir", adir, "--json", "--path", "/nowhere")
	if n := len(parseJSON[[]snapJSON](t, r.stdout)); n != 0 {
		t.Fatalf("snapshots --path /nowhere: %d", n)
	}
	r = agentOK(t, 0, nil, "snapshots", "--dir", adir)
	if !strings.Contains(r.stdout, s1.Snapshot[:8]) || !strings.Contains(r.stdout, "incremental") {
		t.Fatalf("snapshots table:\n%s", r.stdout)
	}

	// ls: the root, a directory by snapshot path and by original path.
	r = agentOK(t, 0, nil, "ls", "latest", "--dir", adir, "--json")
	root := parseJSON[[]entryJSON](t, r.stdout)
	if len(root) != 1 || root[0].Name != "src" || root[0].Type != "dir" {
		t.Fatalf("ls root: %s", r.stdout)
	}
	for _, p := range []string{"src/d0", filepath.Join(g.root, "d0")} {
		r = agentOK(t, 0, nil, "ls", s2.Snapshot[:12], p, "--dir", adir, "--json")
		var got []string
		for _, e := range parseJSON[[]entryJSON](t, r.stdout) {
			got = append(got, e.Name)
		}
		ents, err := os.ReadDir(filepath.Join(g.root, "d0"))
		must(t, err)
		var want []string
		for _, e := range ents {
			want = append(want, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ls %s: %q, want %q", p, got, want)
		}
	}
	// Hard links: the first name in walk order (d0/hl-c) is the file,
	// later names link to it.
	r = agentOK(t, 0, nil, "ls", "latest", "src/hl", "--dir", adir, "--json")
	for _, e := range parseJSON[[]entryJSON](t, r.stdout) {
		if e.Type != "hardlink" || e.Size != 15 || e.LinkTarget != "src/d0/hl-c" {
			t.Fatalf("ls hl: %+v", e)
		}
	}
	r = agentOK(t, 0, nil, "ls", "latest", "src", "--dir", adir)
	for _, want := range []string{"link-dir -> d0/sub0", "prw--w----", "sparse.img"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("ls output lacks %q:\n%s", want, r.stdout)
		}
	}

	// find: every .bin file, in every snapshot, and in one.
	r = agentOK(t, 0, nil, "find", "*.bin", "--snapshot", "latest", "--dir", adir, "--json")
	found := parseJSON[[]entryJSON](t, r.stdout)
	var wantBins []string
	for p := range g.files {
		if strings.HasSuffix(p, ".bin") {
			wantBins = append(wantBins, "/src/"+p)
		}
	}
	slices.Sort(wantBins)
	var gotBins []string
	for _, f := range found {
		gotBins = append(gotBins, f.Path)
		if want := int64(len(g.files[strings.TrimPrefix(f.Path, "/src/")])); int64(f.Size) != want {
			t.Fatalf("find %s: size %d, want %d", f.Path, f.Size, want)
		}
	}
	slices.Sort(gotBins)
	if !slices.Equal(gotBins, wantBins) {
		t.Fatalf("find *.bin: %q\nwant %q", gotBins, wantBins)
	}
	r = agentOK(t, 0, nil, "find", "/src/d1/**/f*.bin", "--dir", adir, "--json")
	if n, want := len(parseJSON[[]entryJSON](t, r.stdout)), 3*6; n != want {
		t.Fatalf("find anchored in 3 snapshots: %d matches, want %d", n, want)
	}

	// cat: a multi-chunk file, the sparse file, by both path forms.
	for _, p := range []string{"src/d0/sub0/f00.bin", filepath.Join(g.root, g.sparse), "/src/" + g.longName} {
		r = agentOK(t, 0, nil, "cat", "latest", p, "--dir", adir)
		rel := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(p, g.root+"/"), "/"), "src/")
		if !bytes.Equal([]byte(r.stdout), g.files[rel]) {
			t.Fatalf("cat %s: %d bytes, want %d", p, len(r.stdout), len(g.files[rel]))
		}
	}
	r = agentOK(t, 1, nil, "cat", "latest", "src/d0", "--dir", adir)
	if !strings.Contains(r.stderr, "not a file") {
		t.Fatalf("cat of a directory: %s", r)
	}
	r = agentOK(t, 1, nil, "ls", "ffffffff", "--dir", adir)
	if !strings.Contains(r.stderr, "no snapshot of this client") {
		t.Fatalf("unknown snapshot: %s", r)
	}
	agentOK(t, 2, nil, "restore", "latest", "--dir", adir)

	// Another client sees none of web1's snapshots.
	adir2 := filepath.Join(t.TempDir(), "agent2")
	agentOK(t, 0, nil, "enrol", v.tokens["db1"], "--dir", adir2)
	r = agentOK(t, 1, nil, "restore", "latest", "--target", t.TempDir(), "--dir", adir2)
	if !strings.Contains(r.stderr, "no snapshots") {
		t.Fatalf("other client restoring: %s", r)
	}

	testInPlace(t, adir, g)
	testStdin(t, adir)
}

// TestAgentRestoreGrant: with an operator's grant, client web2 (a
// replacement machine: same hostname, same paths) reads web1's snapshots
// with --client web1, while its own backups and "latest" stay its own;
// a client without a grant sees none of them.
func TestAgentRestoreGrant(t *testing.T) {
	t.Setenv(envGrants, "web2:web1")
	v := startVault(t, t.TempDir(), "", 0, "web1", "web2", "db1")
	dirs := map[string]string{}
	for _, c := range []string{"web1", "web2", "db1"} {
		dirs[c] = filepath.Join(t.TempDir(), c)
		agentOK(t, 0, nil, "enrol", v.tokens[c], "--dir", dirs[c])
	}
	g := makeTree(t, t.TempDir(), 3)
	who := filepath.Join(g.root, "who")
	backupAs := func(client string) summary {
		t.Helper()
		must(t, os.WriteFile(who, []byte(client), 0o644))
		r := agentOK(t, 0, nil, "backup", "--dir", dirs[client], "--hostname", testHost, "--json", g.root)
		return parseJSON[summary](t, r.stdout)
	}
	s1 := backupAs("web1")
	// web2's first backup of the same host and paths is a full one: web1's
	// snapshot, which the grant lists, is not its parent (the vault would
	// refuse the commit).
	s2 := backupAs("web2")
	if s2.Job != snapshot.Full || s2.Parent != "" {
		t.Fatalf("web2's first backup: job %s parent %q, want a full one", s2.Job, s2.Parent)
	}
	if s3 := backupAs("web2"); s3.Job != snapshot.Incremental || s3.Parent != s2.Snapshot {
		t.Fatalf("web2's second backup: job %s parent %q, want incremental of %s", s3.Job, s3.Parent, s2.Snapshot)
	}

	// Listing: its own by default, with a hint of what the grant shows;
	// web1's with --client.
	r := agentOK(t, 0, nil, "snapshots", "--dir", dirs["web2"], "--json")
	if ss := parseJSON[[]snapJSON](t, r.stdout); len(ss) != 2 || ss[0].Client != "web2" || ss[1].Client != "web2" {
		t.Fatalf("web2's snapshots: %+v", ss)
	}
	if !strings.Contains(r.stderr, "--client web1") {
		t.Fatalf("no hint of web1's snapshots: %s", r)
	}
	r = agentOK(t, 0, nil, "snapshots", "--dir", dirs["web2"], "--json", "--client", "web1")
	if ss := parseJSON[[]snapJSON](t, r.stdout); len(ss) != 1 || ss[0].ID != s1.Snapshot || ss[0].Client != "web1" {
		t.Fatalf("web1's snapshots seen by web2: %+v", ss)
	}

	// Restores: "latest" is web2's own; --client web1 restores web1's.
	for _, tc := range []struct{ client, want string }{{"", "web2"}, {"web1", "web1"}} {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"restore", "latest", "--target", out, "--dir", dirs["web2"], "--quiet"}
		if tc.client != "" {
			args = append(args, "--client", tc.client)
		}
		agentOK(t, 0, nil, args...)
		b, err := os.ReadFile(filepath.Join(out, "src", "who"))
		if err != nil || string(b) != tc.want {
			t.Fatalf("restore latest --client %q: who = %q (%v), want %q", tc.client, b, err, tc.want)
		}
		rel := "d0/sub0/f00.bin"
		if b, err := os.ReadFile(filepath.Join(out, "src", rel)); err != nil || !bytes.Equal(b, g.files[rel]) {
			t.Fatalf("restore --client %q: %s: %d bytes (%v), want %d", tc.client, rel, len(b), err, len(g.files[rel]))
		}
	}
	r = agentOK(t, 0, nil, "cat", s1.Snapshot[:12], "src/who", "--client", "web1", "--dir", dirs["web2"])
	if r.stdout != "web1" {
		t.Fatalf("cat of web1's snapshot: %q", r.stdout)
	}
	// An ID of another client's snapshot needs --client.
	r = agentOK(t, 1, nil, "cat", s1.Snapshot[:12], "src/who", "--dir", dirs["web2"])
	if !strings.Contains(r.stderr, "--client") {
		t.Fatalf("web1's snapshot without --client: %s", r)
	}
	r = agentOK(t, 0, nil, "find", "who", "--client", "web1", "--dir", dirs["web2"], "--json")
	if es := parseJSON[[]entryJSON](t, r.stdout); len(es) != 1 || es[0].Snapshot != s1.Snapshot {
		t.Fatalf("find in web1's snapshots: %+v", es)
	}

	// No grant: db1 sees nothing of web1's and is told why.
	r = agentOK(t, 1, nil, "restore", "latest", "--client", "web1", "--target", t.TempDir(), "--dir", dirs["db1"])
	if !strings.Contains(r.stderr, "grant-restore") {
		t.Fatalf("db1 restoring web1's: %s", r)
	}
	r = agentOK(t, 0, nil, "snapshots", "--client", "web1", "--dir", dirs["db1"])
	if !strings.Contains(r.stderr, "no snapshots of client \"web1\"") || strings.Contains(r.stdout, s1.Snapshot[:8]) {
		t.Fatalf("db1 listing web1's: %s", r)
	}
}

// testInPlace restores in place over a changed tree with each overwrite
// policy.
func testInPlace(t *testing.T, adir string, g *genTree) {
	src := g.root
	x, y, z := filepath.Join(src, "d2/sub2/f02.bin"), filepath.Join(src, "d3/sub0/f03.bin"), filepath.Join(src, "notes.txt")
	xRel, yRel, zRel := "d2/sub2/f02.bin", "d3/sub0/f03.bin", "notes.txt"
	must(t, os.Remove(x))
	// y: changed locally, but older than the snapshot's version.
	writeFile(t, y, []byte("local y"), 0o600, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	// z: changed locally and newer than the snapshot's.
	writeFile(t, z, []byte("local z"), 0o600, time.Now().Add(time.Hour))
	check := func(p, rel string, wantSnap bool) {
		t.Helper()
		got := readFile(t, p)
		if wantSnap != bytes.Equal(got, g.files[rel]) {
			t.Fatalf("%s: snapshot version %v, content %q…", rel, !wantSnap, got[:min(len(got), 16)])
		}
	}
	r := agentOK(t, 0, nil, "restore", "latest", "--in-place", "--dir", adir)
	if !strings.Contains(r.stdout, "--overwrite never") {
		t.Fatalf("in-place default: %s", r)
	}
	check(x, xRel, true) // missing: restored
	check(y, yRel, false)
	check(z, zRel, false)
	r = agentOK(t, 0, nil, "restore", "latest", filepath.Join(src, "d3"), "--in-place", "--overwrite", "if-newer", "--dir", adir)
	if !strings.Contains(r.stdout, " 1 replaced") {
		t.Fatalf("if-newer should replace exactly y: %s", r)
	}
	check(y, yRel, true)
	agentOK(t, 0, nil, "restore", "latest", "src/"+zRel, "--in-place", "--overwrite", "if-newer", "--dir", adir)
	check(z, zRel, false) // newer locally: kept
	agentOK(t, 0, nil, "restore", "latest", "src/"+zRel, "--in-place", "--overwrite", "always", "--dir", adir)
	check(z, zRel, true)
	// Everything but directory times is as backed up, and no staging
	// directory was left behind.
	for rel, want := range g.files {
		if got := readFile(t, filepath.Join(src, rel)); !bytes.Equal(got, want) {
			t.Fatalf("%s differs after in-place restores", rel)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(src), ".keep-restore-*"))
	left2, _ := filepath.Glob(filepath.Join(src, "*", ".keep-restore-*"))
	if len(left)+len(left2) > 0 {
		t.Fatalf("staging left behind: %q %q", left, left2)
	}
}

// testStdin backs up a stream from stdin and reads it back.
func testStdin(t *testing.T, adir string) {
	data := bytes.Repeat([]byte("INSERT INTO t VALUES (1, 'keep');\n"), 100000)
	data = append(data, randBytes(randFor(9), 1<<20, false)...)
	r := agentOK(t, 0, bytes.NewReader(data), "backup", "--stdin", "dump.sql", "--dir", adir, "--hostname", testHost, "--json")
	s := parseJSON[summary](t, r.stdout)
	if s.Job != snapshot.Full || s.BytesSeen != int64(len(data)) {
		t.Fatalf("stdin backup: %+v", s)
	}
	r = agentOK(t, 0, nil, "cat", s.Snapshot[:16], "dump.sql", "--dir", adir)
	if !bytes.Equal([]byte(r.stdout), data) {
		t.Fatalf("stdin round trip: %d bytes back of %d", len(r.stdout), len(data))
	}
	out := t.TempDir()
	agentOK(t, 0, nil, "restore", s.Snapshot[:16], "--target", out, "--dir", adir)
	if got := readFile(t, filepath.Join(out, "dump.sql")); !bytes.Equal(got, data) {
		t.Fatal("stdin restore differs")
	}
	// In place, a stream has nowhere to go: reported, exit 3.
	r = agentOK(t, 3, nil, "restore", s.Snapshot[:16], "--in-place", "--dir", adir)
	if !strings.Contains(r.stdout, "no original location") {
		t.Fatalf("stream in place: %s", r)
	}
	// The same stream again is an incremental of the first (same paths)
	// and sends no data.
	r = agentOK(t, 0, bytes.NewReader(data), "backup", "--stdin", "dump.sql", "--dir", adir, "--hostname", testHost, "--json")
	s2 := parseJSON[summary](t, r.stdout)
	if s2.Parent != s.Snapshot || s2.BytesSent > 64<<10 {
		t.Fatalf("second stdin backup: %+v", s2)
	}
}

func randFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }

// snapJSON and entryJSON mirror keep-agent's --json output.
type snapJSON struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Client   string   `json:"client"`
	Paths    []string `json:"paths"`
	Tags     []string `json:"tags"`
	Parent   string   `json:"parent"`
	Job      string   `json:"job"`
}

type entryJSON struct {
	Snapshot   string `json:"snapshot"`
	Path       string `json:"path"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Size       uint64 `json:"size"`
	Mode       string `json:"mode"`
	LinkTarget string `json:"link_target"`
}
