package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const greeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}`

// req is a command as the fake server receives it.
type req struct {
	Execute   string          `json:"execute"`
	Arguments map[string]any  `json:"arguments"`
	ID        json.RawMessage `json:"id"`
}

// peer is the fake QEMU's side of one connection.
type peer struct {
	t    *testing.T
	conn net.Conn
	dec  *json.Decoder
}

func (p *peer) send(line string) {
	if _, err := p.conn.Write([]byte(line + "\r\n")); err != nil {
		p.t.Errorf("fake qmp: write: %v", err)
	}
}

// recv reads one command; ok is false when the client has gone.
func (p *peer) recv() (r req, ok bool) {
	if err := p.dec.Decode(&r); err != nil {
		return req{}, false
	}
	return r, true
}

func (p *peer) expect(command string) req {
	r, ok := p.recv()
	if !ok || r.Execute != command {
		p.t.Errorf("fake qmp: got %q (ok=%v), want %q", r.Execute, ok, command)
	}
	return r
}

func (p *peer) reply(r req, ret string) {
	p.send(fmt.Sprintf(`{"return": %s, "id": %s}`, ret, r.ID))
}

// startFake serves one QMP connection on a unix socket: greeting and
// capabilities, then script. It returns the socket path; cleanup waits for the
// server goroutine.
func startFake(t *testing.T, script func(p *peer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		p := &peer{t: t, conn: conn, dec: json.NewDecoder(conn)}
		p.send(greeting)
		r := p.expect("qmp_capabilities")
		p.reply(r, "{}")
		script(p)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExecuteReturnsResult(t *testing.T) {
	path := startFake(t, func(p *peer) {
		r := p.expect("qom-get")
		if r.Arguments["path"] != "/machine/peripheral/disk-n0" || r.Arguments["property"] != "serial" {
			t.Errorf("qom-get arguments = %v", r.Arguments)
		}
		p.reply(r, `"NVME0001"`)
		p.reply(p.expect("query-status"), `{"running": true, "status": "running"}`)
		r = p.expect("human-monitor-command")
		if r.Arguments["command-line"] != "info pci" {
			t.Errorf("hmp arguments = %v", r.Arguments)
		}
		p.reply(r, `"Bus  0, device   0\r\n"`)
	})
	c := dial(t, path)
	if v := c.Greeting().QMP.Version.QEMU; v.Major != 7 || v.Minor != 2 {
		t.Errorf("greeting version = %+v", v)
	}
	ctx := t.Context()
	ret, err := c.QomGet(ctx, "/machine/peripheral/disk-n0", "serial")
	if err != nil || string(ret) != `"NVME0001"` {
		t.Errorf("QomGet = %s, %v", ret, err)
	}
	if s, err := c.Status(ctx); err != nil || s != "running" {
		t.Errorf("Status = %q, %v", s, err)
	}
	if out, err := c.HumanMonitorCommand(ctx, "info pci"); err != nil || out != "Bus  0, device   0\r\n" {
		t.Errorf("HumanMonitorCommand = %q, %v", out, err)
	}
}

func TestExecuteErrorReply(t *testing.T) {
	path := startFake(t, func(p *peer) {
		r := p.expect("device_add")
		if r.Arguments["driver"] != "nvme" || r.Arguments["id"] != "disk-x" {
			t.Errorf("device_add arguments = %v", r.Arguments)
		}
		p.send(fmt.Sprintf(`{"error": {"class": "GenericError", "desc": "Bus 'rp-x' not found"}, "id": %s}`, r.ID))
	})
	c := dial(t, path)
	err := c.DeviceAdd(t.Context(), "nvme", map[string]any{"id": "disk-x", "bus": "rp-x"})
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("DeviceAdd error = %v, want *Error", err)
	}
	if qe.Class != "GenericError" || qe.Desc != "Bus 'rp-x' not found" {
		t.Errorf("error = %+v", qe)
	}
}

func TestEventBeforeReply(t *testing.T) {
	path := startFake(t, func(p *peer) {
		r := p.expect("quit")
		// What QEMU 7.2 really does: the event first, then the reply.
		p.send(`{"timestamp": {"seconds": 1795323893, "microseconds": 351282}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}`)
		p.reply(r, "{}")
	})
	c := dial(t, path)
	if err := c.Quit(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev, err := c.WaitEvent(t.Context(), "SHUTDOWN")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Guest  bool   `json:"guest"`
		Reason string `json:"reason"`
	}
	if err := ev.Decode(&data); err != nil || data.Reason != "host-qmp-quit" || data.Guest {
		t.Errorf("SHUTDOWN data = %+v, %v", data, err)
	}
	if want := time.Unix(1795323893, 351282000); !ev.Time.Equal(want) {
		t.Errorf("event time = %v, want %v", ev.Time, want)
	}
}

func TestConcurrentCommandsGetTheirOwnReplies(t *testing.T) {
	const n = 8
	path := startFake(t, func(p *peer) {
		var reqs []req
		for range n {
			reqs = append(reqs, p.expect("echo"))
		}
		for i := len(reqs) - 1; i >= 0; i-- { // answer in reverse order
			p.reply(reqs[i], fmt.Sprintf(`{"n": %v}`, reqs[i].Arguments["n"]))
		}
	})
	c := dial(t, path)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ret, err := c.Execute(t.Context(), "echo", map[string]any{"n": i})
			if want := fmt.Sprintf(`{"n": %d}`, i); err != nil || string(ret) != want {
				t.Errorf("command %d got %s, %v", i, ret, err)
			}
		})
	}
	wg.Wait()
}

func TestDeviceDelWaitsForItsOwnEvent(t *testing.T) {
	release := make(chan struct{})
	path := startFake(t, func(p *peer) {
		// A stale event for the same id, from before the command.
		p.send(`{"event": "DEVICE_DELETED", "data": {"device": "disk-a", "path": "/machine/peripheral/disk-a"}, "timestamp": {"seconds": 1, "microseconds": 0}}`)
		p.send(`{"event": "MARK", "timestamp": {"seconds": 1, "microseconds": 0}}`)
		r := p.expect("device_del")
		if r.Arguments["id"] != "disk-a" {
			t.Errorf("device_del arguments = %v", r.Arguments)
		}
		p.reply(r, "{}")
		<-release
		p.send(`{"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/disk-a/virtio-backend"}, "timestamp": {"seconds": 2, "microseconds": 0}}`)
		p.send(`{"event": "DEVICE_DELETED", "data": {"device": "disk-a", "path": "/machine/peripheral/disk-a"}, "timestamp": {"seconds": 3, "microseconds": 0}}`)
	})
	c := dial(t, path)
	if _, err := c.WaitEvent(t.Context(), "MARK"); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- c.DeviceDel(t.Context(), "disk-a") }()
	select {
	case err := <-result:
		t.Fatalf("DeviceDel returned %v before the device was deleted", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	// The stale event is still queued for whoever wants it.
	ev, err := c.WaitEvent(t.Context(), "DEVICE_DELETED")
	if err != nil || ev.Time.Unix() != 1 {
		t.Errorf("oldest DEVICE_DELETED = %+v, %v", ev, err)
	}
}

func TestConnectionEnd(t *testing.T) {
	path := startFake(t, func(p *peer) {
		p.send(`{"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}, "timestamp": {"seconds": 5, "microseconds": 0}}`)
		p.expect("system_powerdown")
		// QEMU dies without answering.
	})
	c := dial(t, path)
	err := c.SystemPowerdown(t.Context())
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("SystemPowerdown = %v, want ErrClosed", err)
	}
	<-c.Done()
	if _, err := c.WaitEvent(t.Context(), "RESET"); err != nil {
		t.Errorf("event queued before the end: %v", err)
	}
	if _, err := c.WaitEvent(t.Context(), "RESET"); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitEvent after the end = %v, want ErrClosed", err)
	}
	if _, err := c.Execute(t.Context(), "query-status", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Execute after the end = %v, want ErrClosed", err)
	}
	if err := c.Quit(t.Context()); err != nil {
		t.Errorf("Quit on a closed connection = %v, want nil", err)
	}
}

