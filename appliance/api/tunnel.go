package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// TunnelBackend is implemented by a backend that can run the NOC tunnel.
type TunnelBackend interface {
	// Tunnel reads the tunnel's status: ErrNoTunnel when the service is
	// disabled or not running.
	Tunnel(ctx context.Context) (TunnelStatus, error)
	// TunnelInitiate brings the tunnel up (and keeps re-initiating it
	// after failures); TunnelTerminate takes it down and stops that.
	// Traffic to the NOC networks stays blocked while it is down.
	TunnelInitiate(ctx context.Context) error
	TunnelTerminate(ctx context.Context) error
	// TunnelRekey rekeys the established tunnel now: the CHILD SA, or the
	// IKE SA when ike is true. The old SAs carry traffic until the new
	// ones are installed, so nothing is lost. It fails when the tunnel is
	// not established.
	TunnelRekey(ctx context.Context, ike bool) error
}

// TunnelRekeyRequest is the body of POST /v1/tunnel/rekey.
type TunnelRekeyRequest struct {
	// IKE rekeys the IKE SA; false rekeys the CHILD SA.
	IKE bool `json:"ike"`
}

// ErrNoTunnel: the tunnel service is disabled, starting or stopped.
var ErrNoTunnel = errors.New("the tunnel is not running")

// TunnelStatus is GET /v1/tunnel. It never carries secrets.
type TunnelStatus struct {
	// Name is the connection's name ("noc").
	Name string `json:"name"`
	// State: down, connecting, established, rekeying, deleting.
	State   string `json:"state"`
	Local   string `json:"local"`
	NOC     string `json:"noc"`
	LocalID string `json:"local_id"`
	NOCID   string `json:"noc_id"`
	// Auth is psk or certificate.
	Auth string `json:"auth"`
	// FailClosed are the NOC networks whose traffic is blocked unless
	// the tunnel carries it, as installed in the kernel right now.
	FailClosed []TunnelBlock `json:"fail_closed"`
	// NextAttempt is when the tunnel is re-initiated (zero: none
	// scheduled).
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	IKE         []TunnelIKESA `json:"ike_sas"`
	// LastEvent is the newest tunnel event (up, down, auth failed...).
	LastEvent *TunnelEvent `json:"last_event,omitempty"`
}

// TunnelBlock is one fail-closed block policy.
type TunnelBlock struct {
	Network   string `json:"network"`
	Priority  uint32 `json:"priority"`
	Installed bool   `json:"installed"`
}

// TunnelEvent is the newest tunnel event.
type TunnelEvent struct {
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// TunnelIKESA is an IKE SA (SPIs in hex).
type TunnelIKESA struct {
	SPIi  string `json:"spi_i"`
	SPIr  string `json:"spi_r"`
	Role  string `json:"role"` // initiator or responder
	State string `json:"state"`
	Local string `json:"local"`
	// Remote is the NOC's outer address and port as IKE talks to it.
	Remote    string `json:"remote"`
	NATLocal  bool   `json:"nat_local"`
	NATRemote bool   `json:"nat_remote"`
	Encr      string `json:"encr"`
	PRF       string `json:"prf"`
	DH        string `json:"dh"`

	Established  time.Time       `json:"established,omitzero"`
	RekeyAt      time.Time       `json:"rekey_at,omitzero"`
	ExpireAt     time.Time       `json:"expire_at,omitzero"`
	LastReceived time.Time       `json:"last_received,omitzero"`
	LastDPD      time.Time       `json:"last_dpd,omitzero"`
	Children     []TunnelChildSA `json:"child_sas"`
}

// TunnelChildSA is a CHILD SA with the kernel's counters.
type TunnelChildSA struct {
	Reqid      uint32    `json:"reqid"`
	SPIIn      string    `json:"spi_in"`
	SPIOut     string    `json:"spi_out"`
	State      string    `json:"state"`
	LocalTS    []string  `json:"local_ts"`
	RemoteTS   []string  `json:"remote_ts"`
	Encr       string    `json:"encr"`
	DH         string    `json:"dh,omitempty"`
	ESN        bool      `json:"esn"`
	Encap      bool      `json:"encap"`
	Installed  time.Time `json:"installed,omitzero"`
	RekeyAt    time.Time `json:"rekey_at,omitzero"`
	ExpireAt   time.Time `json:"expire_at,omitzero"`
	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	PacketsIn  uint64    `json:"packets_in"`
	PacketsOut uint64    `json:"packets_out"`
	LastUsedIn time.Time `json:"last_used_in,omitzero"`
}

// tunnelHandlers registers GET /v1/tunnel and POST /v1/tunnel/initiate,
// /v1/tunnel/terminate and /v1/tunnel/rekey when b is a TunnelBackend.
func tunnelHandlers(mux *http.ServeMux, b Backend) {
	tb, ok := b.(TunnelBackend)
	if !ok {
		return
	}
	fail := func(w http.ResponseWriter, err error) {
		if errors.Is(err, ErrNoTunnel) {
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "%v", err)
			return
		}
		writeError(w, http.StatusConflict, CodeUnavailable, "%v", err)
	}
	mux.HandleFunc("GET /v1/tunnel", func(w http.ResponseWriter, r *http.Request) {
		st, err := tb.Tunnel(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		if st.IKE == nil {
			st.IKE = []TunnelIKESA{}
		}
		if st.FailClosed == nil {
			st.FailClosed = []TunnelBlock{}
		}
		writeJSON(w, http.StatusOK, st)
	})
	for path, do := range map[string]func(context.Context) error{"initiate": tb.TunnelInitiate, "terminate": tb.TunnelTerminate} {
		mux.HandleFunc("POST /v1/tunnel/"+path, func(w http.ResponseWriter, r *http.Request) {
			if err := do(r.Context()); err != nil {
				fail(w, err)
				return
			}
			msg := "initiating the tunnel; keep ctl tunnel shows its state"
			if path == "terminate" {
				msg = "tunnel terminated; traffic to the NOC networks stays blocked until it is initiated again"
			}
			writeJSON(w, http.StatusAccepted, Accepted{Message: msg})
		})
	}
	mux.HandleFunc("POST /v1/tunnel/rekey", func(w http.ResponseWriter, r *http.Request) {
		var req TunnelRekeyRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1024))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "request body: %v", err)
			return
		}
		if err := tb.TunnelRekey(r.Context(), req.IKE); err != nil {
			fail(w, err)
			return
		}
		what := "CHILD SA"
		if req.IKE {
			what = "IKE SA"
		}
		writeJSON(w, http.StatusAccepted, Accepted{Message: "rekeying the " + what + "; the old one carries traffic until the new one is installed (keep ctl tunnel shows it)"})
	})
}

// Tunnel reads GET /v1/tunnel.
func (c *Client) Tunnel(ctx context.Context) (TunnelStatus, error) {
	var st TunnelStatus
	return st, c.do(ctx, http.MethodGet, "/v1/tunnel", nil, &st)
}

// TunnelInitiate is POST /v1/tunnel/initiate.
func (c *Client) TunnelInitiate(ctx context.Context) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/tunnel/initiate", nil, &a)
}

// TunnelTerminate is POST /v1/tunnel/terminate.
func (c *Client) TunnelTerminate(ctx context.Context) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/tunnel/terminate", nil, &a)
}

// TunnelRekey is POST /v1/tunnel/rekey.
func (c *Client) TunnelRekey(ctx context.Context, ike bool) (Accepted, error) {
	var a Accepted
	return a, c.send(ctx, http.MethodPost, "/v1/tunnel/rekey", nil, TunnelRekeyRequest{IKE: ike}, &a)
}
