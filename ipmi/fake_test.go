package ipmi

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// step is one scripted exchange with the fake BMC: the request the code
// under test must send and what the device does about it.
type step struct {
	netfn NetFn
	cmd   byte
	req   []byte // expected request data; nil means "don't check"
	resp  []byte // completion code followed by data

	sendErr   error // send fails with this errno
	waitErr   error // wait fails with this errno
	recvErr   error // receive fails with this errno (once)
	noReply   bool  // the BMC never answers: the attempt times out
	extraMsgs []message
}

// ok builds a step answering cc 0x00 with data.
func ok(netfn NetFn, cmd byte, req []byte, data ...byte) step {
	return step{netfn: netfn, cmd: cmd, req: req, resp: append([]byte{0}, data...)}
}

// cc builds a step answering a completion code.
func cc(netfn NetFn, cmd byte, req []byte, code byte) step {
	return step{netfn: netfn, cmd: cmd, req: req, resp: []byte{code}}
}

// fakeDevice replays a script; it fails the test on any request the script
// does not expect.
type fakeDevice struct {
	t *testing.T

	mu      sync.Mutex
	script  []step
	pending []message
	recvErr error
	waitErr error
	closed  bool
}

func (f *fakeDevice) send(msgid int64, netfn NetFn, cmd byte, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t.Helper()
	if f.closed {
		return syscall.EBADF
	}
	if len(f.script) == 0 {
		f.t.Errorf("unexpected request netfn %#02x cmd %#02x data % x", byte(netfn), cmd, data)
		return syscall.EIO
	}
	s := f.script[0]
	f.script = f.script[1:]
	if s.netfn != netfn || s.cmd != cmd {
		f.t.Errorf("request netfn %#02x cmd %#02x, script wants netfn %#02x cmd %#02x", byte(netfn), cmd, byte(s.netfn), s.cmd)
		return syscall.EIO
	}
	if s.req != nil && !bytes.Equal(s.req, data) {
		f.t.Errorf("netfn %#02x cmd %#02x: request % x, want % x", byte(netfn), cmd, data, s.req)
	}
	if s.sendErr != nil {
		return s.sendErr
	}
	f.pending = append(f.pending, s.extraMsgs...)
	f.recvErr = s.recvErr
	f.waitErr = s.waitErr
	if !s.noReply {
		f.pending = append(f.pending, message{recvType: recvTypeResponse, msgid: msgid, netfn: netfn + 1, cmd: cmd, data: s.resp})
	}
	return nil
}

func (f *fakeDevice) wait(timeout time.Duration) (bool, error) {
	f.mu.Lock()
	n, werr := len(f.pending), f.waitErr
	f.waitErr = nil
	f.mu.Unlock()
	if werr != nil {
		return false, werr
	}
	if n == 0 {
		time.Sleep(min(timeout, time.Millisecond))
		return false, nil
	}
	return true, nil
}

func (f *fakeDevice) receive(buf []byte) (message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recvErr != nil {
		err := f.recvErr
		f.recvErr = nil
		return message{}, err
	}
	if len(f.pending) == 0 {
		return message{}, syscall.EAGAIN
	}
	m := f.pending[0]
	f.pending = f.pending[1:]
	n := copy(buf, m.data)
	m.data = buf[:n]
	return m, nil
}

func (f *fakeDevice) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// done fails the test if scripted steps were not used.
func (f *fakeDevice) done() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.script {
		f.t.Errorf("scripted request netfn %#02x cmd %#02x was never sent", byte(s.netfn), s.cmd)
	}
}

// newFake returns a Client over a fake device playing script, with short
// timeouts so failure paths run fast.
func newFake(t *testing.T, script ...step) (*Client, *fakeDevice) {
	t.Helper()
	f := &fakeDevice{t: t, script: script}
	c, err := openWith(Config{Path: "/dev/fake", Timeout: 20 * time.Millisecond, Retries: 2, RetryDelay: time.Millisecond},
		func(string) (device, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.done(); c.Close() })
	return c, f
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// le16 is a little-endian uint16 as bytes.
func le16(v uint16) []byte { return []byte{byte(v), byte(v >> 8)} }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func hexs(b []byte) string { return fmt.Sprintf("% x", b) }
