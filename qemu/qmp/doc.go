// Package qmp is a client for the QEMU Machine Protocol, the JSON control
// channel of a running QEMU (-qmp unix:PATH,server=on,wait=off).
//
// It owns one connection: Dial reads the greeting and sends
// qmp_capabilities; after that a single reader goroutine, owned by the Client
// and stopped by Close (or by QEMU exiting), parses every line. Replies are
// matched to commands by the "id" field, so Execute is safe to call from many
// goroutines. Events (SHUTDOWN, RESET, DEVICE_DELETED, WATCHDOG, …) arrive
// interleaved with replies — QEMU sends SHUTDOWN before the reply to quit —
// and are queued (up to 1024, oldest dropped) until WaitEvent takes them, so
// none is lost between a command and the wait for its consequence.
//
// Errors: a QEMU error reply is an *Error (class and description) wrapped with
// the command name; a connection that ended wraps ErrClosed; a context that
// ended wraps its error. QEMU serves only one client per socket.
//
// Tested against a fake QMP server on a unix socket (client_test.go) and
// against real QEMU by the qemu package's boot test.
package qmp
