package seal

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// decompress appends the zstd-decoded comp to dst, producing at most limit
// bytes. The output buffer's capacity is the bound: the decoder is built with
// WithDecodeAllCapLimit, so it stops at cap(out) instead of growing it.
func (s *Sealer) decompress(dst, comp []byte, limit int) ([]byte, error) {
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
	out := dst
	if cap(out)-n < bound {
		out = make([]byte, n, n+bound)
		copy(out, dst)
	}
	out, err := s.dec.DecodeAll(comp, out[:n:n+bound])
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return dst, fmt.Errorf("%w: more than %d bytes after decompression", ErrTooLarge, bound)
	case err != nil:
		return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	return out, nil
}
