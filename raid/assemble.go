package raid

import (
	"fmt"
	"slices"

	"keep/raid/md"
)

// Member is a device that carries an md superblock, as found at boot.
type Member struct {
	// Device names the device in messages and events: its stable
	// identity (serial/WWN) or path.
	Device string
	// DeviceSectors is the device's size; 0 when unknown (the size check
	// is then skipped).
	DeviceSectors uint64
	SB            *md.Superblock
}

// Action is what assembly should do with an array.
type Action int

// Actions.
const (
	// StartClean: every slot has a current member.
	StartClean Action = iota + 1
	// StartDegraded: slots are missing (or still recovering) but the
	// level's redundancy covers them.
	StartDegraded
	// Refuse: too few current members; nothing may be written.
	Refuse
)

func (a Action) String() string {
	switch a {
	case StartClean:
		return "start clean"
	case StartDegraded:
		return "start degraded"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Exclusion is a member left out of the array, with the reason.
type Exclusion struct {
	Member Member
	Reason string
}

// Decision is the outcome of Decide for one array.
type Decision struct {
	Action    Action
	ArrayUUID md.UUID
	Name      string
	Level     md.Level
	RaidDisks int
	// Events is the freshest event count among active members.
	Events uint64
	// Slots holds the member for each slot (index = role); nil = missing.
	Slots []*Member
	// Missing lists the slots with no current member.
	Missing []int
	// Recovering lists slots whose member was mid-rebuild
	// (recovery_offset in force): started, but not counted as redundancy.
	Recovering []int
	Spares     []Member
	Excluded   []Exclusion
}

// eventMargin: a member one event behind the freshest is still current.
// The kernel (super_1_validate) and mdadm --assemble both allow it: a
// clean/dirty transition may reach some members and not others.
const eventMargin = 1

// Group splits members by array UUID, in order of first appearance.
func Group(members []Member) [][]Member {
	var order []md.UUID
	groups := map[md.UUID][]Member{}
	for _, m := range members {
		u := m.SB.SetUUID
		if _, ok := groups[u]; !ok {
			order = append(order, u)
		}
		groups[u] = append(groups[u], m)
	}
	out := make([][]Member, 0, len(order))
	for _, u := range order {
		out = append(out, groups[u])
	}
	return out
}

// Decide chooses how to assemble one array from its members (all with the
// same array UUID; use Group first). The freshest active member's
// superblock defines the array; members that disagree with it, are more
// than one event behind, are marked faulty, or duplicate a slot or a
// device are excluded with the reason. Spares do not need current events.
//
// With too few current members Decide returns the Decision (Action
// Refuse, for the event that says why) and an error wrapping
// ErrTooFewMembers. It never writes anything; it only reads its input.
func Decide(members []Member) (Decision, error) {
	if len(members) == 0 {
		return Decision{}, ErrNoMembers
	}
	for _, m := range members[1:] {
		if m.SB.SetUUID != members[0].SB.SetUUID {
			return Decision{}, fmt.Errorf("%s is %s, %s is %s: %w", members[0].Device,
				members[0].SB.SetUUID, m.Device, m.SB.SetUUID, ErrMixedArrays)
		}
	}
	ref := freshest(members)
	d := Decision{
		ArrayUUID: ref.SB.SetUUID,
		Name:      ref.SB.Name(),
		Level:     ref.SB.Level,
		RaidDisks: int(ref.SB.RaidDisks),
		Events:    ref.SB.Events,
		Slots:     make([]*Member, ref.SB.RaidDisks),
	}
	seen := map[md.UUID]string{}
	for i := range members {
		m := members[i]
		if reason := d.place(&m, ref.SB, seen); reason != "" {
			d.Excluded = append(d.Excluded, Exclusion{Member: m, Reason: reason})
		}
	}
	present := make([]bool, len(d.Slots))
	for slot, m := range d.Slots {
		switch {
		case m == nil:
			d.Missing = append(d.Missing, slot)
		case m.SB.FeatureMap&md.FeatureRecoveryOffset != 0:
			d.Recovering = append(d.Recovering, slot)
		default:
			present[slot] = true
		}
	}
	ok, err := enough(d.Level, ref.SB.Layout, present)
	switch {
	case err != nil:
		d.Action = Refuse
		return d, fmt.Errorf("assemble %s (%s): %w", d.Name, d.ArrayUUID, err)
	case !ok:
		d.Action = Refuse
		return d, fmt.Errorf("assemble %s (%s): %s with %d of %d slots current (missing %v, recovering %v): %w",
			d.Name, d.ArrayUUID, d.Level, d.RaidDisks-len(d.Missing)-len(d.Recovering), d.RaidDisks,
			d.Missing, d.Recovering, ErrTooFewMembers)
	case len(d.Missing)+len(d.Recovering) > 0:
		d.Action = StartDegraded
	default:
		d.Action = StartClean
	}
	return d, nil
}

// freshest returns the active member with the highest event count (the
// first on ties); with no active member at all, the freshest of any.
func freshest(members []Member) *Member {
	var best, bestAny *Member
	for i := range members {
		m := &members[i]
		if bestAny == nil || m.SB.Events > bestAny.SB.Events {
			bestAny = m
		}
		if m.SB.Role().IsSlot() && (best == nil || m.SB.Events > best.SB.Events) {
			best = m
		}
	}
	if best == nil {
		return bestAny
	}
	return best
}

// place files m as a slot holder or a spare, or returns why it is
// excluded.
func (d *Decision) place(m *Member, ref *md.Superblock, seen map[md.UUID]string) string {
	sb := m.SB
	if m.DeviceSectors > 0 && sb.DataOffset+sb.Size > m.DeviceSectors {
		return fmt.Sprintf("device has %d sectors, superblock needs %d", m.DeviceSectors, sb.DataOffset+sb.Size)
	}
	if sb.Level != ref.Level || sb.Layout != ref.Layout || sb.ChunkSize != ref.ChunkSize ||
		sb.RaidDisks != ref.RaidDisks || sb.Size != ref.Size {
		return fmt.Sprintf("geometry (%s layout %#x chunk %d disks %d size %d) differs from the freshest member's",
			sb.Level, sb.Layout, sb.ChunkSize, sb.RaidDisks, sb.Size)
	}
	if other, dup := seen[sb.DeviceUUID]; dup {
		return fmt.Sprintf("same device UUID %s as %s", sb.DeviceUUID, other)
	}
	seen[sb.DeviceUUID] = m.Device
	role := sb.Role()
	switch {
	case role == md.RoleFaulty:
		return "marked faulty"
	case role == md.RoleSpare:
		d.Spares = append(d.Spares, *m)
		return ""
	case !role.IsSlot():
		return fmt.Sprintf("role %s not supported", role)
	case int(role) >= len(d.Slots):
		return fmt.Sprintf("slot %d beyond raid_disks %d", role, len(d.Slots))
	case sb.Events+eventMargin < d.Events:
		return fmt.Sprintf("stale: events %d, array at %d", sb.Events, d.Events)
	case refRole(ref, sb.DevNumber) == md.RoleFaulty:
		return "marked faulty by the freshest member"
	case d.Slots[role] != nil:
		held := d.Slots[role]
		if sb.Events <= held.SB.Events {
			return fmt.Sprintf("slot %d already held by %s", role, held.Device)
		}
		d.Excluded = append(d.Excluded, Exclusion{Member: *held,
			Reason: fmt.Sprintf("slot %d held by fresher %s", role, m.Device)})
	}
	d.Slots[role] = m
	return ""
}

// refRole is the freshest superblock's view of dev_number n.
func refRole(ref *md.Superblock, n uint32) md.Role {
	if int64(n) < int64(len(ref.DevRoles)) {
		return ref.DevRoles[n]
	}
	return md.RoleSpare
}

// Devices returns the members to hand to the kernel: slot holders in slot
// order, then spares.
func (d *Decision) Devices() []Member {
	var out []Member
	for _, m := range d.Slots {
		if m != nil {
			out = append(out, *m)
		}
	}
	return append(out, slices.Clone(d.Spares)...)
}
