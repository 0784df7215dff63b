package ipmi

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SEL commands (netfn Storage).
const (
	cmdGetSELInfo    = 0x40
	cmdReserveSEL    = 0x42
	cmdGetSELEntry   = 0x43
	cmdAddSELEntry   = 0x44
	cmdClearSEL      = 0x47
	cmdGetSELTime    = 0x48
	cmdSetSELTime    = 0x49
	selRecordSize    = 16
	selIDFirst       = 0x0000
	selIDLast        = 0xffff
	selAlmostFullMin = 4
)

// ErrSELLoop means Get SEL Entry's "next record id" chain revisited a
// record; iteration stops instead of looping forever.
var ErrSELLoop = errors.New("ipmi: SEL record chain loops")

// SELInfo is the answer to Get SEL Info.
type SELInfo struct {
	Version     byte // 0x51 = IPMI 1.5/2.0
	Entries     uint16
	FreeBytes   uint16 // 0xffff means 65535 or more
	LastAdd     Timestamp
	LastErase   Timestamp
	Overflow    bool // events were dropped because the SEL was full
	Support     byte // bit3 delete, bit2 partial add, bit1 reserve, bit0 get allocation info
	CanReserve  bool
	CanDelete   bool
	PartialAdd  bool
	GetAllocate bool
}

// FreeEntries is how many more 16-byte records fit.
func (i SELInfo) FreeEntries() int { return int(i.FreeBytes) / selRecordSize }

// Capacity is used plus free records.
func (i SELInfo) Capacity() int { return int(i.Entries) + i.FreeEntries() }

// AlmostFull reports that the SEL must be archived and cleared soon: it
// overflowed, or fewer than an eighth of its capacity (and never fewer
// than 4 records) is free.
func (i SELInfo) AlmostFull() bool {
	if i.Overflow {
		return true
	}
	limit := max(i.Capacity()/8, selAlmostFullMin)
	return i.FreeEntries() < limit
}

// GetSELInfo reads the SEL's size and state.
func (c *Client) GetSELInfo(ctx context.Context) (SELInfo, error) {
	r, err := c.call(ctx, NetFnStorage, cmdGetSELInfo, nil, 14)
	if err != nil {
		return SELInfo{}, fmt.Errorf("get SEL info: %w", err)
	}
	return parseSELInfo(r), nil
}

func parseSELInfo(r []byte) SELInfo {
	return SELInfo{
		Version:     r[0],
		Entries:     u16(r[1:]),
		FreeBytes:   u16(r[3:]),
		LastAdd:     Timestamp(le32(r[5:])),
		LastErase:   Timestamp(le32(r[9:])),
		Overflow:    r[13]&0x80 != 0,
		Support:     r[13] & 0x0f,
		CanDelete:   r[13]&0x08 != 0,
		PartialAdd:  r[13]&0x04 != 0,
		CanReserve:  r[13]&0x02 != 0,
		GetAllocate: r[13]&0x01 != 0,
	}
}

// ReserveSEL returns a reservation id for Clear SEL and partial reads. Any
// SEL change (add, clear) cancels it.
func (c *Client) ReserveSEL(ctx context.Context) (uint16, error) {
	r, err := c.call(ctx, NetFnStorage, cmdReserveSEL, nil, 2)
	if err != nil {
		return 0, fmt.Errorf("reserve SEL: %w", err)
	}
	return u16(r), nil
}

// GetSELEntry reads the whole record id (0x0000 = first, 0xffff = last)
// and returns it with the id of the next record (0xffff after the last).
func (c *Client) GetSELEntry(ctx context.Context, id uint16) (SELRecord, uint16, error) {
	req := []byte{0, 0, byte(id), byte(id >> 8), 0, 0xff}
	r, err := c.call(ctx, NetFnStorage, cmdGetSELEntry, req, 2+selRecordSize)
	if err != nil {
		return SELRecord{}, 0, fmt.Errorf("get SEL entry %#04x: %w", id, err)
	}
	rec, err := DecodeSELRecord(r[2 : 2+selRecordSize])
	if err != nil {
		return SELRecord{}, 0, fmt.Errorf("get SEL entry %#04x: %w", id, err)
	}
	return rec, u16(r), nil
}

