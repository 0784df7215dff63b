package ntp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestTimestampEras(t *testing.T) {
	tests := []struct {
		t  time.Time
		ts Timestamp
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 2208988800 << 32},
		{time.Date(2026, 11, 22, 6, 0, 0, 500_000_000, time.UTC), Timestamp(uint64(4004316000)<<32 | 1<<31)},
		// Era 1 begins 2036-02-07T06:28:16Z: seconds wrap to 0.
		{time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0},
		{time.Date(2040, 1, 1, 0, 0, 0, 250_000_000, time.UTC), Timestamp(uint64(123010304)<<32 | 1<<30)},
	}
	for _, tc := range tests {
		if got := TimestampOf(tc.t); got != tc.ts {
			t.Errorf("TimestampOf(%v) = %#x, want %#x", tc.t, uint64(got), uint64(tc.ts))
		}
		if got := tc.ts.Time(); !got.Equal(tc.t) {
			t.Errorf("%#x.Time() = %v, want %v", uint64(tc.ts), got, tc.t)
		}
	}
	// A round trip keeps nanoseconds to within the format's 233 ps.
	now := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	if d := TimestampOf(now).Time().Sub(now); d < -time.Nanosecond || d > time.Nanosecond {
		t.Errorf("round trip off by %s", d)
	}
	if got := Short(0x00018000).Duration(); got != 1500*time.Millisecond {
		t.Errorf("short 1.5 s = %s", got)
	}
}

func serverReply(origin Timestamp, recv, xmit time.Time) Packet {
	return Packet{Leap: LeapNone, Version: 4, Mode: ModeServer, Stratum: 2, Poll: 6, Precision: -20,
		RootDelay: 0x0000_0800, RootDispersion: 0x0000_0400, RefID: [4]byte{192, 0, 2, 1},
		Reference: TimestampOf(recv.Add(-time.Minute)), Origin: origin, Receive: TimestampOf(recv), Transmit: TimestampOf(xmit)}
}

func TestEncodeDecode(t *testing.T) {
	p := serverReply(0x0123456789abcdef, time.Unix(1800000000, 0), time.Unix(1800000000, 1000))
	p.Poll, p.Precision = -3, -29
	b := p.Encode()
	if len(b) != PacketSize || b[0] != 0x24 {
		t.Fatalf("encoded % x", b)
	}
	q, err := Decode(append(b, 0xde, 0xad)) // extension bytes are ignored
	if err != nil || q != p {
		t.Fatalf("decoded %+v, %v; want %+v", q, err, p)
	}
	if !bytes.Equal(q.Encode(), b) {
		t.Fatal("re-encoding differs")
	}
	if _, err := Decode(b[:47]); !errors.Is(err, ErrShortPacket) {
		t.Errorf("short: %v", err)
	}
}

func TestCheckRejects(t *testing.T) {
	const sent Timestamp = 0x1122334455667789
	recv := time.Unix(1800000000, 0)
	good := serverReply(sent, recv, recv.Add(time.Millisecond))
	tests := []struct {
		name   string
		change func(*Packet)
		want   error
		kiss   string
	}{
		{"good", func(*Packet) {}, nil, ""},
		{"version 3 is fine", func(p *Packet) { p.Version = 3 }, nil, ""},
		{"kiss-o'-death RATE", func(p *Packet) { p.Stratum, p.RefID = 0, [4]byte{'R', 'A', 'T', 'E'} }, nil, "RATE"},
		{"kiss-o'-death DENY", func(p *Packet) { p.Stratum, p.RefID = 0, [4]byte{'D', 'E', 'N', 'Y'} }, nil, "DENY"},
		{"stratum 16", func(p *Packet) { p.Stratum = 16 }, ErrServerUnsynced, ""},
		{"leap alarm", func(p *Packet) { p.Leap = LeapAlarm }, ErrServerUnsynced, ""},
		{"origin mismatch", func(p *Packet) { p.Origin++ }, ErrBadReply, ""},
		{"zero transmit time", func(p *Packet) { p.Transmit = 0 }, ErrBadReply, ""},
		{"zero receive time", func(p *Packet) { p.Receive = 0 }, ErrBadReply, ""},
		{"client mode", func(p *Packet) { p.Mode = ModeClient }, ErrBadReply, ""},
		{"version 0", func(p *Packet) { p.Version = 0 }, ErrBadReply, ""},
		{"sent before received", func(p *Packet) { p.Transmit = TimestampOf(recv.Add(-time.Second)) }, ErrBadReply, ""},
		{"root distance", func(p *Packet) { p.RootDispersion = 2 << 16 }, ErrServerUnsynced, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.change(&p)
			err := Check(p, sent)
			var kiss *KissError
			switch {
			case tc.kiss != "":
				if !errors.As(err, &kiss) || kiss.Code != tc.kiss || kiss.Fatal() != (tc.kiss == "DENY") {
					t.Fatalf("err = %v, want kiss %s", err, tc.kiss)
				}
			case tc.want == nil && err != nil, tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	// The client is 10 s behind; 20 ms each way, 1 ms in the server.
	t1 := time.Unix(1800000000, 0)
	t2 := t1.Add(10*time.Second + 20*time.Millisecond)
	t3 := t2.Add(time.Millisecond)
	t4 := t1.Add(41 * time.Millisecond)
	s := Measure("s", serverReply(1, t2, t3), t1, t4)
	if d := s.Offset - 10*time.Second; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("offset %s", s.Offset)
	}
	if d := s.Delay - 40*time.Millisecond; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("delay %s", s.Delay)
	}
	if s.Stratum != 2 || s.RootDistance < 20*time.Millisecond {
		t.Errorf("sample %+v", s)
	}
	// A clock a century off neither overflows nor wraps within the era.
	far := Measure("s", serverReply(1, t2, t3), t1.Add(-50*365*24*time.Hour), t4.Add(-50*365*24*time.Hour))
	if far.Offset < 49*365*24*time.Hour {
		t.Errorf("far offset %s", far.Offset)
	}
}
