package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/service"
	"keep/raid/vault"
)

// Backend is what the API serves; the appliance implements it.
type Backend interface {
	// Status never fails: a box that cannot say why it is broken is
	// worse than one that is broken.
	Status() Status
	// Events returns the journal's events matching f, oldest first.
	Events(f events.Filter) []events.Event
	// Logs returns the newest log lines of a logger (and its
	// sub-loggers; "" for all), at most limit of them (0: all).
	Logs(logger string, limit int) ([]logring.Line, uint64)
	// RestartService restarts a service (a failed one gets a fresh
	// start). service.ErrUnknownService for a name it does not know.
	RestartService(ctx context.Context, name string) error
	// Network reads the running network state.
	Network(ctx context.Context) (Network, error)
	// Halt starts an orderly shutdown that ends in power-off or reboot
	// and returns at once; the response is sent before services stop.
	Halt(reboot bool) error
}

// TestExecutor is implemented by a backend that can run programs for the
// QEMU scenarios' oracles (mdadm, smartctl, ipmitool in the test image).
// The endpoint exists only when TestAPI reports true: in a test image.
type TestExecutor interface {
	TestAPI() bool
	// TestExec runs req.Argv to completion. A program that ran and
	// exited non-zero is a result, not an error.
	TestExec(ctx context.Context, req ExecRequest) (ExecResult, error)
}

// StorageBackend is implemented by a backend with a data vault (PID 1).
type StorageBackend interface {
	// Storage returns the vault's status; false when there is none.
	Storage() (vault.Status, bool)
	// Scrub starts a check (repair: a repair) of the array.
	Scrub(repair bool) error
	// ReplaceDisk copies a member onto a spare, then fails it out.
	ReplaceDisk(name string) error
}

// ReplaceRequest is POST /v1/storage/replace.
type ReplaceRequest struct {
	// Disk is the member's identity (keep ctl disks) or kernel name.
	Disk string `json:"disk"`
}

// maxExecRequest bounds a test exec request body.
const maxExecRequest = 64 << 10

// Handler returns the API's HTTP handler.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	if te, ok := b.(TestExecutor); ok && te.TestAPI() {
		mux.HandleFunc("POST /v1/test/exec", func(w http.ResponseWriter, r *http.Request) {
			var req ExecRequest
			dec := json.NewDecoder(io.LimitReader(r.Body, maxExecRequest))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil || len(req.Argv) == 0 || req.TimeoutSeconds < 0 {
				writeError(w, http.StatusBadRequest, CodeBadRequest, "want {\"argv\": [program, args...], \"timeout_seconds\": n}")
				return
			}
			res, err := te.TestExec(r.Context(), req)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, CodeBadRequest, "exec %s: %v", req.Argv[0], err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		})
	}
	if sb, ok := b.(StorageBackend); ok {
		storageHandlers(mux, sb)
	}
	bmcHandlers(mux, b)
	networkHandlers(mux, b)
	engineHandlers(mux, b)
	tunnelHandlers(mux, b)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	// health answers without touching the backend: it proves the server
	// itself serves (the api service's own health check).
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Accepted{Message: "ok"})
	})
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status().Services)
	})
	mux.HandleFunc("POST /v1/services/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := b.RestartService(r.Context(), name)
		switch {
		case err == nil:
			writeJSON(w, http.StatusAccepted, Accepted{Message: "restarting " + name})
		case errors.Is(err, service.ErrUnknownService):
			writeError(w, http.StatusNotFound, CodeNotFound, "no service named %q; `keep ctl services` lists them", name)
		default:
			writeError(w, http.StatusConflict, CodeUnavailable, "restart %s: %v", name, err)
		}
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		f, err := parseFilter(r, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		evs := b.Events(f)
		if evs == nil {
			evs = []events.Event{}
		}
		writeJSON(w, http.StatusOK, EventsResponse{Events: evs})
	})
	mux.HandleFunc("GET /v1/network", func(w http.ResponseWriter, r *http.Request) {
		n, err := b.Network(r.Context())
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "read network state: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, n)
	})
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) {
		limit, err := intParam(r, "limit", 200)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		lines, dropped := b.Logs(r.URL.Query().Get("logger"), limit)
		if lines == nil {
			lines = []logring.Line{}
		}
		writeJSON(w, http.StatusOK, LogsResponse{Lines: lines, Dropped: dropped})
	})
	for path, reboot := range map[string]bool{"/v1/shutdown": false, "/v1/reboot": true} {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			if err := b.Halt(reboot); err != nil {
				writeError(w, http.StatusConflict, CodeUnavailable, "%v", err)
				return
			}
			what := "power off"
			if reboot {
				what = "reboot"
			}
			writeJSON(w, http.StatusAccepted, Accepted{Message: "stopping services, then " + what})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no API endpoint %s %s", r.Method, r.URL.Path)
	})
	return withOperator(methodNotAllowedAsJSON(mux))
}

