package ipmi

import (
	"errors"
	"fmt"
)

// SELType is the record type byte of a SEL record.
type SELType byte

// SEL record types: 0x02 is a system event; 0xC0-0xDF are OEM records
// with a timestamp and manufacturer id; 0xE0-0xFF are OEM records without.
const (
	SELTypeSystemEvent SELType = 0x02
	SELTypeOEMTSFirst  SELType = 0xc0
	SELTypeOEMTSLast   SELType = 0xdf
	SELTypeOEMNTSFirst SELType = 0xe0
)

// Kind classifies t.
func (t SELType) Kind() string {
	switch {
	case t == SELTypeSystemEvent:
		return "system event"
	case t >= SELTypeOEMTSFirst && t <= SELTypeOEMTSLast:
		return "OEM timestamped"
	case t >= SELTypeOEMNTSFirst:
		return "OEM non-timestamped"
	}
	return "unknown"
}

// Generator ids (byte 1 of the generator id field; bit 0 set means a
// software id, IPMI 2.0 §5.5). Keep writes as system management software
// id 0 (0x41), the same id ipmitool's "sel add" examples use.
const (
	GeneratorBMC            uint16 = 0x0020 // IPMB slave address 0x20
	GeneratorSystemSoftware uint16 = 0x0041
)

// EvMRevIPMI2 is the event message format revision of IPMI 1.5 and 2.0.
const EvMRevIPMI2 = 0x04

// ErrSELRecordSize means the input was not one 16-byte SEL record.
var ErrSELRecordSize = errors.New("ipmi: SEL record is not 16 bytes")

// SystemEvent is the body of a type 0x02 record (and of a platform event
// message).
type SystemEvent struct {
	Timestamp   Timestamp
	GeneratorID uint16 // byte 1: slave address or software id (bit 0); byte 2: channel (7:4), LUN (1:0)
	EvMRev      byte
	SensorType  SensorType
	Sensor      byte      // sensor number
	Deassertion bool      // event direction
	EventType   EventType // event/reading type code, bits 6:0
	Data        [3]byte   // event data 1-3
}

// Offset is the event offset (event data 1, bits 3:0).
func (e SystemEvent) Offset() byte { return e.Data[0] & 0x0f }

// Description is the event in words, e.g. "Upper Critical going high" or
// "Hard Reset"; empty when the offset has no known text.
func (e SystemEvent) Description() string {
	return eventText(e.EventType, e.SensorType, e.Offset())
}

// Generator describes GeneratorID, e.g. "software id 0x20" or
// "IPMB 0x20 ch 0 lun 0".
func (e SystemEvent) Generator() string {
	lo := byte(e.GeneratorID)
	if lo&1 != 0 {
		return fmt.Sprintf("software id %#02x", lo>>1)
	}
	hi := byte(e.GeneratorID >> 8)
	return fmt.Sprintf("IPMB %#02x ch %d lun %d", lo, hi>>4, hi&3)
}

func (e SystemEvent) String() string {
	dir := "Asserted"
	if e.Deassertion {
		dir = "Deasserted"
	}
	d := e.Description()
	if d == "" {
		d = fmt.Sprintf("offset %#x", e.Offset())
	}
	return fmt.Sprintf("%s #%#02x | %s | %s", e.SensorType, e.Sensor, d, dir)
}

// SELRecord is one decoded SEL record. Exactly one of Event, OEM is set
// for known types; Raw always holds the 16 bytes.
type SELRecord struct {
	ID   uint16
	Type SELType
	// Timestamp of system events and timestamped OEM records.
	Timestamp Timestamp
	Event     *SystemEvent
	// ManufacturerID of timestamped OEM records (IANA number, 3 bytes kept whole).
	ManufacturerID uint32
	// OEM data: 6 bytes for timestamped, 13 for non-timestamped records.
	OEM []byte
	Raw [selRecordSize]byte
}

// DecodeSELRecord decodes one 16-byte record. Unknown record types decode
// with only ID, Type and Raw; only a wrong size is an error.
func DecodeSELRecord(b []byte) (SELRecord, error) {
	if len(b) != selRecordSize {
		return SELRecord{}, fmt.Errorf("%w: %d bytes", ErrSELRecordSize, len(b))
	}
	r := SELRecord{ID: u16(b), Type: SELType(b[2])}
	copy(r.Raw[:], b)
	switch {
	case r.Type == SELTypeSystemEvent:
		r.Timestamp = Timestamp(le32(b[3:]))
		r.Event = &SystemEvent{
			Timestamp:   r.Timestamp,
			GeneratorID: u16(b[7:]),
			EvMRev:      b[9],
			SensorType:  SensorType(b[10]),
			Sensor:      b[11],
			Deassertion: b[12]&0x80 != 0,
			EventType:   EventType(b[12] & 0x7f),
			Data:        [3]byte{b[13], b[14], b[15]},
		}
	case r.Type >= SELTypeOEMTSFirst && r.Type <= SELTypeOEMTSLast:
		r.Timestamp = Timestamp(le32(b[3:]))
		r.ManufacturerID = uint32(b[7]) | uint32(b[8])<<8 | uint32(b[9])<<16
		r.OEM = append([]byte(nil), b[10:16]...)
	case r.Type >= SELTypeOEMNTSFirst:
		r.Timestamp = TimestampUnspecified
		r.OEM = append([]byte(nil), b[3:16]...)
	}
	return r, nil
}

// MarshalBinary encodes the record in its 16-byte form. System events are
// built from Event; OEM records from ManufacturerID and OEM (padded with
// zeros); other types from Raw.
func (r SELRecord) MarshalBinary() ([]byte, error) {
	b := make([]byte, selRecordSize)
	b[0], b[1], b[2] = byte(r.ID), byte(r.ID>>8), byte(r.Type)
	switch {
	case r.Type == SELTypeSystemEvent:
		if r.Event == nil {
			return nil, errors.New("system event record without Event")
		}
		e := r.Event
		if e.EventType > 0x7f {
			return nil, fmt.Errorf("event type %#x out of range", byte(e.EventType))
		}
		putLE32(b[3:], uint32(e.Timestamp))
		b[7], b[8] = byte(e.GeneratorID), byte(e.GeneratorID>>8)
		b[9], b[10], b[11] = e.EvMRev, byte(e.SensorType), e.Sensor
		b[12] = byte(e.EventType)
		if e.Deassertion {
			b[12] |= 0x80
		}
		copy(b[13:], e.Data[:])
	case r.Type >= SELTypeOEMTSFirst && r.Type <= SELTypeOEMTSLast:
		if len(r.OEM) > 6 {
			return nil, fmt.Errorf("OEM data %d bytes, at most 6", len(r.OEM))
		}
		putLE32(b[3:], uint32(r.Timestamp))
		b[7], b[8], b[9] = byte(r.ManufacturerID), byte(r.ManufacturerID>>8), byte(r.ManufacturerID>>16)
		copy(b[10:], r.OEM)
	case r.Type >= SELTypeOEMNTSFirst:
		if len(r.OEM) > 13 {
			return nil, fmt.Errorf("OEM data %d bytes, at most 13", len(r.OEM))
		}
		copy(b[3:], r.OEM)
	default:
		copy(b[3:], r.Raw[3:])
	}
	return b, nil
}

func (r SELRecord) String() string {
	if r.Event != nil {
		return fmt.Sprintf("%#04x | %s | %s", r.ID, r.Timestamp, r.Event)
	}
	return fmt.Sprintf("%#04x | %s | type %#02x (%s) | % x", r.ID, r.Timestamp, byte(r.Type), r.Type.Kind(), r.Raw[3:])
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
