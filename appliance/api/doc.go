// Package api is the appliance's management API: HTTP with JSON bodies
// under versioned paths (/v1/…), served on a Unix socket (local tools), on
// an optional plain-HTTP TCP address (the service LAN, the QEMU tests) and
// on the NOC listener (ListenNOC: mutual TLS 1.3 on the tunnel's inner
// address, where every request is attributed to the operator certificate's
// subject, see Operator), and the Go client that `keep ctl` uses.
//
// Every error response is {"error": {"code": "...", "message": "..."}}
// with a stable machine code (see the Code constants) and a message for a
// human; raw internal errors never leak as codes.
//
// The server depends only on the Backend interface, which the appliance
// implements; tests use a fake backend and drive the real client against
// httptest servers and a real Unix socket.
package api
