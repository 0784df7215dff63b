package events_test

import (
	"context"
	"testing"

	"keep/appliance/clock"
	"keep/appliance/events"
)

func TestSubscribeDeliversThenClosesOnCancel(t *testing.T) {
	j, _ := newJournal(t, 10)
	j.Emit(events.Event{Kind: "before"})
	ctx, cancel := context.WithCancel(context.Background())
	ch := j.Subscribe(ctx)
	j.Emit(events.Event{Kind: "after", Fields: map[string]string{"k": "v"}})
	e := <-ch
	if e.Kind != "after" || e.Seq != 2 || e.Fields["k"] != "v" {
		t.Fatalf("got %+v, want the event emitted after subscribing", e)
	}
	if j.Stats().Subscribers != 1 {
		t.Fatalf("Subscribers = %d", j.Stats().Subscribers)
	}
	cancel()
	for range ch { // drains and ends only when the journal closes the channel
	}
	if n := j.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers after cancel = %d", n)
	}
	j.Emit(events.Event{Kind: "after cancel"}) // must not panic on a closed channel
}

func TestSlowSubscriberLosesEventsButNeverBlocksEmit(t *testing.T) {
	j := events.NewJournal(events.Options{Capacity: 100, SubscriberBuffer: 2, Clock: clock.NewFake(epoch)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := j.Subscribe(ctx)
	for i := 0; i < 10; i++ {
		j.Emit(events.Event{Kind: "test.tick"}) // returns although nobody reads
	}
	if got := []uint64{(<-slow).Seq, (<-slow).Seq}; got[0] != 1 || got[1] != 2 {
		t.Errorf("subscriber kept %v, want the first two", got)
	}
	if d := j.Stats().SubscriberDropped; d != 8 {
		t.Errorf("SubscriberDropped = %d, want 8", d)
	}
}

func TestSubscribeWithDoneContextIsClosed(t *testing.T) {
	j, _ := newJournal(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := <-j.Subscribe(ctx); ok {
		t.Fatal("subscription of a done context delivered an event")
	}
}
