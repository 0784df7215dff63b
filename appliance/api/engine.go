package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"keep/engine/browse"
	"keep/engine/enrol"
	"keep/engine/jobs"
	"keep/engine/local"
	"keep/engine/snapshot"
)

// EngineBackend is implemented by a backend with the media-agent engine.
type EngineBackend interface {
	// EngineStatus is ErrNoEngine while the engine is not open.
	EngineStatus(ctx context.Context) (local.Status, error)
	Jobs(ctx context.Context, q JobQuery) ([]jobs.Job, error)
	Job(ctx context.Context, id string) (jobs.Job, error)
	Snapshots(ctx context.Context, q SnapshotQuery) (SnapshotList, error)
	Clients(ctx context.Context) ([]enrol.Client, error)
	// NewToken makes a one-time enrolment token for client.
	NewToken(ctx context.Context, req TokenRequest) (TokenResponse, error)
	Revoke(ctx context.Context, client string) (RevokeResponse, error)
	// Verify runs a verify job to the end.
	Verify(ctx context.Context, req VerifyRequest) (VerifyResponse, error)
	// RecoveryKey returns the recovery key while it is on the box;
	// forget removes it from there.
	RecoveryKey(ctx context.Context, forget bool) (RecoveryKeyResponse, error)
	// GrantRestore lets a client read another's snapshots for a while.
	GrantRestore(ctx context.Context, req GrantRequest) (local.Grant, error)
	// Grants lists the grants in force.
	Grants(ctx context.Context) ([]local.Grant, error)
	// RevokeGrant ends client's reads of owner's snapshots (not found:
	// no such grant in force).
	RevokeGrant(ctx context.Context, client, owner string) error
	// SyntheticFull builds a full backup on the vault from what it holds.
	SyntheticFull(ctx context.Context, req SyntheticRequest) (SyntheticResponse, error)
	// ChangePassphrase re-wraps the master key under a new passphrase
	// (nothing is re-encrypted).
	ChangePassphrase(ctx context.Context, req PassphraseRequest) (local.PassphraseChange, error)
	// List lists a directory of a snapshot from its trees.
	List(ctx context.Context, q ListQuery) (Listing, error)
	// Find searches snapshots' trees for paths matching a glob.
	Find(ctx context.Context, q FindQuery) (FindResponse, error)
	// OpenDownload finds one file of a snapshot to download.
	OpenDownload(ctx context.Context, q ListQuery) (Download, error)
}

// A Download is one file of a snapshot, found and not yet read
// (local.Download).
type Download interface {
	// Name, Size and SnapshotID describe it before a byte is read.
	Name() string
	Size() uint64
	SnapshotID() string
	// WriteTo writes its content to w, recorded as a job by who; an
	// error may come after some of the bytes.
	WriteTo(ctx context.Context, w io.Writer, who string) (jobs.Job, error)
}

// ListQuery names a path of a snapshot: GET /v1/engine/snapshots/{id}/ls
// and /content. Snapshot is "latest" or a prefix of an ID, among Client's
// snapshots ("": every client's); Path an original absolute path or a
// path from the snapshot's root.
type ListQuery struct {
	Snapshot string
	Client   string
	Path     string
}

// Listing is a directory of a snapshot.
type Listing struct {
	Snapshot SnapshotInfo       `json:"snapshot"`
	Path     string             `json:"path"` // from the snapshot's root
	Entries  []browse.JSONEntry `json:"entries"`
}

// FindQuery is GET /v1/engine/find: Pattern (browse.Find's globs) in the
// snapshots of Client and covering Path ("": all), at most Limit matches
// (0: 10000).
type FindQuery struct {
	Pattern string
	Client  string
	Path    string
	Limit   int
}

// MaxFindLimit bounds a find's matches (its JSON stays well inside what
// a client reads).
const MaxFindLimit = 100000

// FindResponse is what Find found: matches newest snapshot first.
type FindResponse struct {
	Found     []browse.JSONEntry `json:"found"`
	Truncated bool               `json:"truncated,omitempty"`
	Errors    []string           `json:"errors,omitempty"`
}

// PassphraseRequest is POST /v1/engine/passphrase: the new passphrase, or
// Generate for a random one the engine keeps. Exactly one of the two.
type PassphraseRequest struct {
	Passphrase string `json:"passphrase,omitempty"`
	Generate   bool   `json:"generate,omitempty"`
}

