package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/events"
	"keep/raid"
	"keep/raid/disk"
	"keep/raid/md"
)

const diskSectors = 128 << 20 >> 9

// box is a fake machine: a sysfs tree with virtio disks backed by files
// in /dev, a recording md kernel, programs and mounts.
type box struct {
	t             *testing.T
	sys, dev, mnt string
	kernel        *fakeKernel
	runner        *fakeRunner
	mounter       *fakeMounter
	mu            sync.Mutex
	events        []string
	msgs          []string
}

// metadata hashes the first 2 MiB (superblock, bitmap) of every disk.
func (b *box) metadata() map[string]string {
	out := map[string]string{}
	ents, _ := os.ReadDir(b.dev)
	for _, e := range ents {
		f, _ := os.Open(filepath.Join(b.dev, e.Name()))
		buf := make([]byte, 2<<20)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		out[e.Name()] = fmt.Sprintf("%x", sha256.Sum256(buf[:n]))
	}
	return out
}

func newBox(t *testing.T, disks int) *box {
	b := &box{t: t, sys: t.TempDir(), dev: t.TempDir(), mnt: filepath.Join(t.TempDir(), "vault")}
	b.kernel = &fakeKernel{}
	b.runner = &fakeRunner{exit: map[string][]int{}}
	b.mounter = &fakeMounter{}
	for i := range disks {
		b.addDisk(fmt.Sprintf("vd%c", 'a'+i), fmt.Sprintf("KEEP-DATA-%d", i), diskSectors)
	}
	// The md device the array appears as.
	if err := os.WriteFile(filepath.Join(b.dev, "md127"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *box) addDisk(name, serial string, sectors uint64) {
	b.t.Helper()
	devdir := filepath.Join(b.sys, "devices", "pci0000:00", "virtio-"+name, "block", name)
	for p, v := range map[string]string{
		"dev": fmt.Sprintf("253:%d", 16*(name[2]-'a')), "size": fmt.Sprint(sectors), "serial": serial,
		"queue/rotational": "1",
	} {
		full := filepath.Join(devdir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(v+"\n"), 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(b.sys, "block"), 0o755)
	if err := os.Symlink(devdir, filepath.Join(b.sys, "block", name)); err != nil {
		b.t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.dev, name))
	if err != nil {
		b.t.Fatal(err)
	}
	f.Truncate(int64(sectors) * 512)
	f.Close()
}

func (b *box) vault(cfg Config) *Vault {
	if cfg.Tier == "" {
		cfg = Config{Tier: "compact", Name: "keep:data", Create: "blank", MountPoint: b.mnt, MountOptions: "noatime", AutoSpare: true, FreeWarn: []int{80, 90}}
	}
	return New(Options{
		Config: cfg, SysRoot: b.sys, DevRoot: b.dev,
		Kernel: b.kernel, Opener: raid.Files{}, Runner: b.runner, Mounter: b.mounter,
		Log: hclog.NewNullLogger(),
		Emit: func(sev events.Severity, kind, msg string, fields map[string]string) {
			b.mu.Lock()
			b.events = append(b.events, kind)
			b.msgs = append(b.msgs, msg)
			b.mu.Unlock()
		},
		Now:  func() time.Time { return time.Unix(1800000000, 0) },
		Rand: mrand.New(mrand.NewSource(1)),
	})
}

func (b *box) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

// superblocks reads every disk's md superblock (nil when blank).
func (b *box) superblocks() map[string]*md.Superblock {
	out := map[string]*md.Superblock{}
	ents, _ := os.ReadDir(b.dev)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "vd") {
			continue
		}
		f, _ := os.Open(filepath.Join(b.dev, e.Name()))
		sb, err := md.Read(f)
		f.Close()
		if err == nil {
			out[e.Name()] = sb
		}
	}
	return out
}

type fakeKernel struct {
	mu     sync.Mutex
	calls  []string
	status raid.ArrayStatus
	err    error // for ReadStatus
}

