package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"keep/appliance/events"
	"keep/raid"
	"keep/raid/disk"
	"keep/raid/md"
)

// State is where the vault's storage stands.
type State string

// States.
const (
	StateStarting State = "starting"
	// StateWaiting: not enough disks to create or assemble; an operator
	// must add disks (or the config must allow creating).
	StateWaiting State = "waiting"
	// StateRefused: the array exists but cannot start (too few current
	// members); nothing was written.
	StateRefused State = "refused"
	// StateUnclean: the array runs but its filesystem is not clean, or
	// holds something that is not ours; not mounted.
	StateUnclean State = "unclean"
	StateMounted State = "mounted"
	// StateFailed: the running array lost more members than it survives.
	StateFailed  State = "failed"
	StateStopped State = "stopped"
)

// ErrNotReady wraps every reason the vault did not reach StateMounted.
var ErrNotReady = errors.New("storage not ready")

// Status is the vault as `keep ctl raid` and `keep ctl disks` show it.
type Status struct {
	State   State  `json:"state"`
	Problem string `json:"problem,omitempty"`
	// ArrayName and ArrayUUID identify the data array once known.
	ArrayName string `json:"array_name,omitempty"`
	ArrayUUID string `json:"array_uuid,omitempty"`
	Tier      string `json:"tier"`
	// Created is true when this boot created the array.
	Created    bool              `json:"created"`
	Array      *raid.ArrayStatus `json:"array,omitempty"`
	Disks      []DiskStatus      `json:"disks"`
	Filesystem *Filesystem       `json:"filesystem,omitempty"`
	LastScrub  time.Time         `json:"last_scrub,omitzero"`
}

// DiskStatus is one disk with its role and what the array makes of it.
type DiskStatus struct {
	disk.Classified
	// Array is "member", "spare", "faulty", "blank", "foreign" (another
	// array, or a damaged superblock), "in-use" (partitions or holders
	// Keep did not make), or "" for non-data disks.
	Array string `json:"array,omitempty"`
	Slot  int    `json:"slot"` // -1 unless a member
	// Health is the last SMART reading.
	Health *Health `json:"health,omitempty"`
}