func TestContextEndsCommandAndLateReplyIsDropped(t *testing.T) {
	path := startFake(t, func(p *peer) {
		slow := p.expect("slow")
		fast := p.expect("set_link")
		if fast.Arguments["name"] != "nic-lan" || fast.Arguments["up"] != false {
			t.Errorf("set_link arguments = %v", fast.Arguments)
		}
		p.reply(slow, `"late"`)
		p.reply(fast, "{}")
	})
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Execute(ctx, "slow", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Execute = %v, want DeadlineExceeded", err)
	}
	if err := c.SetLink(t.Context(), "nic-lan", false); err != nil {
		t.Errorf("SetLink after a dropped command: %v", err)
	}
}

func TestWaitEventContext(t *testing.T) {
	path := startFake(t, func(p *peer) { p.recv() })
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.WaitEvent(ctx, "WATCHDOG"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitEvent = %v, want DeadlineExceeded", err)
	}
}

func TestDialRejectsBadPeers(t *testing.T) {
	serve := func(t *testing.T, first string) string {
		path := filepath.Join(t.TempDir(), "qmp.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			if first != "" {
				conn.Write([]byte(first + "\n"))
			}
			var b [1]byte
			conn.Read(b[:]) // hold the connection until the client leaves
		}()
		t.Cleanup(func() {
			ln.Close()
			<-done
		})
		return path
	}
	t.Run("not qmp", func(t *testing.T) {
		_, err := Dial(t.Context(), serve(t, `{"hello": "world"}`))
		if err == nil {
			t.Fatal("Dial accepted a non-QMP greeting")
		}
	})
	t.Run("silent", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := Dial(ctx, serve(t, "")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("no socket", func(t *testing.T) {
		if _, err := Dial(t.Context(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
			t.Fatal("Dial of a missing socket succeeded")
		}
	})
}
