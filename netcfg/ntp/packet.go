package ntp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PacketSize is the size of an NTP header without extension fields.
const PacketSize = 48

// Modes of an NTP packet (RFC 5905 figure 10).
const (
	ModeClient = 3
	ModeServer = 4
)

// Leap indicator values.
const (
	LeapNone  = 0
	LeapAlarm = 3 // the server's clock is not synchronised
)

// unixToNTP is the number of seconds from the NTP epoch (1900) to the
// Unix epoch (1970).
const unixToNTP = 2208988800

// Timestamp is NTP's 64-bit timestamp: seconds since 1900 in the high
// 32 bits, a binary fraction of a second in the low 32.
type Timestamp uint64

// Time converts t, choosing the era as RFC 4330 section 3 says: a
// timestamp whose top bit is clear counts from 2036-02-07 (era 1), so
// the mapping covers 1968 to 2104.
func (t Timestamp) Time() time.Time {
	secs := int64(t >> 32)
	if secs&0x80000000 == 0 {
		secs += 1 << 32
	}
	nsec := (uint64(t&0xffffffff)*1e9 + 1<<31) >> 32
	return time.Unix(secs-unixToNTP, int64(nsec)).UTC()
}

// TimestampOf converts a time between 1968 and 2104.
func TimestampOf(t time.Time) Timestamp {
	secs := uint64(t.Unix()+unixToNTP) & 0xffffffff
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9
	return Timestamp(secs<<32 + frac)
}

// Short is NTP's 32-bit duration: 16 bits of seconds, 16 of fraction.
type Short uint32

// Duration converts s.
func (s Short) Duration() time.Duration {
	return time.Duration((uint64(s)*uint64(time.Second) + 1<<15) >> 16)
}

// Packet is an NTP header (extension fields and MAC are not kept).
type Packet struct {
	Leap, Version, Mode uint8
	Stratum             uint8
	Poll, Precision     int8
	RootDelay           Short
	RootDispersion      Short
	// RefID is the reference clock's identifier; in a kiss-o'-death
	// packet (stratum 0) it is the ASCII kiss code.
	RefID                                [4]byte
	Reference, Origin, Receive, Transmit Timestamp
}

// ErrShortPacket is returned for fewer than PacketSize bytes.
var ErrShortPacket = errors.New("ntp: packet shorter than 48 bytes")

// Decode reads the header from b (outside bytes: any b is safe).
func Decode(b []byte) (Packet, error) {
	if len(b) < PacketSize {
		return Packet{}, fmt.Errorf("%w (%d)", ErrShortPacket, len(b))
	}
	p := Packet{
		Leap:           b[0] >> 6,
		Version:        b[0] >> 3 & 7,
		Mode:           b[0] & 7,
		Stratum:        b[1],
		Poll:           int8(b[2]),
		Precision:      int8(b[3]),
		RootDelay:      Short(binary.BigEndian.Uint32(b[4:])),
		RootDispersion: Short(binary.BigEndian.Uint32(b[8:])),
		Reference:      Timestamp(binary.BigEndian.Uint64(b[16:])),
		Origin:         Timestamp(binary.BigEndian.Uint64(b[24:])),
		Receive:        Timestamp(binary.BigEndian.Uint64(b[32:])),
		Transmit:       Timestamp(binary.BigEndian.Uint64(b[40:])),
	}
	copy(p.RefID[:], b[12:16])
	return p, nil
}

// Encode writes the header.
func (p Packet) Encode() []byte {
	b := make([]byte, PacketSize)
	b[0] = p.Leap<<6 | (p.Version&7)<<3 | p.Mode&7
	b[1] = p.Stratum
	b[2] = byte(p.Poll)
	b[3] = byte(p.Precision)
	binary.BigEndian.PutUint32(b[4:], uint32(p.RootDelay))
	binary.BigEndian.PutUint32(b[8:], uint32(p.RootDispersion))
	copy(b[12:16], p.RefID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(p.Reference))
	binary.BigEndian.PutUint64(b[24:], uint64(p.Origin))
	binary.BigEndian.PutUint64(b[32:], uint64(p.Receive))
	binary.BigEndian.PutUint64(b[40:], uint64(p.Transmit))
	return b
}

