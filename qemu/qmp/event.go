package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// maxQueuedEvents bounds the event queue; the oldest events are dropped beyond it.
const maxQueuedEvents = 1024

// Event is an asynchronous QMP event, e.g. SHUTDOWN, RESET, DEVICE_DELETED, WATCHDOG.
type Event struct {
	Name string          // "event"
	Data json.RawMessage // "data", nil when the event has none
	Time time.Time       // "timestamp", QEMU's host clock
	seq  uint64          // arrival order, from 1
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return nil
	}
	return json.Unmarshal(e.Data, v)
}

// queueEvent appends an event and wakes every waiter. It is called with c.mu held.
func (c *Client) queueEvent(e Event) {
	c.seq++
	e.seq = c.seq
	if len(c.events) >= maxQueuedEvents {
		c.events = c.events[1:]
	}
	c.events = append(c.events, e)
	c.wakeLocked()
}

// wakeLocked wakes every goroutine waiting for an event or for the end.
func (c *Client) wakeLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// WaitEvent returns the oldest queued event called name and removes it from the
// queue, waiting for one to arrive if there is none. Every event received since
// the client connected is queued until some WaitEvent takes it, so an event that
// arrives before the reply to the command that caused it is not lost. After the
// connection ends, the events queued until then are still returned; then it
// fails with ErrClosed.
func (c *Client) WaitEvent(ctx context.Context, name string) (Event, error) {
	return c.WaitEventFunc(ctx, name, nil)
}

// WaitEventFunc is WaitEvent for the oldest event called name for which match
// returns true (a nil match accepts any).
func (c *Client) WaitEventFunc(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	return c.waitEvent(ctx, 0, name, match)
}

// mark returns the sequence number of the newest event so far: waitEvent
// with it only accepts events that arrive later.
func (c *Client) mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

func (c *Client) waitEvent(ctx context.Context, after uint64, name string, match func(Event) bool) (Event, error) {
	for {
		c.mu.Lock()
		for i, e := range c.events {
			if e.seq > after && e.Name == name && (match == nil || match(e)) {
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				c.mu.Unlock()
				return e, nil
			}
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return Event{}, fmt.Errorf("qmp: wait for event %s: %w", name, err)
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("qmp: wait for event %s: %w", name, ctx.Err())
		}
	}
}
