package api

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"keep/image"
)

// pkiFiles are the test PKI's PEM files written to a directory.
type pkiFiles struct {
	ca, serverCert, serverKey, opCert, opKey, rogueCA, rogueCert, rogueKey string
}

func writePKI(t *testing.T) pkiFiles {
	t.Helper()
	p, err := image.TestAPIPKI()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return pkiFiles{
		ca: w("ca.pem", p.CACert), serverCert: w("server.pem", p.ServerCert), serverKey: w("server-key.pem", p.ServerKey),
		opCert: w("op.pem", p.OperatorCert), opKey: w("op-key.pem", p.OperatorKey),
		rogueCA: w("rogue-ca.pem", p.RogueCACert), rogueCert: w("rogue.pem", p.RogueCert), rogueKey: w("rogue-key.pem", p.RogueKey),
	}
}

// operatorBackend records who asked for a restart.
type operatorBackend struct {
	fakeBackend
	mu        sync.Mutex
	operators []string
}

func (b *operatorBackend) RestartService(ctx context.Context, name string) error {
	b.mu.Lock()
	b.operators = append(b.operators, Operator(ctx))
	b.mu.Unlock()
	return b.fakeBackend.RestartService(ctx, name)
}

// serveNOC runs the real NOC listener on 127.0.0.1 and the server on it;
// it returns the address and how many connections the wrap saw.
func serveNOC(t *testing.T, b Backend, f pkiFiles) (string, func() int) {
	t.Helper()
	tc, err := ServerTLSConfig(NOCFiles{CertFile: f.serverCert, KeyFile: f.serverKey, ClientCAFile: f.ca})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	wrapped := 0
	l, err := ListenNOC(context.Background(), "127.0.0.1:0", tc, func(l net.Listener) net.Listener {
		return countingListener{Listener: l, accepted: func() { mu.Lock(); wrapped++; mu.Unlock() }}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, []net.Listener{l}, Handler(b)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return wrapped }
}

type countingListener struct {
	net.Listener
	accepted func()
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted()
	}
	return c, err
}

// TestNOCListenerServesOperators: a NOC operator's certificate works end
// to end through the client, and the request carries its subject.
func TestNOCListenerServesOperators(t *testing.T) {
	f := writePKI(t)
	b := &operatorBackend{}
	addr, wrapped := serveNOC(t, b, f)
	c, err := NewNOCClient(addr, ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.ca, ServerName: image.TestAPIServerName})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Hostname != "vault" {
		t.Fatalf("status over mutual TLS: %+v, %v", st, err)
	}
	if err := c.RestartService(ctx, "network"); err != nil {
		t.Fatal(err)
	}
	if want := "CN=" + image.TestOperatorName + ",O=Keep test NOC"; len(b.operators) != 1 || b.operators[0] != want {
		t.Fatalf("operators seen by the backend %q, want [%q]", b.operators, want)
	}
	if wrapped() == 0 {
		t.Error("the wrap never saw the connection")
	}
}

// TestNOCListenerRefusals: without an operator certificate, with one
// from another CA or not for clients, against a server the client does
// not trust, with the wrong name, with TLS 1.2, plain HTTP to the NOC
// listener or TLS to the plain one, nothing is served, and the error
// says what to do.
func TestNOCListenerRefusals(t *testing.T) {
	f := writePKI(t)
	b := &operatorBackend{}
	addr, _ := serveNOC(t, b, f)
	_, plain := serve(t, &fakeBackend{})
	plainAddr := strings.TrimPrefix(plain.base, "http://")
	tls12, err := ClientTLSConfig(addr, ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.ca, ServerName: image.TestAPIServerName})
	if err != nil {
		t.Fatal(err)
	}
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	nocClient := func(a string, cc ClientCredentials) *Client {
		t.Helper()
		c, err := NewNOCClient(a, cc)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		c    *Client
		want string
	}{
		{"no client certificate", nocClient(addr, ClientCredentials{CAFile: f.ca, ServerName: image.TestAPIServerName}),
			"the API at " + addr + " requires a NOC operator certificate: pass --cert and --key"},
		{"untrusted operator CA", nocClient(addr, ClientCredentials{CertFile: f.rogueCert, KeyFile: f.rogueKey, CAFile: f.ca, ServerName: image.TestAPIServerName}),
			"the API at " + addr + " did not take the operator certificate (--cert): it is not signed by a NOC operator CA the appliance trusts"},
		{"certificate not for clients", nocClient(addr, ClientCredentials{CertFile: f.serverCert, KeyFile: f.serverKey, CAFile: f.ca, ServerName: image.TestAPIServerName}),
			"the API at " + addr + " refused the operator certificate (--cert): it must be valid, for client authentication"},
		{"server CA not trusted", nocClient(addr, ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.rogueCA, ServerName: image.TestAPIServerName}),
			"the API's certificate at " + addr + " is not signed by --ca " + f.rogueCA},
		{"wrong server name", nocClient(addr, ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.ca}),
			"the API's certificate at " + addr + " is not for 127.0.0.1: pass --server-name"},
		{"TLS 1.2", NewTLSClient(addr, tls12), "cannot reach the Keep API at " + addr},
		{"plain HTTP to the NOC listener", NewTCPClient(addr), "the API at " + addr + " speaks TLS (the NOC listener): pass --cert, --key and --ca"},
		{"TLS to the plain listener", nocClient(plainAddr, ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.ca, ServerName: image.TestAPIServerName}),
			plainAddr + " does not speak TLS, so it is not the NOC listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Status(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if err := tc.c.RestartService(context.Background(), "network"); err == nil {
				t.Fatal("a refused client restarted a service")
			}
		})
	}
	if len(b.operators) != 0 {
		t.Fatalf("refused clients reached the backend: %q", b.operators)
	}
}

