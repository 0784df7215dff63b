package service_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"keep/appliance/service"
)

func TestNewValidates(t *testing.T) {
	svc := func(name string, deps ...string) service.Spec { return spec(newFake(name, nil), deps...) }
	tests := []struct {
		name     string
		specs    []service.Spec
		sentinel error
		mentions []string
	}{
		{"duplicate", []service.Spec{svc("raid"), svc("net"), svc("raid")},
			service.ErrDuplicateService, []string{`"raid"`}},
		{"unknown dependency", []service.Spec{svc("api", "tunnel")},
			service.ErrUnknownDependency, []string{"api", `"tunnel"`}},
		{"self cycle", []service.Spec{svc("a", "a")},
			service.ErrDependencyCycle, []string{"a -> a"}},
		{"cycle", []service.Spec{svc("a", "c"), svc("b", "a"), svc("c", "b"), svc("d")},
			service.ErrDependencyCycle, []string{"a -> c -> b -> a"}},
		{"cycle behind a valid prefix", []service.Spec{svc("root"), svc("x", "root", "y"), svc("y", "x")},
			service.ErrDependencyCycle, []string{"x -> y -> x"}},
		{"nil service", []service.Spec{{}},
			service.ErrInvalidSpec, []string{"spec 0"}},
		{"empty name", []service.Spec{svc("")},
			service.ErrInvalidSpec, []string{"empty name"}},
		{"bad multiplier", []service.Spec{{Service: newFake("m", nil), Restart: service.Policy{Multiplier: 0.5}}},
			service.ErrInvalidSpec, []string{"service m", "Multiplier"}},
		{"max below initial", []service.Spec{{Service: newFake("m", nil),
			Restart: service.Policy{InitialBackoff: time.Minute, MaxBackoff: time.Second}}},
			service.ErrInvalidSpec, []string{"MaxBackoff"}},
		{"negative stop timeout", []service.Spec{{Service: newFake("m", nil), StopTimeout: -1}},
			service.ErrInvalidSpec, []string{"StopTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := service.New(tt.specs, service.Options{})
			if err == nil || tree != nil {
				t.Fatalf("New accepted %s", tt.name)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q is not %v", err, tt.sentinel)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := service.New([]service.Spec{
		spec(newFake("a", nil), "ghost"),
		spec(newFake("a", nil)),
		spec(newFake("b", nil), "phantom"),
	}, service.Options{})
	for _, want := range []error{service.ErrUnknownDependency, service.ErrDuplicateService} {
		if !errors.Is(err, want) {
			t.Errorf("error %q lacks %v", err, want)
		}
	}
	for _, name := range []string{"ghost", "phantom"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestPolicyBackoff(t *testing.T) {
	tests := []struct {
		name string
		p    service.Policy
		want []time.Duration // for failures 1, 2, 3, …
	}{
		{"defaults", service.Policy{},
			[]time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
				32 * time.Second, time.Minute, time.Minute}},
		{"capped", service.Policy{InitialBackoff: time.Second, MaxBackoff: 5 * time.Second, Multiplier: 2},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"multiplier 1 is constant", service.Policy{InitialBackoff: 3 * time.Second, Multiplier: 1},
			[]time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"fractional", service.Policy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 1.5},
			[]time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond, 337500 * time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				if got := tt.p.Backoff(i + 1); got != want {
					t.Errorf("Backoff(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
	if got := (service.Policy{}).Backoff(1 << 20); got != service.DefaultMaxBackoff {
		t.Errorf("Backoff of a huge count = %v, want the cap", got)
	}
}
