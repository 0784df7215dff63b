package appliance

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"keep/appliance/api"
	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/service"
	"keep/image"
)

// nocSetup writes the test PKI to a directory and returns a free
// 127.0.0.1 address for the NOC listener, the files, and the kernel
// command line that configures api.noc with them (certFile replaces the
// server certificate when not "").
func nocSetup(t *testing.T, certFile string) (addr string, f map[string]string, cmdline string) {
	t.Helper()
	p, err := image.TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	if f, err = p.WriteFiles(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if certFile != "" {
		f["cert"] = certFile
	}
	// A port the kernel just handed out and nobody holds.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	doc := fmt.Sprintf("api: {noc: {listen: '%s', cert_file: %s, key_file: %s, client_ca_file: %s}}", addr, f["cert"], f["key"], f["ca"])
	return addr, f, "keep.config=b64:" + base64.StdEncoding.EncodeToString([]byte(doc))
}

// TestNOCListenerServesTheAPI: with api.noc the appliance serves the API
// over mutual TLS next to its socket, says so on the console, refuses a
// client without an operator certificate, and logs who changed what.
func TestNOCListenerServesTheAPI(t *testing.T) {
	addr, f, cmdline := nocSetup(t, "")
	r := start(t, "", cmdline)
	line := "keep.api: NOC listener on " + addr + " (mutual TLS)"
	r.waitFor(t, "the NOC listener", func(api.Status) bool { return strings.Contains(r.console.String(), line) })

	noc, err := api.NewNOCClient(addr, api.ClientCredentials{CertFile: f["op"], KeyFile: f["opkey"], CAFile: f["ca"], ServerName: image.TestAPIServerName})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := noc.Status(ctx)
	if err != nil {
		t.Fatalf("status over the NOC listener: %v", err)
	}
	if !slices.ContainsFunc(st.Services, func(s service.ServiceStatus) bool { return s.Name == "api-noc" }) {
		t.Fatalf("no api-noc service in %+v", st.Services)
	}
	if err := noc.RestartService(ctx, "no-such-service"); err == nil || !strings.Contains(err.Error(), "no service named") {
		t.Fatalf("restart of an unknown service: %v", err)
	}
	logs, err := noc.Logs(ctx, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	attributed := slices.ContainsFunc(logs.Lines, func(l logring.Line) bool {
		return l.Message == "NOC request" && l.Fields["operator"] == "CN="+image.TestOperatorName+",O=Keep test NOC" &&
			l.Fields["method"] == "POST" && l.Fields["path"] == "/v1/services/no-such-service/restart"
	})
	if !attributed {
		t.Fatalf("the POST is not logged with its operator: %+v", logs.Lines)
	}

	anonymous, err := api.NewNOCClient(addr, api.ClientCredentials{CAFile: f["ca"], ServerName: image.TestAPIServerName})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anonymous.Status(ctx); err == nil || !strings.Contains(err.Error(), "requires a NOC operator certificate") {
		t.Fatalf("a client without an operator certificate: %v", err)
	}
	// The refused handshake is in the api log (Go's HTTP server would
	// otherwise print it on the process's standard error).
	r.waitFor(t, "the refused handshake in the api log", func(api.Status) bool {
		l, err := r.client.Logs(ctx, "api", 0)
		return err == nil && slices.ContainsFunc(l.Lines, func(ln logring.Line) bool { return strings.Contains(ln.Message, "TLS handshake error") })
	})
}

// TestBadNOCFileKeepsTheBoxUp: a missing server certificate is an error
// event naming the file, once however often the listener is retried; the
// box is ready and the socket serves.
func TestBadNOCFileKeepsTheBoxUp(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "api-cert.pem")
	_, _, cmdline := nocSetup(t, missing)
	r := start(t, "", cmdline)
	r.waitFor(t, "ready, and a retry of the NOC listener", func(st api.Status) bool {
		return st.Ready && slices.ContainsFunc(st.Services, func(s service.ServiceStatus) bool { return s.Name == "api-noc" && s.Restarts >= 1 })
	})
	evs, err := r.client.Events(context.Background(), api.EventQuery{Kind: "api.noc_failed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("api.noc_failed events %+v, want exactly one", evs)
	}
	e := evs[0]
	if e.Source != "api" || e.Severity != events.Error || !strings.Contains(e.Message, "api.noc.cert_file "+missing) ||
		!strings.Contains(e.Message, "install the certificate chain there") {
		t.Fatalf("event %+v", e)
	}
}

// TestHostedModeHasNoNOCListener: with its own socket (hosted mode) the
// appliance opens no network listener, the NOC's included.
func TestHostedModeHasNoNOCListener(t *testing.T) {
	_, _, cmdline := nocSetup(t, "")
	dir := t.TempDir()
	sock := filepath.Join(dir, "hosted.sock")
	cmdFile := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cmdFile, []byte(cmdline), 0o644); err != nil {
		t.Fatal(err)
	}
	con := &syncBuffer{}
	r := &running{console: con, client: api.NewUnixClient(sock), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.action, r.err = Run(ctx, Options{Version: "test", Console: con, ConfigPath: NoConfigFile, Cmdline: cmdFile, APISocket: sock})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	st := r.waitFor(t, "ready", func(st api.Status) bool { return st.Ready })
	if n := len(st.ConfigSources); n == 0 || !strings.HasPrefix(st.ConfigSources[n-1], "kernel command line") {
		t.Fatalf("the api.noc override was not applied: sources %q", st.ConfigSources)
	}
	if len(st.Services) != 1 || st.Services[0].Name != "api" {
		t.Fatalf("hosted mode runs %+v; want the api alone", st.Services)
	}
	if strings.Contains(con.String(), "NOC listener") {
		t.Fatalf("hosted mode opened the NOC listener:\n%s", con)
	}
}
