package raid

import (
	"fmt"
	"strings"
)

// Change is one thing that happened to an array between two status reads.
type Change struct {
	// Kind: array.started, array.stopped, array.degraded,
	// array.redundant, array.failed, member.faulty, member.removed,
	// member.added, spare.activated, <sync>.started, <sync>.progress,
	// <sync>.finished, <sync>.interrupted where <sync> is rebuild
	// (recover), resync, scrub (check), repair or reshape;
	// mismatches.found.
	Kind    string
	Array   string
	Member  string  // the member device, for member.* and spare.*
	Percent int     // for *.progress: the tenth reached (10, 20, …)
	Count   uint64  // mismatch count, degraded count
	Message string  // one line for a person
	Rate    float64 // sync speed in MB/s at the time, for progress
}

// syncName is what an operator calls a sync_action.
func syncName(action string) string {
	switch action {
	case "recover":
		return "rebuild"
	case "check":
		return "scrub"
	case "resync", "repair", "reshape":
		return action
	}
	return action
}

// Changes compares two reads of one array and says what happened, in an
// order a person would tell it: members first, then redundancy, then
// syncs. prev is the zero ArrayStatus before the first read.
func Changes(prev, cur ArrayStatus) []Change {
	var out []Change
	add := func(c Change) {
		c.Array = cur.Name
		out = append(out, c)
	}
	if !prev.Running() && cur.Running() {
		add(Change{Kind: "array.started", Count: uint64(cur.Degraded),
			Message: fmt.Sprintf("%s started: %s, %d slots, %d degraded", cur.Name, cur.Level, cur.RaidDisks, cur.Degraded)})
	}
	if prev.Running() && !cur.Running() {
		add(Change{Kind: "array.stopped", Message: cur.Name + " stopped (" + cur.ArrayState + ")"})
		return out
	}
	if !cur.Running() {
		return out
	}

	for _, m := range cur.Members {
		old, had := prev.Member(m.Device)
		switch {
		case !had && prev.Running():
			role := "spare"
			if m.Slot >= 0 {
				role = fmt.Sprintf("slot %d", m.Slot)
			}
			add(Change{Kind: "member.added", Member: m.Device, Message: fmt.Sprintf("%s added to %s as %s", m.Device, cur.Name, role)})
		case had && m.Has("faulty") && !old.Has("faulty"):
			add(Change{Kind: "member.faulty", Member: m.Device, Message: fmt.Sprintf("%s: member %s failed (slot %d, %d errors)", cur.Name, m.Device, old.Slot, m.Errors)})
		}
		if had && old.Slot < 0 && m.Slot >= 0 && !m.Has("faulty") {
			add(Change{Kind: "spare.activated", Member: m.Device, Message: fmt.Sprintf("%s: spare %s takes slot %d", cur.Name, m.Device, m.Slot)})
		}
	}
	for _, m := range prev.Members {
		if _, ok := cur.Member(m.Device); !ok && prev.Running() {
			add(Change{Kind: "member.removed", Member: m.Device, Message: fmt.Sprintf("%s: member %s removed", cur.Name, m.Device)})
		}
	}

	failedNow, failedBefore := cur.Failed(), prev.Running() && prev.Failed()
	switch {
	case failedNow && !failedBefore:
		add(Change{Kind: "array.failed", Count: uint64(cur.Degraded),
			Message: fmt.Sprintf("%s FAILED: %d of %d slots lost, more than %s survives; data is unavailable", cur.Name, cur.Degraded, cur.RaidDisks, cur.Level)})
	case !failedNow && cur.Degraded > prev.Degraded && prev.Running():
		add(Change{Kind: "array.degraded", Count: uint64(cur.Degraded),
			Message: fmt.Sprintf("%s degraded: %d of %d slots without an in-sync member", cur.Name, cur.Degraded, cur.RaidDisks)})
	case cur.Degraded == 0 && prev.Degraded > 0 && prev.Running():
		add(Change{Kind: "array.redundant", Message: cur.Name + " has full redundancy again"})
	}

	was, is := prev.Syncing() && prev.Running(), cur.Syncing()
	switch {
	case is && (!was || prev.SyncAction != cur.SyncAction):
		if was {
			add(Change{Kind: syncName(prev.SyncAction) + ".interrupted", Message: fmt.Sprintf("%s: %s gave way to %s", cur.Name, syncName(prev.SyncAction), syncName(cur.SyncAction))})
		}
		add(Change{Kind: syncName(cur.SyncAction) + ".started", Message: fmt.Sprintf("%s: %s started", cur.Name, syncName(cur.SyncAction))})
	case is && was:
		before, now := tenth(prev), tenth(cur)
		if now > before && now < 10 {
			add(Change{Kind: syncName(cur.SyncAction) + ".progress", Percent: now * 10, Rate: float64(cur.SyncSpeedKB) / 1000,
				Message: fmt.Sprintf("%s: %s %d%% (%.1f MB/s)", cur.Name, syncName(cur.SyncAction), now*10, float64(cur.SyncSpeedKB)/1000)})
		}
	case was && !is:
		what := syncName(prev.SyncAction)
		msg := fmt.Sprintf("%s: %s finished", cur.Name, what)
		if what == "scrub" || what == "repair" {
			msg += fmt.Sprintf(", %d mismatched sectors", cur.MismatchCnt)
		}
		add(Change{Kind: what + ".finished", Count: cur.MismatchCnt, Message: msg})
		if (what == "scrub" || what == "repair") && cur.MismatchCnt > 0 {
			add(Change{Kind: "mismatches.found", Count: cur.MismatchCnt,
				Message: fmt.Sprintf("%s: scrub found %d mismatched sectors; run a repair (keep ctl raid scrub --repair) and verify the backups", cur.Name, cur.MismatchCnt)})
		}
	}
	return out
}

// tenth is the completed tenth of the running sync (0–10).
func tenth(s ArrayStatus) int {
	if s.SyncTotal == 0 {
		return 0
	}
	return int(s.SyncDone * 10 / s.SyncTotal)
}

// Summary is a one-line state for consoles and `keep ctl raid`.
func (s ArrayStatus) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", s.Name, s.Level, s.ArrayState)
	switch {
	case s.Failed():
		b.WriteString(", FAILED")
	case s.Degraded > 0:
		fmt.Fprintf(&b, ", degraded %d/%d", s.Degraded, s.RaidDisks)
	}
	if s.Syncing() {
		fmt.Fprintf(&b, ", %s %.1f%%", syncName(s.SyncAction), 100*s.Progress())
	}
	return b.String()
}
