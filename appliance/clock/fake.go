package clock

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Fake is a Clock for tests. Time stands still until Advance moves it;
// timers fire only inside Advance. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	nextID  uint64
	active  []*fakeTimer
	changed chan struct{} // closed and replaced whenever active changes
}

// NewFake returns a fake clock that reads start until advanced.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	t := &fakeTimer{f: f, id: f.nextID, deadline: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
		return t
	}
	f.active = append(f.active, t)
	f.notifyLocked()
	return t
}

// Advance moves the fake time forward by d and fires, in deadline order,
// every timer whose deadline has been reached.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("clock: Advance(%v): negative duration", d))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	var due, keep []*fakeTimer
	for _, t := range f.active {
		if t.deadline.After(f.now) {
			keep = append(keep, t)
		} else {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.SortFunc(due, func(a, b *fakeTimer) int {
		if c := a.deadline.Compare(b.deadline); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	f.active = keep
	for _, t := range due {
		t.c <- f.now // cap 1 and fires once: never blocks
	}
	f.notifyLocked()
}

// Pending returns the time left on every active timer, shortest first.
func (f *Fake) Pending() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pendingLocked()
}

// WaitForTimers blocks until at least n timers are active and returns
// Pending at that moment, or returns ctx's error. Tests use it to learn
// that the code under test has reached a wait, instead of sleeping.
func (f *Fake) WaitForTimers(ctx context.Context, n int) ([]time.Duration, error) {
	for {
		f.mu.Lock()
		if len(f.active) >= n {
			p := f.pendingLocked()
			f.mu.Unlock()
			return p, nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return f.Pending(), fmt.Errorf("wait for %d timers (pending %v): %w", n, f.Pending(), ctx.Err())
		}
	}
}

func (f *Fake) pendingLocked() []time.Duration {
	p := make([]time.Duration, 0, len(f.active))
	for _, t := range f.active {
		p = append(p, t.deadline.Sub(f.now))
	}
	slices.Sort(p)
	return p
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

type fakeTimer struct {
	f        *Fake
	id       uint64
	deadline time.Time
	c        chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	i := slices.Index(t.f.active, t)
	if i < 0 {
		return false
	}
	t.f.active = slices.Delete(t.f.active, i, i+1)
	t.f.notifyLocked()
	return true
}
