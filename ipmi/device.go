package ipmi

import "time"

// device is the seam between the Client and the Linux IPMI device
// interface (/dev/ipmi0). The real implementation (device_linux.go) makes
// the ioctls; tests substitute a scripted fake that forces errno values,
// truncates responses and returns busy codes.
type device interface {
	// send queues one request to the BMC (system interface address,
	// channel 0x0f, LUN 0) with IPMICTL_SEND_COMMAND. Errors are the raw
	// errno (syscall.Errno).
	send(msgid int64, netfn NetFn, cmd byte, data []byte) error
	// wait blocks at most timeout until a message can be received. It
	// reports false when the timeout elapsed with nothing to read.
	wait(timeout time.Duration) (bool, error)
	// receive reads one message with IPMICTL_RECEIVE_MSG_TRUNC into buf.
	// A message longer than buf is truncated, not an error. EAGAIN means
	// nothing was queued after all.
	receive(buf []byte) (message, error)
	// close releases the device; further calls fail.
	close() error
}

// message is one received message. data[0] is the completion code for
// responses.
type message struct {
	recvType int32 // 1 = response, 2 = async event, 3 = command
	msgid    int64
	netfn    NetFn
	cmd      byte
	data     []byte
}

// recvTypeResponse is IPMI_RESPONSE_RECV_TYPE; the other types (events,
// incoming commands) are dropped by the Client.
const recvTypeResponse = 1

// opener opens the device at path. Open maps ENOENT, ENODEV and ENXIO to
// ErrNoBMC.
type opener func(path string) (device, error)
