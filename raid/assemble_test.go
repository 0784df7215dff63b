package raid

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"keep/raid/md"
)

// fakeArray plans an array and returns its members at the given event
// count, named d0..dN.
func fakeArray(t *testing.T, level md.Level, members, spares int, events uint64) []Member {
	t.Helper()
	p, err := NewPlan(Spec{Name: "keep:data", Level: level, Members: members, Spares: spares,
		Bitmap: true, DeviceSectors: sizes(members+spares, mib64)}, testNow, rng())
	if err != nil {
		t.Fatal(err)
	}
	var out []Member
	for i, sb := range p.Superblocks {
		sb.Events = events
		out = append(out, Member{Device: fmt.Sprint("d", i), DeviceSectors: mib64, SB: sb})
	}
	return out
}

func without(ms []Member, idx ...int) []Member {
	var out []Member
	for i, m := range ms {
		if !slices.Contains(idx, i) {
			out = append(out, m)
		}
	}
	return out
}

func TestDecide(t *testing.T) {
	type want struct {
		action     Action
		missing    []int
		recovering []int
		spares     []string
		excluded   map[string]string // device → reason substring
		err        error
	}
	cases := []struct {
		name  string
		level md.Level
		n, s  int
		mod   func([]Member) []Member
		want  want
	}{
		{"raid6 all present", md.LevelRAID6, 5, 1, nil,
			want{action: StartClean, spares: []string{"d5"}}},
		{"raid6 one missing", md.LevelRAID6, 5, 1, func(m []Member) []Member { return without(m, 2) },
			want{action: StartDegraded, missing: []int{2}, spares: []string{"d5"}}},
		{"raid6 two missing", md.LevelRAID6, 5, 1, func(m []Member) []Member { return without(m, 0, 4) },
			want{action: StartDegraded, missing: []int{0, 4}, spares: []string{"d5"}}},
		{"raid6 three missing", md.LevelRAID6, 5, 1, func(m []Member) []Member { return without(m, 0, 1, 4) },
			want{action: Refuse, missing: []int{0, 1, 4}, spares: []string{"d5"}, err: ErrTooFewMembers}},
		{"raid6 spare does not count", md.LevelRAID6, 5, 1, func(m []Member) []Member { return without(m, 0, 1, 2) },
			want{action: Refuse, missing: []int{0, 1, 2}, spares: []string{"d5"}, err: ErrTooFewMembers}},
		{"raid5 one missing", md.LevelRAID5, 4, 1, func(m []Member) []Member { return without(m, 3) },
			want{action: StartDegraded, missing: []int{3}, spares: []string{"d4"}}},
		{"raid5 two missing", md.LevelRAID5, 4, 0, func(m []Member) []Member { return without(m, 1, 3) },
			want{action: Refuse, missing: []int{1, 3}, err: ErrTooFewMembers}},
		{"raid10 one of each pair", md.LevelRAID10, 8, 0, func(m []Member) []Member { return without(m, 0, 3, 4, 7) },
			want{action: StartDegraded, missing: []int{0, 3, 4, 7}}},
		{"raid10 whole pair lost", md.LevelRAID10, 8, 0, func(m []Member) []Member { return without(m, 2, 3) },
			want{action: Refuse, missing: []int{2, 3}, err: ErrTooFewMembers}},
		{"raid10 odd, wrapping sets", md.LevelRAID10, 3, 0, func(m []Member) []Member { return without(m, 1) },
			want{action: StartDegraded, missing: []int{1}}},
		{"raid10 odd, two lost", md.LevelRAID10, 3, 0, func(m []Member) []Member { return without(m, 0, 1) },
			want{action: Refuse, missing: []int{0, 1}, err: ErrTooFewMembers}},
		{"stale member excluded", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[1].SB.Events = 40; return m },
			want{action: StartDegraded, missing: []int{1}, spares: []string{"d5"},
				excluded: map[string]string{"d1": "stale: events 40, array at 42"}}},
		{"one event behind is current", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[1].SB.Events = 41; return m },
			want{action: StartClean, spares: []string{"d5"}}},
		{"freshest wins even if listed last", md.LevelRAID5, 4, 0, func(m []Member) []Member {
			for i := 0; i < 3; i++ {
				m[i].SB.Events = 30
			}
			return m
		}, want{action: Refuse, missing: []int{0, 1, 2}, err: ErrTooFewMembers, excluded: map[string]string{
			"d0": "stale", "d1": "stale", "d2": "stale"}}},
		{"stale spare kept", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[5].SB.Events = 3; return m },
			want{action: StartClean, spares: []string{"d5"}}},
		{"faulty member", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			m[2].SB.DevRoles[2] = md.RoleFaulty
			return m
		}, want{action: StartDegraded, missing: []int{2}, spares: []string{"d5"}, excluded: map[string]string{"d2": "marked faulty"}}},
		{"faulty in freshest's view", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			m[0].SB.Events = 43
			m[0].SB.DevRoles[3] = md.RoleFaulty
			return m
		}, want{action: StartDegraded, missing: []int{3}, spares: []string{"d5"},
			excluded: map[string]string{"d3": "marked faulty by the freshest"}}},
		{"recovering member", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			m[4].SB.FeatureMap |= md.FeatureRecoveryOffset
			return m
		}, want{action: StartDegraded, recovering: []int{4}, spares: []string{"d5"}}},
		{"same device twice", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			dup := m[1]
			dup.Device = "d1-again"
			return append(m, dup)
		}, want{action: StartClean, spares: []string{"d5"}, excluded: map[string]string{"d1-again": "same device UUID"}}},
		{"slot claimed twice", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			m[2].SB.DevRoles[2], m[2].SB.DevRoles[1] = md.RoleSpare, 1
			m[2].SB.DevNumber = 1
			return m
		}, want{action: StartDegraded, missing: []int{2}, spares: []string{"d5"},
			excluded: map[string]string{"d2": "slot 1 already held by d1"}}},
		{"fresher member takes the slot", md.LevelRAID6, 5, 1, func(m []Member) []Member {
			m[1].SB.Events = 41
			m[2].SB.DevNumber = 1
			m[2].SB.DevRoles[1], m[2].SB.DevRoles[2] = 1, md.RoleSpare
			return m
		}, want{action: StartDegraded, missing: []int{2}, spares: []string{"d5"},
			excluded: map[string]string{"d1": "held by fresher d2"}}},
		{"different geometry", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[3].SB.ChunkSize = 128; return m },
			want{action: StartDegraded, missing: []int{3}, spares: []string{"d5"}, excluded: map[string]string{"d3": "geometry"}}},
		{"device shrank", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[0].DeviceSectors = 4096; return m },
			want{action: StartDegraded, missing: []int{0}, spares: []string{"d5"}, excluded: map[string]string{"d0": "device has 4096 sectors"}}},
		{"only spares", md.LevelRAID6, 5, 1, func(m []Member) []Member { return m[5:] },
			want{action: Refuse, missing: []int{0, 1, 2, 3, 4}, spares: []string{"d5"}, err: ErrTooFewMembers}},
		{"slot beyond raid_disks", md.LevelRAID6, 5, 1, func(m []Member) []Member { m[5].SB.DevRoles[5] = 7; return m },
			want{action: StartClean, excluded: map[string]string{"d5": "slot 7 beyond"}}},
		{"raid0 unsupported", md.LevelRAID6, 5, 0, func(m []Member) []Member {
			for _, x := range m {
				x.SB.Level = md.LevelRAID0
			}
			return m
		}, want{action: Refuse, err: ErrUnsupportedArray}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := fakeArray(t, c.level, c.n, c.s, 42)
			if c.mod != nil {
				ms = c.mod(ms)
			}
			d, err := Decide(ms)
			if c.want.err == nil && err != nil || c.want.err != nil && !errors.Is(err, c.want.err) {
				t.Fatalf("err = %v, want %v", err, c.want.err)
			}
			if d.Action != c.want.action {
				t.Errorf("action %v, want %v", d.Action, c.want.action)
			}
			if !reflect.DeepEqual(d.Missing, c.want.missing) {
				t.Errorf("missing %v, want %v", d.Missing, c.want.missing)
			}
			if !reflect.DeepEqual(d.Recovering, c.want.recovering) {
				t.Errorf("recovering %v, want %v", d.Recovering, c.want.recovering)
			}
			var spares []string
			for _, s := range d.Spares {
				spares = append(spares, s.Device)
			}
			if !reflect.DeepEqual(spares, c.want.spares) {
				t.Errorf("spares %v, want %v", spares, c.want.spares)
			}
			if len(d.Excluded) != len(c.want.excluded) {
				t.Errorf("excluded %+v, want %v", d.Excluded, c.want.excluded)
			}
			for _, e := range d.Excluded {
				if want, ok := c.want.excluded[e.Member.Device]; !ok || !strings.Contains(e.Reason, want) {
					t.Errorf("excluded %s: %q, want %q", e.Member.Device, e.Reason, want)
				}
			}
		})
	}
}