func (k *fakeKernel) rec(c string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, c)
	return nil
}
func (k *fakeKernel) NewArray(a string) error              { return k.rec("new_array " + a) }
func (k *fakeKernel) SetMetadataVersion(a, v string) error { return k.rec("metadata " + v) }
func (k *fakeKernel) AddDevice(a string, d raid.DevNum) error {
	return k.rec("new_dev " + d.String())
}
func (k *fakeKernel) SetArrayState(a, s string) error { return k.rec("array_state " + s) }
func (k *fakeKernel) ReadStatus(a string) (raid.ArrayStatus, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status, k.err
}
func (k *fakeKernel) SetMemberState(a, d, s string) error { return k.rec("member " + d + " " + s) }
func (k *fakeKernel) SetSyncAction(a, s string) error     { return k.rec("sync_action " + s) }
func (k *fakeKernel) SetSyncMin(a string, n uint64) error {
	return k.rec(fmt.Sprintf("sync_min %d", n))
}
func (k *fakeKernel) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.calls)
}

type fakeRunner struct {
	mu   sync.Mutex
	ran  []string
	exit map[string][]int // program → exit codes in turn (then 0)
	out  string
	// onMkfs runs when mkfs.xfs does (writes the XFS magic).
	onMkfs func()
}

func (r *fakeRunner) Run(ctx context.Context, argv ...string) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, strings.Join(argv, " "))
	code := 0
	if q := r.exit[argv[0]]; len(q) > 0 {
		code, r.exit[argv[0]] = q[0], q[1:]
	}
	if argv[0] == "mkfs.xfs" && code == 0 && r.onMkfs != nil {
		r.onMkfs()
	}
	return Result{ExitCode: code, Stdout: r.out}, nil
}

type fakeMounter struct {
	mu      sync.Mutex
	calls   []string
	failing error
	total   uint64
	free    uint64
}

func (m *fakeMounter) Mount(src, target, fstype, opts string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("mount %s %s %s %s", filepath.Base(src), filepath.Base(target), fstype, opts))
	return m.failing
}
func (m *fakeMounter) Unmount(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "unmount "+filepath.Base(target))
	return nil
}
func (m *fakeMounter) Space(string) (uint64, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total, m.free, nil
}

// running is the status the fake kernel reports for a clean RAID 6 on
// vda-vde with spare vdf.
func running() raid.ArrayStatus {
	s := raid.ArrayStatus{Name: "md127", Level: "raid6", RaidDisks: 5, ArrayState: "clean", SyncAction: "idle"}
	for i, d := range []string{"vda", "vdb", "vdc", "vdd", "vde"} {
		s.Members = append(s.Members, raid.MemberStatus{Device: d, State: []string{"in_sync"}, Slot: i})
	}
	s.Members = append(s.Members, raid.MemberStatus{Device: "vdf", State: []string{"spare"}, Slot: -1})
	return s
}

func (b *box) xfsOnMkfs() {
	b.runner.onMkfs = func() {
		f, _ := os.OpenFile(filepath.Join(b.dev, "md127"), os.O_WRONLY, 0)
		f.WriteAt([]byte("XFSB"), 0)
		f.Close()
	}
}

func TestFirstBootCreatesChecksAndMounts(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	v := b.vault(Config{})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sbs := b.superblocks()
	if len(sbs) != 6 {
		t.Fatalf("superblocks on %d disks, want 6", len(sbs))
	}
	uuid := sbs["vda"].SetUUID
	for name, sb := range sbs {
		if sb.SetUUID != uuid || sb.Level != md.LevelRAID6 || sb.RaidDisks != 5 || sb.Name() != "keep:data" {
			t.Errorf("%s: %+v", name, sb)
		}
	}
	// Sorted by identity: virtio-KEEP-DATA-0..5 → slots 0..4, spare.
	if r := sbs["vdf"].DevRoles[sbs["vdf"].DevNumber]; r != md.RoleSpare {
		t.Errorf("vdf role %v, want spare", r)
	}
	wantCalls := []string{"new_array md127", "metadata 1.2", "new_dev 253:0", "new_dev 253:16", "new_dev 253:32", "new_dev 253:48", "new_dev 253:64", "new_dev 253:80", "array_state active"}
	if got := b.kernel.Calls(); !slices.Equal(got, wantCalls) {
		t.Errorf("kernel calls %v\nwant %v", got, wantCalls)
	}
	if want := []string{"mkfs.xfs -f -q -L keep-vault " + filepath.Join(b.dev, "md127"), "xfs_repair -n " + filepath.Join(b.dev, "md127")}; !slices.Equal(b.runner.ran, want) {
		t.Errorf("programs %v, want %v", b.runner.ran, want)
	}
	if want := []string{"mount md127 vault xfs noatime"}; !slices.Equal(b.mounter.calls, want) {
		t.Errorf("mounts %v", b.mounter.calls)
	}
	st := v.Status()
	if st.State != StateMounted || !st.Created || !st.Filesystem.Made || !st.Filesystem.Mounted || st.ArrayUUID != uuid.String() {
		t.Errorf("status %+v", st)
	}
	if want := []string{"array.created", "filesystem.created", "filesystem.mounted"}; !slices.Equal(b.kinds(), want) {
		t.Errorf("events %v, want %v", b.kinds(), want)
	}

	// The next boot assembles the same array and mounts without mkfs.
	b.kernel.calls, b.runner.ran, b.events = nil, nil, nil
	v2 := b.vault(Config{})
	if err := v2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := v2.Status(); st.Created || st.Filesystem.Made || st.State != StateMounted || st.ArrayUUID != uuid.String() {
		t.Errorf("second boot: %+v", st)
	}
	if len(b.runner.ran) != 1 || !strings.HasPrefix(b.runner.ran[0], "xfs_repair -n") {
		t.Errorf("second boot ran %v; want only the check", b.runner.ran)
	}
	if after := b.superblocks(); after["vda"].CTime != sbs["vda"].CTime || after["vda"].DeviceUUID != sbs["vda"].DeviceUUID {
		t.Errorf("assembly rewrote a superblock")
	}
}

