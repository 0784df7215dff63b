package pid1

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The input event ABI (linux/input.h) on 64-bit: struct timeval (16
// bytes), u16 type, u16 code, s32 value.
const (
	inputEventSize = 24
	evKey          = 0x01
	keyPower       = 116
)

// PowerButtons finds the input devices the kernel's ACPI button driver
// registered for power buttons (QEMU's system_powerdown and a real
// chassis button both arrive there). sysRoot is normally /sys and devRoot
// /dev; both are fields of the caller so tests use fake trees.
func PowerButtons(sysRoot, devRoot string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(sysRoot, "class/input/event*/device/name"))
	if err != nil {
		return nil, fmt.Errorf("find power button: %w", err)
	}
	sort.Strings(names)
	var devs []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != "Power Button" {
			continue
		}
		event := filepath.Base(filepath.Dir(filepath.Dir(n)))
		devs = append(devs, filepath.Join(devRoot, "input", event))
	}
	return devs, nil
}

// WatchPowerButton reads input events from r and calls pressed for every
// press of the power key, until r ends or fails. Closing r stops it.
func WatchPowerButton(r io.Reader, pressed func()) error {
	buf := make([]byte, inputEventSize*16)
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for len(pending) >= inputEventSize {
			ev := pending[:inputEventSize]
			typ := binary.LittleEndian.Uint16(ev[16:])
			code := binary.LittleEndian.Uint16(ev[18:])
			val := int32(binary.LittleEndian.Uint32(ev[20:]))
			if typ == evKey && code == keyPower && val == 1 {
				pressed()
			}
			pending = pending[inputEventSize:]
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read power button: %w", err)
		}
	}
}

// WatchPowerButtons watches every device in devs until ctx is done.
func WatchPowerButtons(ctx context.Context, devs []string, pressed func()) error {
	if len(devs) == 0 {
		return errors.New("no power button input device: is the ACPI button module (button) and evdev loaded?")
	}
	errc := make(chan error, len(devs))
	var files []*os.File
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			errc <- fmt.Errorf("open power button %s: %w", d, err)
			continue
		}
		files = append(files, f)
		go func() { errc <- WatchPowerButton(f, pressed) }()
	}
	<-ctx.Done()
	for _, f := range files {
		f.Close()
	}
	var errs []error
	for range devs {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inputEvent encodes one event, for tests and fakes.
func inputEvent(typ, code uint16, value int32) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 16))
	binary.Write(&b, binary.LittleEndian, typ)
	binary.Write(&b, binary.LittleEndian, code)
	binary.Write(&b, binary.LittleEndian, value)
	return b.Bytes()
}
