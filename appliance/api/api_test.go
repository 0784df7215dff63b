package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/service"
	"keep/netcfg"
)

type fakeBackend struct {
	filter  events.Filter
	logger  string
	limit   int
	halted  []bool
	haltErr error
}

func (f *fakeBackend) Status() Status {
	return Status{Hostname: "vault", Stage: "ready", Ready: true, Services: []service.ServiceStatus{{Name: "network", State: service.StateRunning, Ready: true}}}
}
func (f *fakeBackend) Events(flt events.Filter) []events.Event {
	f.filter = flt
	return []events.Event{{Seq: 7, Source: "supervisor", Kind: "service.failed", Severity: events.Error}}
}
func (f *fakeBackend) Logs(logger string, limit int) ([]logring.Line, uint64) {
	f.logger, f.limit = logger, limit
	return []logring.Line{{Seq: 1, Logger: "keep.network", Message: "up"}}, 3
}
func (f *fakeBackend) RestartService(ctx context.Context, name string) error {
	if name != "network" {
		return fmt.Errorf("restart: %w", service.ErrUnknownService)
	}
	return nil
}
func (f *fakeBackend) Network(ctx context.Context) (Network, error) {
	return Network{Snapshot: netcfg.Snapshot{Links: []netcfg.LinkInfo{{Name: "eth0", Up: true}}}, DNS: []string{"10.0.2.3"}}, nil
}
func (f *fakeBackend) Halt(reboot bool) error {
	f.halted = append(f.halted, reboot)
	return f.haltErr
}

// serve runs the real listeners and server on a Unix socket and TCP.
func serve(t *testing.T, b Backend) (unix, tcp *Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ls, err := Listen(sock, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, ls, Handler(b)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return NewUnixClient(sock), NewTCPClient(ls[1].Addr().String())
}

func TestClientServerRoundTrip(t *testing.T) {
	b := &fakeBackend{}
	uc, tc := serve(t, b)
	ctx := context.Background()
	for name, c := range map[string]*Client{"unix": uc, "tcp": tc} {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatalf("%s: status: %v", name, err)
		}
		if st.Hostname != "vault" || !st.Ready || len(st.Services) != 1 || st.Services[0].State != service.StateRunning {
			t.Errorf("%s: status = %+v", name, st)
		}
	}
	if err := tc.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
	svcs, err := uc.Services(ctx)
	if err != nil || len(svcs) != 1 || svcs[0].Name != "network" {
		t.Fatalf("services = %+v, %v", svcs, err)
	}

	evs, err := uc.Events(ctx, EventQuery{Severity: "warning", Source: "supervisor", Kind: "service.", Since: time.Hour, After: 3, Limit: 5})
	if err != nil || len(evs) != 1 || evs[0].Seq != 7 {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	f := b.filter
	if f.MinSeverity != events.Warning || f.Source != "supervisor" || f.Kind != "service." || f.AfterSeq != 3 || f.Limit != 5 {
		t.Errorf("filter = %+v", f)
	}
	if age := time.Since(f.Since); age < 59*time.Minute || age > 61*time.Minute {
		t.Errorf("since %v is not an hour ago", f.Since)
	}

	n, err := uc.Network(ctx)
	if err != nil || len(n.Links) != 1 || n.Links[0].Name != "eth0" || n.DNS[0] != "10.0.2.3" {
		t.Fatalf("network = %+v, %v", n, err)
	}
	logs, err := uc.Logs(ctx, "network", 20)
	if err != nil || len(logs.Lines) != 1 || logs.Dropped != 3 || b.logger != "network" || b.limit != 20 {
		t.Fatalf("logs = %+v, %v (logger %q limit %d)", logs, err, b.logger, b.limit)
	}

	if err := uc.RestartService(ctx, "network"); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := uc.RestartService(ctx, "nope"); !IsCode(err, CodeNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("restart unknown: %v", err)
	}

	if _, err := uc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := uc.Reboot(ctx); err != nil || !strings.Contains(a.Message, "reboot") {
		t.Fatalf("reboot: %+v %v", a, err)
	}
	if fmt.Sprint(b.halted) != "[false true]" {
		t.Errorf("halts = %v", b.halted)
	}
	b.haltErr = fmt.Errorf("already stopping")
	if _, err := uc.Shutdown(ctx); !IsCode(err, CodeUnavailable) {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	_, tc := serve(t, &fakeBackend{})
	tests := []struct {
		method, path string
		status       int
		code         Code
	}{
		{"GET", "/v1/nothing", 404, CodeNotFound},
		{"POST", "/v1/status", 405, CodeMethod},
		{"GET", "/v1/shutdown", 405, CodeMethod},
		{"GET", "/v1/events?severity=loud", 400, CodeBadRequest},
		{"GET", "/v1/events?since=yesterday", 400, CodeBadRequest},
		{"GET", "/v1/events?after=-1", 400, CodeBadRequest},
		{"GET", "/v1/logs?limit=x", 400, CodeBadRequest},
	}
	for _, tc2 := range tests {
		req, _ := http.NewRequest(tc2.method, tc.base+tc2.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb errorBody
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tc2.status || err != nil || eb.Error == nil || eb.Error.Code != tc2.code || eb.Error.Message == "" {
			t.Errorf("%s %s: HTTP %d, body %+v (%v); want %d %s", tc2.method, tc2.path, resp.StatusCode, eb.Error, err, tc2.status, tc2.code)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: content type %q", tc2.method, tc2.path, ct)
		}
	}
}

func TestUnreachableSaysWhatToDo(t *testing.T) {
	c := NewUnixClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Keep API") {
		t.Fatalf("err = %v", err)
	}
}

// execBackend is a backend with the test-only exec endpoint.
type execBackend struct {
	fakeBackend
	enabled bool
	got     ExecRequest
}

func (e *execBackend) TestAPI() bool { return e.enabled }
func (e *execBackend) TestExec(ctx context.Context, req ExecRequest) (ExecResult, error) {
	e.got = req
	if req.Argv[0] == "missing" {
		return ExecResult{}, fmt.Errorf("no such program")
	}
	return ExecResult{ExitCode: 3, Stdout: "out", Stderr: "err"}, nil
}

func TestTestExecOnlyInTestImages(t *testing.T) {
	ctx := context.Background()
	for _, enabled := range []bool{false, true} {
		b := &execBackend{enabled: enabled}
		uc, _ := serve(t, b)
		res, err := uc.TestExec(ctx, ExecRequest{Argv: []string{"mdadm", "--detail", "/dev/md127"}, TimeoutSeconds: 5})
		if !enabled {
			if !IsCode(err, CodeNotFound) {
				t.Errorf("product image: exec = %+v, %v; want 404", res, err)
			}
			continue
		}
		if err != nil || res != (ExecResult{ExitCode: 3, Stdout: "out", Stderr: "err"}) {
			t.Errorf("exec = %+v, %v", res, err)
		}
		if strings.Join(b.got.Argv, " ") != "mdadm --detail /dev/md127" || b.got.TimeoutSeconds != 5 {
			t.Errorf("backend got %+v", b.got)
		}
		if _, err := uc.TestExec(ctx, ExecRequest{Argv: []string{"missing"}}); !IsCode(err, CodeBadRequest) || !strings.Contains(err.Error(), "no such program") {
			t.Errorf("missing program: %v", err)
		}
		if _, err := uc.TestExec(ctx, ExecRequest{}); !IsCode(err, CodeBadRequest) {
			t.Errorf("empty argv: %v", err)
		}
	}
}
