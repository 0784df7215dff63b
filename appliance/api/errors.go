package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code.
type Code string

const (
	CodeBadRequest  Code = "bad_request"
	CodeNotFound    Code = "not_found"
	CodeMethod      Code = "method_not_allowed"
	CodeUnavailable Code = "unavailable"
	CodeInternal    Code = "internal"
)

// Error is the body of every failed request, and what the client returns.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Status is the HTTP status; not part of the JSON body.
	Status int `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

type errorBody struct {
	Error *Error `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code Code, format string, args ...any) {
	writeJSON(w, status, errorBody{&Error{Code: code, Message: fmt.Sprintf(format, args...)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client is gone if this fails; nothing to do
}