func TestNotEnoughBlankDisksWritesNothing(t *testing.T) {
	b := newBox(t, 5) // compact needs 6
	v := b.vault(Config{})
	err := v.Start(context.Background())
	if !errors.Is(err, ErrNotReady) || v.Status().State != StateWaiting || !strings.Contains(err.Error(), "needs 6 blank data disks") {
		t.Fatalf("Start = %v, state %s", err, v.Status().State)
	}
	if n := len(b.superblocks()); n != 0 || len(b.kernel.Calls()) != 0 {
		t.Errorf("wrote %d superblocks, kernel calls %v", n, b.kernel.Calls())
	}

	// create: never waits for an operator even with enough disks.
	b = newBox(t, 6)
	cfg := Config{Tier: "compact", Name: "keep:data", Create: "never", MountPoint: b.mnt}
	if err := b.vault(cfg).Start(context.Background()); !errors.Is(err, ErrNotReady) || len(b.superblocks()) != 0 {
		t.Errorf("create never: %v, %d superblocks", err, len(b.superblocks()))
	}
	if !slices.Contains(b.kinds(), "array.missing") {
		t.Errorf("events %v", b.kinds())
	}
}

func TestForeignFilesystemIsNeverFormatted(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	if err := b.vault(Config{}).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Something else than XFS on the assembled array.
	os.WriteFile(filepath.Join(b.dev, "md127"), bytes.Repeat([]byte("ext4"), 1024), 0o644)
	b.runner.ran = nil
	v := b.vault(Config{})
	err := v.Start(context.Background())
	if !errors.Is(err, ErrNotReady) || v.Status().State != StateUnclean || len(b.runner.ran) != 0 {
		t.Errorf("foreign data: %v, state %s, ran %v", err, v.Status().State, b.runner.ran)
	}
}

func TestCheckGatesTheMount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exits    []int
		out      string
		mounted  bool
		mountsOK []string
	}{
		{"clean", nil, "", true, []string{"mount md127 vault xfs noatime"}},
		{"dirty log exit 2", []int{2, 0}, "", true, []string{"mount md127 vault xfs ", "unmount vault", "mount md127 vault xfs noatime"}},
		{"ignored log (xfsprogs 6.1)", []int{1, 0}, "ERROR: The filesystem has valuable metadata changes in a log which is being ignored", true,
			[]string{"mount md127 vault xfs ", "unmount vault", "mount md127 vault xfs noatime"}},
		{"corrupt", []int{1}, "bad inode", false, nil},
		{"corrupt after replay", []int{2, 1}, "", false, []string{"mount md127 vault xfs ", "unmount vault"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t, 6)
			b.kernel.status = running()
			b.xfsOnMkfs()
			b.runner.exit["xfs_repair"] = tc.exits
			b.runner.out = tc.out
			v := b.vault(Config{})
			err := v.Start(context.Background())
			if (err == nil) != tc.mounted || v.Status().Filesystem.Mounted != tc.mounted {
				t.Errorf("Start = %v, mounted %v", err, v.Status().Filesystem.Mounted)
			}
			if !slices.Equal(b.mounter.calls, tc.mountsOK) {
				t.Errorf("mounts %q, want %q", b.mounter.calls, tc.mountsOK)
			}
			if !tc.mounted && !slices.Contains(b.kinds(), "filesystem.corrupt") {
				t.Errorf("events %v", b.kinds())
			}
		})
	}
}

