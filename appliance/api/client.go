package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"keep/appliance/events"
	"keep/appliance/service"
	"keep/raid/vault"
)

// Client talks to the management API over a Unix socket, plain TCP or
// mutual TLS (the NOC listener).
type Client struct {
	http *http.Client
	base string // scheme://host, no trailing slash
	// where names the endpoint in error messages.
	where string
	// tls is set for the NOC listener's client, hasCert when it has an
	// operator certificate; caFile, if known, names the CAs it trusts in
	// error messages.
	tls, hasCert bool
	caFile       string
}

// NewUnixClient returns a client for the API's Unix socket.
func NewUnixClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{http: &http.Client{Transport: tr}, base: "http://keep", where: path}
}

// NewTCPClient returns a client for the API at host:port.
func NewTCPClient(addr string) *Client {
	return &Client{http: &http.Client{}, base: "http://" + addr, where: addr}
}

// NewTLSClient returns a client for the API's NOC listener at host:port,
// speaking mutual TLS with cfg (see ClientTLSConfig).
func NewTLSClient(addr string, cfg *tls.Config) *Client {
	tr := &http.Transport{TLSClientConfig: cfg, TLSHandshakeTimeout: 10 * time.Second}
	hasCert := len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil
	return &Client{http: &http.Client{Transport: tr}, base: "https://" + addr, where: addr, tls: true, hasCert: hasCert}
}

// ClientCredentials are a NOC operator's files for the NOC listener
// (keep ctl --cert, --key, --ca, --server-name).
type ClientCredentials struct {
	// CertFile is the operator's certificate chain (PEM, leaf first) and
	// KeyFile its key: both or neither (the listener refuses a client
	// without one, but the refusal then says so).
	CertFile, KeyFile string
	// CAFile holds the CAs (PEM) the API's certificate must chain to.
	CAFile string
	// ServerName is the name the API's certificate must hold; "": the
	// host part of the address.
	ServerName string
}

// ClientTLSConfig reads cc into a TLS 1.3 client configuration for the
// NOC listener at addr (host:port).
func ClientTLSConfig(addr string, cc ClientCredentials) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("API address %q is not host:port", addr)
	}
	if cc.ServerName != "" {
		host = cc.ServerName
	}
	if cc.CAFile == "" {
		return nil, errors.New("--ca: required: the file of the CA that signed the API's certificate")
	}
	pool, err := loadCAs(cc.CAFile, "--ca", "the CA certificate that signed the API's certificate")
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: host}
	switch {
	case cc.CertFile != "" && cc.KeyFile != "":
		cert, err := loadKeyPair(cc.CertFile, cc.KeyFile, "--cert", "--key")
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	case cc.CertFile != "" || cc.KeyFile != "":
		return nil, errors.New("--cert and --key go together: the operator certificate and its private key")
	}
	return cfg, nil
}

// NewNOCClient is NewTLSClient with ClientTLSConfig(addr, cc); its errors
// name cc's files.
func NewNOCClient(addr string, cc ClientCredentials) (*Client, error) {
	cfg, err := ClientTLSConfig(addr, cc)
	if err != nil {
		return nil, err
	}
	c := NewTLSClient(addr, cfg)
	c.caFile = cc.CAFile
	return c, nil
}

// unreachable explains a failed request: a TLS problem says what to
// change; anything else is a network problem.
func (c *Client) unreachable(err error) error {
	if c.tls {
		if why := c.tlsProblem(err); why != "" {
			return fmt.Errorf("%s: %w", why, err)
		}
	}
	return fmt.Errorf("cannot reach the Keep API at %s (is the appliance up, and the address right?): %w", c.where, err)
}

// tlsProblem says what to do about a TLS handshake failure; "" for other
// errors. The server's refusals arrive as TLS alerts, known only by
// their text.
func (c *Client) tlsProblem(err error) string {
	ca := "--ca"
	if c.caFile != "" {
		ca += " " + c.caFile
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		notTLS    tls.RecordHeaderError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("the API's certificate at %s is not signed by %s: pass the CA that signed it, or check the address", c.where, ca)
	case errors.As(err, &hostname):
		return fmt.Sprintf("the API's certificate at %s is not for %s: pass --server-name with a name it holds", c.where, hostname.Host)
	case errors.As(err, &invalid):
		return fmt.Sprintf("the API's certificate at %s is not valid (expired, or not for a server): renew it on the appliance", c.where)
	case errors.As(err, &notTLS), strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s does not speak TLS, so it is not the NOC listener: use its address, or drop --cert, --key and --ca for a plain listener", c.where)
	case strings.Contains(msg, "tls: certificate required") && c.hasCert:
		// The client sends its certificate only when it chains to a CA
		// the server asks for.
		return fmt.Sprintf("the API at %s did not take the operator certificate (--cert): it is not signed by a NOC operator CA the appliance trusts", c.where)
	case strings.Contains(msg, "tls: certificate required"):
		return fmt.Sprintf("the API at %s requires a NOC operator certificate: pass --cert and --key", c.where)
	case strings.Contains(msg, "tls: unknown certificate authority"), strings.Contains(msg, "tls: bad certificate"),
		strings.Contains(msg, "tls: expired certificate"), strings.Contains(msg, "tls: unsupported certificate"):
		return fmt.Sprintf("the API at %s refused the operator certificate (--cert): it must be valid, for client authentication, and signed by a NOC operator CA the appliance trusts", c.where)
	}
	return ""
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	return c.send(ctx, method, path, q, nil, out)
}