// GrantRequest is POST /v1/engine/clients/{name}/grant: client name may
// read (restore) Owner's snapshots for TTLSeconds (0: 24 h).
type GrantRequest struct {
	Client     string `json:"-"`
	Owner      string `json:"owner"`
	TTLSeconds int    `json:"ttl_seconds"`
}

// SyntheticRequest is POST /v1/engine/clients/{name}/synthetic-full.
type SyntheticRequest struct {
	Client string `json:"-"`
	// Snapshot is the head (an ID prefix); "": the client's newest.
	Snapshot string `json:"snapshot"`
}

// SyntheticResponse is the snapshot made and its job.
type SyntheticResponse struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	Job      jobs.Job     `json:"job"`
}

// ErrNoEngine: the engine is disabled, starting or stopped.
var ErrNoEngine = errors.New("the engine is not running")

// JobQuery filters GET /v1/engine/jobs.
type JobQuery struct {
	Client string
	State  string
	Limit  int // newest first; 0: all
}

// SnapshotQuery filters GET /v1/engine/snapshots.
type SnapshotQuery struct {
	Client string
	Path   string
	Since  time.Time
}

// SnapshotList is GET /v1/engine/snapshots: newest first.
type SnapshotList struct {
	Snapshots []SnapshotInfo `json:"snapshots"`
	// Damaged lists snapshot files that did not load.
	Damaged []string `json:"damaged,omitempty"`
}

// SnapshotInfo is one snapshot.
type SnapshotInfo struct {
	ID string `json:"id"`
	snapshot.Snapshot
}

// TokenRequest is POST /v1/engine/clients/{name}/token.
type TokenRequest struct {
	Client string `json:"-"`
	// TTLSeconds is how long the token is valid; 0: the default (24 h).
	TTLSeconds int `json:"ttl_seconds"`
	// Address is the host:port agents dial; "": the engine's listener
	// address as the box knows it.
	Address string `json:"address"`
}

