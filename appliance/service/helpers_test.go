package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/clock"
	"keep/appliance/events"
	"keep/appliance/service"
)

// failsafe bounds every wait in these tests; it is a guard against a hung
// test, never a delay anything depends on.
const failsafe = 10 * time.Second

var epoch = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// recorder is the tree's event sink; tests wait on it.
type recorder struct {
	mu      sync.Mutex
	evs     []events.Event
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

// of returns the events of a kind about a service ("" for any), in order.
func (r *recorder) of(kind, svc string) []events.Event {
	var out []events.Event
	for _, e := range r.all() {
		if e.Kind == kind && (svc == "" || e.Fields["service"] == svc) {
			out = append(out, e)
		}
	}
	return out
}

// wait blocks until there are at least n events of kind about svc and
// returns the nth.
func (r *recorder) wait(t *testing.T, kind, svc string, n int) events.Event {
	t.Helper()
	deadline := time.NewTimer(failsafe)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if got := r.of(kind, svc); len(got) >= n {
			return got[n-1]
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no %s event #%d for %q; events:\n%s", kind, n, svc, r.dump())
		}
	}
}

// trace lists "kind service" for the events of the given kinds, in order.
func (r *recorder) trace(kinds ...string) []string {
	var out []string
	for _, e := range r.all() {
		for _, k := range kinds {
			if e.Kind == k {
				out = append(out, k+" "+e.Fields["service"])
			}
		}
	}
	return out
}

func (r *recorder) dump() string {
	var b strings.Builder
	for _, e := range r.all() {
		fmt.Fprintf(&b, "  %s %s %v\n", e.Kind, e.Message, e.Fields)
	}
	return b.String()
}

// syncBuffer is a log sink safe to read while the tree writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// call is one scripted run of a fake service.
type call struct {
	n     int // 1-based run number
	ctx   context.Context
	ready func()
	exit  chan error // the test sends what Run returns
}

// fake is a scripted service. Each Run is handed to behave; the default
// behaviour (nil behave) reports ready at once and serves until cancelled.
type fake struct {
	name   string
	behave func(c *call) error

	mu      sync.Mutex
	runs    int
	live    int // runs that have not returned
	calls   chan *call
	stopLog *stopLog
}

func newFake(name string, behave func(c *call) error) *fake {
	return &fake{name: name, behave: behave, calls: make(chan *call, 100)}
}

func (f *fake) Name() string { return f.name }

func (f *fake) Run(ctx context.Context, ready func()) error {
	f.mu.Lock()
	f.runs++
	f.live++
	if f.live > 1 {
		f.mu.Unlock()
		panic("two runs of " + f.name + " at once")
	}
	c := &call{n: f.runs, ctx: ctx, ready: ready, exit: make(chan error, 1)}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.live--
		f.mu.Unlock()
	}()
	f.calls <- c
	if f.behave == nil {
		return serve(c, f.stopLog, f.name)
	}
	return f.behave(c)
}

func (f *fake) runCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

// next returns the fake's next run, as the test scripts it.
func (f *fake) next(t *testing.T) *call {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(failsafe):
		t.Fatalf("%s was not run", f.name)
		return nil
	}
}

// serve: ready at once, return when cancelled, noting the stop.
func serve(c *call, log *stopLog, name string) error {
	c.ready()
	<-c.ctx.Done()
	log.add(name)
	return c.ctx.Err()
}

// scripted: Run waits for the test to send on c.exit, or for ctx.
func scripted(c *call) error {
	select {
	case err := <-c.exit:
		return err
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

func failNow(c *call) error { return fmt.Errorf("run %d: %w", c.n, errBoom) }

var errBoom = errors.New("boom")

// stopLog records the order in which fakes saw their cancellation.
type stopLog struct {
	mu    sync.Mutex
	names []string
}

func (s *stopLog) add(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, name)
}

func (s *stopLog) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.names...)
}

// harness runs a tree of specs under a fake clock, and shuts it down at
// the end of the test.
type harness struct {
	t    *testing.T
	clk  *clock.Fake
	rec  *recorder
	logs *syncBuffer
	tree *service.Tree
	ran  chan error
}

func newHarness(t *testing.T, specs ...service.Spec) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(epoch), rec: newRecorder(), logs: &syncBuffer{}, ran: make(chan error, 1)}
	logger := hclog.New(&hclog.LoggerOptions{Name: "supervisor", Output: h.logs, Level: hclog.Debug})
	tree, err := service.New(specs, service.Options{Clock: h.clk, Logger: logger, Events: h.rec})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.tree = tree
	go func() { h.ran <- tree.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failsafe)
		defer cancel()
		if err := tree.Shutdown(ctx); err != nil && !errors.Is(err, service.ErrStopTimeout) {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) status(name string) service.ServiceStatus {
	h.t.Helper()
	for _, s := range h.tree.Status() {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no status for %s", name)
	return service.ServiceStatus{}
}

// timers waits until the tree has n timers pending and returns them.
func (h *harness) timers(n int) []time.Duration {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failsafe)
	defer cancel()
	p, err := h.clk.WaitForTimers(ctx, n)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func spec(s service.Service, deps ...string) service.Spec {
	return service.Spec{Service: s, Deps: deps}
}

// timeout is the failsafe for a select in a test.
func (h *harness) timeout() <-chan time.Time { return time.After(failsafe) }

// ctx returns a context bounded by the failsafe.
func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), failsafe)
	h.t.Cleanup(cancel)
	return ctx
}
