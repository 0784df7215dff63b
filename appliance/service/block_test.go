package service_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"keep/appliance/service"
)

func TestDependentsOfAFailedServiceAreStoppedAndBlocked(t *testing.T) {
	raid := newFake("raid", scripted)
	engine := newFake("engine", nil)
	api := newFake("api", nil)
	bmc := newFake("bmc", nil)
	h := newHarness(t,
		service.Spec{Service: raid, Restart: service.Policy{MaxRestarts: 1}},
		spec(engine, "raid"),
		spec(api, "engine"),
		spec(bmc),
	)
	first := raid.next(t)
	first.ready()
	h.rec.wait(t, service.KindReady, "api", 1)
	h.rec.wait(t, service.KindReady, "bmc", 1)

	first.exit <- errBoom
	h.rec.wait(t, service.KindFailed, "raid", 1)
	h.rec.wait(t, service.KindStopped, "engine", 1)
	h.rec.wait(t, service.KindStopped, "api", 1)

	want := map[string]string{
		"engine": "blocked: dependency raid failed",
		"api":    "blocked: dependency engine is blocked (raid failed)",
	}
	for name, detail := range want {
		if s := h.status(name); s.State != service.StateBlocked || s.Detail != detail || s.Failures != 0 {
			t.Errorf("%s = %s %q failures=%d, want blocked %q", name, s.State, s.Detail, s.Failures, detail)
		}
		if ev := h.rec.of(service.KindBlocked, name); len(ev) != 1 || ev[0].Fields["root"] != "raid" {
			t.Errorf("%s blocked events = %+v", name, ev)
		}
	}
	if s := h.status("bmc"); s.State != service.StateRunning {
		t.Errorf("unrelated service = %s", s.State)
	}
	// Stopping a blocked dependent is not its failure: no exit events.
	if ev := append(h.rec.of(service.KindExited, "engine"), h.rec.of(service.KindExited, "api")...); len(ev) != 0 {
		t.Errorf("dependents counted as failed: %+v", ev)
	}

	// The dependency comes back: dependents are unblocked and start again.
	if err := h.tree.Restart(h.ctx(), "raid"); err != nil {
		t.Fatal(err)
	}
	raid.next(t).ready()
	h.rec.wait(t, service.KindReady, "api", 2)
	for _, name := range []string{"engine", "api"} {
		if s := h.status(name); s.State != service.StateRunning || s.Restarts != 1 {
			t.Errorf("%s after recovery = %+v", name, s)
		}
		if n := len(h.rec.of(service.KindUnblocked, name)); n != 1 {
			t.Errorf("%s: %d unblocked events", name, n)
		}
	}
}

func TestRestartingDependencyLeavesDependentsRunning(t *testing.T) {
	net := newFake("net", scripted)
	tunnel := newFake("tunnel", nil)
	h := newHarness(t, spec(net), spec(tunnel, "net"))
	r := net.next(t)
	r.ready()
	tun := tunnel.next(t)
	h.rec.wait(t, service.KindReady, "tunnel", 1)

	r.exit <- errBoom
	h.rec.wait(t, service.KindExited, "net", 1)
	if tun.ctx.Err() != nil || h.status("tunnel").State != service.StateRunning {
		t.Fatal("a dependency in backoff stopped its dependent")
	}
	h.clk.Advance(service.DefaultInitialBackoff)
	net.next(t).ready()
	h.rec.wait(t, service.KindReady, "net", 2)
	if tunnel.runCount() != 1 {
		t.Errorf("tunnel restarted %d times", tunnel.runCount()-1)
	}
}

func TestBlockedDependentInBackoffIsNotRestarted(t *testing.T) {
	raid := newFake("raid", scripted)
	engine := newFake("engine", scripted)
	h := newHarness(t,
		service.Spec{Service: raid, Restart: service.Policy{MaxRestarts: 1}},
		spec(engine, "raid"),
	)
	r := raid.next(t)
	r.ready()
	engine.next(t).exit <- errBoom
	h.rec.wait(t, service.KindExited, "engine", 1)
	r.exit <- errBoom
	h.rec.wait(t, service.KindFailed, "raid", 1)
	h.rec.wait(t, service.KindBlocked, "engine", 1)
	if p := h.clk.Pending(); len(p) != 0 {
		t.Errorf("engine's backoff still pending while blocked: %v", p)
	}
	if s := h.status("engine"); s.State != service.StateBlocked {
		t.Errorf("engine = %s", s.State)
	}
	if err := h.tree.Restart(h.ctx(), "engine"); !errors.Is(err, service.ErrNotRestartable) {
		t.Errorf("Restart(blocked) = %v", err)
	}
	if got := h.rec.trace(service.KindStarted, service.KindRestarted); !slices.Equal(got,
		[]string{"service.started raid", "service.started engine"}) {
		t.Errorf("starts = %v", got)
	}
}

func TestBlockedDependentOverrunningStopIsReportedAndNotRestartedEarly(t *testing.T) {
	raid := newFake("raid", scripted)
	release := make(chan error)
	engine := newFake("engine", func(c *call) error {
		c.ready()
		if c.n == 1 {
			return <-release // ignores ctx until the test releases it
		}
		<-c.ctx.Done()
		return nil
	})
	h := newHarness(t,
		service.Spec{Service: raid, Restart: service.Policy{MaxRestarts: 1}},
		service.Spec{Service: engine, Deps: []string{"raid"}, StopTimeout: 3 * time.Second},
	)
	r := raid.next(t)
	r.ready()
	h.rec.wait(t, service.KindReady, "engine", 1)
	r.exit <- errBoom
	h.rec.wait(t, service.KindStopping, "engine", 1)
	if p := h.timers(1); !slices.Equal(p, []time.Duration{3 * time.Second}) {
		t.Fatalf("stop watch = %v", p)
	}
	h.clk.Advance(3 * time.Second)
	ev := h.rec.wait(t, service.KindStopTimeout, "engine", 1)
	if ev.Fields["abandoned"] != "" {
		t.Errorf("normal-operation overrun marked abandoned: %v", ev.Fields)
	}
	if s := h.status("engine"); s.State != service.StateStopping {
		t.Errorf("engine = %s, want still stopping", s.State)
	}
	// raid comes back while the old engine run is still alive: engine must
	// not get a second run until the first returns.
	if err := h.tree.Restart(h.ctx(), "raid"); err != nil {
		t.Fatal(err)
	}
	raid.next(t).ready()
	h.rec.wait(t, service.KindReady, "raid", 2)
	if engine.runCount() != 1 {
		t.Fatal("engine started again while its previous run was alive")
	}
	release <- errors.New("finally")
	stopped := h.rec.wait(t, service.KindStopped, "engine", 1)
	if stopped.Fields["error"] != "finally" {
		t.Errorf("stopped event = %+v", stopped)
	}
	h.rec.wait(t, service.KindReady, "engine", 2)
	if s := h.status("engine"); s.Failures != 0 || s.Restarts != 1 {
		t.Errorf("engine = %+v", s)
	}
}
