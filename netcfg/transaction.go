package netcfg

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ConfigApplier switches the running network from one configuration to
// another. Applier implements it for the kernel's links, addresses and
// routes; the supervisor wraps it to also update resolv.conf and its
// DHCP and NTP clients.
type ConfigApplier interface {
	ApplyConfig(ctx context.Context, from, to Config) error
}

// Outcome is how a Transaction ended.
type Outcome int

const (
	// Confirmed: the new configuration stays; the caller persists it.
	Confirmed Outcome = iota + 1
	// RolledBack: the previous configuration runs again, because the
	// deadline passed, Revert was called, or the new configuration
	// failed to apply.
	RolledBack
	// RollbackFailed: reverting failed too, so the network runs neither
	// configuration fully. The persisted configuration is still the
	// previous one.
	RollbackFailed
	// Abandoned: the owner's context ended before a decision. Nothing
	// was reverted; the persisted configuration, still the previous
	// one, is what the next boot runs.
	Abandoned
)

func (o Outcome) String() string {
	switch o {
	case Confirmed:
		return "confirmed"
	case RolledBack:
		return "rolled back"
	case RollbackFailed:
		return "rollback failed"
	case Abandoned:
		return "abandoned"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// TxResult is a Transaction's end.
type TxResult struct {
	Outcome Outcome
	// Running is the configuration the network runs now: the new one
	// when confirmed or abandoned, the previous one when rolled back.
	Running Config
	// Err is why it rolled back (ErrNotConfirmed, ErrReverted or the
	// apply error), and for RollbackFailed also why reverting failed.
	Err error
}

var (
	// ErrNotConfirmed is the reason of a rollback at the deadline.
	ErrNotConfirmed = errors.New("not confirmed in time")
	// ErrReverted is the reason of a rollback on request.
	ErrReverted = errors.New("reverted on request")
	// ErrTxOver is returned by Confirm and Revert once the transaction
	// has ended.
	ErrTxOver = errors.New("the configuration transaction is over")
)

// TxOptions are what a Transaction works with.
type TxOptions struct {
	Applier ConfigApplier
	// Now and After are the clock: time.Now and time.After outside
	// tests.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// OnOutcome is called once, when the transaction ends, before
	// Confirm or Revert return. On Confirmed the caller persists
	// Running.
	OnOutcome func(TxResult)
}

// Transaction is a configuration change on probation: applied, and
// reverted to the previous configuration unless confirmed before the
// deadline, so a bad configuration cannot cut the NOC off for good.
// One goroutine, stopped by the context given to Begin, owns it.
type Transaction struct {
	o          TxOptions
	prev, next Config
	deadline   time.Time
	reqs       chan txRequest
	done       chan struct{}
	result     TxResult // written before done is closed
}

type txRequest struct {
	confirm bool
	reply   chan error
}

// Begin applies next in place of prev and gives the caller until within
// from now to Confirm it. If next fails to apply, Begin reverts to prev
// at once, reports that through OnOutcome and returns the apply error.
func Begin(ctx context.Context, o TxOptions, prev, next Config, within time.Duration) (*Transaction, error) {
	if within <= 0 {
		return nil, fmt.Errorf("confirm within %s: must be positive", within)
	}
	t := &Transaction{o: o, prev: prev, next: next, reqs: make(chan txRequest), done: make(chan struct{})}
	t.deadline = o.Now().Add(within)
	if err := o.Applier.ApplyConfig(ctx, prev, next); err != nil {
		t.rollback(ctx, err)
		return nil, fmt.Errorf("apply: %w", err)
	}
	timeout := o.After(within)
	go t.run(ctx, timeout)
	return t, nil
}

// Deadline is when the transaction rolls back unless confirmed.
func (t *Transaction) Deadline() time.Time { return t.deadline }

// Done is closed when the transaction has ended.
func (t *Transaction) Done() <-chan struct{} { return t.done }

// Result is the outcome once Done is closed.
func (t *Transaction) Result() (TxResult, bool) {
	select {
	case <-t.done:
		return t.result, true
	default:
		return TxResult{}, false
	}
}

// Confirm keeps the new configuration. It returns once OnOutcome has
// run, or ErrTxOver if the transaction already ended (rolled back).
func (t *Transaction) Confirm() error { return t.request(true) }

// Revert goes back to the previous configuration now. It returns once
// OnOutcome has run, with the rollback's error if it failed.
func (t *Transaction) Revert() error { return t.request(false) }

func (t *Transaction) request(confirm bool) error {
	r := txRequest{confirm: confirm, reply: make(chan error, 1)}
	select {
	case t.reqs <- r:
		return <-r.reply
	case <-t.done:
		return fmt.Errorf("%w: %s", ErrTxOver, t.result.Outcome)
	}
}

func (t *Transaction) run(ctx context.Context, timeout <-chan time.Time) {
	select {
	case r := <-t.reqs:
		if r.confirm {
			t.finish(TxResult{Outcome: Confirmed, Running: t.next})
			r.reply <- nil
			return
		}
		r.reply <- t.rollback(ctx, ErrReverted)
	case <-timeout:
		t.rollback(ctx, ErrNotConfirmed)
	case <-ctx.Done():
		t.finish(TxResult{Outcome: Abandoned, Running: t.next, Err: ctx.Err()})
	}
}

// rollback applies prev again; why is the reason.
func (t *Transaction) rollback(ctx context.Context, why error) error {
	if err := t.o.Applier.ApplyConfig(ctx, t.next, t.prev); err != nil {
		err = fmt.Errorf("revert: %w", err)
		t.finish(TxResult{Outcome: RollbackFailed, Running: t.prev, Err: errors.Join(why, err)})
		return err
	}
	t.finish(TxResult{Outcome: RolledBack, Running: t.prev, Err: why})
	return nil
}

func (t *Transaction) finish(r TxResult) {
	t.result = r
	if t.o.OnOutcome != nil {
		t.o.OnOutcome(r)
	}
	close(t.done)
}
