package seal

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// decompress appends the zstd-decoded comp to dst, producing at most limit
// bytes. The output buffer's capacity is the bound: the decoder is built with
// WithDecodeAllCapLimit, so it stops at cap(out) instead of growing it.
func (c *Coder) decompress(dst, comp []byte, limit int) ([]byte, error) {
	bound := max(limit, 0)
	var h zstd.Header
	if err := h.Decode(comp); err != nil {
		return dst, fmt.Errorf("%w: zstd header: %v", ErrCorrupt, err)
	}
	if h.HasFCS {
		if h.FrameContentSize > uint64(bound) {
			return dst, fmt.Errorf("%w: %d bytes > limit %d", ErrTooLarge, h.FrameContentSize, limit)
		}
		// One frame is what Seal writes; room for exactly its content
		// avoids allocating the whole limit for small blobs. A blob
		// with more frames than Seal writes fails with ErrTooLarge
		// unless they fit: still bounded.
		bound = int(h.FrameContentSize)
	}
	n := len(dst)
	// Without a declared size (the encoder leaves it out of frames under
	// 256 bytes) first try a small capacity: allocating (and zeroing) the
	// whole limit for every tiny blob dominated restores of small files.
	// Only a frame that needs more is decoded again with the limit.
	try := bound
	if !h.HasFCS {
		try = min(bound, max(smallFrameCap, 8*len(comp)))
	}
	out, err := c.decodeInto(dst, comp, n, try)
	if err != nil && try < bound {
		// Too small a capacity shows as ErrDecoderSizeExceeded or, below
		// one block, as an oversized block: decode again with the limit
		// (a damaged frame then fails again, as it should).
		out, err = c.decodeInto(dst, comp, n, bound)
	}
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return dst, fmt.Errorf("%w: more than %d bytes after decompression", ErrTooLarge, bound)
	case err != nil:
		return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	return out, nil
}

// smallFrameCap is the first capacity tried for a frame that does not
// declare its size.
const smallFrameCap = 4 << 10

// decodeInto decodes comp after dst[:n] into at most room more bytes.
// The result keeps the whole capacity of the buffer it was decoded into:
// the capped slice the decoder is given (its limit) must not become the
// caller's buffer, or a caller that reuses it (a restore worker, the
// vault checking what agents send) would allocate anew for every blob
// larger than the last, which was a third of a restore's allocations.
func (c *Coder) decodeInto(dst, comp []byte, n, room int) ([]byte, error) {
	out := dst
	if cap(out)-n < room {
		out = make([]byte, n, n+room)
		copy(out, dst)
	}
	res, err := c.dec.DecodeAll(comp, out[:n:n+room])
	if err == nil && sameArray(res, out) {
		res = out[:len(res)]
	}
	return res, err
}

// sameArray reports whether a and b begin at the same element.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}
