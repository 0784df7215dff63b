package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/service"
	"keep/image"
)

// ctlBackend is the smallest API backend: a ready box named vault.
type ctlBackend struct{}

func (ctlBackend) Status() api.Status {
	return api.Status{Hostname: "vault", Stage: "ready", Ready: true, Services: []service.ServiceStatus{{Name: "api", State: service.StateRunning}}}
}
func (ctlBackend) Events(events.Filter) []events.Event          { return nil }
func (ctlBackend) Logs(string, int) ([]logring.Line, uint64)    { return nil, 0 }
func (ctlBackend) RestartService(context.Context, string) error { return nil }
func (ctlBackend) Network(context.Context) (api.Network, error) { return api.Network{}, nil }
func (ctlBackend) Halt(bool) error                              { return nil }

// nocFixture serves ctlBackend on a real NOC listener with the test PKI
// and returns its address and the PKI's files.
func nocFixture(t *testing.T) (addr string, files map[string]string) {
	t.Helper()
	p, err := image.TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	if files, err = p.WriteFiles(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	tc, err := api.ServerTLSConfig(api.NOCFiles{CertFile: files["cert"], KeyFile: files["key"], ClientCAFile: files["ca"]})
	if err != nil {
		t.Fatal(err)
	}
	l, err := api.ListenNOC(context.Background(), "127.0.0.1:0", tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- api.Serve(ctx, []net.Listener{l}, api.Handler(ctlBackend{})) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l.Addr().String(), files
}

// TestCtlSpeaksMutualTLS: with --cert, --key, --ca and --server-name, keep
// ctl reaches the NOC listener; without the operator certificate it
// fails.
func TestCtlSpeaksMutualTLS(t *testing.T) {
	addr, f := nocFixture(t)
	c, err := ctlClient(addr, "", api.ClientCredentials{CertFile: f["op"], KeyFile: f["opkey"], CAFile: f["ca"], ServerName: image.TestAPIServerName})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := runCtl(context.Background(), c, &ctlOut{w: &buf}, "status", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "hostname:  vault") {
		t.Fatalf("status output:\n%s", buf.String())
	}
	flags := []string{"--addr", addr, "--cert", f["op"], "--key", f["opkey"], "--ca", f["ca"], "--server-name", image.TestAPIServerName}
	if code := ctlMain(append(flags, "--json", "services")); code != 0 {
		t.Fatalf("keep ctl services over mutual TLS exited %d", code)
	}
	if code := ctlMain([]string{"--addr", addr, "--ca", f["ca"], "--server-name", image.TestAPIServerName, "services"}); code != 1 {
		t.Fatalf("keep ctl without an operator certificate exited %d, want 1", code)
	}
	if code := ctlMain([]string{"--addr", addr, "services"}); code != 1 {
		t.Fatalf("plain keep ctl against the NOC listener exited %d, want 1", code)
	}
}

// TestCtlTLSFlagsUsage: incomplete TLS flags are usage errors (exit 2)
// saying what is missing; a missing file is an error naming it.
func TestCtlTLSFlagsUsage(t *testing.T) {
	for _, tc := range []struct {
		name, addr string
		cc         api.ClientCredentials
		want       string
	}{
		{"cert without key", "10.2.0.1:8443", api.ClientCredentials{CertFile: "/c.pem", CAFile: "/ca.pem"}, "--cert and --key go together"},
		{"key without cert", "10.2.0.1:8443", api.ClientCredentials{KeyFile: "/k.pem", CAFile: "/ca.pem"}, "--cert and --key go together"},
		{"no ca", "10.2.0.1:8443", api.ClientCredentials{CertFile: "/c.pem", KeyFile: "/k.pem"}, "--ca FILE is required"},
		{"server name alone", "10.2.0.1:8443", api.ClientCredentials{ServerName: "keep-api.test"}, "--ca FILE is required"},
		{"no addr", "", api.ClientCredentials{CertFile: "/c.pem", KeyFile: "/k.pem", CAFile: "/ca.pem"}, "name it with --addr HOST:PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ctlClient(tc.addr, "/run/keep/api.sock", tc.cc)
			var usage usageError
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ctlClient: %v, want an error containing %q", err, tc.want)
			}
			if !errors.As(err, &usage) {
				t.Fatalf("%v is not a usage error", err)
			}
		})
	}
	if code := ctlMain([]string{"--addr", "10.2.0.1:8443", "--cert", "/c.pem", "status"}); code != 2 {
		t.Fatalf("--cert without --key exited %d, want 2", code)
	}
	missing := filepath.Join(t.TempDir(), "absent.pem")
	_, err := ctlClient("10.2.0.1:8443", "", api.ClientCredentials{CertFile: missing, KeyFile: missing, CAFile: missing})
	if err == nil || !strings.Contains(err.Error(), "--ca "+missing) {
		t.Fatalf("missing files: %v", err)
	}
	if code := ctlMain([]string{"--addr", "10.2.0.1:8443", "--cert", missing, "--key", missing, "--ca", missing, "status"}); code != 1 {
		t.Fatalf("missing files exited %d, want 1", code)
	}
}
