package service_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"keep/appliance/service"
)

func TestBackoffIsExponentialAndCapped(t *testing.T) {
	flaky := newFake("tunnel", failNow)
	pol := service.Policy{InitialBackoff: time.Second, MaxBackoff: 5 * time.Second, Multiplier: 2,
		MaxRestarts: 6, StableAfter: time.Hour}
	h := newHarness(t, service.Spec{Service: flaky, Restart: pol})

	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	var observed []time.Duration
	for i, d := range want {
		ev := h.rec.wait(t, service.KindExited, "tunnel", i+1)
		// The only timer the tree holds is the backoff it asked for.
		pending := h.timers(1)
		observed = append(observed, pending...)
		if ev.Fields["backoff"] != d.String() || ev.Fields["failures"] != []string{"1", "2", "3", "4", "5"}[i] {
			t.Errorf("exit %d fields = %v", i+1, ev.Fields)
		}
		if s := h.status("tunnel"); s.State != service.StateBackoff || s.Failures != i+1 {
			t.Errorf("after exit %d: %s failures=%d", i+1, s.State, s.Failures)
		}
		// Just short of the delay nothing happens; at the delay it restarts.
		h.clk.Advance(d - time.Nanosecond)
		if flaky.runCount() != i+1 {
			t.Fatalf("restarted before its backoff elapsed")
		}
		h.clk.Advance(time.Nanosecond)
		h.rec.wait(t, service.KindRestarted, "tunnel", i+1)
	}
	if !slices.Equal(observed, want) {
		t.Errorf("backoff delays = %v, want %v", observed, want)
	}
	h.rec.wait(t, service.KindFailed, "tunnel", 1)
	for i, ev := range h.rec.of(service.KindRestarted, "tunnel") {
		if ev.Fields["attempt"] != []string{"1", "2", "3", "4", "5"}[i] || ev.Fields["backoff"] != want[i].String() {
			t.Errorf("restart %d fields = %v", i+1, ev.Fields)
		}
	}
	if p := h.clk.Pending(); len(p) != 0 {
		t.Errorf("timers left after giving up: %v", p)
	}
}

func TestGivesUpAfterMaxRestartsWithoutDisturbingOthers(t *testing.T) {
	bad := newFake("raid", failNow)
	sibling := newFake("bmc", nil)
	dependent := newFake("engine", nil)
	h := newHarness(t,
		service.Spec{Service: bad, Restart: service.Policy{MaxRestarts: 3}},
		spec(sibling),
		spec(dependent, "raid"),
	)
	sib := sibling.next(t)
	h.rec.wait(t, service.KindReady, "bmc", 1)
	h.rec.wait(t, service.KindExited, "raid", 1)
	h.clk.Advance(service.DefaultInitialBackoff)
	h.rec.wait(t, service.KindExited, "raid", 2)
	h.clk.Advance(2 * service.DefaultInitialBackoff)
	failed := h.rec.wait(t, service.KindFailed, "raid", 1)

	if failed.Severity.String() != "error" || failed.Fields["failures"] != "3" ||
		!strings.Contains(failed.Fields["error"], "boom") {
		t.Errorf("service.failed event = %+v", failed)
	}
	// Quiescent now: no timer, no run; so these counts are final.
	if p := h.clk.Pending(); len(p) != 0 {
		t.Fatalf("pending timers after giving up: %v", p)
	}
	if n := len(h.rec.of(service.KindFailed, "")); n != 1 {
		t.Errorf("%d service.failed events, want exactly 1", n)
	}
	if bad.runCount() != 3 {
		t.Errorf("raid ran %d times, want 3", bad.runCount())
	}
	s := h.status("raid")
	if s.State != service.StateFailed || s.Failures != 3 || s.Restarts != 2 || !strings.Contains(s.LastError, "boom") {
		t.Errorf("raid status = %+v", s)
	}
	if st := h.status("bmc"); st.State != service.StateRunning || sib.ctx.Err() != nil || sibling.runCount() != 1 {
		t.Errorf("sibling disturbed: %+v ctx=%v runs=%d", st, sib.ctx.Err(), sibling.runCount())
	}
	if st := h.status("engine"); st.State != service.StateBlocked || st.Detail != "blocked: dependency raid failed" {
		t.Errorf("dependent = %s %q", st.State, st.Detail)
	}
	if dependent.runCount() != 0 {
		t.Errorf("dependent of a failed service ran")
	}
}

