package ipmi

import (
	"context"
	"fmt"
)

// FRU commands (netfn Storage).
const (
	cmdGetFRUAreaInfo = 0x10
	cmdReadFRUData    = 0x11
	// fruChunk is the first read size; halved when the BMC refuses.
	fruChunk = 32
)

// FRUAreaInfo is the answer to Get FRU Inventory Area Info.
type FRUAreaInfo struct {
	Size    uint16 // bytes
	ByWords bool   // device is accessed by words: offsets and counts are in 16-bit words
}

// GetFRUAreaInfo reads the size of FRU device id.
func (c *Client) GetFRUAreaInfo(ctx context.Context, id byte) (FRUAreaInfo, error) {
	r, err := c.call(ctx, NetFnStorage, cmdGetFRUAreaInfo, []byte{id}, 3)
	if err != nil {
		return FRUAreaInfo{}, fmt.Errorf("get FRU %d area info: %w", id, err)
	}
	return FRUAreaInfo{Size: u16(r), ByWords: r[2]&0x01 != 0}, nil
}

// ReadFRUData reads n bytes at offset of FRU device id, in chunks of at
// most 32 bytes (halved when the BMC cannot return as many).
func (c *Client) ReadFRUData(ctx context.Context, id byte, info FRUAreaInfo, offset, n int) ([]byte, error) {
	if offset < 0 || n < 0 || offset+n > int(info.Size) {
		return nil, fmt.Errorf("read FRU %d: [%d, %d) outside %d bytes", id, offset, offset+n, info.Size)
	}
	unit := 1
	if info.ByWords {
		unit = 2
	}
	out := make([]byte, 0, n)
	chunk := fruChunk
	for len(out) < n {
		at := offset + len(out)
		want := min(chunk, n-len(out))
		// Word access: round the start down and the count up to words.
		wordAt := at / unit
		count := (at%unit + want + unit - 1) / unit
		req := []byte{id, byte(wordAt), byte(wordAt >> 8), byte(count)}
		r, err := c.call(ctx, NetFnStorage, cmdReadFRUData, req, 1)
		if err != nil {
			code, _ := codeOf(err)
			if (code == ErrCannotReturnBytes || code == ErrRequestLengthInvalid || code == ErrRequestFieldTooLong) && chunk > 1 {
				chunk /= 2
				continue
			}
			return nil, fmt.Errorf("read FRU %d at %d: %w", id, at, err)
		}
		got := int(r[0]) * unit
		if got == 0 || len(r)-1 < got {
			return nil, fmt.Errorf("read FRU %d at %d: %w: count %d, %d data bytes", id, at, ErrShortResponse, r[0], len(r)-1)
		}
		data := r[1 : 1+got][at%unit:]
		out = append(out, data[:min(len(data), n-len(out))]...)
	}
	return out, nil
}

// ReadFRU reads and decodes FRU device id (0 is the baseboard). It reads
// the common header, then each area's length, then exactly the bytes up
// to the end of the last area — never the whole device, and so never the
// last byte of QEMU's fruareasize, which its Read FRU Data refuses.
func (c *Client) ReadFRU(ctx context.Context, id byte) (FRU, []byte, error) {
	info, err := c.GetFRUAreaInfo(ctx, id)
	if err != nil {
		return FRU{}, nil, err
	}
	if info.Size < fruHeaderSize {
		return FRU{}, nil, fmt.Errorf("FRU %d: %w: device is %d bytes", id, ErrFRUShort, info.Size)
	}
	hdr, err := c.ReadFRUData(ctx, id, info, 0, fruHeaderSize)
	if err != nil {
		return FRU{}, nil, err
	}
	if err := checkFRUHeader(hdr); err != nil {
		return FRU{}, hdr, fmt.Errorf("FRU %d: %w", id, err)
	}
	end := fruHeaderSize
	for _, i := range []int{2, 3, 4} { // chassis, board, product
		off := int(hdr[i]) * 8
		if off == 0 {
			continue
		}
		if off+2 > int(info.Size) {
			return FRU{}, hdr, fmt.Errorf("FRU %d: %w: area at %d outside %d bytes", id, ErrFRUShort, off, info.Size)
		}
		h, err := c.ReadFRUData(ctx, id, info, off, 2)
		if err != nil {
			return FRU{}, hdr, err
		}
		end = max(end, off+int(h[1])*8)
	}
	if end > int(info.Size) {
		return FRU{}, hdr, fmt.Errorf("FRU %d: %w: areas end at %d, device is %d bytes", id, ErrFRUShort, end, info.Size)
	}
	data := hdr
	if end > fruHeaderSize {
		rest, err := c.ReadFRUData(ctx, id, info, fruHeaderSize, end-fruHeaderSize)
		if err != nil {
			return FRU{}, hdr, err
		}
		data = append(data, rest...)
	}
	f, err := DecodeFRU(data)
	if err != nil {
		return FRU{}, data, fmt.Errorf("FRU %d: %w", id, err)
	}
	return f, data, nil
}