func TestRefusedAssemblyWritesNothing(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	if err := b.vault(Config{}).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Three of the five members are gone.
	for _, n := range []string{"vda", "vdb", "vdc"} {
		os.Remove(filepath.Join(b.sys, "block", n))
	}
	before := b.metadata()
	b.kernel.calls, b.runner.ran, b.events = nil, nil, nil
	v := b.vault(Config{})
	err := v.Start(context.Background())
	if !errors.Is(err, ErrNotReady) || v.Status().State != StateRefused {
		t.Fatalf("Start = %v, state %s", err, v.Status().State)
	}
	if len(b.kernel.Calls()) != 0 || len(b.runner.ran) != 0 || len(b.mounter.calls) != 1 {
		t.Errorf("a refused array touched something: kernel %v, ran %v, mounts %v", b.kernel.Calls(), b.runner.ran, b.mounter.calls)
	}
	if after := b.metadata(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused assembly changed a disk's metadata")
	}
	if !slices.Contains(b.kinds(), "array.refused") {
		t.Errorf("events %v", b.kinds())
	}
}

func TestWatchReactions(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	v := b.vault(Config{})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.events, b.kernel.calls = nil, nil

	// vdb fails: the spare takes slot 1; Keep removes the faulty member.
	st := running()
	st.Members[1].State = []string{"faulty"}
	st.Members[5] = raid.MemberStatus{Device: "vdf", Slot: 1}
	st.Degraded, st.SyncAction, st.SyncTotal = 1, "recover", 100
	v.onArray(st, nil)
	if !slices.Contains(b.kernel.Calls(), "member vdb remove") {
		t.Errorf("faulty member not removed: %v", b.kernel.Calls())
	}
	if want := []string{"member.faulty", "spare.activated", "array.degraded", "rebuild.started"}; !slices.Equal(b.kinds(), want) {
		t.Errorf("events %v, want %v", b.kinds(), want)
	}
	// A scrub now is refused: the rebuild goes first.
	b.kernel.status = st
	if err := v.Scrub(false); !errors.Is(err, ErrBusy) {
		t.Errorf("scrub during a rebuild: %v", err)
	}
	// No spare left to replace onto.
	if err := v.Replace("virtio-KEEP-DATA-0"); err == nil || !strings.Contains(err.Error(), "no spare") {
		t.Errorf("replace without a spare: %v", err)
	}

	// Three slots lost: failed, and the filesystem is taken off.
	lost := running()
	for i := range 3 {
		lost.Members[i].State = []string{"faulty"}
	}
	lost.Degraded = 3
	b.events = nil
	v.onArray(lost, nil)
	if !slices.Contains(b.kinds(), "array.failed") || !slices.Contains(b.kinds(), "filesystem.unmounted") {
		t.Errorf("events %v", b.kinds())
	}
	if s := v.Status(); s.State != StateFailed || s.Filesystem.Mounted {
		t.Errorf("after the failure: %s mounted %v", s.State, s.Filesystem.Mounted)
	}
}

func TestScrubAndSpace(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	b.mounter.total, b.mounter.free = 1000<<20, 150<<20 // 85 % used
	v := b.vault(Config{})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.kinds(), "filesystem.space_low") {
		t.Errorf("85%% full: events %v", b.kinds())
	}
	b.mounter.free = 50 << 20 // 95 %
	b.events = nil
	v.updateSpace()
	v.updateSpace()
	if got := b.kinds(); !slices.Equal(got, []string{"filesystem.space_low"}) {
		t.Errorf("95%%: events %v (want one, for crossing 90)", got)
	}
	if err := v.Scrub(true); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.kernel.Calls(), "sync_action repair") {
		t.Errorf("calls %v", b.kernel.Calls())
	}
	if b, err := os.ReadFile(filepath.Join(b.mnt, ".keep", "last-scrub")); err != nil || !strings.HasPrefix(string(b), "2027-01-15") {
		t.Errorf("last scrub recorded as %q, %v", b, err)
	}
}

