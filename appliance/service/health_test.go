package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"keep/appliance/service"
)

// checked is a fake service with a scripted health check.
type checked struct {
	*fake
	checks chan chan error // each check hands the test a channel to answer on
}

func (c *checked) Health(ctx context.Context) error {
	answer := make(chan error, 1)
	c.checks <- answer
	select {
	case err := <-answer:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *checked) answer(t *testing.T, err error) {
	t.Helper()
	select {
	case a := <-c.checks:
		a <- err
	case <-time.After(failsafe):
		t.Fatalf("%s was not health-checked", c.name)
	}
}

func TestHealthChecksShowInStatusAndEvents(t *testing.T) {
	svc := &checked{fake: newFake("raid", nil), checks: make(chan chan error, 10)}
	h := newHarness(t, service.Spec{Service: svc, HealthInterval: 10 * time.Second})

	svc.answer(t, nil) // the first check comes right after ready
	h.rec.wait(t, service.KindHealthy, "raid", 1)
	st := h.status("raid")
	if st.Health == nil || !st.Health.OK || !st.Health.CheckedAt.Equal(epoch) {
		t.Fatalf("Health = %+v", st.Health)
	}
	if p := h.timers(1); p[0] != 10*time.Second {
		t.Fatalf("health timer %v, want 10s", p)
	}

	h.clk.Advance(10 * time.Second)
	svc.answer(t, errors.New("array degraded: sdb missing"))
	ev := h.rec.wait(t, service.KindUnhealthy, "raid", 1)
	if ev.Fields["error"] != "array degraded: sdb missing" || ev.Severity.String() != "warning" {
		t.Errorf("unhealthy event = %+v", ev)
	}
	st = h.status("raid")
	if st.Health.OK || st.Health.Message != "array degraded: sdb missing" ||
		!st.Health.CheckedAt.Equal(epoch.Add(10*time.Second)) || st.State != service.StateRunning {
		t.Errorf("status = %+v health %+v", st, st.Health)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"state":"running"`) ||
		!strings.Contains(string(b), `"health":{"ok":false,"message":"array degraded: sdb missing"`) {
		t.Errorf("JSON = %s, %v", b, err)
	}

	// Recovery is reported at notice severity.
	h.timers(1)
	h.clk.Advance(10 * time.Second)
	svc.answer(t, nil)
	if ev := h.rec.wait(t, service.KindHealthy, "raid", 2); ev.Severity.String() != "notice" {
		t.Errorf("recovery severity = %v", ev.Severity)
	}

	// A check that does not answer by the next tick is reported as timed
	// out, and no second check is started while it hangs.
	h.timers(1)
	h.clk.Advance(10 * time.Second)
	hung := <-svc.checks
	h.timers(1)
	h.clk.Advance(10 * time.Second)
	ev = h.rec.wait(t, service.KindUnhealthy, "raid", 2)
	if !strings.Contains(ev.Fields["error"], service.ErrHealthTimeout.Error()) {
		t.Errorf("timeout event = %+v", ev)
	}
	if len(svc.checks) != 0 {
		t.Error("a second check started while one hangs")
	}
	hung <- nil
	h.rec.wait(t, service.KindHealthy, "raid", 3)
	if st := h.status("raid"); !st.Health.OK {
		t.Errorf("health after the hung check answered = %+v", st.Health)
	}
}
