package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen opens the API's local listeners: the Unix socket (replacing a
// stale one) and, when tcpAddr is not empty, plain-HTTP TCP (the service
// LAN's and the tests'; the NOC's is ListenNOC). On error nothing stays
// open.
func Listen(socket, tcpAddr string) ([]net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o750); err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api socket: remove stale %s: %w", socket, err)
	}
	ul, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		ul.Close()
		return nil, fmt.Errorf("api socket: %w", err)
	}
	ls := []net.Listener{ul}
	if tcpAddr != "" {
		tl, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			ul.Close()
			return nil, fmt.Errorf("api listen %s: %w", tcpAddr, err)
		}
		ls = append(ls, tl)
	}
	return ls, nil
}

// Serve serves h on every listener until ctx is done, then shuts the
// servers down gracefully (in-flight requests get a few seconds).
func Serve(ctx context.Context, ls []net.Listener, h http.Handler) error {
	return ServeLog(ctx, ls, h, nil)
}

// ServeLog is Serve with the server's own errors (failed TLS handshakes:
// a client without a valid certificate) going to errLog instead of the
// process's standard error, which on the appliance is the console.
func ServeLog(ctx context.Context, ls []net.Listener, h http.Handler, errLog *log.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("api: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return err
}

// NOCFiles are the PEM files of the NOC listener's mutual TLS.
type NOCFiles struct {
	// CertFile is the server certificate chain, leaf first; KeyFile its
	// private key.
	CertFile, KeyFile string
	// ClientCAFile holds the CAs operator client certificates must chain
	// to.
	ClientCAFile string
}

// ServerTLSConfig reads f into the NOC listener's TLS configuration: TLS
// 1.3 only, and every client must present a certificate that chains to
// f.ClientCAFile. Errors name the file and say what to put there.
func ServerTLSConfig(f NOCFiles) (*tls.Config, error) {
	cert, err := loadKeyPair(f.CertFile, f.KeyFile, "api.noc.cert_file", "api.noc.key_file")
	if err != nil {
		return nil, err
	}
	pool, err := loadCAs(f.ClientCAFile, "api.noc.client_ca_file", "the CA certificates of the NOC operators")
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// loadKeyPair reads a PEM certificate chain and its key; certWhat and
// keyWhat name the files' settings (config fields or flags) in errors.
func loadKeyPair(certFile, keyFile, certWhat, keyWhat string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s: %w (install the certificate chain there: PEM, leaf first)", certWhat, certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s: %w (install the certificate's private key there: PEM)", keyWhat, keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s and %s %s: %w (the key must be the certificate's; both PEM, the chain leaf first)", certWhat, certFile, keyWhat, keyFile, err)
	}
	return cert, nil
}

// loadCAs reads a PEM file of CA certificates into a pool.
func loadCAs(file, what, want string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (put %s there: PEM)", what, file, err, want)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate (put %s there)", what, file, want)
	}
	return pool, nil
}

// ListenFreebind opens a TCP listener on addr (IP:port) with IP_FREEBIND:
// it binds even before the address is configured on a link, as the
// tunnel's inner address is while the network and the tunnel come up.
func ListenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set IP_FREEBIND: %w", serr)
		}
		return nil
	}}
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api NOC listen %s: %w", addr, err)
	}
	return l, nil
}

// ListenNOC opens the NOC listener: ListenFreebind on addr, wrapped in
// tc (ServerTLSConfig). wrap, if not nil, wraps the TCP listener under
// TLS (the byte accounting sees the wire).
func ListenNOC(ctx context.Context, addr string, tc *tls.Config, wrap func(net.Listener) net.Listener) (net.Listener, error) {
	l, err := ListenFreebind(ctx, addr)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		l = wrap(l)
	}
	return tls.NewListener(l, tc), nil
}

type operatorKey struct{}

// withOperator puts the request's operator (RequestOperator) in its
// context; see Operator.
func withOperator(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op := RequestOperator(r); op != "" {
			r = r.WithContext(context.WithValue(r.Context(), operatorKey{}, op))
		}
		h.ServeHTTP(w, r)
	})
}

// RequestOperator returns the NOC operator a request came from: the
// subject of its verified client certificate (like
// "CN=noc-operator,O=Provider"), or "" for the Unix socket and the plain
// listener.
func RequestOperator(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.String()
}

// Operator returns the operator of the request whose context ctx is (see
// RequestOperator), for a backend; "" when there is none.
func Operator(ctx context.Context) string {
	s, _ := ctx.Value(operatorKey{}).(string)
	return s
}