// SELEntries reads every record, first to last, following the "next
// record id" chain from 0x0000 (which also finds QEMU's first record,
// whose id is 0x0000). An empty SEL gives no records and no error. The
// chain is bounded: a revisited id is ErrSELLoop.
func (c *Client) SELEntries(ctx context.Context) ([]SELRecord, error) {
	var out []SELRecord
	seen := make(map[uint16]bool)
	id := uint16(selIDFirst)
	for {
		rec, next, err := c.GetSELEntry(ctx, id)
		if err != nil {
			if len(out) == 0 && errors.Is(err, ErrNotPresent) {
				return nil, nil // empty SEL
			}
			return out, fmt.Errorf("read SEL: %w", err)
		}
		if seen[rec.ID] {
			return out, fmt.Errorf("read SEL at %#04x: %w", rec.ID, ErrSELLoop)
		}
		seen[rec.ID] = true
		out = append(out, rec)
		if next == selIDLast {
			return out, nil
		}
		if seen[next] || len(seen) > 0xffff {
			return out, fmt.Errorf("read SEL at %#04x -> %#04x: %w", rec.ID, next, ErrSELLoop)
		}
		id = next
	}
}

// AddSELEntry writes a record and returns the id the BMC gave it. The BMC
// fills in the record id and, for types below 0xE0, the timestamp.
func (c *Client) AddSELEntry(ctx context.Context, rec SELRecord) (uint16, error) {
	b, err := rec.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("add SEL entry: %w", err)
	}
	r, err := c.call(ctx, NetFnStorage, cmdAddSELEntry, b, 2)
	if err != nil {
		return 0, fmt.Errorf("add SEL entry: %w", err)
	}
	return u16(r), nil
}

// LogEvent adds a system event record from this software (generator id
// GeneratorSystemSoftware) and returns its id.
func (c *Client) LogEvent(ctx context.Context, ev SystemEvent) (uint16, error) {
	if ev.GeneratorID == 0 {
		ev.GeneratorID = GeneratorSystemSoftware
	}
	if ev.EvMRev == 0 {
		ev.EvMRev = EvMRevIPMI2
	}
	return c.AddSELEntry(ctx, SELRecord{Type: SELTypeSystemEvent, Event: &ev})
}

// clearPoll is how often ClearSEL asks whether the erase completed.
const clearPoll = 50 * time.Millisecond

// ClearSEL erases the SEL: reserve, initiate erase, poll until the BMC
// says the erase completed. A reservation cancelled by a concurrent
// change (e.g. the BMC logging an event) is retried a few times.
func (c *Client) ClearSEL(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = c.clearSELOnce(ctx)
		if !errors.Is(err, ErrReservationCanceled) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("clear SEL: %w", err)
	}
	return nil
}

func (c *Client) clearSELOnce(ctx context.Context) error {
	res, err := c.ReserveSEL(ctx)
	if err != nil {
		return err
	}
	req := []byte{byte(res), byte(res >> 8), 'C', 'L', 'R', 0xaa}
	for {
		r, err := c.call(ctx, NetFnStorage, cmdClearSEL, req, 1)
		if err != nil {
			return err
		}
		if r[0]&0x0f == 1 {
			return nil
		}
		req[5] = 0x00 // get erasure status
		if err := sleep(ctx, clearPoll); err != nil {
			return fmt.Errorf("waiting for erase: %w", err)
		}
	}
}

// GetSELTime reads the SEL clock.
func (c *Client) GetSELTime(ctx context.Context) (Timestamp, error) {
	r, err := c.call(ctx, NetFnStorage, cmdGetSELTime, nil, 4)
	if err != nil {
		return 0, fmt.Errorf("get SEL time: %w", err)
	}
	return Timestamp(le32(r)), nil
}

// SetSELTime sets the SEL clock (whole seconds since the epoch).
func (c *Client) SetSELTime(ctx context.Context, t time.Time) error {
	s := t.Unix()
	if s <= int64(timestampRelativeMax) || s >= int64(TimestampUnspecified) {
		return fmt.Errorf("set SEL time: %v not representable", t)
	}
	v := uint32(s)
	if _, err := c.call(ctx, NetFnStorage, cmdSetSELTime, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}, 0); err != nil {
		return fmt.Errorf("set SEL time: %w", err)
	}
	return nil
}