// Filesystem is the data filesystem.
type Filesystem struct {
	Device      string  `json:"device"`
	MountPoint  string  `json:"mount_point"`
	Type        string  `json:"type"`
	Mounted     bool    `json:"mounted"`
	Made        bool    `json:"made"` // mkfs ran this boot
	CheckedAt   string  `json:"checked_at,omitempty"`
	TotalBytes  uint64  `json:"total_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

// Vault is the data vault's storage for one boot.
type Vault struct {
	o Options

	mu     sync.Mutex
	status Status
	// byName maps a kernel disk name to its identity, for events.
	byName map[string]disk.Disk
	// ref is a current member's superblock (for new spares).
	uuid md.UUID
	// warned is the highest FreeWarn level already reported.
	warned int
	// scrubPending is a scrub a rebuild interrupted, to resume at
	// scrubFrom (sectors) once the array is idle; scrubResumed is set
	// while a resumed scrub runs (sync_min must go back to 0 after).
	scrubPending, scrubRepair, scrubResumed bool
	scrubFrom                               uint64
	// health is the last SMART reading per kernel disk name.
	health map[string]Health
	// spareFailed is the last failure to adopt each blank disk, so a
	// disk that cannot become a spare is reported once, not every tick.
	spareFailed map[string]string
}

// New returns a vault over o; Start brings it up.
func New(o Options) *Vault {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Config.Array == "" {
		o.Config.Array = "md127"
	}
	return &Vault{o: o, status: Status{State: StateStarting, Tier: o.Config.Tier}, byName: map[string]disk.Disk{}, spareFailed: map[string]string{}, health: map[string]Health{}}
}

// Status returns a copy of the current status.
func (v *Vault) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.status
	s.Disks = slices.Clone(s.Disks)
	if s.Array != nil {
		a := *s.Array
		a.Members = slices.Clone(a.Members)
		s.Array = &a
	}
	if s.Filesystem != nil {
		f := *s.Filesystem
		s.Filesystem = &f
	}
	return s
}

func (v *Vault) setState(st State, problem string) {
	v.mu.Lock()
	v.status.State, v.status.Problem = st, problem
	v.mu.Unlock()
}

// notReady records why the vault stopped short and returns the error.
func (v *Vault) notReady(st State, kind string, sev events.Severity, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	v.setState(st, msg)
	v.o.Emit(sev, kind, msg, nil)
	return fmt.Errorf("%w: %s", ErrNotReady, msg)
}

// scanned is one data disk and what its first sectors say.
type scanned struct {
	disk.Classified
	sb    *md.Superblock
	err   error // a superblock that does not decode (not ErrBadMagic)
	blank bool
}

// scan discovers and classifies the disks and reads every data disk's
// md superblock.
func (v *Vault) scan() ([]scanned, error) {
	disks, err := disk.Discover(v.o.SysRoot, v.o.DevRoot)
	if err != nil {
		return nil, err
	}
	var out []scanned
	v.mu.Lock()
	for _, d := range disks {
		v.byName[d.Name] = d
	}
	v.mu.Unlock()
	for _, c := range disk.Classify(disks, v.o.Config.Policy) {
		s := scanned{Classified: c}
		if c.Role == disk.RoleData {
			s.sb, s.err = v.readSuperblock(c.Path)
			if errors.Is(s.err, md.ErrBadMagic) {
				s.err = nil
				s.blank = len(c.Partitions) == 0 && len(c.Holders) == 0
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (v *Vault) readSuperblock(path string) (*md.Superblock, error) {
	dev, closer, err := v.o.Opener.ReadMember(path)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return md.Read(dev)
}

// Start brings the storage up: assemble or create the array, check and
// mount its filesystem. It returns an error wrapping ErrNotReady when the
// vault cannot serve (too few disks, refused assembly, unclean or foreign
// filesystem); Status says why.
func (v *Vault) Start(ctx context.Context) error {
	cfg := v.o.Config
	tier, err := raid.TierByName(cfg.Tier)
	if err != nil {
		return v.notReady(StateWaiting, "storage.config", events.Error, "storage.tier: %v", err)
	}
	disks, err := v.scan()
	if err != nil {
		return v.notReady(StateWaiting, "storage.discover_failed", events.Error, "discover disks: %v", err)
	}
	v.recordDisks(disks, nil)
	v.checkHealth(ctx, "")
	var members []raid.Member
	var blanks []scanned
	for _, s := range disks {
		switch {
		case s.Role != disk.RoleData:
		case s.sb != nil:
			members = append(members, raid.Member{Device: s.Name, DeviceSectors: s.Sectors, SB: s.sb})
		case s.blank:
			blanks = append(blanks, s)
		case s.err != nil:
			v.o.Log.Warn("disk has a damaged or foreign superblock; leaving it alone", "disk", s.ID, "error", s.err)
		}
	}
	var ours []raid.Member
	for _, g := range raid.Group(members) {
		if g[0].SB.Name() == cfg.Name {
			if ours != nil {
				return v.notReady(StateRefused, "array.refused", events.Critical,
					"two arrays on the data disks are named %q; remove the foreign disks", cfg.Name)
			}
			ours = g
		} else {
			v.o.Log.Warn("disks of another array; leaving them alone", "array", g[0].SB.Name(), "uuid", g[0].SB.SetUUID.String(), "members", len(g))
		}
	}
	created := false
	if ours == nil {
		if cfg.Create != "blank" {
			return v.notReady(StateWaiting, "array.missing", events.Error,
				"no array named %q on the data disks, and storage.create is %q: add the array's disks, or set storage.create: blank to build one on blank disks",
				cfg.Name, cfg.Create)
		}
		if len(blanks) < tier.Disks() {
			return v.notReady(StateWaiting, "array.waiting_for_disks", events.Error,
				"tier %s needs %d blank data disks (%d members + %d spares); found %d: add disks",
				tier.Name, tier.Disks(), tier.Members, tier.Spares, len(blanks))
		}
		if ours, err = v.create(tier, blanks[:tier.Disks()]); err != nil {
			return v.notReady(StateWaiting, "array.create_failed", events.Critical, "create the array: %v", err)
		}
		created = true
	}
	if err := v.assemble(ours, created); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.mountFilesystem(ctx, created)
}

// create writes a new array's metadata onto blank disks (sorted by
// identity, so the same disks give the same layout) and returns the
// members read back from the disks.
func (v *Vault) create(tier raid.Tier, blanks []scanned) ([]raid.Member, error) {
	blanks = slices.Clone(blanks)
	slices.SortFunc(blanks, func(a, b scanned) int { return strings.Compare(a.ID, b.ID) })
	var sizes []uint64
	for _, b := range blanks {
		if !b.Stable {
			return nil, fmt.Errorf("disk %s has no serial or WWN: Keep will not build an array it cannot recognise after a reboot", b.Name)
		}
		sizes = append(sizes, b.Sectors)
	}
	plan, err := raid.NewPlan(tier.Spec(v.o.Config.Name, sizes), v.o.Now(), v.o.Rand)
	if err != nil {
		return nil, err
	}
	var devs []raid.MemberDevice
	for _, b := range blanks {
		dev, closer, err := v.o.Opener.OpenMember(b.Path)
		if err != nil {
			return nil, fmt.Errorf("open %s (%s): %w", b.Name, b.ID, err)
		}
		defer closer.Close()
		devs = append(devs, dev)
	}
	v.o.Log.Info("creating the data array", "tier", tier.Name, "level", tier.Level.String(), "members", tier.Members, "spares", tier.Spares,
		"uuid", plan.ArrayUUID.String(), "size_mib", plan.ArraySectors/2048)
	if err := raid.WriteMembers(plan, devs); err != nil {
		return nil, err
	}
	var ids []string
	members := make([]raid.Member, 0, len(blanks))
	for i, b := range blanks {
		sb, err := md.Read(devs[i])
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", b.Name, err)
		}
		members = append(members, raid.Member{Device: b.Name, DeviceSectors: b.Sectors, SB: sb})
		ids = append(ids, b.ID)
	}
	v.o.Emit(events.Notice, "array.created", fmt.Sprintf("created %s array %q on %d disks (%d members, %d spares), %d MiB",
		tier.Level, v.o.Config.Name, len(blanks), tier.Members, tier.Spares, plan.ArraySectors/2048),
		map[string]string{"uuid": plan.ArrayUUID.String(), "disks": strings.Join(ids, ",")})
	return members, nil
}

// assemble decides and starts the array.
func (v *Vault) assemble(ours []raid.Member, created bool) error {
	cfg := v.o.Config
	d, derr := raid.Decide(ours)
	v.mu.Lock()
	v.status.ArrayName, v.status.ArrayUUID, v.status.Created = cfg.Name, d.ArrayUUID.String(), created
	v.uuid = d.ArrayUUID
	v.mu.Unlock()
	for _, x := range d.Excluded {
		v.o.Emit(events.Warning, "array.member_excluded", fmt.Sprintf("%s left out of %s: %s", v.label(x.Member.Device), cfg.Name, x.Reason),
			map[string]string{"disk": v.label(x.Member.Device)})
	}
	if derr != nil || d.Action == raid.Refuse {
		return v.notReady(StateRefused, "array.refused", events.Critical,
			"array %q cannot start: %d of %d slots have a current member (missing slots %v); nothing was written to any disk. Reattach the missing disks",
			cfg.Name, d.RaidDisks-len(d.Missing), d.RaidDisks, d.Missing)
	}
	if d.Action == raid.StartDegraded {
		v.o.Emit(events.Error, "array.assembled_degraded", fmt.Sprintf("array %q starts degraded: slots %v have no current member", cfg.Name, d.Missing),
			map[string]string{"missing_slots": fmt.Sprint(d.Missing)})
	}
	devOf := func(m raid.Member) (raid.DevNum, error) {
		v.mu.Lock()
		dd, ok := v.byName[m.Device]
		v.mu.Unlock()
		if !ok {
			return raid.DevNum{}, fmt.Errorf("disk %s vanished", m.Device)
		}
		return raid.DevNum{Major: dd.Major, Minor: dd.Minor}, nil
	}
	start := v.o.Now()
	if err := raid.Start(v.o.Kernel, cfg.Array, d, devOf); err != nil {
		return v.notReady(StateRefused, "array.start_failed", events.Critical, "start array %q as %s: %v", cfg.Name, cfg.Array, err)
	}
	st, err := v.o.Kernel.ReadStatus(cfg.Array)
	if err != nil {
		return v.notReady(StateRefused, "array.start_failed", events.Critical, "array %s started but cannot be read: %v", cfg.Array, err)
	}
	v.mu.Lock()
	v.status.Array = &st
	v.mu.Unlock()
	// What the start began (a resync or a rebuild) is news; the watcher
	// reports from this status on.
	for _, c := range raid.Changes(raid.ArrayStatus{}, st) {
		if c.Kind != "array.started" {
			v.o.Emit(severityOf(c.Kind), c.Kind, c.Message, map[string]string{"array": c.Array})
		}
	}
	v.o.Log.Info("array started", "array", cfg.Array, "action", d.Action.String(), "took", v.o.Now().Sub(start).Round(time.Millisecond), "state", st.Summary())
	return nil
}

// label names a disk by its stable identity for events and logs.
func (v *Vault) label(name string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d, ok := v.byName[name]; ok {
		return d.ID + " (" + name + ")"
	}
	return name
}

// recordDisks refreshes the disk list of the status.
func (v *Vault) recordDisks(disks []scanned, st *raid.ArrayStatus) {
	out := make([]DiskStatus, 0, len(disks))
	for _, s := range disks {
		ds := DiskStatus{Classified: s.Classified, Slot: -1}
		v.mu.Lock()
		if h, ok := v.health[s.Name]; ok {
			ds.Health = &h
		}
		v.mu.Unlock()
		if s.Role == disk.RoleData {
			switch {
			case s.sb != nil && s.sb.SetUUID == v.uuid && v.uuid != (md.UUID{}):
				ds.Array = "member"
				if r := s.sb.DevRoles[min(int(s.sb.DevNumber), len(s.sb.DevRoles)-1)]; r == md.RoleSpare {
					ds.Array = "spare"
				}
			case s.sb != nil || s.err != nil:
				ds.Array = "foreign"
			case s.blank:
				ds.Array = "blank"
			default:
				ds.Array = "in-use"
			}
		}
		if st != nil {
			if m, ok := st.Member(s.Name); ok {
				ds.Slot = m.Slot
				switch {
				case m.Has("faulty"):
					ds.Array = "faulty"
				case m.Slot >= 0:
					ds.Array = "member"
				default:
					ds.Array = "spare"
				}
			}
		}
		out = append(out, ds)
	}
	v.mu.Lock()
	v.status.Disks = out
	v.mu.Unlock()
}

// mountFilesystem makes (when new), checks and mounts the XFS filesystem.
func (v *Vault) mountFilesystem(ctx context.Context, created bool) error {
	cfg := v.o.Config
	dev := filepath.Join(v.o.DevRoot, cfg.Array)
	fs := &Filesystem{Device: dev, MountPoint: cfg.MountPoint, Type: "xfs"}
	v.mu.Lock()
	v.status.Filesystem = fs
	v.mu.Unlock()
	head, err := readHead(dev, 1<<20)
	if err != nil {
		return v.notReady(StateUnclean, "filesystem.unreadable", events.Critical, "read %s: %v", dev, err)
	}
	isXFS := bytes.HasPrefix(head, []byte("XFSB"))
	if !isXFS {
		if !created && !allZero(head) {
			return v.notReady(StateUnclean, "filesystem.foreign", events.Critical,
				"%s holds data that is not an XFS filesystem; Keep will not format it. Inspect it, or wipe the array's disks to start afresh", dev)
		}
		start := v.o.Now()
		res, err := v.o.Runner.Run(ctx, "mkfs.xfs", "-f", "-q", "-L", "keep-vault", dev)
		if err != nil || res.ExitCode != 0 {
			return v.notReady(StateUnclean, "filesystem.mkfs_failed", events.Critical, "mkfs.xfs %s: %v", dev, runError(res, err))
		}
		v.mu.Lock()
		fs.Made = true
		v.mu.Unlock()
		v.o.Emit(events.Notice, "filesystem.created", fmt.Sprintf("made an XFS filesystem on %s in %v", dev, v.o.Now().Sub(start).Round(time.Millisecond)), nil)
	}
	if err := v.check(ctx, dev); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.MountPoint, 0o755); err != nil {
		return v.notReady(StateUnclean, "filesystem.mount_failed", events.Critical, "mount point %s: %v", cfg.MountPoint, err)
	}
	if err := v.o.Mounter.Mount(dev, cfg.MountPoint, "xfs", cfg.MountOptions); err != nil {
		return v.notReady(StateUnclean, "filesystem.mount_failed", events.Critical, "mount %s on %s: %v", dev, cfg.MountPoint, err)
	}
	v.mu.Lock()
	fs.Mounted = true
	v.status.State, v.status.Problem = StateMounted, ""
	v.mu.Unlock()
	v.updateSpace()
	v.o.Emit(events.Info, "filesystem.mounted", fmt.Sprintf("data vault mounted on %s (%s)", cfg.MountPoint, dev), nil)
	return nil
}

// check runs xfs_repair -n. A dirty log is replayed by a mount and
// unmount, then the check runs again; corruption refuses the mount.
// xfs_repair -n reports a dirty log either by exit 2 or, in xfsprogs 6.1,
// by a warning that the log is ignored followed by the spurious
// inconsistencies that ignoring it causes (exit 1): both mean "replay
// first", not "corrupt".
func (v *Vault) check(ctx context.Context, dev string) error {
	for attempt := 0; ; attempt++ {
		res, err := v.o.Runner.Run(ctx, "xfs_repair", "-n", dev)
		switch {
		case err != nil:
			return v.notReady(StateUnclean, "filesystem.check_failed", events.Critical, "xfs_repair -n %s could not run: %v", dev, err)
		case res.ExitCode == 0:
			v.mu.Lock()
			if v.status.Filesystem != nil {
				v.status.Filesystem.CheckedAt = v.o.Now().UTC().Format(time.RFC3339)
			}
			v.mu.Unlock()
			v.o.Log.Info("filesystem checks clean", "device", dev)
			return nil
		case attempt == 0 && dirtyLog(res):
			v.o.Log.Info("filesystem log is dirty (unclean shutdown); replaying it by mounting", "device", dev)
			tmp := v.o.Config.MountPoint
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				return v.notReady(StateUnclean, "filesystem.check_failed", events.Critical, "mount point %s: %v", tmp, err)
			}
			if err := v.o.Mounter.Mount(dev, tmp, "xfs", ""); err != nil {
				return v.notReady(StateUnclean, "filesystem.check_failed", events.Critical, "replay the log of %s: %v", dev, err)
			}
			if err := v.o.Mounter.Unmount(tmp); err != nil {
				return v.notReady(StateUnclean, "filesystem.check_failed", events.Critical, "unmount %s after log replay: %v", tmp, err)
			}
			v.o.Emit(events.Notice, "filesystem.log_replayed", "the filesystem log of "+dev+" was replayed after an unclean shutdown", nil)
		default:
			return v.notReady(StateUnclean, "filesystem.corrupt", events.Critical,
				"xfs_repair -n found problems on %s (exit %d); not mounting. Output: %s", dev, res.ExitCode, lastLines(res.Stdout+res.Stderr, 5))
		}
	}
}

// updateSpace refreshes capacity and raises an event when used space
// crosses a FreeWarn level upwards (and a notice when it falls back).
func (v *Vault) updateSpace() {
	v.mu.Lock()
	fs := v.status.Filesystem
	mounted := fs != nil && fs.Mounted
	v.mu.Unlock()
	if !mounted {
		return
	}
	total, free, err := v.o.Mounter.Space(v.o.Config.MountPoint)
	if err != nil || total == 0 {
		return
	}
	used := 100 * float64(total-free) / float64(total)
	v.mu.Lock()
	fs.TotalBytes, fs.FreeBytes, fs.UsedPercent = total, free, used
	level := 0
	for _, w := range v.o.Config.FreeWarn {
		if used >= float64(w) && w > level {
			level = w
		}
	}
	prev := v.warned
	v.warned = level
	v.mu.Unlock()
	switch {
	case level > prev:
		sev := events.Warning
		if level >= 90 {
			sev = events.Error
		}
		v.o.Emit(sev, "filesystem.space_low", fmt.Sprintf("data vault %.1f%% full (crossed %d%%): %d MiB free of %d MiB", used, level, free>>20, total>>20),
			map[string]string{"used_percent": fmt.Sprintf("%.1f", used)})
	case level < prev:
		v.o.Emit(events.Notice, "filesystem.space_ok", fmt.Sprintf("data vault %.1f%% full, below %d%% again", used, prev), nil)
	}
}

// dirtyLog reports whether xfs_repair -n stopped at, or ignored, an
// unreplayed log.
func dirtyLog(res Result) bool {
	return res.ExitCode == 2 || strings.Contains(res.Stdout+res.Stderr, "metadata changes in a log")
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return buf[:m], nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func runError(res Result, err error) error {
	if err != nil {
		return err
	}
	out := res.Stderr + res.Stdout
	// A usage text after the real complaint says nothing: cut it.
	if i := strings.Index(out, "\nUsage:"); i >= 0 {
		out = out[:i]
	}
	return fmt.Errorf("exit %d: %s", res.ExitCode, lastLines(out, 5))
}

// lastLines keeps the last n non-empty lines of tool output.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
