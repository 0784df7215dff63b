package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"keep/appliance/events"
	"keep/raid"
	"keep/raid/disk"
	"keep/raid/md"
)

// severities of array changes, by kind.
var changeSeverity = map[string]events.Severity{
	"array.started":    events.Info,
	"array.stopped":    events.Error,
	"array.degraded":   events.Error,
	"array.redundant":  events.Notice,
	"array.failed":     events.Critical,
	"member.faulty":    events.Error,
	"member.removed":   events.Notice,
	"member.added":     events.Info,
	"spare.activated":  events.Notice,
	"mismatches.found": events.Warning,
}

func severityOf(kind string) events.Severity {
	if s, ok := changeSeverity[kind]; ok {
		return s
	}
	switch {
	case strings.HasPrefix(kind, "rebuild.started"), strings.HasPrefix(kind, "rebuild.finished"):
		return events.Notice
	case strings.HasSuffix(kind, ".interrupted"):
		return events.Warning
	}
	return events.Info
}

// rescanTicks is how many ticks pass between backstop rescans for blank
// disks (a minute at the appliance's 5 s tick).
const rescanTicks = 12

// Watcher is the part of Watch that follows md; raid.Watcher in
// production, a fake in tests.
type Watcher interface {
	Watch(ctx context.Context, array string, onStatus func(raid.ArrayStatus, error)) error
}

// UeventSource delivers kernel device events (disk.ListenUevents).
type UeventSource func(ctx context.Context, fn func(disk.Uevent)) error

// Watch follows the running array and the disks until ctx is done: md
// changes become events; a faulty member is removed from the array so its
// bay can be reused; a disk that disappears is failed out at once instead
// of at its next I/O error; a blank disk that appears becomes a spare
// (auto_spare); the free space and the scrub schedule are checked every
// tick.
func (v *Vault) Watch(ctx context.Context, w Watcher, uevents UeventSource, tick time.Duration) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- w.Watch(ctx, v.o.Config.Array, v.onArray)
	}()
	go func() {
		defer wg.Done()
		if uevents == nil {
			<-ctx.Done()
			return
		}
		if err := uevents(ctx, func(u disk.Uevent) { v.onUevent(ctx, u) }); err != nil && ctx.Err() == nil {
			v.o.Log.Warn("no disk hot-plug events; blank disks are noticed at the next tick", "error", err)
		}
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	healthEvery := v.o.Config.HealthEvery
	if healthEvery <= 0 {
		healthEvery = time.Hour
	}
	lastHealth := v.o.Now()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("watch %s: %w", v.o.Config.Array, err)
			}
		case <-t.C:
			v.updateSpace()
			v.maybeScrub()
			// New disks arrive as uevents; the rescan (a superblock
			// read on every disk) is only the backstop for a missed one.
			if ticks++; ticks%rescanTicks == 0 {
				v.adoptBlankDisks(ctx)
			}
			if v.o.Now().Sub(lastHealth) >= healthEvery {
				lastHealth = v.o.Now()
				v.checkHealth(ctx, "")
			}
		}
	}
}

// onArray handles one md status read.
func (v *Vault) onArray(st raid.ArrayStatus, err error) {
	v.mu.Lock()
	prev := raid.ArrayStatus{}
	if v.status.Array != nil {
		prev = *v.status.Array
	}
	stopping := v.status.State == StateStopped
	v.status.Array = &st
	v.mu.Unlock()
	if err != nil && !prev.Running() {
		return
	}
	for _, c := range raid.Changes(prev, st) {
		if c.Kind == "array.started" || (stopping && c.Kind == "array.stopped") {
			continue // Start already said so; a stop we asked for
		}
		fields := map[string]string{"array": c.Array}
		if c.Member != "" {
			fields["disk"] = v.label(c.Member)
		}
		v.o.Emit(severityOf(c.Kind), c.Kind, v.labelled(c.Message, c.Member), fields)
		switch c.Kind {
		case "scrub.interrupted", "repair.interrupted":
			// A rebuild took over: pause the scrub, resume it after.
			v.mu.Lock()
			v.scrubPending, v.scrubFrom, v.scrubRepair = true, prev.SyncDone, c.Kind == "repair.interrupted"
			v.mu.Unlock()
		case "scrub.finished", "repair.finished":
			v.mu.Lock()
			resumed := v.scrubResumed
			v.scrubResumed = false
			v.mu.Unlock()
			if resumed {
				if err := v.o.Kernel.SetSyncMin(st.Name, 0); err != nil {
					v.o.Log.Warn("reset sync_min after a resumed scrub", "error", err)
				}
			}
		}
		if c.Kind == "array.failed" {
			v.setState(StateFailed, c.Message)
			v.unmountFailed()
		}
	}
	v.updateDiskRoles(st)
	// A faulty member is removed so the kernel lets go of it (and of
	// a disk that was pulled). The array keeps running without it.
	for _, m := range st.Members {
		if m.Has("faulty") && !stopping {
			if err := v.o.Kernel.SetMemberState(st.Name, m.Device, "remove"); err != nil {
				v.o.Log.Warn("remove faulty member", "disk", v.label(m.Device), "error", err)
			}
		}
	}
	if st.Running() && !st.Failed() {
		v.mu.Lock()
		if v.status.State == StateFailed {
			v.status.State, v.status.Problem = StateMounted, ""
		}
		v.mu.Unlock()
	}
}