// KissError is a kiss-o'-death reply: the server refuses service
// (DENY, RSTR) or asks the client to slow down (RATE).
type KissError struct {
	Code string
}

func (e *KissError) Error() string { return "ntp: kiss-o'-death " + e.Code }

// Fatal reports whether the server asks never to be queried again.
func (e *KissError) Fatal() bool { return e.Code == "DENY" || e.Code == "RSTR" }

var (
	// ErrBadReply is wrapped by every rejection of a reply that is not
	// a usable server answer to our request.
	ErrBadReply = errors.New("ntp: unusable reply")
	// ErrServerUnsynced is returned when the server says its own clock
	// is not synchronised (leap alarm or stratum 16).
	ErrServerUnsynced = errors.New("ntp: server not synchronised")
)

// maxRootDistance is RFC 5905's MAXDIST: a server farther than this
// from its reference clock is not trusted.
const maxRootDistance = 1500 * time.Millisecond

// Check validates a reply to a request whose transmit timestamp was
// sent: RFC 5905 / RFC 4330 client checks.
func Check(reply Packet, sent Timestamp) error {
	switch {
	case reply.Mode != ModeServer:
		return fmt.Errorf("%w: mode %d, not server", ErrBadReply, reply.Mode)
	case reply.Version < 1 || reply.Version > 4:
		return fmt.Errorf("%w: version %d", ErrBadReply, reply.Version)
	case reply.Origin != sent:
		return fmt.Errorf("%w: origin timestamp does not echo our request (stale or spoofed)", ErrBadReply)
	case reply.Stratum == 0:
		code := make([]byte, 0, 4)
		for _, c := range reply.RefID {
			if c < 0x20 || c > 0x7e {
				break
			}
			code = append(code, c)
		}
		return &KissError{Code: string(code)}
	case reply.Leap == LeapAlarm:
		return fmt.Errorf("%w: leap indicator alarm", ErrServerUnsynced)
	case reply.Stratum >= 16:
		return fmt.Errorf("%w: stratum %d", ErrServerUnsynced, reply.Stratum)
	case reply.Transmit == 0:
		return fmt.Errorf("%w: zero transmit timestamp", ErrBadReply)
	case reply.Receive == 0:
		return fmt.Errorf("%w: zero receive timestamp", ErrBadReply)
	case reply.Transmit.Time().Before(reply.Receive.Time()):
		return fmt.Errorf("%w: transmitted before it received", ErrBadReply)
	case reply.RootDelay.Duration()/2+reply.RootDispersion.Duration() > maxRootDistance:
		return fmt.Errorf("%w: root distance %s beyond %s", ErrServerUnsynced,
			reply.RootDelay.Duration()/2+reply.RootDispersion.Duration(), maxRootDistance)
	}
	return nil
}

// Sample is one measurement against a server.
type Sample struct {
	Server string
	// Offset is how far the local clock is behind the server's (add it
	// to the local clock to correct it); Delay is the round trip.
	Offset, Delay time.Duration
	Stratum       int
	// RootDistance bounds the error: half the delay plus the server's
	// own distance from its reference.
	RootDistance time.Duration
}

// Measure computes offset and delay (RFC 5905 section 8) from the
// local send time t1, the server's receive and transmit times in reply,
// and the local receive time t4.
func Measure(server string, reply Packet, t1, t4 time.Time) Sample {
	t2, t3 := reply.Receive.Time(), reply.Transmit.Time()
	offset := t2.Sub(t1)/2 + t3.Sub(t4)/2 // halves first: no overflow for far-off clocks
	delay := t4.Sub(t1) - t3.Sub(t2)
	if delay < 0 {
		delay = 0 // clock granularity; RFC 5905 clamps to the precision
	}
	return Sample{
		Server: server, Offset: offset, Delay: delay, Stratum: int(reply.Stratum),
		RootDistance: delay/2 + reply.RootDelay.Duration()/2 + reply.RootDispersion.Duration(),
	}
}
