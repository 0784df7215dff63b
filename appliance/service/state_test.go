package service_test

import (
	"encoding/json"
	"testing"

	"keep/appliance/events"
	"keep/appliance/service"
)

// The journal is what PID 1 passes as the tree's emitter.
var _ service.Emitter = (*events.Journal)(nil)

func TestStateNamesRoundTrip(t *testing.T) {
	want := []string{"waiting", "starting", "running", "backoff", "failed", "stopping", "stopped", "blocked"}
	for i, name := range want {
		s := service.State(i)
		b, err := json.Marshal(s)
		if err != nil || string(b) != `"`+name+`"` {
			t.Errorf("Marshal(%d) = %s, %v; want %q", i, b, err, name)
		}
		var back service.State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	if _, err := json.Marshal(service.State(len(want))); err == nil {
		t.Error("an undefined state marshalled")
	}
	var s service.State
	if err := json.Unmarshal([]byte(`"exploded"`), &s); err == nil {
		t.Error("an unknown state name unmarshalled")
	}
}

func TestTreeEventsLandInTheJournal(t *testing.T) {
	j := events.NewJournal(events.Options{})
	tree, err := service.New([]service.Spec{spec(newFake("api", nil))}, service.Options{Events: j})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- tree.Run(t.Context()) }()
	<-tree.Ready()
	if err := tree.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-ran
	got := j.Query(events.Filter{Source: service.EventSource, Kind: "service."})
	var kinds []string
	for _, e := range got {
		kinds = append(kinds, e.Kind)
	}
	want := []string{service.KindStarted, service.KindReady, service.KindStopping, service.KindStopped}
	if len(kinds) != len(want) {
		t.Fatalf("journal kinds = %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] || got[i].Fields["service"] != "api" {
			t.Errorf("event %d = %s %v, want %s for api", i, kinds[i], got[i].Fields, want[i])
		}
	}
}