// TokenResponse carries the only copy of the token.
type TokenResponse struct {
	Client  string    `json:"client"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	Address string    `json:"address"`
}

// RevokeResponse says how many certificates were revoked.
type RevokeResponse struct {
	Client  string `json:"client"`
	Revoked int    `json:"revoked"` // certificates
	Cut     int    `json:"cut"`     // connections of the client cut (their jobs failed)
}

// VerifyRequest is POST /v1/engine/verify.
type VerifyRequest struct {
	// Percent of the data chunks to read (0: 100).
	Percent float64 `json:"percent"`
}

// VerifyResponse is a finished verify job and what it found.
type VerifyResponse struct {
	Job       jobs.Job       `json:"job"`
	Snapshots int            `json:"snapshots"`
	Chunks    int            `json:"chunks"`
	Read      int            `json:"read"`
	Bytes     int64          `json:"bytes"`
	Damaged   []DamagedChunk `json:"damaged"`
}

// DamagedChunk is a damaged blob and what needs it.
type DamagedChunk struct {
	Type     string   `json:"type"`
	ID       string   `json:"id"`
	Pack     string   `json:"pack,omitempty"`
	Error    string   `json:"error"`
	Uses     []string `json:"uses"` // "snapshot-id:path"
	MoreUses int      `json:"more_uses,omitempty"`
}

// RecoveryKeyResponse is GET/DELETE /v1/engine/recovery-key.
type RecoveryKeyResponse struct {
	OnBox bool   `json:"on_box"`
	Key   string `json:"key,omitempty"`
}

// lazyHeader sends the status (200) with the first byte written, so a
// download that fails before it can still answer with an error.
type lazyHeader struct {
	w    http.ResponseWriter
	sent bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty Write would send the header
	}
	if !l.sent {
		l.sent = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// maxEngineRequest bounds request bodies of the engine endpoints.
const maxEngineRequest = 16 << 10

func engineHandlers(mux *http.ServeMux, b Backend) {
	eb, ok := b.(EngineBackend)
	if !ok {
		return
	}
	fail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, ErrNoEngine):
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "%v", err)
		case errors.Is(err, jobs.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			writeError(w, http.StatusNotFound, CodeNotFound, "%v", err)
		case errors.Is(err, errBadEngineRequest), errors.Is(err, local.ErrBadSpec), errors.Is(err, local.ErrAmbiguous), errors.Is(err, browse.ErrNotDir), errors.Is(err, local.ErrNoContent):
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
		default:
			writeError(w, http.StatusInternalServerError, CodeInternal, "%v", err)
		}
	}
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	decode := func(w http.ResponseWriter, r *http.Request, v any) bool {
		dec := json.NewDecoder(io.LimitReader(r.Body, maxEngineRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "request body: %v", err)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /v1/engine", func(w http.ResponseWriter, r *http.Request) {
		st, err := eb.EngineStatus(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/engine/jobs", func(w http.ResponseWriter, r *http.Request) {
		n, err := intParam(r, "limit", 0)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		js, err := eb.Jobs(r.Context(), JobQuery{Client: r.URL.Query().Get("client"), State: r.URL.Query().Get("state"), Limit: n})
		if js == nil {
			js = []jobs.Job{}
		}
		reply(w, js, err)
	})
	mux.HandleFunc("GET /v1/engine/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		j, err := eb.Job(r.Context(), r.PathValue("id"))
		reply(w, j, err)
	})
	mux.HandleFunc("GET /v1/engine/snapshots", func(w http.ResponseWriter, r *http.Request) {
		q := SnapshotQuery{Client: r.URL.Query().Get("client"), Path: r.URL.Query().Get("path")}
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				writeError(w, http.StatusBadRequest, CodeBadRequest, "since=%q is not an RFC 3339 time", s)
				return
			}
			q.Since = t
		}
		l, err := eb.Snapshots(r.Context(), q)
		if l.Snapshots == nil {
			l.Snapshots = []SnapshotInfo{}
		}
		reply(w, l, err)
	})
	listQuery := func(r *http.Request) ListQuery {
		return ListQuery{Snapshot: r.PathValue("id"), Client: r.URL.Query().Get("client"), Path: r.URL.Query().Get("path")}
	}
	mux.HandleFunc("GET /v1/engine/snapshots/{id}/ls", func(w http.ResponseWriter, r *http.Request) {
		l, err := eb.List(r.Context(), listQuery(r))
		if l.Entries == nil {
			l.Entries = []browse.JSONEntry{}
		}
		reply(w, l, err)
	})
	mux.HandleFunc("GET /v1/engine/snapshots/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		d, err := eb.OpenDownload(r.Context(), listQuery(r))
		if err != nil {
			fail(w, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatUint(d.Size(), 10))
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name()}))
		h.Set("Keep-Snapshot", d.SnapshotID())
		who := "api"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			who = "api " + r.TLS.PeerCertificates[0].Subject.CommonName
		}
		if r.Method == http.MethodHead {
			// The headers say what a GET would bring; nothing is read.
			w.WriteHeader(http.StatusOK)
			return
		}
		lw := &lazyHeader{w: w}
		if _, err := d.WriteTo(r.Context(), lw, who); err != nil {
			if !lw.sent {
				// Nothing sent yet (the first chunk is damaged): a
				// plain error response.
				for _, k := range []string{"Content-Length", "Content-Disposition", "Keep-Snapshot"} {
					h.Del(k)
				}
				fail(w, err)
				return
			}
			// The status is sent: end the response short of its
			// Content-Length, which the client sees as an error, rather
			// than a body that looks whole.
			panic(http.ErrAbortHandler)
		}
		if !lw.sent {
			w.WriteHeader(http.StatusOK) // an empty file
		}
	})
	mux.HandleFunc("GET /v1/engine/find", func(w http.ResponseWriter, r *http.Request) {
		n, err := intParam(r, "limit", 0)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		if n < 0 || n > MaxFindLimit {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "limit=%d: give 1 to %d (0: the default)", n, MaxFindLimit)
			return
		}
		q := FindQuery{Pattern: r.URL.Query().Get("name"), Client: r.URL.Query().Get("client"), Path: r.URL.Query().Get("path"), Limit: n}
		if q.Pattern == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "give name=PATTERN (a glob: *.conf, /srv/www/**/index.html)")
			return
		}
		f, err := eb.Find(r.Context(), q)
		if f.Found == nil {
			f.Found = []browse.JSONEntry{}
		}
		reply(w, f, err)
	})
	mux.HandleFunc("GET /v1/engine/clients", func(w http.ResponseWriter, r *http.Request) {
		cs, err := eb.Clients(r.Context())
		if cs == nil {
			cs = []enrol.Client{}
		}
		reply(w, cs, err)
	})
	mux.HandleFunc("POST /v1/engine/clients/{name}/token", func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if !decode(w, r, &req) {
			return
		}
		req.Client = r.PathValue("name")
		t, err := eb.NewToken(r.Context(), req)
		reply(w, t, err)
	})
	mux.HandleFunc("POST /v1/engine/clients/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		rr, err := eb.Revoke(r.Context(), r.PathValue("name"))
		reply(w, rr, err)
	})
	mux.HandleFunc("POST /v1/engine/clients/{name}/grant", func(w http.ResponseWriter, r *http.Request) {
		var req GrantRequest
		if !decode(w, r, &req) {
			return
		}
		req.Client = r.PathValue("name")
		g, err := eb.GrantRestore(r.Context(), req)
		reply(w, g, err)
	})
	mux.HandleFunc("GET /v1/engine/grants", func(w http.ResponseWriter, r *http.Request) {
		gs, err := eb.Grants(r.Context())
		if gs == nil {
			gs = []local.Grant{}
		}
		reply(w, gs, err)
	})
	mux.HandleFunc("DELETE /v1/engine/clients/{name}/grants/{owner}", func(w http.ResponseWriter, r *http.Request) {
		err := eb.RevokeGrant(r.Context(), r.PathValue("name"), r.PathValue("owner"))
		reply(w, struct{}{}, err)
	})
	mux.HandleFunc("POST /v1/engine/clients/{name}/synthetic-full", func(w http.ResponseWriter, r *http.Request) {
		var req SyntheticRequest
		if !decode(w, r, &req) {
			return
		}
		req.Client = r.PathValue("name")
		sr, err := eb.SyntheticFull(r.Context(), req)
		reply(w, sr, err)
	})
	mux.HandleFunc("POST /v1/engine/passphrase", func(w http.ResponseWriter, r *http.Request) {
		var req PassphraseRequest
		if !decode(w, r, &req) {
			return
		}
		if (req.Passphrase == "") == !req.Generate {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "give either a new passphrase or generate: true")
			return
		}
		pc, err := eb.ChangePassphrase(r.Context(), req)
		reply(w, pc, err)
	})
	mux.HandleFunc("POST /v1/engine/verify", func(w http.ResponseWriter, r *http.Request) {
		var req VerifyRequest
		if !decode(w, r, &req) {
			return
		}
		v, err := eb.Verify(r.Context(), req)
		reply(w, v, err)
	})
	mux.HandleFunc("GET /v1/engine/recovery-key", func(w http.ResponseWriter, r *http.Request) {
		k, err := eb.RecoveryKey(r.Context(), false)
		reply(w, k, err)
	})
	mux.HandleFunc("DELETE /v1/engine/recovery-key", func(w http.ResponseWriter, r *http.Request) {
		k, err := eb.RecoveryKey(r.Context(), true)
		reply(w, k, err)
	})
}

// errBadEngineRequest marks a request the engine refuses as invalid.
var errBadEngineRequest = errors.New("bad request")

// BadEngineRequest wraps err as a 400 answer.
func BadEngineRequest(err error) error { return errors.Join(errBadEngineRequest, err) }

// EngineStatus reads GET /v1/engine.
func (c *Client) EngineStatus(ctx context.Context) (local.Status, error) {
	var s local.Status
	return s, c.do(ctx, http.MethodGet, "/v1/engine", nil, &s)
}

// Jobs lists job records, newest first.
func (c *Client) Jobs(ctx context.Context, q JobQuery) ([]jobs.Job, error) {
	v := url.Values{}
	if q.Client != "" {
		v.Set("client", q.Client)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var js []jobs.Job
	return js, c.do(ctx, http.MethodGet, "/v1/engine/jobs", v, &js)
}

// Job reads one job record.
func (c *Client) Job(ctx context.Context, id string) (jobs.Job, error) {
	var j jobs.Job
	return j, c.do(ctx, http.MethodGet, "/v1/engine/jobs/"+url.PathEscape(id), nil, &j)
}

// Snapshots lists snapshots, newest first.
func (c *Client) Snapshots(ctx context.Context, q SnapshotQuery) (SnapshotList, error) {
	v := url.Values{}
	if q.Client != "" {
		v.Set("client", q.Client)
	}
	if q.Path != "" {
		v.Set("path", q.Path)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339))
	}
	var l SnapshotList
	return l, c.do(ctx, http.MethodGet, "/v1/engine/snapshots", v, &l)
}

// Clients lists the agents' client names.
func (c *Client) Clients(ctx context.Context) ([]enrol.Client, error) {
	var cs []enrol.Client
	return cs, c.do(ctx, http.MethodGet, "/v1/engine/clients", nil, &cs)
}

// NewToken makes a one-time enrolment token.
func (c *Client) NewToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	var t TokenResponse
	return t, c.send(ctx, http.MethodPost, "/v1/engine/clients/"+url.PathEscape(req.Client)+"/token", nil, req, &t)
}

// Revoke revokes every certificate of a client.
func (c *Client) Revoke(ctx context.Context, client string) (RevokeResponse, error) {
	var rr RevokeResponse
	return rr, c.do(ctx, http.MethodPost, "/v1/engine/clients/"+url.PathEscape(client)+"/revoke", nil, &rr)
}

// Verify runs a verify job to the end.
func (c *Client) Verify(ctx context.Context, req VerifyRequest) (VerifyResponse, error) {
	var v VerifyResponse
	return v, c.send(ctx, http.MethodPost, "/v1/engine/verify", nil, req, &v)
}

// RecoveryKey reads (forget: removes from the box) the recovery key.
func (c *Client) RecoveryKey(ctx context.Context, forget bool) (RecoveryKeyResponse, error) {
	var k RecoveryKeyResponse
	m := http.MethodGet
	if forget {
		m = http.MethodDelete
	}
	return k, c.do(ctx, m, "/v1/engine/recovery-key", nil, &k)
}

// GrantRestore lets req.Client read req.Owner's snapshots for a while.
func (c *Client) GrantRestore(ctx context.Context, req GrantRequest) (local.Grant, error) {
	var g local.Grant
	return g, c.send(ctx, http.MethodPost, "/v1/engine/clients/"+url.PathEscape(req.Client)+"/grant", nil, req, &g)
}

// Grants lists the grants in force (GET /v1/engine/grants).
func (c *Client) Grants(ctx context.Context) ([]local.Grant, error) {
	var gs []local.Grant
	return gs, c.do(ctx, http.MethodGet, "/v1/engine/grants", nil, &gs)
}

// RevokeGrant ends client's reads of owner's snapshots
// (DELETE /v1/engine/clients/{client}/grants/{owner}).
func (c *Client) RevokeGrant(ctx context.Context, client, owner string) error {
	return c.do(ctx, http.MethodDelete, "/v1/engine/clients/"+url.PathEscape(client)+"/grants/"+url.PathEscape(owner), nil, &struct{}{})
}

// SyntheticFull builds a full backup of a client on the vault.
func (c *Client) SyntheticFull(ctx context.Context, req SyntheticRequest) (SyntheticResponse, error) {
	var sr SyntheticResponse
	return sr, c.send(ctx, http.MethodPost, "/v1/engine/clients/"+url.PathEscape(req.Client)+"/synthetic-full", nil, req, &sr)
}

// List lists a directory of a snapshot (GET /v1/engine/snapshots/{id}/ls).
func (c *Client) List(ctx context.Context, q ListQuery) (Listing, error) {
	var l Listing
	return l, c.do(ctx, http.MethodGet, "/v1/engine/snapshots/"+url.PathEscape(q.Snapshot)+"/ls", listValues(q), &l)
}

// Find searches snapshots for paths matching a glob (GET /v1/engine/find).
func (c *Client) Find(ctx context.Context, q FindQuery) (FindResponse, error) {
	v := url.Values{"name": {q.Pattern}}
	if q.Client != "" {
		v.Set("client", q.Client)
	}
	if q.Path != "" {
		v.Set("path", q.Path)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var f FindResponse
	return f, c.do(ctx, http.MethodGet, "/v1/engine/find", v, &f)
}

// Download writes one file of a snapshot to w
// (GET /v1/engine/snapshots/{id}/content) and returns its length and the
// snapshot's ID. A download cut short (a damaged chunk on the vault) is an
// error, after the bytes before it.
func (c *Client) Download(ctx context.Context, q ListQuery, w io.Writer) (n int64, snapshot string, err error) {
	resp, err := c.get(ctx, "/v1/engine/snapshots/"+url.PathEscape(q.Snapshot)+"/content", listValues(q))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	n, err = io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, "", fmt.Errorf("download cut short after %d of %d bytes (the vault's log says why; keep ctl verify finds damage): %w", n, resp.ContentLength, err)
	}
	return n, resp.Header.Get("Keep-Snapshot"), nil
}

func listValues(q ListQuery) url.Values {
	v := url.Values{}
	if q.Client != "" {
		v.Set("client", q.Client)
	}
	if q.Path != "" {
		v.Set("path", q.Path)
	}
	return v
}

// ChangePassphrase is POST /v1/engine/passphrase.
func (c *Client) ChangePassphrase(ctx context.Context, req PassphraseRequest) (local.PassphraseChange, error) {
	var pc local.PassphraseChange
	return pc, c.send(ctx, http.MethodPost, "/v1/engine/passphrase", nil, req, &pc)
}
