package ipmi

import (
	"context"
	"errors"
	"fmt"
)

// SDR repository commands (netfn Storage).
const (
	cmdGetSDRRepoInfo = 0x20
	cmdReserveSDRRepo = 0x22
	cmdGetSDR         = 0x23
	// sdrChunk is the first partial read size: 16 bytes fit every
	// interface (some BMCs cannot return more, KCS buffers are small).
	sdrChunk = 16
	// sdrReservationRetries bounds restarts of one record after the
	// reservation was cancelled (the repository changed mid-read).
	sdrReservationRetries = 5
)

// ErrSDRLoop means the "next record id" chain revisited a record.
var ErrSDRLoop = errors.New("ipmi: SDR record chain loops")

// SDRRepositoryInfo is the answer to Get SDR Repository Info.
type SDRRepositoryInfo struct {
	Version   byte
	Records   uint16
	FreeBytes uint16
	LastAdd   Timestamp
	LastErase Timestamp
	Overflow  bool
	Support   byte // bit3 delete, bit2 partial add, bit1 reserve, bit0 get allocation info; bits 6:5 update modes
}

// GetSDRRepositoryInfo reads the repository's size and state.
func (c *Client) GetSDRRepositoryInfo(ctx context.Context) (SDRRepositoryInfo, error) {
	r, err := c.call(ctx, NetFnStorage, cmdGetSDRRepoInfo, nil, 14)
	if err != nil {
		return SDRRepositoryInfo{}, fmt.Errorf("get SDR repository info: %w", err)
	}
	return SDRRepositoryInfo{
		Version:   r[0],
		Records:   u16(r[1:]),
		FreeBytes: u16(r[3:]),
		LastAdd:   Timestamp(le32(r[5:])),
		LastErase: Timestamp(le32(r[9:])),
		Overflow:  r[13]&0x80 != 0,
		Support:   r[13] & 0x7f,
	}, nil
}

// ReserveSDRRepository returns a reservation for partial reads.
func (c *Client) ReserveSDRRepository(ctx context.Context) (uint16, error) {
	r, err := c.call(ctx, NetFnStorage, cmdReserveSDRRepo, nil, 2)
	if err != nil {
		return 0, fmt.Errorf("reserve SDR repository: %w", err)
	}
	return u16(r), nil
}

// getSDRPart reads count bytes of record id at offset.
func (c *Client) getSDRPart(ctx context.Context, res, id uint16, offset, count byte) (next uint16, data []byte, err error) {
	req := []byte{byte(res), byte(res >> 8), byte(id), byte(id >> 8), offset, count}
	r, err := c.call(ctx, NetFnStorage, cmdGetSDR, req, 2+int(count))
	if err != nil {
		return 0, nil, err
	}
	return u16(r), r[2 : 2+int(count)], nil
}

// GetSDR reads record id (0x0000 = first) in chunks: the 5-byte header,
// then the body at most 16 bytes at a time under a reservation. A chunk
// the BMC cannot return (0xCA, 0xC7, 0xC8) is retried smaller; a cancelled
// reservation (0xC5) restarts the record with a new one, a few times.
// It returns the raw record and the next record id (0xffff after the last).
func (c *Client) GetSDR(ctx context.Context, id uint16) ([]byte, uint16, error) {
	var err error
	for attempt := 0; attempt < sdrReservationRetries; attempt++ {
		var rec []byte
		var next uint16
		rec, next, err = c.getSDROnce(ctx, id)
		if err == nil {
			return rec, next, nil
		}
		if !errors.Is(err, ErrReservationCanceled) {
			break
		}
	}
	return nil, 0, fmt.Errorf("get SDR %#04x: %w", id, err)
}

func (c *Client) getSDROnce(ctx context.Context, id uint16) ([]byte, uint16, error) {
	res, err := c.ReserveSDRRepository(ctx)
	if err != nil {
		return nil, 0, err
	}
	next, hdr, err := c.getSDRPart(ctx, res, id, 0, sdrHeaderSize)
	if err != nil {
		return nil, 0, err
	}
	total := sdrHeaderSize + int(hdr[4])
	rec := make([]byte, sdrHeaderSize, total)
	copy(rec, hdr)
	// Partial reads name the record by its real id: on QEMU and real
	// BMCs alike, "0x0000" means "first", whose id the header states.
	realID := u16(hdr)
	if id != 0 {
		realID = id
	}
	chunk := sdrChunk
	for len(rec) < total {
		n := min(chunk, total-len(rec))
		_, part, err := c.getSDRPart(ctx, res, realID, byte(len(rec)), byte(n))
		if err != nil {
			code, _ := codeOf(err)
			if (code == ErrCannotReturnBytes || code == ErrRequestLengthInvalid || code == ErrRequestFieldTooLong) && chunk > 1 {
				chunk /= 2
				continue
			}
			return nil, 0, err
		}
		rec = append(rec, part...)
	}
	return rec, next, nil
}

// SDRRepository reads and decodes every record, following the next
// record id chain from 0x0000 (QEMU's first record id is 0x0000 too).
func (c *Client) SDRRepository(ctx context.Context) ([]SDR, error) {
	var out []SDR
	seen := make(map[uint16]bool)
	id := uint16(0)
	for {
		raw, next, err := c.GetSDR(ctx, id)
		if err != nil {
			if len(out) == 0 && errors.Is(err, ErrNotPresent) {
				return nil, nil
			}
			return out, fmt.Errorf("read SDR repository: %w", err)
		}
		r, err := DecodeSDR(raw)
		if err != nil {
			return out, fmt.Errorf("read SDR repository: %w", err)
		}
		out = append(out, r)
		seen[id] = true
		seen[r.RecordID] = true
		if next == 0xffff {
			return out, nil
		}
		if seen[next] {
			return out, fmt.Errorf("read SDR repository at %#04x -> %#04x: %w", r.RecordID, next, ErrSDRLoop)
		}
		id = next
	}
}
