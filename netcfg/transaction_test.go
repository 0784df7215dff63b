package netcfg

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fakeApplier records switches between configurations, named by their
// hostname-like marker (the first ethernet's name).
type fakeApplier struct {
	mu       sync.Mutex
	switches []string
	// fail makes switching to the named configuration fail.
	fail map[string]error
}

func cfgNamed(name string) Config {
	return Config{Ethernets: map[string]EthernetConfig{name: {}}}
}

func nameOf(c Config) string {
	for k := range c.Ethernets {
		return k
	}
	return ""
}

func (f *fakeApplier) ApplyConfig(_ context.Context, from, to Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switches = append(f.switches, nameOf(from)+"->"+nameOf(to))
	return f.fail[nameOf(to)]
}

func (f *fakeApplier) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.switches...)
}

// fakeTimer is the transaction's clock: the deadline fires when the
// test says.
type fakeTimer struct {
	now   time.Time
	asked []time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{now: t0, fire: make(chan time.Time, 1)}
}

func (c *fakeTimer) Now() time.Time { return c.now }
func (c *fakeTimer) After(d time.Duration) <-chan time.Time {
	c.asked = append(c.asked, d)
	return c.fire
}

func begin(t *testing.T, ctx context.Context, ap *fakeApplier, clk *fakeTimer, outcomes chan TxResult) (*Transaction, error) {
	t.Helper()
	return Begin(ctx, TxOptions{Applier: ap, Now: clk.Now, After: clk.After, OnOutcome: func(r TxResult) { outcomes <- r }},
		cfgNamed("old"), cfgNamed("new"), 2*time.Minute)
}

func TestTransaction(t *testing.T) {
	tests := []struct {
		name     string
		fail     map[string]error
		act      func(t *testing.T, tx *Transaction, clk *fakeTimer, cancel func())
		outcome  Outcome
		running  string
		reason   error
		switches []string
	}{
		{
			name: "confirmed in time: kept, nothing reverted",
			act: func(t *testing.T, tx *Transaction, _ *fakeTimer, _ func()) {
				if err := tx.Confirm(); err != nil {
					t.Fatal(err)
				}
				if err := tx.Confirm(); !errors.Is(err, ErrTxOver) {
					t.Errorf("second confirm: %v", err)
				}
			},
			outcome: Confirmed, running: "new", switches: []string{"old->new"},
		},
		{
			name: "deadline passes: the previous configuration is back",
			act: func(t *testing.T, tx *Transaction, clk *fakeTimer, _ func()) {
				clk.fire <- clk.now.Add(2 * time.Minute)
				<-tx.Done()
				if err := tx.Confirm(); !errors.Is(err, ErrTxOver) || err.Error() != "the configuration transaction is over: rolled back" {
					t.Errorf("confirm after the rollback: %v", err)
				}
			},
			outcome: RolledBack, running: "old", reason: ErrNotConfirmed, switches: []string{"old->new", "new->old"},
		},
		{
			name: "reverted on request",
			act: func(t *testing.T, tx *Transaction, _ *fakeTimer, _ func()) {
				if err := tx.Revert(); err != nil {
					t.Fatal(err)
				}
			},
			outcome: RolledBack, running: "old", reason: ErrReverted, switches: []string{"old->new", "new->old"},
		},
		{
			name: "the rollback fails too",
			fail: map[string]error{"old": errors.New("no such network interface")},
			act: func(t *testing.T, tx *Transaction, clk *fakeTimer, _ func()) {
				clk.fire <- clk.now
				<-tx.Done()
			},
			outcome: RollbackFailed, running: "old", reason: ErrNotConfirmed, switches: []string{"old->new", "new->old"},
		},
		{
			name: "the owner stops: abandoned, nothing reverted",
			act: func(t *testing.T, tx *Transaction, _ *fakeTimer, cancel func()) {
				cancel()
				<-tx.Done()
			},
			outcome: Abandoned, running: "new", reason: context.Canceled, switches: []string{"old->new"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap := &fakeApplier{fail: tc.fail}
			clk := newFakeTimer()
			outcomes := make(chan TxResult, 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tx, err := begin(t, ctx, ap, clk, outcomes)
			if err != nil {
				t.Fatal(err)
			}
			if !tx.Deadline().Equal(t0.Add(2*time.Minute)) || !reflect.DeepEqual(clk.asked, []time.Duration{2 * time.Minute}) {
				t.Errorf("deadline %v, timer %v", tx.Deadline(), clk.asked)
			}
			if _, over := tx.Result(); over {
				t.Fatal("over before anything happened")
			}
			tc.act(t, tx, clk, cancel)
			r := <-outcomes
			if r.Outcome != tc.outcome || nameOf(r.Running) != tc.running || (tc.reason != nil && !errors.Is(r.Err, tc.reason)) || (tc.reason == nil && r.Err != nil) {
				t.Errorf("outcome %s running %s err %v; want %s %s %v", r.Outcome, nameOf(r.Running), r.Err, tc.outcome, tc.running, tc.reason)
			}
			if res, over := tx.Result(); !over || res.Outcome != tc.outcome {
				t.Errorf("Result = %+v, %v", res, over)
			}
			if got := ap.got(); !reflect.DeepEqual(got, tc.switches) {
				t.Errorf("switches %q, want %q", got, tc.switches)
			}
			select {
			case r := <-outcomes:
				t.Errorf("a second outcome: %+v", r)
			default:
			}
		})
	}
}

func TestTransactionApplyFailureRollsBackAtOnce(t *testing.T) {
	ap := &fakeApplier{fail: map[string]error{"new": errors.New("eth9: no such network interface")}}
	outcomes := make(chan TxResult, 2)
	tx, err := begin(t, context.Background(), ap, newFakeTimer(), outcomes)
	if tx != nil || err == nil || err.Error() != "apply: eth9: no such network interface" {
		t.Fatalf("Begin = %v, %v", tx, err)
	}
	if r := <-outcomes; r.Outcome != RolledBack || nameOf(r.Running) != "old" || r.Err == nil {
		t.Errorf("outcome %+v", r)
	}
	if got := ap.got(); !reflect.DeepEqual(got, []string{"old->new", "new->old"}) {
		t.Errorf("switches %q", got)
	}
}

// Confirm racing the deadline: exactly one outcome, and Confirm's
// answer agrees with it.
func TestTransactionConfirmRacesDeadline(t *testing.T) {
	for i := 0; i < 200; i++ {
		ap := &fakeApplier{}
		clk := newFakeTimer()
		outcomes := make(chan TxResult, 2)
		tx, err := begin(t, context.Background(), ap, clk, outcomes)
		if err != nil {
			t.Fatal(err)
		}
		clk.fire <- clk.now
		cerr := tx.Confirm()
		r := <-outcomes
		switch {
		case cerr == nil && r.Outcome != Confirmed, cerr != nil && r.Outcome != RolledBack:
			t.Fatalf("confirm said %v but the outcome is %s", cerr, r.Outcome)
		}
		<-tx.Done()
		if len(outcomes) != 0 {
			t.Fatal("two outcomes")
		}
	}
}

func TestTransactionNeedsAPositiveWindow(t *testing.T) {
	_, err := Begin(context.Background(), TxOptions{Applier: &fakeApplier{}, Now: time.Now, After: time.After}, Config{}, Config{}, 0)
	if err == nil {
		t.Fatal("zero window accepted")
	}
}
