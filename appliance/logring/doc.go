// Package logring keeps the most recent log lines of every service in
// memory, so the management API can serve them (`keep ctl logs`) when the
// serial console has scrolled away or nobody was watching it.
//
// A Ring is an hclog.SinkAdapter: register it on the supervisor's
// InterceptLogger and every named sub-logger's lines land in it, tagged
// with the logger's name. The ring is bounded; the oldest lines are
// dropped first, and the number dropped is reported. Arguments that look
// like secrets are never written here by convention (see DESIGN §6), not
// by filtering.
//
// Tested with table tests over Add/Query and a concurrency test under
// -race.
package logring
