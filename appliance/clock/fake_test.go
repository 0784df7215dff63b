package clock_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"keep/appliance/clock"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fired(t clock.Timer) bool {
	select {
	case <-t.C():
		return true
	default:
		return false
	}
}

func TestFakeFiresInDeadlineOrderOnlyWhenDue(t *testing.T) {
	f := clock.NewFake(epoch)
	a := f.NewTimer(3 * time.Second)
	b := f.NewTimer(time.Second)
	c := f.NewTimer(0)
	if !fired(c) {
		t.Fatal("zero-duration timer did not fire at once")
	}
	if got, want := f.Pending(), []time.Duration{time.Second, 3 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("Pending = %v, want %v", got, want)
	}
	f.Advance(999 * time.Millisecond)
	if fired(b) || fired(a) {
		t.Fatal("timer fired before its deadline")
	}
	f.Advance(time.Millisecond)
	if !fired(b) || fired(a) {
		t.Fatal("want only the 1s timer fired at 1s")
	}
	if a.Stop() != true || a.Stop() != false {
		t.Fatal("Stop should report true once, then false")
	}
	f.Advance(time.Hour)
	if fired(a) {
		t.Fatal("stopped timer fired")
	}
	if got := f.Now(); !got.Equal(epoch.Add(time.Hour + time.Second)) {
		t.Fatalf("Now = %v", got)
	}
}

func TestFakeWaitForTimers(t *testing.T) {
	f := clock.NewFake(epoch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan []time.Duration)
	go func() {
		p, err := f.WaitForTimers(ctx, 2)
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	f.NewTimer(time.Minute)
	f.NewTimer(time.Second)
	if got := <-done; !slices.Equal(got, []time.Duration{time.Second, time.Minute}) {
		t.Fatalf("WaitForTimers = %v", got)
	}
	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := f.WaitForTimers(short, 3); err == nil {
		t.Fatal("WaitForTimers with a cancelled context returned no error")
	}
}