// TestNOCFilesErrors: a missing or wrong file is named, with what to put
// there.
func TestNOCFilesErrors(t *testing.T) {
	f := writePKI(t)
	missing := filepath.Join(t.TempDir(), "absent.pem")
	for _, tc := range []struct {
		name  string
		files NOCFiles
		want  string
	}{
		{"no cert", NOCFiles{CertFile: missing, KeyFile: f.serverKey, ClientCAFile: f.ca},
			"api.noc.cert_file " + missing + ": open " + missing + ": no such file or directory (install the certificate chain there: PEM, leaf first)"},
		{"no key", NOCFiles{CertFile: f.serverCert, KeyFile: missing, ClientCAFile: f.ca}, "api.noc.key_file " + missing + ": open"},
		{"key of another certificate", NOCFiles{CertFile: f.serverCert, KeyFile: f.opKey, ClientCAFile: f.ca},
			"api.noc.cert_file " + f.serverCert + " and api.noc.key_file " + f.opKey + ": tls: private key does not match public key (the key must be the certificate's"},
		{"no CA file", NOCFiles{CertFile: f.serverCert, KeyFile: f.serverKey, ClientCAFile: missing}, "api.noc.client_ca_file " + missing + ": open"},
		{"CA file without certificates", NOCFiles{CertFile: f.serverCert, KeyFile: f.serverKey, ClientCAFile: f.opKey},
			"api.noc.client_ca_file " + f.opKey + " holds no PEM certificate (put the CA certificates of the NOC operators there)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ServerTLSConfig(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServerTLSConfig: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cc   ClientCredentials
		want string
	}{
		{"cert without key", ClientCredentials{CertFile: f.opCert, CAFile: f.ca}, "--cert and --key go together"},
		{"key without cert", ClientCredentials{KeyFile: f.opKey, CAFile: f.ca}, "--cert and --key go together"},
		{"no CA", ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey}, "--ca: required"},
		{"missing cert", ClientCredentials{CertFile: missing, KeyFile: f.opKey, CAFile: f.ca}, "--cert " + missing + ": open"},
		{"CA not PEM", ClientCredentials{CertFile: f.opCert, KeyFile: f.opKey, CAFile: f.opKey}, "--ca " + f.opKey + " holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ClientTLSConfig("127.0.0.1:8443", tc.cc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ClientTLSConfig: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ClientTLSConfig("127.0.0.1", ClientCredentials{CAFile: f.ca}); err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Fatalf("address without a port: %v", err)
	}
}

// TestListenFreebind: the NOC listener binds an address no link has yet
// (192.0.2.77, TEST-NET-1), as the tunnel's inner address is at boot.
func TestListenFreebind(t *testing.T) {
	l, err := ListenFreebind(context.Background(), "192.0.2.77:0")
	if err != nil {
		t.Fatalf("ListenFreebind: %v", err)
	}
	defer l.Close()
	if a, ok := l.Addr().(*net.TCPAddr); !ok || a.IP.String() != "192.0.2.77" || a.Port == 0 {
		t.Fatalf("bound %v", l.Addr())
	}
	if nonlocal, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); strings.TrimSpace(string(nonlocal)) != "1" {
		// Without the option the bind fails: the option is what works.
		pl, err := net.Listen("tcp", "192.0.2.77:0")
		if err == nil {
			pl.Close()
			t.Fatal("a plain listen on 192.0.2.77 worked too: this host has the address, so the test proves nothing")
		}
	}
	if _, err := ListenFreebind(context.Background(), "192.0.2.77"); err == nil || !strings.Contains(err.Error(), "api NOC listen 192.0.2.77") {
		t.Fatalf("an address without a port: %v", err)
	}
	var opErr *net.OpError
	if _, err := ListenFreebind(context.Background(), l.Addr().String()); !errors.As(err, &opErr) {
		t.Fatalf("a second listener on the same port: %v, want a bind error", err)
	}
}