func TestStableRunResetsFailureCount(t *testing.T) {
	const stable = time.Minute
	tests := []struct {
		name         string
		ran          time.Duration
		wantFailures string
		wantBackoff  time.Duration
	}{
		{"short run counts", stable - time.Nanosecond, "2", 2 * time.Second},
		{"stable run resets", stable, "1", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newFake("net", scripted)
			h := newHarness(t, service.Spec{Service: svc,
				Restart: service.Policy{InitialBackoff: time.Second, Multiplier: 2, StableAfter: stable}})
			svc.next(t).exit <- errBoom // run 1 fails at once
			h.rec.wait(t, service.KindExited, "net", 1)
			h.clk.Advance(time.Second)
			run2 := svc.next(t)
			run2.ready()
			h.rec.wait(t, service.KindReady, "net", 1)
			h.clk.Advance(tt.ran)
			run2.exit <- errBoom
			ev := h.rec.wait(t, service.KindExited, "net", 2)
			if ev.Fields["failures"] != tt.wantFailures || ev.Fields["backoff"] != tt.wantBackoff.String() {
				t.Errorf("after a %v run: failures=%s backoff=%s, want %s, %v",
					tt.ran, ev.Fields["failures"], ev.Fields["backoff"], tt.wantFailures, tt.wantBackoff)
			}
			if p := h.timers(1); p[0] != tt.wantBackoff {
				t.Errorf("timer = %v, want %v", p, tt.wantBackoff)
			}
		})
	}
}

func TestPanicIsContained(t *testing.T) {
	crashy := newFake("engine", func(c *call) error {
		if c.n == 1 {
			panic("index out of range in the engine")
		}
		c.ready()
		<-c.ctx.Done()
		return nil
	})
	sibling := newFake("api", nil)
	h := newHarness(t, spec(crashy), spec(sibling))

	ev := h.rec.wait(t, service.KindExited, "engine", 1)
	if ev.Fields["panic"] != "true" || !strings.Contains(ev.Fields["error"], "index out of range") {
		t.Errorf("exit event = %+v", ev)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "engine panicked") || !strings.Contains(logs, "goroutine") ||
		!strings.Contains(logs, "restart_test.go") {
		t.Errorf("panic stack not in the log:\n%s", logs)
	}
	if s := h.status("engine"); !strings.Contains(s.LastError, "panic: index out of range") {
		t.Errorf("LastError = %q", s.LastError)
	}
	h.clk.Advance(time.Second)
	h.rec.wait(t, service.KindReady, "engine", 1)
	h.rec.wait(t, service.KindReady, "api", 1)
	if s := h.status("api"); s.State != service.StateRunning || sibling.runCount() != 1 {
		t.Errorf("sibling disturbed by a panic: %+v", s)
	}
}

func TestPanicErrorIsErrPanic(t *testing.T) {
	inner := errors.New("inner")
	var err error = &service.PanicError{Value: inner}
	if !errors.Is(err, service.ErrPanic) || !errors.Is(err, inner) {
		t.Errorf("PanicError wrapping %v: Is(ErrPanic)=%v Is(inner)=%v",
			inner, errors.Is(err, service.ErrPanic), errors.Is(err, inner))
	}
}

func TestUnexpectedNilReturnIsAFailure(t *testing.T) {
	quitter := newFake("ntp", func(c *call) error { c.ready(); return nil })
	h := newHarness(t, spec(quitter))
	ev := h.rec.wait(t, service.KindExited, "ntp", 1)
	if !strings.Contains(ev.Fields["error"], service.ErrUnexpectedExit.Error()) {
		t.Errorf("exit error = %q", ev.Fields["error"])
	}
}

func TestOperatorRestart(t *testing.T) {
	bad := newFake("raid", scripted)
	h := newHarness(t, service.Spec{Service: bad, Restart: service.Policy{MaxRestarts: 1}}, spec(newFake("engine", nil), "raid"))
	ctx := h.ctx()

	if err := h.tree.Restart(ctx, "nope"); !errors.Is(err, service.ErrUnknownService) {
		t.Errorf("Restart(unknown) = %v", err)
	}
	bad.next(t).exit <- errBoom
	h.rec.wait(t, service.KindFailed, "raid", 1)
	h.rec.wait(t, service.KindBlocked, "engine", 1)
	if err := h.tree.Restart(ctx, "engine"); !errors.Is(err, service.ErrNotRestartable) {
		t.Errorf("Restart(blocked) = %v", err)
	}

	// Restart of a failed service: starts afresh, and its dependents follow.
	if err := h.tree.Restart(ctx, "raid"); err != nil {
		t.Fatalf("Restart(failed) = %v", err)
	}
	run := bad.next(t)
	if s := h.status("raid"); s.Failures != 0 || s.State != service.StateStarting {
		t.Errorf("after Restart: %+v", s)
	}
	run.ready()
	h.rec.wait(t, service.KindReady, "engine", 1)

	// Restart of a running service: stop, start again, no failure counted.
	if err := h.tree.Restart(ctx, "raid"); err != nil {
		t.Fatalf("Restart(running) = %v", err)
	}
	if run.ctx.Err() == nil {
		t.Error("running service not cancelled by Restart")
	}
	bad.next(t).ready()
	h.rec.wait(t, service.KindReady, "raid", 2)
	s := h.status("raid")
	if s.Failures != 0 || s.Restarts != 2 || s.State != service.StateRunning {
		t.Errorf("after running restart: %+v", s)
	}
	if n := len(h.rec.of(service.KindRestartRequested, "raid")); n != 2 {
		t.Errorf("%d restart_requested events", n)
	}
}
