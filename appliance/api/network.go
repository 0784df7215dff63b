package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// NetworkBackend is implemented by a backend that runs the network
// (PID 1): confirm-or-rollback changes of the network configuration and
// the traffic history.
type NetworkBackend interface {
	// ApplyNetwork applies a new network section. With a positive
	// ConfirmWithin it is on probation: reverted unless confirmed in
	// time; with none it is kept (and persisted) at once.
	ApplyNetwork(ctx context.Context, req NetworkApplyRequest) (NetworkApplyResult, error)
	// ConfirmNetwork keeps the configuration on probation.
	ConfirmNetwork(ctx context.Context) (NetworkApplyResult, error)
	// RevertNetwork goes back to the previous configuration now.
	RevertNetwork(ctx context.Context) (NetworkApplyResult, error)
	// NetworkHistory is each link's sampled rates, oldest first; limit
	// > 0 keeps the newest limit samples of each.
	NetworkHistory(limit int) NetworkHistory
}

// ErrNoNetworkService means the backend does not run the network.
var ErrNoNetworkService = errors.New("no network service: not running as the appliance's init")

// ErrNetworkConflict wraps a change refused because of the state (one
// already on probation, nothing to confirm).
var ErrNetworkConflict = errors.New("conflict")

// ErrBadNetworkConfig wraps a configuration that does not parse or
// validate.
var ErrBadNetworkConfig = errors.New("bad network configuration")

// NetworkApplyRequest is POST /v1/network/apply.
type NetworkApplyRequest struct {
	// YAML is the network section: either the section itself
	// (ethernets:, bonds:, …) or a document with a network: key.
	YAML string `json:"yaml"`
	// ConfirmWithin is a Go duration ("120s"); "" or "0s" applies
	// without probation.
	ConfirmWithin string `json:"confirm_within,omitempty"`
}

// NetworkApplyResult says what an apply, confirm or revert did.
type NetworkApplyResult struct {
	// Outcome is "pending", "applied" (no probation), "confirmed",
	// "rolled back" or "rollback failed".
	Outcome string `json:"outcome"`
	// Changes are the kernel changes made, one a line ("bond0: up").
	Changes []string `json:"changes"`
	// Deadline is when a pending configuration rolls back.
	Deadline time.Time `json:"deadline,omitempty"`
	// Persisted is where the kept configuration was written; "" when it
	// is kept in memory only (no data vault mounted).
	Persisted string `json:"persisted,omitempty"`
	Message   string `json:"message,omitempty"`
}

// NetworkPending is a configuration on probation.
type NetworkPending struct {
	Deadline time.Time `json:"deadline"`
	Since    time.Time `json:"since"`
}

// TimeStatus is the NTP client's state.
type TimeStatus struct {
	Servers      []string  `json:"servers"`
	Synced       bool      `json:"synced"`
	Server       string    `json:"server,omitempty"`
	Stratum      int       `json:"stratum,omitempty"`
	Offset       string    `json:"offset,omitempty"`
	Delay        string    `json:"delay,omitempty"`
	RootDistance string    `json:"root_distance,omitempty"`
	LastSync     time.Time `json:"last_sync,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// LinkRate is one link's traffic over one sampling interval.
type LinkRate struct {
	Link string    `json:"link"`
	Time time.Time `json:"time"`
	// Bytes and packets per second, received and sent.
	RxBps float64 `json:"rx_bytes_per_sec"`
	TxBps float64 `json:"tx_bytes_per_sec"`
	RxPps float64 `json:"rx_packets_per_sec"`
	TxPps float64 `json:"tx_packets_per_sec"`
	// Errors and drops per second, both directions.
	Errors  float64 `json:"errors_per_sec"`
	Dropped float64 `json:"dropped_per_sec"`
}

// NetworkHistory is GET /v1/network/history.
type NetworkHistory struct {
	Interval string                `json:"interval"`
	Links    map[string][]LinkRate `json:"links"`
}

// maxNetworkRequest bounds an apply request body.
const maxNetworkRequest = 256 << 10

func networkHandlers(mux *http.ServeMux, b Backend) {
	nb, ok := b.(NetworkBackend)
	fail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, ErrNoNetworkService):
			writeError(w, http.StatusNotFound, CodeNotFound, "%v", err)
		case errors.Is(err, ErrBadNetworkConfig):
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
		case errors.Is(err, ErrNetworkConflict):
			writeError(w, http.StatusConflict, CodeUnavailable, "%v", err)
		default:
			writeError(w, http.StatusUnprocessableEntity, CodeBadRequest, "%v", err)
		}
	}
	if !ok {
		nb = noNetwork{}
	}
	mux.HandleFunc("POST /v1/network/apply", func(w http.ResponseWriter, r *http.Request) {
		var req NetworkApplyRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, maxNetworkRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.YAML == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "want {\"yaml\": \"<network section>\", \"confirm_within\": \"120s\"}")
			return
		}
		res, err := nb.ApplyNetwork(r.Context(), req)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/network/confirm", func(w http.ResponseWriter, r *http.Request) {
		res, err := nb.ConfirmNetwork(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/network/revert", func(w http.ResponseWriter, r *http.Request) {
		res, err := nb.RevertNetwork(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /v1/network/history", func(w http.ResponseWriter, r *http.Request) {
		limit, err := intParam(r, "limit", 0)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, nb.NetworkHistory(limit))
	})
}

type noNetwork struct{}

func (noNetwork) ApplyNetwork(context.Context, NetworkApplyRequest) (NetworkApplyResult, error) {
	return NetworkApplyResult{}, ErrNoNetworkService
}
func (noNetwork) ConfirmNetwork(context.Context) (NetworkApplyResult, error) {
	return NetworkApplyResult{}, ErrNoNetworkService
}
func (noNetwork) RevertNetwork(context.Context) (NetworkApplyResult, error) {
	return NetworkApplyResult{}, ErrNoNetworkService
}
func (noNetwork) NetworkHistory(int) NetworkHistory {
	return NetworkHistory{Links: map[string][]LinkRate{}}
}

// ApplyNetwork sends a network section (YAML) to apply, on probation
// for confirmWithin (0: kept at once).
func (c *Client) ApplyNetwork(ctx context.Context, yaml string, confirmWithin time.Duration) (NetworkApplyResult, error) {
	var r NetworkApplyResult
	req := NetworkApplyRequest{YAML: yaml}
	if confirmWithin > 0 {
		req.ConfirmWithin = confirmWithin.String()
	}
	return r, c.send(ctx, http.MethodPost, "/v1/network/apply", nil, req, &r)
}

// ConfirmNetwork keeps the configuration on probation.
func (c *Client) ConfirmNetwork(ctx context.Context) (NetworkApplyResult, error) {
	var r NetworkApplyResult
	return r, c.do(ctx, http.MethodPost, "/v1/network/confirm", nil, &r)
}

// RevertNetwork rolls the configuration on probation back now.
func (c *Client) RevertNetwork(ctx context.Context) (NetworkApplyResult, error) {
	var r NetworkApplyResult
	return r, c.do(ctx, http.MethodPost, "/v1/network/revert", nil, &r)
}

// NetworkHistory returns the sampled traffic rates (limit > 0: the
// newest limit samples of each link).
func (c *Client) NetworkHistory(ctx context.Context, limit int) (NetworkHistory, error) {
	var h NetworkHistory
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(limit)}}
	}
	return h, c.do(ctx, http.MethodGet, "/v1/network/history", q, &h)
}