// unmountFailed takes the filesystem of a failed array off the tree (the
// kernel fails every write anyway; XFS shuts itself down): nothing may
// keep writing, and nobody may mistake it for a working vault.
func (v *Vault) unmountFailed() {
	v.mu.Lock()
	fs := v.status.Filesystem
	mounted := fs != nil && fs.Mounted
	v.mu.Unlock()
	if !mounted {
		return
	}
	if err := v.o.Mounter.Unmount(v.o.Config.MountPoint); err != nil {
		v.o.Emit(events.Critical, "filesystem.unmount_failed", fmt.Sprintf("the failed array's filesystem could not be unmounted from %s: %v", v.o.Config.MountPoint, err), nil)
		return
	}
	v.mu.Lock()
	fs.Mounted = false
	v.mu.Unlock()
	v.o.Emit(events.Error, "filesystem.unmounted", "the data vault's filesystem was unmounted: its array failed", nil)
}

// labelled replaces a kernel disk name in a message with its identity.
func (v *Vault) labelled(msg, member string) string {
	if member == "" {
		return msg
	}
	return strings.Replace(msg, member, v.label(member), 1)
}

// updateDiskRoles refreshes each disk's array role from a status.
func (v *Vault) updateDiskRoles(st raid.ArrayStatus) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, d := range v.status.Disks {
		m, ok := st.Member(d.Name)
		switch {
		case ok && m.Has("faulty"):
			d.Array, d.Slot = "faulty", m.Slot
		case ok && m.Slot >= 0:
			d.Array, d.Slot = "member", m.Slot
		case ok:
			d.Array, d.Slot = "spare", -1
		case d.Array == "member" || d.Array == "spare" || d.Array == "faulty":
			d.Array, d.Slot = "removed", -1
		}
		v.status.Disks[i] = d
	}
}

// onUevent reacts to disks arriving and leaving.
func (v *Vault) onUevent(ctx context.Context, u disk.Uevent) {
	if !u.IsDisk() || u.DevName == "" {
		return
	}
	switch u.Action {
	case "remove":
		st, err := v.o.Kernel.ReadStatus(v.o.Config.Array)
		label := v.label(u.DevName)
		v.o.Emit(events.Notice, "disk.removed", "disk "+label+" was removed", map[string]string{"disk": label})
		if err != nil {
			return
		}
		if m, ok := st.Member(u.DevName); ok && !m.Has("faulty") {
			// The kernel would notice at the next I/O; fail it now.
			if err := v.o.Kernel.SetMemberState(st.Name, u.DevName, "faulty"); err != nil {
				v.o.Log.Warn("fail the removed member", "disk", label, "error", err)
			}
		}
	case "add":
		d, err := disk.Read(v.o.SysRoot, v.o.DevRoot, u.DevName)
		if err != nil {
			v.o.Log.Warn("new disk unreadable", "disk", u.DevName, "error", err)
			return
		}
		v.mu.Lock()
		v.byName[d.Name] = d
		v.mu.Unlock()
		v.o.Emit(events.Info, "disk.added", fmt.Sprintf("disk %s (%s, %d MiB) was added", d.ID, d.Name, d.Bytes()>>20), map[string]string{"disk": d.ID})
		v.checkHealth(ctx, d.Name)
		v.adoptBlankDisks(ctx)
	}
}

