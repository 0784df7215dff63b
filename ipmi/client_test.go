package ipmi

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestOpenNoBMC(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Config{Path: dir + "/ipmi0"})
	if !errors.Is(err, ErrNoBMC) {
		t.Fatalf("Open(missing) = %v, want ErrNoBMC", err)
	}
}

func TestRaw(t *testing.T) {
	stale := message{recvType: recvTypeResponse, msgid: 999, data: []byte{0, 0xde, 0xad}}
	event := message{recvType: 2, msgid: 0, data: []byte{0, 1, 2}}
	tests := []struct {
		name    string
		script  []step
		want    []byte
		wantErr []error // each must match errors.Is
		code    CompletionCode
	}{
		{name: "ok", script: []step{ok(NetFnApp, 0x01, []byte{}, 1, 2, 3)}, want: []byte{1, 2, 3}},
		{name: "empty data", script: []step{ok(NetFnApp, 0x01, nil)}, want: []byte{}},
		{name: "invalid command", script: []step{cc(NetFnApp, 0x01, nil, 0xc1)},
			wantErr: []error{ErrInvalidCommand}, code: 0xc1},
		{name: "busy then ok", script: []step{cc(NetFnApp, 0x01, nil, 0xc0), cc(NetFnApp, 0x01, nil, 0xc0), ok(NetFnApp, 0x01, nil, 7)},
			want: []byte{7}},
		{name: "busy forever", script: []step{cc(NetFnApp, 0x01, nil, 0xc0), cc(NetFnApp, 0x01, nil, 0xc0), cc(NetFnApp, 0x01, nil, 0xc0)},
			wantErr: []error{ErrNodeBusy}, code: 0xc0},
		{name: "bmc initializing then ok", script: []step{cc(NetFnApp, 0x01, nil, 0xd2), ok(NetFnApp, 0x01, nil, 7)}, want: []byte{7}},
		{name: "not retried", script: []step{cc(NetFnApp, 0x01, nil, 0xcc)}, wantErr: []error{ErrInvalidDataField}, code: 0xcc},
		{name: "timeout then ok", script: []step{{netfn: NetFnApp, cmd: 0x01, noReply: true}, ok(NetFnApp, 0x01, nil, 9)}, want: []byte{9}},
		{name: "timeout forever", script: []step{
			{netfn: NetFnApp, cmd: 0x01, noReply: true}, {netfn: NetFnApp, cmd: 0x01, noReply: true}, {netfn: NetFnApp, cmd: 0x01, noReply: true}},
			wantErr: []error{ErrTimeout}},
		{name: "stale and event dropped", script: []step{{netfn: NetFnApp, cmd: 0x01, resp: []byte{0, 5}, extraMsgs: []message{stale, event}}},
			want: []byte{5}},
		{name: "send ENODEV is no BMC", script: []step{{netfn: NetFnApp, cmd: 0x01, sendErr: syscall.ENODEV}},
			wantErr: []error{ErrNoBMC, syscall.ENODEV}},
		{name: "send EIO", script: []step{{netfn: NetFnApp, cmd: 0x01, sendErr: syscall.EIO}}, wantErr: []error{syscall.EIO}},
		{name: "receive EAGAIN retried", script: []step{{netfn: NetFnApp, cmd: 0x01, resp: []byte{0, 4}, recvErr: syscall.EAGAIN}}, want: []byte{4}},
		{name: "receive EFAULT", script: []step{{netfn: NetFnApp, cmd: 0x01, resp: []byte{0}, recvErr: syscall.EFAULT}}, wantErr: []error{syscall.EFAULT}},
		{name: "poll EBADF", script: []step{{netfn: NetFnApp, cmd: 0x01, resp: []byte{0}, waitErr: syscall.EBADF}}, wantErr: []error{syscall.EBADF}},
		{name: "no completion code", script: []step{{netfn: NetFnApp, cmd: 0x01, resp: []byte{}}}, wantErr: []error{ErrShortResponse}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newFake(t, tt.script...)
			got, err := c.Raw(ctxT(t), NetFnApp, 0x01, []byte{})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Raw: %v", err)
				}
				if hexs(got) != hexs(tt.want) {
					t.Fatalf("Raw = % x, want % x", got, tt.want)
				}
				return
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("Raw error %v does not match %v", err, w)
				}
			}
			if tt.code != 0 {
				var ce *CompletionError
				if !errors.As(err, &ce) || ce.Code != tt.code || ce.NetFn != NetFnApp || ce.Cmd != 0x01 {
					t.Errorf("Raw error %#v, want CompletionError code %#x", err, tt.code)
				}
			}
		})
	}
}

func TestRawContextCancelled(t *testing.T) {
	f := &fakeDevice{t: t, script: []step{{netfn: NetFnApp, cmd: 0x01, noReply: true}}}
	c, err := openWith(Config{Timeout: time.Hour}, func(string) (device, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Raw(ctx, NetFnApp, 0x01, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Raw = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Raw took %v after cancel", d)
	}
}

func TestClosed(t *testing.T) {
	c, _ := newFake(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Raw(ctxT(t), NetFnApp, 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Raw after Close = %v", err)
	}
}

func TestCompletionCodeNames(t *testing.T) {
	for code, want := range map[CompletionCode]string{
		0xc1: "invalid command (0xc1)",
		0xc0: "node busy (0xc0)",
		0x80: "command-specific completion code 0x80",
		0x42: "completion code 0x42",
	} {
		if got := code.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", byte(code), got, want)
		}
	}
	err := error(&CompletionError{Code: 0xcb, NetFn: NetFnStorage, Cmd: 0x43})
	if !errors.Is(err, ErrNotPresent) || errors.Is(err, ErrInvalidCommand) {
		t.Errorf("errors.Is on %v wrong", err)
	}
	if got := err.Error(); got != "ipmi: netfn 0x0a cmd 0x43: requested sensor, data, or record not present (0xcb)" {
		t.Errorf("Error() = %q", got)
	}
}
