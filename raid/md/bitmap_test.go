package md

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func sampleBitmap() *Bitmap {
	return &Bitmap{
		Version:     BitmapVersion,
		UUID:        UUID{0x5a, 0xc3, 0x11, 0x97, 0x42, 0x5a, 0xc3, 0x11, 0x97, 0x42, 0x5a, 0xc3, 0x11, 0x97, 0x42, 0x5a},
		SyncSize:    126976,
		Chunk:       64 << 20,
		DaemonSleep: DefaultDaemonSleep,
	}
}

func TestBitmapRoundTrip(t *testing.T) {
	bm := sampleBitmap()
	bm.Events, bm.EventsCleared, bm.State, bm.WriteBehind = 20, 18, BitmapStale, 256
	copy(bm.ClusterName[:], "c")
	b, err := bm.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:4]) != "bitm" || binary.LittleEndian.Uint32(b[52:]) != 64<<20 {
		t.Fatalf("layout: % x", b[:64])
	}
	got, err := DecodeBitmap(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, bm) {
		t.Fatalf("got %+v", got)
	}
	if bm.Bits() != 1 || bm.Sectors() != 8 {
		t.Fatalf("bits %d sectors %d", bm.Bits(), bm.Sectors())
	}
	bm.Chunk = 4096
	if bm.Bits() != 126976/8 || bm.Sectors() != 8 {
		t.Fatalf("bits %d sectors %d", bm.Bits(), bm.Sectors())
	}
}

func TestBitmapErrors(t *testing.T) {
	good, _ := sampleBitmap().Encode()
	mut := func(off int, v uint32) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:255], ErrTruncated},
		{"magic", mut(0, 0), ErrBadMagic},
		{"version 5 (clustered)", mut(4, 5), ErrUnsupportedVersion},
		{"chunk not power of two", mut(52, 3<<20), ErrInvalid},
		{"chunk too small", mut(52, 256), ErrInvalid},
		{"daemon sleep 0", mut(56, 0), ErrInvalid},
		{"write behind", mut(60, 16384), ErrInvalid},
		{"pad", mut(200, 1), ErrInvalid},
	}
	for _, c := range cases {
		if _, err := DecodeBitmap(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestWriteReadBitmap(t *testing.T) {
	sb := sample(t, 0)
	bm := sampleBitmap()
	bm.UUID = sb.SetUUID
	dev := newMemDev(64 << 10)
	if err := WriteBitmap(dev, sb, bm); err != nil {
		t.Fatal(err)
	}
	// 8 sectors after the superblock at sector 8: byte 8192.
	if string(dev.b[8192:8196]) != "bitm" || dev.b[8192+256] != 0xff || dev.b[8192+4095] != 0xff || dev.b[8192+4096] != 0 {
		t.Fatal("bitmap not at superblock+8 sectors with bits set to the 4 KiB boundary")
	}
	got, err := ReadBitmap(dev, sb)
	if err != nil || got.SyncSize != bm.SyncSize {
		t.Fatalf("%v %+v", err, got)
	}
	other := *bm
	other.UUID[0] ^= 1
	if err := WriteBitmap(dev, sb, &other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("foreign uuid: %v", err)
	}
	sb.FeatureMap = 0
	if _, err := ReadBitmap(dev, sb); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no bitmap feature: %v", err)
	}
}