func TestDecideInputErrors(t *testing.T) {
	if _, err := Decide(nil); !errors.Is(err, ErrNoMembers) {
		t.Error(err)
	}
	a := fakeArray(t, md.LevelRAID5, 3, 0, 5)
	b := fakeArray(t, md.LevelRAID5, 3, 0, 5)
	b[0].SB.SetUUID[0] ^= 0xff
	if _, err := Decide(append(a, b[0])); !errors.Is(err, ErrMixedArrays) {
		t.Error(err)
	}
	groups := Group(append(a[:2], b[0], a[2]))
	if len(groups) != 2 || len(groups[0]) != 3 || len(groups[1]) != 1 {
		t.Fatalf("groups %d", len(groups))
	}
	d, err := Decide(groups[0])
	if err != nil || d.Action != StartClean || len(d.Devices()) != 3 || d.Devices()[2].Device != "d2" {
		t.Fatalf("%v %+v", err, d)
	}
	if d.Action.String() != "start clean" || Refuse.String() != "refuse" {
		t.Error("action names")
	}
}

// TestDecideNeverMutates: the refusal path must not touch the superblocks
// (nothing is written in the refuse case starts with nothing changed).
func TestDecideNeverMutates(t *testing.T) {
	ms := without(fakeArray(t, md.LevelRAID6, 5, 1, 9), 0, 1, 2)
	before := make([][]byte, len(ms))
	for i, m := range ms {
		before[i], _ = m.SB.Encode()
	}
	if _, err := Decide(ms); !errors.Is(err, ErrTooFewMembers) {
		t.Fatal(err)
	}
	for i, m := range ms {
		after, _ := m.SB.Encode()
		if !reflect.DeepEqual(before[i], after) {
			t.Errorf("member %d changed", i)
		}
	}
}