func TestBlankDiskBecomesSpare(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.xfsOnMkfs()
	v := b.vault(Config{})
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.addDisk("vdg", "KEEP-DATA-6", diskSectors)
	b.events, b.kernel.calls = nil, nil
	v.adoptBlankDisks(context.Background())
	sb := b.superblocks()["vdg"]
	ref := b.superblocks()["vda"]
	if sb == nil || sb.SetUUID != ref.SetUUID || sb.DevRoles[sb.DevNumber] != md.RoleSpare || sb.DevNumber < 6 {
		t.Fatalf("vdg superblock %+v", sb)
	}
	if !slices.Contains(b.kernel.Calls(), "new_dev 253:96") || !slices.Contains(b.kinds(), "spare.added") {
		t.Errorf("calls %v events %v", b.kernel.Calls(), b.kinds())
	}
	// A disk too small is reported once, not every tick.
	b.addDisk("vdh", "KEEP-DATA-7", 8192)
	b.events = nil
	v.adoptBlankDisks(context.Background())
	v.adoptBlankDisks(context.Background())
	if n := strings.Count(strings.Join(b.kinds(), " "), "spare.add_failed"); n != 1 {
		t.Errorf("spare.add_failed %d times: %q", n, b.msgs)
	}
	_ = disk.RoleData
}

// Scrubs run on schedule, never during a rebuild, and one a rebuild
// interrupted resumes where it stopped once the array is whole again.
func TestScrubScheduleAndResume(t *testing.T) {
	b := newBox(t, 6)
	b.kernel.status = running()
	b.kernel.status.ChunkBytes = 512 << 10
	b.xfsOnMkfs()
	cfg := Config{Tier: "compact", Name: "keep:data", Create: "blank", MountPoint: b.mnt, ScrubEvery: 24 * time.Hour}
	v := b.vault(cfg)
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// First boot: the clock starts now; no scrub of a fresh array.
	b.kernel.calls = nil
	v.maybeScrub()
	if len(b.kernel.Calls()) != 0 {
		t.Fatalf("scrubbed a fresh array: %v", b.kernel.Calls())
	}
	// A day later it is due.
	os.WriteFile(filepath.Join(b.mnt, ".keep", "last-scrub"), []byte("2027-01-13T00:00:00Z\n"), 0o644)
	v2 := b.vault(cfg)
	if err := v2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.kernel.calls = nil
	v2.maybeScrub()
	if got := b.kernel.Calls(); !slices.Equal(got, []string{"sync_action check"}) {
		t.Fatalf("due scrub: %v", got)
	}
	// Running: a check at sector 5000; then a member fails and md
	// switches to recovery.
	check := running()
	check.ChunkBytes, check.SyncAction, check.SyncDone, check.SyncTotal = 512<<10, "check", 5000, 100000
	v2.onArray(check, nil)
	rebuild := check
	rebuild.Members[1].State = []string{"faulty"}
	rebuild.Degraded, rebuild.SyncAction, rebuild.SyncDone = 1, "recover", 0
	v2.onArray(rebuild, nil)
	b.kernel.status = rebuild
	b.kernel.calls = nil
	v2.maybeScrub()
	if got := b.kernel.Calls(); len(got) != 0 {
		t.Fatalf("scrub restarted during the rebuild: %v", got)
	}
	// Whole again: resumed from the chunk boundary below 5000.
	b.kernel.status = running()
	b.kernel.status.ChunkBytes = 512 << 10
	v2.maybeScrub()
	if got := b.kernel.Calls(); !slices.Equal(got, []string{"sync_min 4096", "sync_action check"}) {
		t.Fatalf("resume: %v", got)
	}
	if !slices.Contains(b.kinds(), "scrub.resumed") {
		t.Errorf("events %v", b.kinds())
	}
	// When the resumed scrub finishes, sync_min goes back to 0.
	resumed := running()
	resumed.SyncAction, resumed.SyncDone, resumed.SyncTotal = "check", 9000, 100000
	v2.onArray(resumed, nil)
	b.kernel.calls = nil
	v2.onArray(running(), nil)
	if got := b.kernel.Calls(); !slices.Contains(got, "sync_min 0") {
		t.Errorf("after the resumed scrub: %v", got)
	}
}