// maxResponse bounds the JSON responses a client reads.
const maxResponse = 64 << 20

// send is do with a JSON request body (in; nil for none).
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.request(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if len(body) > maxResponse {
		return fmt.Errorf("%s %s: the response is over %d MiB, more than this client reads: ask for less (a subdirectory, a narrower pattern, a limit)", method, path, maxResponse>>20)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// get is a GET whose successful response's body the caller reads (and
// closes); an error status is decoded into the error.
func (c *Client) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	return c.request(ctx, http.MethodGet, path, q, nil)
}

// request sends a request with a JSON body (in; nil for none) and returns
// a response of a success status with its body unread, or the error.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusBadRequest && !c.tls && bytes.Contains(body, []byte("HTTPS server")) {
		return nil, fmt.Errorf("the API at %s speaks TLS (the NOC listener): pass --cert, --key and --ca", c.where)
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		eb.Error.Status = resp.StatusCode
		return nil, eb.Error
	}
	return nil, &Error{Code: CodeInternal, Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)}
}

// Status returns the appliance status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Services returns every service's status.
func (c *Client) Services(ctx context.Context) ([]service.ServiceStatus, error) {
	var s []service.ServiceStatus
	return s, c.do(ctx, http.MethodGet, "/v1/services", nil, &s)
}

// RestartService restarts one service.
func (c *Client) RestartService(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/restart", nil, nil)
}

// EventQuery selects events; zero fields do not filter. Since is a
// duration back from the appliance's clock.
type EventQuery struct {
	Severity, Source, Kind, Boot string
	Since                        time.Duration
	After                        uint64
	Limit                        int
}

// Events returns matching events, oldest first.
func (c *Client) Events(ctx context.Context, eq EventQuery) ([]events.Event, error) {
	q := url.Values{}
	for k, v := range map[string]string{"severity": eq.Severity, "source": eq.Source, "kind": eq.Kind, "boot": eq.Boot} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if eq.Since > 0 {
		q.Set("since", eq.Since.String())
	}
	if eq.After > 0 {
		q.Set("after", strconv.FormatUint(eq.After, 10))
	}
	if eq.Limit > 0 {
		q.Set("limit", strconv.Itoa(eq.Limit))
	}
	var r EventsResponse
	return r.Events, c.do(ctx, http.MethodGet, "/v1/events", q, &r)
}

// Logs returns the newest log lines of logger ("" for all).
func (c *Client) Logs(ctx context.Context, logger string, limit int) (LogsResponse, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if logger != "" {
		q.Set("logger", logger)
	}
	var r LogsResponse
	return r, c.do(ctx, http.MethodGet, "/v1/logs", q, &r)
}

// Shutdown asks for an orderly power-off; Reboot for a reboot.
func (c *Client) Shutdown(ctx context.Context) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/shutdown", nil, &a)
}

// Reboot asks for an orderly reboot.
func (c *Client) Reboot(ctx context.Context) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/reboot", nil, &a)
}

// Health checks that the API server answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/health", nil, nil)
}

// Network returns the running network state.
func (c *Client) Network(ctx context.Context) (Network, error) {
	var n Network
	return n, c.do(ctx, http.MethodGet, "/v1/network", nil, &n)
}

// TestExec runs a program in a test image (see TestExecutor); a product
// image answers 404.
func (c *Client) TestExec(ctx context.Context, req ExecRequest) (ExecResult, error) {
	var r ExecResult
	return r, c.send(ctx, http.MethodPost, "/v1/test/exec", nil, req, &r)
}

// Storage returns the data vault's disks, array and filesystem.
func (c *Client) Storage(ctx context.Context) (vault.Status, error) {
	var st vault.Status
	return st, c.do(ctx, http.MethodGet, "/v1/storage", nil, &st)
}

// Scrub starts a check of the data array (repair: a repair).
func (c *Client) Scrub(ctx context.Context, repair bool) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/storage/scrub", url.Values{"repair": {strconv.FormatBool(repair)}}, &a)
}

// ReplaceDisk copies a member onto a spare and then fails it out.
func (c *Client) ReplaceDisk(ctx context.Context, disk string) (Accepted, error) {
	var a Accepted
	return a, c.send(ctx, http.MethodPost, "/v1/storage/replace", nil, ReplaceRequest{Disk: disk}, &a)
}
