package seal

import (
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A Coder is the keyless half of a Sealer: the compression of plaintexts
// (Encode, the codec choice Seal makes) and its inverse (Decode, what Open
// does after decrypting). An agent encodes the blobs it sends with one, so
// the bytes on the wire are compressed and the vault, which seals the
// payload as it came (SealEncoded), does not compress again; the vault
// decodes each payload to check its fingerprint. It is safe for concurrent
// use. Close releases its compressor.
type Coder struct {
	enc      *zstd.Encoder
	dec      *zstd.Decoder
	compress bool
	filt     sync.Pool // *[]byte: the x86-filtered plaintext
}

// NewCoder returns a Coder; of opts only NoCompression and Window apply.
func NewCoder(opts Options) (*Coder, error) {
	// GCM authenticates, so zstd's own checksum would be redundant work.
	// WithLowerEncoderMem: each encoder's history is then the window
	// (4 MiB at this level) plus one block instead of twice the window;
	// EncodeAll of a blob up to the window (every file chunk) never
	// needs more, so this only lowers the peak RSS of a backup (about
	// 4 MiB per encoder, GOMAXPROCS encoders per Coder).
	eopts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
		zstd.WithLowerEncoderMem(true)}
	if opts.Window != 0 {
		eopts = append(eopts, zstd.WithWindowSize(opts.Window))
	}
	enc, err := zstd.NewWriter(nil, eopts...)
	if err != nil {
		return nil, fmt.Errorf("seal: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(MaxSize),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("seal: zstd decoder: %w", err)
	}
	return &Coder{enc: enc, dec: dec, compress: !opts.NoCompression}, nil
}

// Close releases the Coder's compressor and decompressor. The Coder must
// not be used afterwards.
func (c *Coder) Close() {
	c.enc.Close()
	c.dec.Close()
}

// Encode appends the payload Seal would encrypt for plaintext to dst and
// returns its codec: zstd (x86 machine code through the branch filter
// first) if that saves at least 1/32 of the size, else the plaintext
// itself (CodecNone). plaintext must not overlap dst's spare capacity.
func (c *Coder) Encode(dst, plaintext []byte) (Codec, []byte) {
	return c.EncodeWith(dst, plaintext, nil)
}

// EncodeWith is Encode with the caller's scratch for the x86-filtered
// copy of a plaintext that needs one (nil: a buffer from the Coder's
// pool), for a caller that keeps one per encoding it runs at once.
func (c *Coder) EncodeWith(dst, plaintext []byte, scratch *[]byte) (Codec, []byte) {
	start := len(dst)
	if c.compress && len(plaintext) >= minCompressSize {
		// Room for zstd's worst case (incompressible input grows by a
		// few bytes per 128 KiB block), so EncodeAll never reallocates.
		dst = slices.Grow(dst, len(plaintext)+len(plaintext)>>7+64)
		in, zc := plaintext, CodecZstd
		if looksX86(plaintext) {
			bp := scratch
			if bp == nil {
				bp, _ = c.filt.Get().(*[]byte)
				if bp == nil {
					bp = new([]byte)
				}
				defer func() {
					if cap(*bp) <= 8<<20 { // do not pin huge buffers
						c.filt.Put(bp)
					}
				}()
			}
			*bp = append((*bp)[:0], plaintext...)
			x86Encode(*bp)
			in, zc = *bp, CodecZstdX86
		}
		// EncodeAll appends to dst.
		if out := c.enc.EncodeAll(in, dst); Worth(zc, len(out)-start, len(plaintext)) {
			return zc, out
		}
	}
	return CodecNone, append(dst[:start], plaintext...)
}

// Worth reports whether a payload of n bytes, the encoding of size
// bytes of plaintext under codec, is worth storing instead of the
// plaintext: it saves at least 1/32 of the size (less is not worth a
// decompression on every restore). CodecNone always is.
func Worth(codec Codec, n, size int) bool {
	return codec == CodecNone || n <= size-size/savingsDiv
}

// Decode appends the plaintext of payload, encoded under codec, to dst:
// at most limit bytes, checked before any decoded byte is produced beyond
// it (no decompression bombs). On error it returns dst unchanged: an
// unknown codec or a damaged payload is ErrCorrupt, a plaintext over the
// limit ErrTooLarge.
func (c *Coder) Decode(dst []byte, codec Codec, payload []byte, limit int) ([]byte, error) {
	switch codec {
	case CodecNone:
		if len(payload) > limit {
			return dst, fmt.Errorf("%w: %d bytes > limit %d", ErrTooLarge, len(payload), limit)
		}
		return append(dst, payload...), nil
	case CodecZstd, CodecZstdX86:
		out, err := c.decompress(dst, payload, limit)
		if err != nil {
			return dst, err
		}
		if codec == CodecZstdX86 {
			x86Decode(out[len(dst):])
		}
		return out, nil
	}
	return dst, fmt.Errorf("%w: unknown %v", ErrCorrupt, codec)
}