// adoptBlankDisks rescans the disks and, with auto_spare, makes every
// blank data disk a spare of the running array.
func (v *Vault) adoptBlankDisks(ctx context.Context) {
	disks, err := v.scan()
	if err != nil {
		v.o.Log.Warn("rescan disks", "error", err)
		return
	}
	st, err := v.o.Kernel.ReadStatus(v.o.Config.Array)
	if err != nil {
		v.recordDisks(disks, nil)
		return
	}
	if v.o.Config.AutoSpare && st.Running() && !st.Failed() {
		for _, s := range disks {
			if s.Role != disk.RoleData || !s.blank || !s.Stable || ctx.Err() != nil {
				continue
			}
			if err := v.addSpare(st, s.Disk); err != nil {
				msg := fmt.Sprintf("blank disk %s could not become a spare: %v", s.ID, err)
				v.mu.Lock()
				repeat := v.spareFailed[s.ID] == msg
				v.spareFailed[s.ID] = msg
				v.mu.Unlock()
				if !repeat {
					v.o.Emit(events.Warning, "spare.add_failed", msg, map[string]string{"disk": s.ID})
				}
			}
		}
		disks, _ = v.scan()
		st, _ = v.o.Kernel.ReadStatus(v.o.Config.Array)
	}
	v.recordDisks(disks, &st)
}

// addSpare writes a spare's metadata onto a blank disk and hands it to
// the running array. A degraded array starts rebuilding onto it.
func (v *Vault) addSpare(st raid.ArrayStatus, d disk.Disk) error {
	var ref *md.Superblock
	var refDev io.ReaderAt
	var inUse []uint32
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, m := range st.Members {
		if m.Has("faulty") {
			continue
		}
		dev, closer, err := v.o.Opener.ReadMember(filepath.Join(v.o.DevRoot, m.Device))
		if err != nil {
			continue
		}
		closers = append(closers, closer.Close)
		sb, err := md.Read(dev)
		if err != nil {
			continue
		}
		inUse = append(inUse, sb.DevNumber)
		if m.Has("in_sync") && (ref == nil || sb.Events > ref.Events) {
			ref, refDev = sb, dev
		}
	}
	if ref == nil {
		return errors.New("no in-sync member to copy the array's metadata from")
	}
	sb, err := raid.NewSpare(ref, d.Sectors, inUse, v.o.Now(), v.o.Rand)
	if err != nil {
		return err
	}
	var bm *md.Bitmap
	if ref.FeatureMap&md.FeatureBitmapOffset != 0 {
		if bm, err = md.ReadBitmap(refDev, ref); err != nil {
			return fmt.Errorf("read the array's bitmap: %w", err)
		}
	}
	dev, closer, err := v.o.Opener.OpenMember(d.Path)
	if err != nil {
		return err
	}
	werr := raid.WriteSpare(dev, sb, bm)
	closer.Close()
	if werr != nil {
		return werr
	}
	if err := v.o.Kernel.AddDevice(st.Name, raid.DevNum{Major: d.Major, Minor: d.Minor}); err != nil {
		return err
	}
	if st.Degraded > 0 {
		// The kernel picks spares up when recovery is next checked;
		// asking for it starts the rebuild now.
		if err := v.o.Kernel.SetSyncAction(st.Name, "recover"); err != nil {
			v.o.Log.Debug("kick recovery", "error", err)
		}
	}
	v.o.Emit(events.Notice, "spare.added", fmt.Sprintf("blank disk %s (%s) is now a hot spare of %s", d.ID, d.Name, v.o.Config.Name),
		map[string]string{"disk": d.ID})
	return nil
}

// scrubState is where the last scrub is remembered (on the data
// filesystem, so it survives reboots with the array).
func (v *Vault) scrubState() string {
	return filepath.Join(v.o.Config.MountPoint, ".keep", "last-scrub")
}

// maybeScrub starts a scheduled check when one is due and no other sync
// runs (a rebuild always goes first).
func (v *Vault) maybeScrub() {
	if v.o.Config.ScrubEvery <= 0 {
		return
	}
	v.mu.Lock()
	mounted := v.status.State == StateMounted
	last := v.status.LastScrub
	v.mu.Unlock()
	if !mounted {
		return
	}
	if v.resumeScrub() {
		return
	}
	if last.IsZero() {
		if b, err := os.ReadFile(v.scrubState()); err == nil {
			last, _ = time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
		}
		if last.IsZero() {
			// First boot: count from now, do not scrub a fresh array.
			last = v.o.Now()
			v.recordScrub(last)
		}
		v.mu.Lock()
		v.status.LastScrub = last
		v.mu.Unlock()
	}
	if v.o.Now().Sub(last) < v.o.Config.ScrubEvery {
		return
	}
	if err := v.Scrub(false); err != nil {
		v.o.Log.Info("scheduled scrub deferred", "reason", err)
	}
}

