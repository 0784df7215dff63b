package appliance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"keep/appliance/config"
	"keep/appliance/events"
	"keep/raid"
	"keep/raid/disk"
	"keep/raid/smart"
	"keep/raid/vault"
)

// storageService brings up the data vault (assemble or create the array,
// check and mount its filesystem) and then watches it. It is ready once
// the bring-up has run, whatever its outcome: a box whose disks are
// missing must still answer and say so (Status reports the vault's state
// as a reason it is not ready), and the BMC watchdog must not reset a box
// for a condition a reset cannot cure.
type storageService struct {
	a     *Appliance
	cfg   config.Storage
	log   hclog.Logger
	vault *vault.Vault
}

func (s *storageService) Name() string { return "storage" }

// newVault builds the vault over the real kernel and devices.
func (s *storageService) newVault() *vault.Vault {
	a := s.a
	c := s.cfg
	return vault.New(vault.Options{
		Config: vault.Config{
			Tier: c.Tier, Name: c.Name, Create: c.Create, MountPoint: c.MountPoint, MountOptions: c.MountOptions,
			Policy:    disk.Policy{Exclude: c.Exclude, DB: c.DBDisk},
			AutoSpare: c.AutoSpare, ScrubEvery: time.Duration(c.ScrubEvery), FreeWarn: c.SpaceWarn,
			HealthEvery: time.Duration(c.SMARTEvery),
		},
		SysRoot: a.opts.SysRoot, DevRoot: a.opts.DevRoot,
		Kernel:  raid.Sysfs{Root: a.opts.SysRoot},
		Opener:  raid.Files{},
		Runner:  appRunner{a},
		Mounter: sysMounter{},
		Health:  smart.Read,
		Log:     s.log,
		Emit:    s.emitToJournalAndSEL(),
		Rand:    rand.Reader,
	})
}

func (s *storageService) Run(ctx context.Context, ready func()) error {
	v := s.newVault()
	s.a.mu.Lock()
	s.vault = v
	s.a.mu.Unlock()
	err := v.Start(ctx)
	ready()
	for err != nil {
		if !errors.Is(err, vault.ErrNotReady) {
			return err
		}
		st := v.Status()
		if st.State != vault.StateWaiting && st.State != vault.StateRefused {
			// Unclean or foreign filesystem: an operator decides.
			break
		}
		// Disks may arrive: try again when one does (or every 10 s).
		s.log.Info("storage waits for disks", "state", string(st.State), "problem", st.Problem)
		if werr := waitForDisk(ctx, 10*time.Second); werr != nil {
			return nil
		}
		v = s.newVault()
		s.a.mu.Lock()
		s.vault = v
		s.a.mu.Unlock()
		err = v.Start(ctx)
	}
	journalAttached := false
	if v.Status().State == vault.StateMounted {
		journalAttached = s.attachJournal()
		// A network configuration an operator confirmed on an earlier
		// boot lives on the vault: now it can be read.
		if n := s.a.network; n != nil {
			restored := make(chan struct{})
			go func() {
				defer close(restored)
				n.restorePersisted(filepath.Join(s.cfg.MountPoint, ".keep", "network.yaml"))
			}()
			defer func() { <-restored }()
		}
	}
	defer func() {
		if journalAttached {
			// The journal's file lives on the vault: close it (the
			// journal goes on in memory) so the unmount succeeds.
			if err := s.a.journal.Close(); err != nil {
				s.log.Error("close the event journal", "error", err)
			}
		}
		if err := v.Stop(); err != nil {
			s.log.Error("stop storage", "error", err)
		} else {
			s.log.Info("array stopped clean and filesystem unmounted")
		}
	}()
	w := raid.Watcher{Sys: raid.Sysfs{Root: s.a.opts.SysRoot}, ProcRoot: "/proc"}
	err = v.Watch(ctx, w, disk.ListenUevents, 5*time.Second)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// attachJournal persists the event journal on the data filesystem, so
// events survive reboots (with the array they describe).
func (s *storageService) attachJournal() bool {
	dir := filepath.Join(s.cfg.MountPoint, ".keep")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.log.Error("the event journal stays in memory", "error", err)
		return false
	}
	rep, err := s.a.journal.AttachFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		s.log.Error("the event journal stays in memory", "error", err)
		return false
	}
	s.log.Info("event journal persisted", "path", rep.Path, "bytes", rep.Size)
	return true
}

