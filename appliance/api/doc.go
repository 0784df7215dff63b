// Package api is the appliance's management API: HTTP with JSON bodies
// under versioned paths (/v1/…), served on a Unix socket (local tools) and
// on a TCP address (the NOC; mutual TLS arrives with the tunnel issue),
// and the Go client that `keep ctl` uses.
//
// Every error response is {"error": {"code": "...", "message": "..."}}
// with a stable machine code (see the Code constants) and a message for a
// human; raw internal errors never leak as codes.
//
// The server depends only on the Backend interface, which the appliance
// implements; tests use a fake backend and drive the real client against
// httptest servers and a real Unix socket.
package api