// resumeScrub restarts a scrub that a rebuild interrupted, from where it
// stopped (md's sync_min), once the array is idle again. It reports
// whether a scrub is pending (started now, or still waiting).
func (v *Vault) resumeScrub() bool {
	v.mu.Lock()
	pending, from, repair := v.scrubPending, v.scrubFrom, v.scrubRepair
	v.mu.Unlock()
	if !pending {
		return false
	}
	st, err := v.o.Kernel.ReadStatus(v.o.Config.Array)
	if err != nil || !st.Running() || st.Failed() || st.Syncing() || st.Degraded > 0 {
		return true // a rebuild goes first; try again next tick
	}
	if chunk := uint64(st.ChunkBytes / 512); chunk > 0 {
		from -= from % chunk // md wants sync_min on a chunk boundary
	}
	if err := v.o.Kernel.SetSyncMin(st.Name, from); err != nil {
		v.o.Log.Warn("resume the scrub where it stopped; starting it over", "error", err)
		from = 0
	}
	action := "check"
	if repair {
		action = "repair"
	}
	if err := v.o.Kernel.SetSyncAction(st.Name, action); err != nil {
		v.o.Log.Warn("resume the scrub", "error", err)
		return true
	}
	v.mu.Lock()
	v.scrubPending, v.scrubResumed = false, from > 0
	v.mu.Unlock()
	v.o.Emit(events.Info, "scrub.resumed", fmt.Sprintf("%s: scrub resumed at sector %d after the rebuild", st.Name, from), map[string]string{"array": st.Name})
	return true
}

func (v *Vault) recordScrub(t time.Time) {
	p := v.scrubState()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		os.WriteFile(p, []byte(t.UTC().Format(time.RFC3339)+"\n"), 0o644)
	}
	v.mu.Lock()
	v.status.LastScrub = t
	v.mu.Unlock()
}

// ErrBusy: the array is already syncing (rebuild, resync or scrub).
var ErrBusy = errors.New("array busy")

// Scrub starts a check (or, with repair, a repair) of the whole array.
// It refuses while another sync runs: a rebuild always goes first.
func (v *Vault) Scrub(repair bool) error {
	st, err := v.o.Kernel.ReadStatus(v.o.Config.Array)
	if err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	if !st.Running() || st.Failed() {
		return fmt.Errorf("scrub: array %s is not running", st.Name)
	}
	if st.Syncing() {
		return fmt.Errorf("scrub: %s runs (%.0f%%): %w", st.SyncAction, 100*st.Progress(), ErrBusy)
	}
	action := "check"
	if repair {
		action = "repair"
	}
	if err := v.o.Kernel.SetSyncAction(st.Name, action); err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	v.recordScrub(v.o.Now())
	return nil
}

// Replace rebuilds a member onto a spare while the member still serves
// (md's want_replacement); the member is failed out once the copy is
// done. name is a kernel name or a disk identity.
func (v *Vault) Replace(name string) error {
	st, err := v.o.Kernel.ReadStatus(v.o.Config.Array)
	if err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	dev := v.resolve(name)
	m, ok := st.Member(dev)
	if !ok || m.Slot < 0 {
		return fmt.Errorf("replace: %s is not an active member of %s", name, st.Name)
	}
	spare := false
	for _, o := range st.Members {
		if o.Slot < 0 && !o.Has("faulty") {
			spare = true
		}
	}
	if !spare {
		return fmt.Errorf("replace: %s has no spare to rebuild onto; insert a blank disk first", st.Name)
	}
	if err := v.o.Kernel.SetMemberState(st.Name, dev, "want_replacement"); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	v.o.Emit(events.Notice, "member.replacing", fmt.Sprintf("%s: copying member %s onto a spare", st.Name, v.label(dev)), map[string]string{"disk": v.label(dev)})
	return nil
}

// resolve turns a disk identity into its kernel name (names pass through).
func (v *Vault) resolve(name string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, d := range v.byName {
		if d.ID == name || d.Serial == name {
			return n
		}
	}
	return strings.TrimPrefix(name, "/dev/")
}

// Stop unmounts the filesystem and stops the array so every member's
// superblock is marked clean (the next boot needs no resync).
func (v *Vault) Stop() error {
	v.mu.Lock()
	running := v.status.Array != nil && v.status.Array.Running()
	mounted := v.status.Filesystem != nil && v.status.Filesystem.Mounted
	v.status.State = StateStopped
	v.mu.Unlock()
	var errs []error
	if mounted {
		if err := v.o.Mounter.Unmount(v.o.Config.MountPoint); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", v.o.Config.MountPoint, err))
		} else {
			v.mu.Lock()
			v.status.Filesystem.Mounted = false
			v.mu.Unlock()
		}
	}
	if running && len(errs) == 0 {
		if err := v.o.Kernel.SetArrayState(v.o.Config.Array, "clear"); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", v.o.Config.Array, err))
		}
	}
	return errors.Join(errs...)
}
