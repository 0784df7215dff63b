package image

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// zstdWindow is the largest back-reference distance in the image. The
// kernel's initramfs decompressor allocates a buffer of the frame's window
// size in early boot; 8 MiB is what zstd recommends every decoder support.
const zstdWindow = 8 << 20

// compressZstd writes raw as one zstd frame with settings that make the
// output a function of the input alone: one encoder goroutine, a fixed
// level and window, the content size in the header, a checksum.
func compressZstd(w io.Writer, raw []byte) error {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		return fmt.Errorf("zstd encoder: %w", err)
	}
	enc.ResetContentSize(w, int64(len(raw)))
	if _, err := enc.Write(raw); err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	return nil
}
