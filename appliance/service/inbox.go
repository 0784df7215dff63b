package service

import (
	"sync"
	"time"
)

type msgKind uint8

const (
	msgReady       msgKind = iota // a run called ready
	msgExited                     // a run returned
	msgBackoffDone                // a backoff delay elapsed
	msgStopOverrun                // a stop requested while running overran StopTimeout
	msgHealth                     // a health check result
	msgRestart                    // Restart was called
)

// message is what the tree's goroutines and callers tell the supervision
// loop. gen is the run generation it concerns; the loop ignores messages
// about a run that is no longer current.
type message struct {
	kind  msgKind
	unit  *unit
	gen   uint64
	err   error      // msgHealth
	at    time.Time  // msgHealth
	reply chan error // msgRestart, buffered
}

// inbox is an unbounded mailbox: push never blocks, so a service calling
// ready, or a run returning, can never wait on the supervision loop (which
// may itself be waiting for that service to stop).
type inbox struct {
	mu     sync.Mutex
	msgs   []message
	signal chan struct{} // capacity 1: "there is something"
}

func newInbox() *inbox { return &inbox{signal: make(chan struct{}, 1)} }

func (b *inbox) push(m message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.msgs
	b.msgs = nil
	return m
}
