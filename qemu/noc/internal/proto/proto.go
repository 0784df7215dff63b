// Package proto is the wire format between the NOC guest's agent (nocinit,
// in the guest) and the host (package noc): one JSON object per request and
// per response over a virtio-serial port, strictly one request at a time.
package proto

// PortName is the virtio-serial port name the agent listens on
// (/sys/class/virtio-ports/vportNpM/name).
const PortName = "keep.noc.agent"

// ReadyMarker is printed on the serial console once the agent serves.
const ReadyMarker = "NOC-READY"

// Operations.
const (
	OpPing     = "ping"     // answers with Uptime
	OpRun      = "run"      // bash -c Script
	OpRead     = "read"     // Data = contents of Path
	OpWrite    = "write"    // Path = Data with Mode (parents created)
	OpPowerOff = "poweroff" // answers, then syncs and powers the machine off
)

// Request is one command for the agent.
type Request struct {
	ID     uint64   `json:"id"`
	Op     string   `json:"op"`
	Script string   `json:"script,omitempty"`
	Env    []string `json:"env,omitempty"`
	// TimeoutMS kills the script's process group after this long (0: none).
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	Path      string `json:"path,omitempty"`
	Data      []byte `json:"data,omitempty"`
	Mode      uint32 `json:"mode,omitempty"`
}

// Response answers the Request with the same ID.
type Response struct {
	ID     uint64 `json:"id"`
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	// Exit is the script's exit status; 128+N when signal N ended it.
	Exit int `json:"exit"`
	// TimedOut is set when TimeoutMS killed the script.
	TimedOut bool   `json:"timed_out,omitempty"`
	Data     []byte `json:"data,omitempty"`
	// Err is set when the operation itself failed (not a non-zero exit).
	Err string `json:"err,omitempty"`
	// Uptime is the guest's /proc/uptime in seconds when it answered.
	Uptime float64 `json:"uptime"`
	// DurationMS is how long the operation took in the guest.
	DurationMS int64 `json:"duration_ms"`
}
