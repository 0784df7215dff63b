package appliance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keep/appliance/api"
	"keep/appliance/pid1"
	"keep/appliance/service"
)

// syncBuffer is a console that tests can read while the appliance writes.
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

type running struct {
	console *syncBuffer
	client  *api.Client
	done    chan struct{}
	action  pid1.Action
	err     error
}

// start runs the appliance outside PID 1 with a defaults file and a
// kernel command line, and returns once its API socket answers.
func start(t *testing.T, defaults, cmdline string) *running {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	opts := Options{
		Version:    "test",
		Console:    &syncBuffer{},
		ConfigPath: write("keep.yaml", "api: {listen: '', socket: "+sock+"}\n"+defaults),
		Cmdline:    write("cmdline", cmdline),
	}
	r := &running{console: opts.Console.(*syncBuffer), client: api.NewUnixClient(sock), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.action, r.err = Run(ctx, opts)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	r.waitFor(t, "the API", func(st api.Status) bool { return len(st.Services) > 0 })
	return r
}

// waitFor polls the API until cond holds; the deadline only bounds a
// broken run.
func (r *running) waitFor(t *testing.T, what string, cond func(api.Status) bool) api.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.client.Status(context.Background())
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last status %+v, error %v\nconsole:\n%s", what, st, err, r.console)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBootReadyAndShutdownThroughAPI(t *testing.T) {
	r := start(t, "appliance: {hostname: vault}\n", "console=ttyS0")
	st := r.waitFor(t, "ready", func(st api.Status) bool { return st.Ready })
	if st.Stage != "ready" || len(st.NotReady) != 0 || st.Version != "test" {
		t.Fatalf("status %+v", st)
	}
	if len(st.Services) != 1 || st.Services[0].Name != "api" || st.Services[0].State != service.StateRunning {
		t.Fatalf("outside PID 1 only the api runs: %+v", st.Services)
	}
	r.waitFor(t, "the api's health check", func(st api.Status) bool {
		return st.Services[0].Health != nil && st.Services[0].Health.OK
	})
	if !strings.Contains(r.console.String(), ReadyMarker+" in ") {
		t.Fatalf("no ready line on the console:\n%s", r.console)
	}
	evs, err := r.client.Events(context.Background(), api.EventQuery{Kind: "boot."})
	if err != nil || len(evs) != 2 || evs[1].Kind != "boot.ready" {
		t.Fatalf("boot events %+v %v", evs, err)
	}
	logs, err := r.client.Logs(context.Background(), "api", 0)
	if err != nil || len(logs.Lines) == 0 || logs.Lines[0].Logger != "keep.api" {
		t.Fatalf("api logs %+v %v", logs, err)
	}

	if _, err := r.client.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after a reboot request")
	}
	if r.err != nil || r.action != pid1.Reboot {
		t.Fatalf("Run = %v, %v; want reboot", r.action, r.err)
	}
	con := r.console.String()
	if i, j := strings.Index(con, "stopping api"), strings.Index(con, "all services stopped"); i < 0 || j < i {
		t.Fatalf("console does not show the orderly stop:\n%s", con)
	}
}

func TestBrokenOverrideKeepsAPIAndSaysWhy(t *testing.T) {
	r := start(t, "", "quiet keep.config=/nonexistent/keep.yaml")
	r.waitFor(t, "the not-ready line", func(api.Status) bool { return strings.Contains(r.console.String(), NotReadyMarker) })
	st, err := r.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready || len(st.NotReady) != 1 || !strings.Contains(st.NotReady[0], "configuration rejected: /nonexistent/keep.yaml") {
		t.Fatalf("status: ready %v, why %q", st.Ready, st.NotReady)
	}
	if strings.Contains(r.console.String(), ReadyMarker+" in") {
		t.Fatalf("printed the ready line with a rejected config:\n%s", r.console)
	}
	if _, err := r.client.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if r.action != pid1.PowerOff {
		t.Fatalf("action %v", r.action)
	}
}

func TestFaultyServiceDegradesButStaysReady(t *testing.T) {
	r := start(t, "testing: {faulty_services: [{name: probe, fail_after: 1ms}]}\n", "")
	st := r.waitFor(t, "probe failed", func(st api.Status) bool {
		for _, s := range st.Services {
			if s.Name == "probe" && s.State == service.StateFailed {
				return true
			}
		}
		return false
	})
	if len(st.NotReady) != 1 || !strings.HasPrefix(st.NotReady[0], "degraded: optional service probe failed") {
		t.Fatalf("not ready %q", st.NotReady)
	}
	if !st.Ready {
		t.Fatalf("a failed optional service made the box not ready: %+v", st)
	}
}

func TestSecondHaltIsRefused(t *testing.T) {
	a := &Appliance{haltCh: make(chan struct{})}
	if err := a.requestHalt(pid1.Reboot, "test"); err != nil {
		t.Fatal(err)
	}
	if err := a.requestHalt(pid1.PowerOff, "test"); err == nil {
		t.Fatal("second halt accepted")
	}
	if got := a.waitHalt(context.Background()); got != pid1.Reboot {
		t.Fatalf("waitHalt = %v; the first request wins", got)
	}
}
