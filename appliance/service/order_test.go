package service_test

import (
	"slices"
	"testing"

	"keep/appliance/service"
)

func TestStartOrderRespectsDependencies(t *testing.T) {
	type node struct {
		name string
		deps []string
	}
	tests := []struct {
		name  string
		nodes []node
	}{
		{"chain", []node{{"c", []string{"b"}}, {"b", []string{"a"}}, {"a", nil}}},
		{"diamond", []node{{"a", nil}, {"b", []string{"a"}}, {"c", []string{"a"}}, {"d", []string{"b", "c"}}}},
		{"double diamond", []node{{"bmc", nil}, {"raid", []string{"bmc"}}, {"net", []string{"bmc"}},
			{"tunnel", []string{"net"}}, {"engine", []string{"raid", "net"}}, {"api", []string{"tunnel", "engine"}}}},
		{"independent", []node{{"x", nil}, {"y", nil}, {"z", nil}}},
		{"declared before deps", []node{{"api", []string{"net", "raid"}}, {"raid", nil}, {"net", []string{"raid"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var specs []service.Spec
			for _, n := range tt.nodes {
				specs = append(specs, spec(newFake(n.name, nil), n.deps...))
			}
			h := newHarness(t, specs...)
			select {
			case <-h.tree.Ready():
			case <-h.timeout():
				t.Fatalf("not all ready:\n%s", h.rec.dump())
			}
			trace := h.rec.trace(service.KindStarted, service.KindReady)
			for _, n := range tt.nodes {
				started := slices.Index(trace, service.KindStarted+" "+n.name)
				if started < 0 {
					t.Fatalf("%s never started: %v", n.name, trace)
				}
				for _, d := range n.deps {
					if ready := slices.Index(trace, service.KindReady+" "+d); ready < 0 || ready > started {
						t.Errorf("%s started before its dependency %s was ready: %v", n.name, d, trace)
					}
				}
			}
			if n := len(h.rec.of(service.KindAllReady, "")); n != 1 {
				t.Errorf("%d supervisor.ready events", n)
			}
			// Status lists dependencies before dependents, the same every time.
			var order []string
			for _, s := range h.tree.Status() {
				order = append(order, s.Name)
				if s.State != service.StateRunning || !s.Ready {
					t.Errorf("%s is %s", s.Name, s.State)
				}
			}
			for _, n := range tt.nodes {
				for _, d := range n.deps {
					if slices.Index(order, d) > slices.Index(order, n.name) {
						t.Errorf("Status order %v lists %s after %s", order, d, n.name)
					}
				}
			}
		})
	}
}

func TestDependentWaitsForReady(t *testing.T) {
	raid := newFake("raid", scripted)
	engine := newFake("engine", nil)
	h := newHarness(t, spec(engine, "raid"), spec(raid))

	r := raid.next(t)
	h.rec.wait(t, service.KindStarted, "raid", 1)
	// raid runs but has not said ready: engine must still wait, and say why.
	if s := h.status("engine"); s.State != service.StateWaiting || s.Detail != "waiting for raid" {
		t.Fatalf("engine = %s %q, want waiting for raid", s.State, s.Detail)
	}
	if s := h.status("raid"); s.State != service.StateStarting {
		t.Fatalf("raid = %s, want starting", s.State)
	}
	notReady := h.tree.NotReady()
	if len(notReady) != 2 || notReady[0].Name != "raid" || notReady[1].Name != "engine" {
		t.Fatalf("NotReady = %+v", notReady)
	}
	select {
	case <-h.tree.Ready():
		t.Fatal("Ready closed before any service was ready")
	default:
	}
	if engine.runCount() != 0 {
		t.Fatal("engine ran before raid was ready")
	}

	r.ready()
	h.rec.wait(t, service.KindStarted, "engine", 1)
	select {
	case <-h.tree.Ready():
	case <-h.timeout():
		t.Fatal("Ready not closed")
	}
	if nr := h.tree.NotReady(); len(nr) != 0 {
		t.Errorf("NotReady after ready = %+v", nr)
	}
}
