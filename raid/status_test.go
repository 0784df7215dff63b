package raid

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeAttrs(t *testing.T, root string, attrs map[string]string) {
	t.Helper()
	for p, v := range attrs {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadStatus(t *testing.T) {
	root := t.TempDir()
	writeAttrs(t, root, map[string]string{
		"block/md127/size":                   "573440",
		"block/md127/md/array_state":         "clean",
		"block/md127/md/level":               "raid6",
		"block/md127/md/raid_disks":          "5",
		"block/md127/md/chunk_size":          "524288",
		"block/md127/md/degraded":            "1",
		"block/md127/md/sync_action":         "recover",
		"block/md127/md/sync_completed":      "2048 / 192512",
		"block/md127/md/sync_speed":          "41000",
		"block/md127/md/mismatch_cnt":        "0",
		"block/md127/md/dev-vda/state":       "in_sync",
		"block/md127/md/dev-vda/slot":        "0",
		"block/md127/md/dev-vda/errors":      "0",
		"block/md127/md/dev-vdb/state":       "faulty",
		"block/md127/md/dev-vdb/slot":        "1",
		"block/md127/md/dev-vdb/errors":      "12",
		"block/md127/md/dev-vdf/state":       "spare",
		"block/md127/md/dev-vdf/slot":        "none",
		"block/md127/md/dev-vdf/errors":      "0",
		"block/md127/md/metadata_version":    "1.2",
		"block/vda/size":                     "131072",
		"block/md5/md/array_state":           "inactive",
		"module/md_mod/parameters/new_array": "",
	})
	k := Sysfs{Root: root}
	st, err := k.ReadStatus("md127")
	if err != nil {
		t.Fatal(err)
	}
	want := ArrayStatus{Name: "md127", Level: "raid6", RaidDisks: 5, ChunkBytes: 512 << 10, ArrayState: "clean", Degraded: 1,
		SyncAction: "recover", SyncDone: 2048, SyncTotal: 192512, SyncSpeedKB: 41000, Sectors: 573440,
		Members: []MemberStatus{
			{Device: "vda", State: []string{"in_sync"}, Slot: 0},
			{Device: "vdb", State: []string{"faulty"}, Slot: 1, Errors: 12},
			{Device: "vdf", State: []string{"spare"}, Slot: -1},
		}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status:\n got %+v\nwant %+v", st, want)
	}
	if !st.Syncing() || st.Failed() || !st.Running() {
		t.Errorf("syncing %v failed %v running %v", st.Syncing(), st.Failed(), st.Running())
	}
	if got := st.Summary(); got != "md127 raid6 clean, degraded 1/5, rebuild 1.1%" {
		t.Errorf("summary = %q", got)
	}
	arrays, err := k.Arrays()
	if err != nil || !reflect.DeepEqual(arrays, []string{"md127", "md5"}) {
		t.Errorf("arrays = %v, %v", arrays, err)
	}
	if _, err := k.ReadStatus("md9"); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing array: %v", err)
	}
	if err := k.SetMemberState("md127", "vdb", "remove"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "block/md127/md/dev-vdb/state")); string(b) != "remove\n" { // sysfs-style: written in place, no truncation
		t.Errorf("state written %q", b)
	}
	if err := k.SetMemberState("md127", "../x", "remove"); err == nil {
		t.Error("a device name leaving the tree must be refused")
	}
	if err := k.SetSyncAction("md127", "check"); err != nil {
		t.Fatal(err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseCompleted(t *testing.T) {
	for in, want := range map[string][2]uint64{
		"none": {0, 0}, "10 / 100": {10, 100}, "0 / 5": {0, 5}, "7 / 3": {0, 0}, "x / 3": {0, 0}, "": {0, 0},
	} {
		d, tot := parseCompleted(in)
		if [2]uint64{d, tot} != want {
			t.Errorf("parseCompleted(%q) = %d, %d; want %v", in, d, tot, want)
		}
	}
}

// raid6 builds a running RAID6 status: slots 0-4 on vda-vde, spare vdf.
func raid6() ArrayStatus {
	s := ArrayStatus{Name: "md127", Level: "raid6", RaidDisks: 5, ArrayState: "clean", SyncAction: "idle"}
	for i, d := range []string{"vda", "vdb", "vdc", "vdd", "vde"} {
		s.Members = append(s.Members, MemberStatus{Device: d, State: []string{"in_sync"}, Slot: i})
	}
	s.Members = append(s.Members, MemberStatus{Device: "vdf", State: []string{"spare"}, Slot: -1})
	return s
}

func kinds(cs []Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

func TestChanges(t *testing.T) {
	clean := raid6()

	// A member fails: the kernel marks it faulty, the spare takes its
	// slot and recovery starts, all in one read.
	failing := raid6()
	failing.Members[1].State = []string{"faulty"}
	failing.Members[5] = MemberStatus{Device: "vdf", State: []string{}, Slot: 1}
	failing.Degraded, failing.SyncAction, failing.SyncTotal = 1, "recover", 1000
	cs := Changes(clean, failing)
	if want := []string{"member.faulty", "spare.activated", "array.degraded", "rebuild.started"}; !reflect.DeepEqual(kinds(cs), want) {
		t.Errorf("failure: %v, want %v", kinds(cs), want)
	}
	if cs[0].Member != "vdb" || cs[1].Member != "vdf" || cs[2].Count != 1 || cs[0].Array != "md127" {
		t.Errorf("failure details: %+v", cs)
	}

	// Progress: one event per tenth crossed, none in between.
	p1 := failing
	p1.SyncDone = 150
	if cs := Changes(failing, p1); !reflect.DeepEqual(kinds(cs), []string{"rebuild.progress"}) || cs[0].Percent != 10 {
		t.Errorf("progress 15%%: %+v", cs)
	}
	p2 := p1
	p2.SyncDone = 190
	if cs := Changes(p1, p2); len(cs) != 0 {
		t.Errorf("progress within a tenth: %v", kinds(cs))
	}

	// Finished: idle again, not degraded, the faulty member removed.
	done := raid6()
	done.Members = append(done.Members[:1], done.Members[2:]...)
	done.Members[4] = MemberStatus{Device: "vdf", State: []string{"in_sync"}, Slot: 1}
	if cs := Changes(p2, done); !reflect.DeepEqual(kinds(cs), []string{"member.removed", "array.redundant", "rebuild.finished"}) {
		t.Errorf("finished: %v", kinds(cs))
	}

	// Three members lost on RAID6: failed, not merely degraded.
	lost := raid6()
	for i := 0; i < 3; i++ {
		lost.Members[i].State = []string{"faulty"}
	}
	lost.Degraded = 3
	if cs := Changes(clean, lost); !reflect.DeepEqual(kinds(cs), []string{"member.faulty", "member.faulty", "member.faulty", "array.failed"}) {
		t.Errorf("three lost: %v", kinds(cs))
	}
	if cs := Changes(lost, lost); len(cs) != 0 {
		t.Errorf("no change must say nothing: %v", kinds(cs))
	}

	// A scrub that finds mismatches.
	check := clean
	check.SyncAction, check.SyncTotal = "check", 100
	if cs := Changes(clean, check); !reflect.DeepEqual(kinds(cs), []string{"scrub.started"}) {
		t.Errorf("scrub start: %v", kinds(cs))
	}
	after := clean
	after.MismatchCnt = 128
	if cs := Changes(check, after); !reflect.DeepEqual(kinds(cs), []string{"scrub.finished", "mismatches.found"}) || cs[1].Count != 128 {
		t.Errorf("scrub end: %+v", cs)
	}

	// A scrub interrupted by a rebuild.
	rebuild := check
	rebuild.SyncAction = "recover"
	if cs := Changes(check, rebuild); !reflect.DeepEqual(kinds(cs), []string{"scrub.interrupted", "rebuild.started"}) {
		t.Errorf("scrub to rebuild: %v", kinds(cs))
	}

	// Start and stop; a spare added to a running array.
	if cs := Changes(ArrayStatus{}, clean); !reflect.DeepEqual(kinds(cs), []string{"array.started"}) {
		t.Errorf("start: %v", kinds(cs))
	}
	added := raid6()
	added.Members = append(added.Members, MemberStatus{Device: "vdg", State: []string{"spare"}, Slot: -1})
	if cs := Changes(clean, added); !reflect.DeepEqual(kinds(cs), []string{"member.added"}) {
		t.Errorf("spare added: %v", kinds(cs))
	}
	stopped := ArrayStatus{Name: "md127", ArrayState: "inactive"}
	if cs := Changes(clean, stopped); !reflect.DeepEqual(kinds(cs), []string{"array.stopped"}) {
		t.Errorf("stop: %v", kinds(cs))
	}
}
