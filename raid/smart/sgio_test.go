package smart

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPassThrough16(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cmd    ATACmd
		dataIn bool
		want   string
	}{
		// The CDB measured against QEMU's AHCI disk (notes/qemu.md §4).
		{"SMART READ DATA", smartCmd(SMARTReadData, false), true, "85080e00d000010000004f00c200b000"},
		{"SMART READ THRESHOLDS", smartCmd(SMARTReadThresholds, false), true, "85080e00d100010000004f00c200b000"},
		{"SMART RETURN STATUS, CK_COND", smartCmd(SMARTReturnStatus, true), false, "85062000da00000000004f00c200b000"},
		{"IDENTIFY", ATACmd{Command: ATACmdIdentify, Count: 1}, true, "85080e0000000100000000000000ec00"},
		{"48-bit READ LOG EXT", ATACmd{Command: 0x2F, Features: 0x0102, Count: 0x0304, LBA: 0x0A0B0C0D0E0F, Ext: true, Device: 0x40}, true,
			"85090e010203040c0f0b0e0a0d402f00"},
		{"28-bit LBA 27:24 in the device register", ATACmd{Command: 0x20, Count: 1, LBA: 0x0ABCDEF1, Device: 0x40}, true,
			"85080e0000000100f100de00bc4a2000"},
	} {
		c := passThrough16(tc.cmd, tc.dataIn)
		if got := hex.EncodeToString(c[:]); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDecodeSense(t *testing.T) {
	regs := ATARegs{Status: 0x50, Error: 0, Device: 0x40, Count: 1, LBA: 0xC24F00}
	ext := ATARegs{Status: 0x51, Error: 0x04, Device: 0xE0, Count: 0xABCD, LBA: 0x0605_0403_0201, Ext: true}
	for _, tc := range []struct {
		name string
		b    []byte
		want Sense
		err  error
	}{
		{"descriptor, pass-through info with ATA status",
			descSense(SenseKeyRecoveredError, 0, 0x1D, &regs),
			Sense{Response: 0x72, Key: 1, ASCQ: 0x1D, HasATA: true, ATA: regs}, nil},
		{"descriptor, 48-bit registers",
			descSense(SenseKeyAbortedCommand, 0, 0, &ext),
			Sense{Response: 0x72, Key: 0xB, HasATA: true, ATA: ext}, nil},
		{"libata RETURN STATUS layout",
			mustHex(t, "720100 1d 000000 0e 090c 000000000000004f00c24050"),
			Sense{Response: 0x72, Key: 1, ASCQ: 0x1D, HasATA: true, ATA: ATARegs{Status: 0x50, Device: 0x40, LBA: 0xC24F00}}, nil},
		{"descriptor without ATA descriptor",
			descSense(SenseKeyIllegalRequest, 0x20, 0, nil),
			Sense{Response: 0x72, Key: 5, ASC: 0x20}, nil},
		{"descriptor after an information descriptor",
			append(mustHex(t, "7201001d0000001a 000a800000000000000000ff"), descSense(1, 0, 0x1d, &regs)[8:]...),
			Sense{Response: 0x72, Key: 1, ASCQ: 0x1D, HasATA: true, ATA: regs}, nil},
		{"ATA descriptor cut by additional length",
			func() []byte { b := descSense(1, 0, 0x1D, &regs); b[7] = 10; return b }(),
			Sense{Response: 0x72, Key: 1, ASCQ: 0x1D}, nil},
		{"ATA descriptor cut by buffer",
			descSense(1, 0, 0x1D, &regs)[:20],
			Sense{Response: 0x72, Key: 1, ASCQ: 0x1D}, nil},
		{"deferred descriptor", func() []byte { b := descSense(4, 0x44, 0, nil); b[0] = 0x73; return b }(),
			Sense{Response: 0x73, Key: 4, ASC: 0x44}, nil},
		{"fixed with VALID: SAT layout",
			fixedSense(SenseKeyAbortedCommand, 0, 0, &ATARegs{Status: 0x51, Error: 0x04, Device: 0x40, Count: 1, LBA: 0xC24F00}),
			Sense{Response: 0x70, Key: 0xB, HasATA: true, ATA: ATARegs{Status: 0x51, Error: 0x04, Device: 0x40, Count: 1, LBA: 0xC24F00}}, nil},
		{"fixed without VALID: no registers",
			fixedSense(SenseKeyIllegalRequest, 0x24, 0, nil),
			Sense{Response: 0x70, Key: 5, ASC: 0x24}, nil},
		{"fixed, high bit of response masked", func() []byte { b := fixedSense(6, 0x29, 0, nil); b[0] = 0xF1; return b }(),
			Sense{Response: 0x71, Key: 6, ASC: 0x29, HasATA: true, ATA: ATARegs{}}, nil},
		{"empty", nil, Sense{}, ErrTruncated},
		{"short descriptor header", []byte{0x72, 1, 0}, Sense{}, ErrTruncated},
		{"short fixed", fixedSense(1, 0, 0, nil)[:13], Sense{}, ErrTruncated},
		{"unknown response code", []byte{0x7F, 0, 0, 0, 0, 0, 0, 0}, Sense{}, ErrMalformed},
	} {
		got, err := DecodeSense(tc.b)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSGOutcome(t *testing.T) {
	regs := ATARegs{Status: 0x50, Device: 0x40, LBA: 0xC24F00}
	fail := ATARegs{Status: 0x50, Device: 0x40, LBA: 0x2CF400}
	abrt := ATARegs{Status: 0x51, Error: 0x04}
	status := smartCmd(SMARTReturnStatus, true)
	read := smartCmd(SMARTReadData, false)
	type result struct {
		regs *ATARegs
		err  error
		is   error // errors.Is target
		as   string
	}
	for _, tc := range []struct {
		name string
		cmd  ATACmd
		o    sgOutcome
		want result
	}{
		{"GOOD data-in", read, sgOutcome{dxferLen: 512}, result{}},
		{"CHECK CONDITION pass-through info: registers", status,
			sgOutcome{status: 2, driverStatus: sgDriverSense, sense: descSense(1, 0, 0x1D, &regs)}, result{regs: &regs}},
		{"failing registers are still success", status,
			sgOutcome{status: 2, driverStatus: sgDriverSense, sense: descSense(1, 0, 0x1D, &fail)}, result{regs: &fail}},
		{"fixed-format registers", status,
			sgOutcome{status: 2, sense: fixedSense(1, 0, 0x1D, &regs)}, result{regs: &regs}},
		{"NO SENSE with registers", status,
			sgOutcome{status: 2, sense: descSense(0, 0, 0, &regs)}, result{regs: &regs}},
		{"GOOD with registers (SATL that always returns them)", status,
			sgOutcome{status: 0, sense: descSense(1, 0, 0x1D, &regs)}, result{regs: &regs}},
		{"GOOD with garbage sense is ignored", status,
			sgOutcome{status: 0, sense: []byte{0x01}}, result{}},
		{"recovered error without registers", status,
			sgOutcome{status: 2, sense: descSense(1, 0, 0x1D, nil)}, result{}},
		{"ATA abort, descriptor", read,
			sgOutcome{status: 2, sense: descSense(0xB, 0, 0, &abrt), dxferLen: 512}, result{as: "ata"}},
		{"ATA abort, fixed", read,
			sgOutcome{status: 2, sense: fixedSense(0xB, 0, 0, &abrt), dxferLen: 512}, result{as: "ata"}},
		{"device fault", read,
			sgOutcome{status: 2, sense: descSense(4, 0x44, 0, &ATARegs{Status: 0x60})}, result{as: "ata"}},
		{"ILLEGAL REQUEST: invalid opcode", read,
			sgOutcome{status: 2, sense: fixedSense(5, 0x20, 0, nil)}, result{as: "illegal"}},
		{"MEDIUM ERROR without registers", read,
			sgOutcome{status: 2, sense: fixedSense(3, 0x11, 0, nil)}, result{as: "sense"}},
		{"check condition without sense", read,
			sgOutcome{status: 2}, result{is: ErrTruncated}},
		{"check condition with bad sense", read,
			sgOutcome{status: 2, sense: []byte{0x10, 0, 0, 0, 0, 0, 0, 0}}, result{is: ErrMalformed}},
		{"host status", read, sgOutcome{hostStatus: 0x01}, result{is: ErrTransport}},
		{"driver timeout", read, sgOutcome{driverStatus: 0x06}, result{is: ErrTransport}},
		{"BUSY", read, sgOutcome{status: 0x08}, result{is: ErrTransport}},
		{"short transfer", read, sgOutcome{dxferLen: 512, resid: 256}, result{is: ErrTruncated}},
		{"nothing transferred", read, sgOutcome{dxferLen: 512, resid: 512}, result{is: ErrTruncated}},
		{"impossible resid", read, sgOutcome{dxferLen: 512, resid: -1}, result{is: ErrTransport}},
	} {
		regs, err := tc.o.interpret(tc.cmd)
		switch {
		case tc.want.is != nil:
			if !errors.Is(err, tc.want.is) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.want.is)
			}
		case tc.want.as == "ata":
			var ae *ATAError
			if !errors.As(err, &ae) || ae.Command != tc.cmd.Command {
				t.Errorf("%s: err %v, want *ATAError", tc.name, err)
			}
		case tc.want.as == "illegal" || tc.want.as == "sense":
			var se *SenseError
			if !errors.As(err, &se) || se.IllegalRequest() != (tc.want.as == "illegal") {
				t.Errorf("%s: err %v, want *SenseError (illegal %v)", tc.name, err, tc.want.as == "illegal")
			}
		default:
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if !reflect.DeepEqual(regs, tc.want.regs) {
				t.Errorf("%s: regs %+v, want %+v", tc.name, regs, tc.want.regs)
			}
		}
	}
}

func TestErrorStrings(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&ATAError{Command: 0xB0, Features: 0xD0, Status: 0x51, ErrorReg: 0x04}, "aborted"},
		{&ATAError{Command: 0xB0, Status: 0x61}, "device fault"},
		{&SenseError{Sense: Sense{Key: 5, ASC: 0x20}}, "ILLEGAL REQUEST (0x5)"},
		{&NVMeStatusError{Opcode: 2, Status: 0x0109}, "sct 1 sc 0x09"},
	} {
		if !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%q does not say %q", tc.err, tc.want)
		}
	}
}
