package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"keep/appliance/events"
	"keep/appliance/service"
	"keep/raid/vault"
)

// Client talks to the management API over a Unix socket or TCP.
type Client struct {
	http *http.Client
	base string // scheme://host, no trailing slash
	// where names the endpoint in error messages.
	where string
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

func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	return c.send(ctx, method, path, q, nil, out)
}

// send is do with a JSON request body (in; nil for none).
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Keep API at %s (is the appliance up, and the address right?): %w", c.where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return eb.Error
		}
		return &Error{Code: CodeInternal, Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
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
