package raid

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ArrayStatus is a running md array as its sysfs attributes show it
// (block/<array>/md/*). Progress fields are in sectors.
type ArrayStatus struct {
	Name       string `json:"name"` // md127
	Level      string `json:"level"`
	RaidDisks  int    `json:"raid_disks"`
	ChunkBytes int    `json:"chunk_bytes"`
	// ArrayState: clear, inactive, suspended, readonly, read-auto, clean,
	// active, write-pending, active-idle, broken.
	ArrayState string `json:"array_state"`
	// Degraded is the number of slots without an in-sync member.
	Degraded int `json:"degraded"`
	// SyncAction: idle, resync, recover, check, repair, reshape, frozen.
	SyncAction string `json:"sync_action"`
	// SyncDone/SyncTotal are sync_completed ("none" when idle: 0/0).
	SyncDone    uint64 `json:"sync_done"`
	SyncTotal   uint64 `json:"sync_total"`
	SyncSpeedKB int    `json:"sync_speed_kb"`
	MismatchCnt uint64 `json:"mismatch_cnt"`
	// Sectors is the array's size.
	Sectors uint64         `json:"sectors"`
	Members []MemberStatus `json:"members"`
}

// MemberStatus is one dev-<name> directory.
type MemberStatus struct {
	Device string `json:"device"` // kernel name of the member (vdb)
	// State is the comma-separated state list: in_sync, faulty, spare,
	// write_mostly, blocked, want_replacement, replacement, …
	State []string `json:"state"`
	// Slot is the role number, -1 for a spare ("none").
	Slot   int `json:"slot"`
	Errors int `json:"errors"`
}

// Has reports whether the member's state includes s.
func (m MemberStatus) Has(s string) bool { return slices.Contains(m.State, s) }

// Syncing reports whether a resync, recovery, check or repair runs.
func (s ArrayStatus) Syncing() bool {
	return s.SyncAction != "" && s.SyncAction != "idle" && s.SyncAction != "frozen"
}

// Progress is the fraction of the running sync done (0 when idle).
func (s ArrayStatus) Progress() float64 {
	if s.SyncTotal == 0 {
		return 0
	}
	return float64(s.SyncDone) / float64(s.SyncTotal)
}

// Running reports whether the array is started (has a personality).
func (s ArrayStatus) Running() bool {
	switch s.ArrayState {
	case "", "clear", "inactive", "suspended":
		return false
	}
	return true
}

// Member returns the member on device name.
func (s ArrayStatus) Member(device string) (MemberStatus, bool) {
	for _, m := range s.Members {
		if m.Device == device {
			return m, true
		}
	}
	return MemberStatus{}, false
}

// MaxDegraded is how many slots a level can lose and keep running
// (RAID10: at least one; whether more is survivable depends on which).
func MaxDegraded(level string) int {
	switch level {
	case "raid1":
		return -1 // all but one; the caller compares with raid_disks-1
	case "raid4", "raid5":
		return 1
	case "raid6":
		return 2
	case "raid10":
		return 1
	}
	return 0
}

// Failed reports whether the array has lost more than its level survives:
// the kernel keeps such an array "active" but fails every I/O.
func (s ArrayStatus) Failed() bool {
	if s.ArrayState == "broken" {
		return true
	}
	if !s.Running() {
		return false
	}
	maxd := MaxDegraded(s.Level)
	if s.Level == "raid1" {
		maxd = s.RaidDisks - 1
	}
	if s.Level == "raid10" {
		// Whether a RAID10 survives depends on which mirrors lost a
		// member; the kernel marks the array broken or fails the
		// member's last copy. Count members that still serve data.
		active := 0
		for _, m := range s.Members {
			if m.Slot >= 0 && m.Has("in_sync") && !m.Has("faulty") {
				active++
			}
		}
		return active == 0
	}
	return s.Degraded > maxd
}

// ReadStatus reads array's status from the md sysfs attributes under
// root (/sys). ENOENT (wrapped) when the array does not exist.
func (s Sysfs) ReadStatus(array string) (ArrayStatus, error) {
	if err := checkName(array); err != nil {
		return ArrayStatus{}, err
	}
	dir := filepath.Join(s.Root, "block", array, "md")
	st := ArrayStatus{Name: array}
	var err error
	get := func(name string) string {
		if err != nil {
			return ""
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			err = fmt.Errorf("md %s: %w", array, err)
		}
		return strings.TrimSpace(string(b))
	}
	st.ArrayState = get("array_state")
	st.Level = get("level")
	if err != nil {
		return st, err
	}
	// These are absent or "none" before a personality runs.
	st.RaidDisks = atoiOr(optRead(dir, "raid_disks"), 0)
	st.ChunkBytes = atoiOr(optRead(dir, "chunk_size"), 0)
	st.Degraded = atoiOr(optRead(dir, "degraded"), 0)
	st.SyncAction = optRead(dir, "sync_action")
	st.SyncDone, st.SyncTotal = parseCompleted(optRead(dir, "sync_completed"))
	st.SyncSpeedKB = atoiOr(optRead(dir, "sync_speed"), 0)
	st.MismatchCnt, _ = strconv.ParseUint(optRead(dir, "mismatch_cnt"), 10, 64)
	st.Sectors, _ = strconv.ParseUint(optRead(filepath.Join(s.Root, "block", array), "size"), 10, 64)
	ents, rerr := os.ReadDir(dir)
	if rerr != nil {
		return st, fmt.Errorf("md %s: %w", array, rerr)
	}
	for _, e := range ents {
		dev, ok := strings.CutPrefix(e.Name(), "dev-")
		if !ok {
			continue
		}
		mdir := filepath.Join(dir, e.Name())
		m := MemberStatus{Device: dev, Slot: -1}
		if state := optRead(mdir, "state"); state != "" {
			m.State = strings.Split(state, ",")
		}
		m.Slot = atoiOr(optRead(mdir, "slot"), -1)
		m.Errors = atoiOr(optRead(mdir, "errors"), 0)
		st.Members = append(st.Members, m)
	}
	return st, nil
}

// Arrays lists the md arrays the kernel has (block/md*).
func (s Sysfs) Arrays() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Root, "block"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("md arrays: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "md") {
			if _, err := os.Stat(filepath.Join(s.Root, "block", e.Name(), "md")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// SetMemberState writes a member's state: "faulty", "remove",
// "want_replacement", "-blocked", …
func (s Sysfs) SetMemberState(array, device, state string) error {
	if err := checkName(device); err != nil {
		return err
	}
	return s.attr(array, "dev-"+device+"/state", state)
}

// SetSyncAction writes sync_action: "check", "repair", "idle", "frozen",
// "recover".
func (s Sysfs) SetSyncAction(array, action string) error {
	return s.attr(array, "sync_action", action)
}

// SetSyncMin writes sync_min: where the next check or repair starts, in
// sectors (a chunk boundary); 0 starts from the beginning.
func (s Sysfs) SetSyncMin(array string, sectors uint64) error {
	return s.attr(array, "sync_min", strconv.FormatUint(sectors, 10))
}

func optRead(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// parseCompleted parses sync_completed: "done / total" or "none".
func parseCompleted(s string) (done, total uint64) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0
	}
	d, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 64)
	t, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || d > t {
		return 0, 0
	}
	return d, t
}
