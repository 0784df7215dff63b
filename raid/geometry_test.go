package raid

import "testing"

// Goldens: what mdadm 4.2 does on such devices (64 MiB: the QEMU disks and
// notes/qemu.md's "data_offset 4096 on these disks"; 4 TB: mdadm's
// well-known 264192).
func TestDataOffset(t *testing.T) {
	cases := []struct {
		dev, chunk, want uint64
	}{
		{131072, 1024, 4096},       // 64 MiB, 512 KiB chunk
		{131072, 128, 2048},        // 64 MiB, 64 KiB chunk: headroom shrinks to 512
		{1 << 21, 1024, 4096},      // 1 GiB
		{7814037168, 1024, 264192}, // 4 TB
		{20 << 21, 1024, 34816},    // 20 GiB: 64 KiB bitmap space, headroom 16 MiB (≤ 0.1%)
	}
	for _, c := range cases {
		if got := dataOffset(c.dev, c.chunk); got != c.want {
			t.Errorf("dataOffset(%d, %d) = %d, want %d", c.dev, c.chunk, got, c.want)
		}
	}
}

func TestBitmapSpace(t *testing.T) {
	for _, c := range []struct{ size, want uint64 }{
		{0, 0}, {127, 0}, {128, 8}, {8 << 21, 8}, {8<<21 + 9, 128}, {200<<21 + 127, 128}, {200<<21 + 128, 256},
	} {
		if got := bitmapSpace(c.size); got != c.want {
			t.Errorf("bitmapSpace(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

func TestBitmapChunk(t *testing.T) {
	for _, c := range []struct {
		sync, comp uint64
		want       uint32
		ok         bool
	}{
		{126976, 126976, 64 << 20, true},         // small: the 64 MiB floor
		{7813771264, 7813771264, 64 << 20, true}, // 4 TB member: 4 MiB fits, floor wins
		{200 << 31, 200 << 31, 256 << 20, true},  // 200 TiB sync range: 256 MiB chunks
		{64, 64, 0, false},                       // no room
	} {
		got, ok := bitmapChunk(c.sync, c.comp)
		if got != c.want || ok != c.ok {
			t.Errorf("bitmapChunk(%d, %d) = %d %v, want %d %v", c.sync, c.comp, got, ok, c.want, c.ok)
		}
	}
}

func TestBadBlockLog(t *testing.T) {
	for _, c := range []struct {
		dataOffset, reserved uint64
		off                  int32
		size                 uint16
	}{
		{4096, 8, 16, 8},      // after an 8-sector bitmap
		{264192, 16, 24, 8},   // after a 16-sector bitmap
		{264192, 256, 264, 8}, // no bitmap, 128 KiB reserved
		{24, 100, 8, 8},       // no room after: last 8 sectors before data
		{16, 0, 0, 0},         // no room at all
	} {
		off, size := badBlockLog(c.dataOffset, c.reserved)
		if off != c.off || size != c.size {
			t.Errorf("badBlockLog(%d, %d) = %d %d, want %d %d", c.dataOffset, c.reserved, off, size, c.off, c.size)
		}
	}
}
