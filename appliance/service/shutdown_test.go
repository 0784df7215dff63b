package service_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"keep/appliance/service"
)

func TestShutdownStopsInReverseStartOrder(t *testing.T) {
	stops := &stopLog{}
	mk := func(name string) *fake { f := newFake(name, nil); f.stopLog = stops; return f }
	h := newHarness(t,
		spec(mk("a")),
		spec(mk("b"), "a"),
		spec(mk("c"), "a"),
		spec(mk("d"), "b", "c"),
		spec(mk("e")),
	)
	select {
	case <-h.tree.Ready():
	case <-h.timeout():
		t.Fatal("not ready")
	}
	var started []string
	for _, s := range h.rec.trace(service.KindStarted) {
		started = append(started, strings.TrimPrefix(s, service.KindStarted+" "))
	}
	if want := []string{"a", "e", "b", "c", "d"}; !slices.Equal(started, want) {
		t.Fatalf("start order %v, want %v", started, want)
	}

	if err := h.tree.Shutdown(h.ctx()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-h.ran; err != nil {
		t.Errorf("Run returned %v", err)
	}
	reversed := slices.Clone(started)
	slices.Reverse(reversed)
	if got := stops.get(); !slices.Equal(got, reversed) {
		t.Errorf("services saw cancellation in order %v, want %v", got, reversed)
	}
	// The console shows "stopping X" then "stopped X", one service at a time.
	var lines []string
	for _, m := range regexp.MustCompile(`supervisor: (stopping|stopped) (\w+)`).FindAllStringSubmatch(h.logs.String(), -1) {
		lines = append(lines, m[1]+" "+m[2])
	}
	var want []string
	for _, n := range reversed {
		want = append(want, "stopping "+n, "stopped "+n)
	}
	if !slices.Equal(lines, want) {
		t.Errorf("console lines %v, want %v", lines, want)
	}
	for _, s := range h.tree.Status() {
		if s.State != service.StateStopped {
			t.Errorf("%s is %s after shutdown", s.Name, s.State)
		}
	}
}

func TestServiceIgnoringCancellationIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stubborn := newFake("stubborn", func(c *call) error {
		c.ready()
		<-release // ignores ctx
		return nil
	})
	stops := &stopLog{}
	base, top := newFake("base", nil), newFake("top", nil)
	base.stopLog, top.stopLog = stops, stops
	h := newHarness(t,
		spec(base),
		service.Spec{Service: stubborn, Deps: []string{"base"}, StopTimeout: 7 * time.Second},
		spec(top, "stubborn"),
	)
	<-h.tree.Ready()

	shut := make(chan error, 1)
	go func() { shut <- h.tree.Shutdown(h.ctx()) }()
	h.rec.wait(t, service.KindStopping, "stubborn", 1)
	if p := h.timers(1); !slices.Equal(p, []time.Duration{7 * time.Second}) {
		t.Fatalf("stop timer = %v, want [7s]", p)
	}
	if got := stops.get(); !slices.Equal(got, []string{"top"}) {
		t.Fatalf("stopped so far %v; base must wait for stubborn", got)
	}
	h.clk.Advance(7 * time.Second)

	err := <-shut
	if !errors.Is(err, service.ErrStopTimeout) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Shutdown = %v, want ErrStopTimeout naming stubborn", err)
	}
	if got := stops.get(); !slices.Equal(got, []string{"top", "base"}) {
		t.Errorf("stop order %v, want [top base]: shutdown must go on past the abandoned service", got)
	}
	ev := h.rec.of(service.KindStopTimeout, "stubborn")
	if len(ev) != 1 || ev[0].Severity.String() != "error" {
		t.Errorf("stop_timeout events = %+v", ev)
	}
	if s := h.status("stubborn"); s.State != service.StateStopping || !strings.Contains(s.Detail, "abandoned") {
		t.Errorf("stubborn = %s %q", s.State, s.Detail)
	}
	if !strings.Contains(h.logs.String(), "abandoned stubborn") {
		t.Error("abandonment not on the console")
	}
}

func TestRunContextCancellationShutsDownInOrder(t *testing.T) {
	stops := &stopLog{}
	a, b := newFake("a", nil), newFake("b", nil)
	a.stopLog, b.stopLog = stops, stops
	tree, err := service.New([]service.Spec{spec(b, "a"), spec(a)}, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- tree.Run(ctx) }()
	<-tree.Ready()
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := stops.get(); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("stop order %v", got)
	}
	if err := tree.Run(context.Background()); !errors.Is(err, service.ErrStopped) {
		t.Errorf("second Run = %v, want ErrStopped", err)
	}
	if err := tree.Restart(context.Background(), "a"); !errors.Is(err, service.ErrNotRunning) {
		t.Errorf("Restart after shutdown = %v", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	tree, err := service.New([]service.Spec{spec(newFake("a", nil))}, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Restart(context.Background(), "a"); !errors.Is(err, service.ErrNotRunning) {
		t.Errorf("Restart before Run = %v", err)
	}
	if err := tree.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown of a tree that never ran = %v", err)
	}
	if err := tree.Run(context.Background()); !errors.Is(err, service.ErrStopped) {
		t.Errorf("Run after Shutdown = %v", err)
	}

	h := newHarness(t, spec(newFake("x", nil)))
	<-h.tree.Ready()
	if err := h.tree.Run(context.Background()); !errors.Is(err, service.ErrAlreadyRunning) {
		t.Errorf("second concurrent Run = %v", err)
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.tree.Shutdown(expired); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a done context = %v", err)
	}
}

func TestEmptyTreeIsReadyAtOnce(t *testing.T) {
	h := newHarness(t)
	select {
	case <-h.tree.Ready():
	case <-h.timeout():
		t.Fatal("empty tree never ready")
	}
}
