// Package api is the appliance's management API: HTTP with JSON bodies
// under versioned paths (/v1/…), served on a Unix socket (local tools), on
// an optional plain-HTTP TCP address (the service LAN, the QEMU tests) and
// on the NOC listener (ListenNOC: mutual TLS 1.3 on the tunnel's inner
// address, where every request is attributed to the operator certificate's
// subject, see Operator), and the Go client that `keep ctl` uses.
//
// DESIGN §3 step 6 has the API listen on the tunnel address only. A
// deployed box gets that by setting api.listen to "" next to api.noc; the
// plain listener stays configurable (and on in the image's default
// configuration) because the VM of `make run` and the QEMU scenarios have
// no NOC and reach the API through a port forward.
//
// Every error response is {"error": {"code": "...", "message": "..."}}
// with a stable machine code (see the Code constants) and a message for a
// human; raw internal errors never leak as codes.
//
// The server depends only on the Backend interface, which the appliance
// implements; tests use a fake backend and drive the real client against
// httptest servers and a real Unix socket.
package api