func storageHandlers(mux *http.ServeMux, sb StorageBackend) {
	mux.HandleFunc("GET /v1/storage", func(w http.ResponseWriter, r *http.Request) {
		st, ok := sb.Storage()
		if !ok {
			writeError(w, http.StatusNotFound, CodeNotFound, "this box has no data vault (not running as the appliance's init)")
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/storage/scrub", func(w http.ResponseWriter, r *http.Request) {
		repair := r.URL.Query().Get("repair") == "true"
		if err := sb.Scrub(repair); err != nil {
			writeError(w, http.StatusConflict, CodeUnavailable, "%v", err)
			return
		}
		what := "scrub (check)"
		if repair {
			what = "repair"
		}
		writeJSON(w, http.StatusAccepted, Accepted{Message: what + " started; keep ctl raid shows progress"})
	})
	mux.HandleFunc("POST /v1/storage/replace", func(w http.ResponseWriter, r *http.Request) {
		var req ReplaceRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.Disk == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "want {\"disk\": \"<identity or name>\"}")
			return
		}
		if err := sb.ReplaceDisk(req.Disk); err != nil {
			writeError(w, http.StatusConflict, CodeUnavailable, "%v", err)
			return
		}
		writeJSON(w, http.StatusAccepted, Accepted{Message: "replacing " + req.Disk + " onto a spare; keep ctl raid shows progress"})
	})
}

// methodNotAllowedAsJSON turns the mux's plain-text 405 into the API's
// JSON error shape.
func methodNotAllowedAsJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "/" {
			// The catch-all would answer 404; a known path with the
			// wrong method is 405.
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				probe := r.Clone(r.Context())
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" && p != "/" {
					writeError(w, http.StatusMethodNotAllowed, CodeMethod, "%s %s is not allowed; use %s", r.Method, r.URL.Path, m)
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// parseFilter reads the events query: severity, source, kind (prefix),
// since (RFC 3339 time or a duration back from now, like 10m), after
// (sequence number), boot, limit.
func parseFilter(r *http.Request, now time.Time) (events.Filter, error) {
	q := r.URL.Query()
	var f events.Filter
	if s := q.Get("severity"); s != "" {
		sev, err := events.ParseSeverity(s)
		if err != nil {
			return f, fmt.Errorf("severity: %w", err)
		}
		f.MinSeverity = sev
	}
	f.Source, f.Kind, f.Boot = q.Get("source"), q.Get("kind"), q.Get("boot")
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			f.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.Since = t
		} else {
			return f, fmt.Errorf("since: %q is neither a duration like 10m nor an RFC 3339 time", s)
		}
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return f, fmt.Errorf("after: %q is not a sequence number", s)
		}
		f.AfterSeq = n
	}
	limit, err := intParam(r, "limit", 0)
	f.Limit = limit
	return f, err
}

func intParam(r *http.Request, name string, def int) (int, error) {
	s := strings.TrimSpace(r.URL.Query().Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative number", name, s)
	}
	return n, nil
}