// selRecords are the storage events that also go to the BMC's SEL, which
// outlives the disks and the network.
var selRecords = map[string]SELRecordKind{
	"array.degraded":           SELRAIDDegraded,
	"array.assembled_degraded": SELRAIDDegraded,
	"array.failed":             SELRAIDFailed,
	"array.refused":            SELRAIDFailed,
}

// emitToJournalAndSEL records storage events in the journal and the
// serious ones in the SEL too.
func (s *storageService) emitToJournalAndSEL() vault.Emit {
	journal := s.a.emitter("storage")
	return func(sev events.Severity, kind, msg string, fields map[string]string) {
		journal(sev, kind, msg, fields)
		rec, ok := selRecords[kind]
		if kind == "disk.health" && fields["verdict"] == "failing" {
			rec, ok = SELDiskFailing, true
		}
		if !ok || s.a.bmc == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.a.bmc.LogToSEL(ctx, rec, 0, msg); err != nil {
			s.log.Debug("not in the SEL", "event", kind, "error", err)
		}
	}
}

// waitForDisk returns when a block device is added or after d.
func waitForDisk(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	added := make(chan struct{}, 1)
	go disk.ListenUevents(ctx, func(u disk.Uevent) {
		if u.IsDisk() && u.Action == "add" {
			select {
			case added <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-added:
		time.Sleep(500 * time.Millisecond) // let sysfs settle (serial, size)
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil
		}
		return ctx.Err()
	}
}

// Vault returns the storage status (nil outside PID 1 or before start).
func (a *Appliance) vaultStatus() *vault.Status {
	a.mu.Lock()
	s := a.storage
	a.mu.Unlock()
	if s == nil {
		return nil
	}
	a.mu.Lock()
	v := s.vault
	a.mu.Unlock()
	if v == nil {
		return &vault.Status{State: vault.StateStarting, Tier: s.cfg.Tier}
	}
	st := v.Status()
	return &st
}

// storageProblem is why storage keeps the box from being ready ("" when
// the vault is mounted).
func (a *Appliance) storageProblem() string {
	st := a.vaultStatus()
	if st == nil || st.State == vault.StateMounted {
		return ""
	}
	if st.Problem == "" {
		return fmt.Sprintf("storage is %s", st.State)
	}
	return fmt.Sprintf("storage is %s: %s", st.State, st.Problem)
}

// appRunner runs the vault's external programs through the reaper.
type appRunner struct{ a *Appliance }

func (r appRunner) Run(ctx context.Context, argv ...string) (vault.Result, error) {
	res, err := r.a.runCommand(ctx, argv, nil)
	r.a.log.Named("storage").Debug("ran", "argv", fmt.Sprint(argv), "exit", res.ExitCode, "took", res.Took.Round(time.Millisecond))
	return vault.Result{ExitCode: res.ExitCode, Stdout: string(res.Stdout), Stderr: string(res.Stderr)}, err
}

// sysMounter mounts with mount(2).
type sysMounter struct{}

// mountFlags turns the generic options mount(8) would take as flags into
// flags; the rest go to the filesystem.
var mountFlags = map[string]uintptr{"noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME, "ro": unix.MS_RDONLY,
	"nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC, "relatime": unix.MS_RELATIME}

func (sysMounter) Mount(source, target, fstype, options string) error {
	var flags uintptr
	var data []string
	for _, o := range splitOptions(options) {
		if f, ok := mountFlags[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	return unix.Mount(source, target, fstype, flags, joinOptions(data))
}

// Unmount unmounts target; if it is busy (an open file on a failed
// array), it is detached from the tree instead, so no new access reaches
// it and it goes away when the last file closes.
func (sysMounter) Unmount(target string) error {
	err := unix.Unmount(filepath.Clean(target), 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(filepath.Clean(target), unix.MNT_DETACH)
	}
	return err
}

func (sysMounter) Space(target string) (total, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// Storage implements api.StorageBackend.
func (a *Appliance) Storage() (vault.Status, bool) {
	st := a.vaultStatus()
	if st == nil {
		return vault.Status{}, false
	}
	return *st, true
}

func (a *Appliance) theVault() (*vault.Vault, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.storage == nil || a.storage.vault == nil {
		return nil, errors.New("the data vault is not running")
	}
	return a.storage.vault, nil
}

// Scrub implements api.StorageBackend.
func (a *Appliance) Scrub(repair bool) error {
	v, err := a.theVault()
	if err != nil {
		return err
	}
	return v.Scrub(repair)
}

// ReplaceDisk implements api.StorageBackend.
func (a *Appliance) ReplaceDisk(name string) error {
	v, err := a.theVault()
	if err != nil {
		return err
	}
	return v.Replace(name)
}
