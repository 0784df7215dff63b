package events_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"keep/appliance/clock"
	"keep/appliance/events"
)

var epoch = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newJournal(t *testing.T, capacity int) (*events.Journal, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	return events.NewJournal(events.Options{Capacity: capacity, Clock: clk, Boot: "boot-a"}), clk
}

func seqs(evs []events.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func TestEmitAssignsSeqTimeBootAndCopiesFields(t *testing.T) {
	j, clk := newJournal(t, 10)
	fields := map[string]string{"device": "sda"}
	j.Emit(events.Event{Seq: 99, Source: "raid", Kind: "raid.degraded", Fields: fields})
	clk.Advance(time.Second)
	j.Emit(events.Event{Severity: events.Critical, Source: "raid", Kind: "raid.failed"})
	fields["device"] = "changed by caller"

	got := j.Query(events.Filter{})
	if len(got) != 2 {
		t.Fatalf("Query returned %d events", len(got))
	}
	if got[0].Seq != 1 || got[1].Seq != 2 {
		t.Errorf("seqs = %v, want [1 2]", seqs(got))
	}
	if !got[0].Time.Equal(epoch) || !got[1].Time.Equal(epoch.Add(time.Second)) {
		t.Errorf("times = %v, %v", got[0].Time, got[1].Time)
	}
	if got[0].Severity != events.Info {
		t.Errorf("unset severity recorded as %v, want info", got[0].Severity)
	}
	if got[0].Boot != "boot-a" || j.Boot() != "boot-a" {
		t.Errorf("boot = %q", got[0].Boot)
	}
	if got[0].Fields["device"] != "sda" {
		t.Errorf("journal shares the caller's Fields map: %v", got[0].Fields)
	}
	got[0].Fields["device"] = "changed by reader"
	if again := j.Query(events.Filter{}); again[0].Fields["device"] != "sda" {
		t.Errorf("Query hands out the journal's own Fields map")
	}
}

func TestRingDropsOldestAndCounts(t *testing.T) {
	j, _ := newJournal(t, 3)
	for i := 0; i < 5; i++ {
		j.Emit(events.Event{Kind: "test.tick"})
	}
	if got := seqs(j.Query(events.Filter{})); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Errorf("kept %v, want [3 4 5]", got)
	}
	st := j.Stats()
	if st.Dropped != 2 || st.Emitted != 5 || st.Buffered != 3 || st.Capacity != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestQueryFilters(t *testing.T) {
	j, clk := newJournal(t, 100)
	emit := []events.Event{
		{Severity: events.Debug, Source: "raid", Kind: "raid.scrub.progress"},  // 1 @0s
		{Severity: events.Warning, Source: "raid", Kind: "raid.degraded"},      // 2 @1s
		{Severity: events.Info, Source: "supervisor", Kind: "service.started"}, // 3 @2s
		{Severity: events.Error, Source: "supervisor", Kind: "service.failed"}, // 4 @3s
		{Severity: events.Critical, Source: "ipmi", Kind: "ipmi.watchdog"},     // 5 @4s
		{Severity: events.Notice, Source: "raid", Kind: "raidz.other"},         // 6 @5s
	}
	for _, e := range emit {
		j.Emit(e)
		clk.Advance(time.Second)
	}
	tests := []struct {
		name string
		f    events.Filter
		want []uint64
	}{
		{"all", events.Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"min severity", events.Filter{MinSeverity: events.Warning}, []uint64{2, 4, 5}},
		{"source exact", events.Filter{Source: "supervisor"}, []uint64{3, 4}},
		{"kind prefix", events.Filter{Kind: "raid."}, []uint64{1, 2}},
		{"kind prefix without dot", events.Filter{Kind: "raid"}, []uint64{1, 2, 6}},
		{"since", events.Filter{Since: epoch.Add(3 * time.Second)}, []uint64{4, 5, 6}},
		{"after seq", events.Filter{AfterSeq: 4}, []uint64{5, 6}},
		{"after seq beyond end", events.Filter{AfterSeq: 1 << 63}, []uint64{}},
		{"limit is a tail", events.Filter{Limit: 2}, []uint64{5, 6}},
		{"limit with after seq pages forward", events.Filter{AfterSeq: 1, Limit: 2}, []uint64{2, 3}},
		{"combined", events.Filter{Source: "raid", MinSeverity: events.Info}, []uint64{2, 6}},
		{"boot mismatch", events.Filter{Boot: "other"}, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(j.Query(tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("Query(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}

func TestConcurrentEmitQuerySubscribe(t *testing.T) {
	j := events.NewJournal(events.Options{Capacity: 50, Clock: clock.NewFake(epoch)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := j.Subscribe(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				j.Emit(events.Event{Source: fmt.Sprint("w", w), Kind: "test.tick"})
				_ = j.Query(events.Filter{Limit: 5})
			}
		}()
	}
	wg.Wait()
	got := 0
	for len(sub) > 0 {
		<-sub
		got++
	}
	st := j.Stats()
	if st.Emitted != 800 || uint64(got)+st.SubscriberDropped != 800 {
		t.Errorf("emitted %d, subscriber got %d + dropped %d", st.Emitted, got, st.SubscriberDropped)
	}
	if q := j.Query(events.Filter{}); len(q) != 50 || q[49].Seq != 800 {
		t.Errorf("ring holds %d events ending at %d", len(q), q[len(q)-1].Seq)
	}
}
