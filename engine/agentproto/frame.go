package agentproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// HeaderSize is the size of a frame header: type, request ID, length.
const HeaderSize = 9

// MaxPayload is the largest frame payload: a 16 MiB blob (the largest tree
// blob, repo.MaxTreeSize, and above any chunk size a vault may use with
// agents) plus its PutBlob header, with room to spare.
const MaxPayload = 16<<20 + 1024

// ErrFrame: the bytes are not a valid frame or message. The connection
// cannot be trusted to be in sync after it and must be closed.
var ErrFrame = errors.New("invalid agent protocol frame")

// Header is a decoded frame header.
type Header struct {
	Type   Type
	ID     uint32 // request ID; a reply carries its request's ID
	Length uint32 // payload bytes that follow
}

// AppendHeader appends the encoding of h.
func AppendHeader(b []byte, h Header) []byte {
	b = append(b, byte(h.Type))
	b = binary.BigEndian.AppendUint32(b, h.ID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// ParseHeader decodes a frame header and checks it before any payload is
// read or allocated: the type must be known and the length at most max
// (0 < max ≤ MaxPayload; other values mean MaxPayload).
func ParseHeader(b []byte, max int) (Header, error) {
	if len(b) != HeaderSize {
		return Header{}, fmt.Errorf("%w: header of %d bytes", ErrFrame, len(b))
	}
	if max <= 0 || max > MaxPayload {
		max = MaxPayload
	}
	h := Header{Type: Type(b[0]), ID: binary.BigEndian.Uint32(b[1:5]), Length: binary.BigEndian.Uint32(b[5:9])}
	if !h.Type.Valid() {
		return Header{}, fmt.Errorf("%w: unknown message type %d", ErrFrame, b[0])
	}
	if int64(h.Length) > int64(max) {
		return Header{}, fmt.Errorf("%w: %v payload of %d bytes exceeds the limit of %d", ErrFrame, h.Type, h.Length, max)
	}
	return h, nil
}

// ReadHeader reads and checks one frame header (see ParseHeader).
func ReadHeader(r io.Reader, max int) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	return ParseHeader(b[:], max)
}

// ReadPayload reads h's payload into buf (grown if needed) and decodes it.
// The returned message may alias buf (PutBlob, Blob, Commit data).
func ReadPayload(r io.Reader, h Header, buf []byte) (Message, error) {
	if cap(buf) < int(h.Length) {
		buf = make([]byte, h.Length)
	}
	buf = buf[:h.Length]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %v payload: %w", h.Type, err)
	}
	return Decode(h.Type, buf)
}

// ReadFrame reads one whole frame: its header (checked against max) and
// its decoded message.
func ReadFrame(r io.Reader, max int) (uint32, Message, error) {
	h, err := ReadHeader(r, max)
	if err != nil {
		return 0, nil, err
	}
	m, err := ReadPayload(r, h, nil)
	if err != nil {
		return 0, nil, err
	}
	return h.ID, m, nil
}

// AppendFrame appends the frame of m with request ID id. It fails only if
// the payload exceeds MaxPayload.
func AppendFrame(b []byte, id uint32, m Message) ([]byte, error) {
	start := len(b)
	if s, ok := m.(sizer); ok {
		b = slices.Grow(b, HeaderSize+s.size())
	}
	b = AppendHeader(b, Header{Type: m.Type(), ID: id})
	b = m.Append(b)
	n := len(b) - start - HeaderSize
	if n > MaxPayload {
		return b[:start], fmt.Errorf("%w: %v payload of %d bytes exceeds the limit of %d", ErrFrame, m.Type(), n, MaxPayload)
	}
	binary.BigEndian.PutUint32(b[start+5:], uint32(n))
	return b, nil
}

// AppendFrameSplit is AppendFrame for a writer that sends the data a
// message ends with (PutBlob's, PutBundle's) from where it lies, not
// copied behind the rest: it appends the frame up to that data and
// returns the data, which must follow the appended bytes on the wire.
// Other messages are appended whole, with nil data.
func AppendFrameSplit(b []byte, id uint32, m Message) ([]byte, []byte, error) {
	t, ok := m.(tailed)
	if !ok {
		b, err := AppendFrame(b, id, m)
		return b, nil, err
	}
	start := len(b)
	b = AppendHeader(b, Header{Type: m.Type(), ID: id})
	b = t.appendHead(b)
	data := t.tail()
	n := len(b) - start - HeaderSize + len(data)
	if n > MaxPayload {
		return b[:start], nil, fmt.Errorf("%w: %v payload of %d bytes exceeds the limit of %d", ErrFrame, m.Type(), n, MaxPayload)
	}
	binary.BigEndian.PutUint32(b[start+5:], uint32(n))
	return b, data, nil
}

// tailed is a message whose payload ends with its data, unprefixed.
type tailed interface {
	appendHead(b []byte) []byte // the payload without the data
	tail() []byte
}

// sizer is a message that knows its payload size, so AppendFrame grows
// the buffer once instead of doubling it through a large payload.
type sizer interface{ size() int }

// DecodeFrame decodes exactly one frame (header and payload, nothing
// more) from b.
func DecodeFrame(b []byte) (uint32, Message, error) {
	if len(b) < HeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes, short of a header", ErrFrame, len(b))
	}
	h, err := ParseHeader(b[:HeaderSize], MaxPayload)
	if err != nil {
		return 0, nil, err
	}
	if int64(len(b)-HeaderSize) != int64(h.Length) {
		return 0, nil, fmt.Errorf("%w: header says %d payload bytes, %d follow", ErrFrame, h.Length, len(b)-HeaderSize)
	}
	m, err := Decode(h.Type, b[HeaderSize:])
	return h.ID, m, err
}
