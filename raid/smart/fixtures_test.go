package smart

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"syscall"
	"testing"
)

// ---- ATA byte fixtures -------------------------------------------------

// putWord writes IDENTIFY word i.
func putWord(b []byte, i int, v uint16) { binary.LittleEndian.PutUint16(b[2*i:], v) }

// putATAString writes s into an ATA string field of n bytes at word i:
// space padded, first character in the high byte of each word (QEMU's
// padstr: str[i^1]).
func putATAString(b []byte, word int, s string, n int) {
	for i := 0; i < n; i++ {
		c := byte(' ')
		if i < len(s) {
			c = s[i]
		}
		b[2*word+(i^1)] = c
	}
}

// sealIdentify sets word 255 to the 0xA5 signature and the checksum.
func sealIdentify(b []byte) {
	b[510] = 0xA5
	b[511] = 0
	b[511] = -sum8(b[:512])
}

// qemuIdentify is IDENTIFY DEVICE as QEMU 7.2's ide_identify builds it
// for `-device ide-hd,serial=SATA0001,model=FeasDisk` (hw/ide/core.c),
// word by word: no word 217, no integrity word.
func qemuIdentify(sectors uint64, wwn uint64) []byte {
	b := make([]byte, 512)
	putWord(b, 0, 0x0040)
	putATAString(b, 10, "SATA0001", 20)
	putWord(b, 20, 3)
	putWord(b, 21, 512)
	putWord(b, 22, 4)
	putATAString(b, 23, "2.5+", 8)
	putATAString(b, 27, "FeasDisk", 40)
	putWord(b, 47, 0x8000|16)
	putWord(b, 48, 1)
	putWord(b, 49, 1<<11|1<<9|1<<8)
	putWord(b, 53, 7)
	putWord(b, 60, uint16(sectors))
	putWord(b, 61, uint16(sectors>>16))
	putWord(b, 80, 0xf0)
	putWord(b, 81, 0x16)
	putWord(b, 82, 1<<14|1<<5|1)
	putWord(b, 83, 1<<14|1<<13|1<<12|1<<10)
	if wwn != 0 {
		putWord(b, 84, 1<<14|1<<8)
		putWord(b, 87, 1<<14|1<<8)
	} else {
		putWord(b, 84, 1<<14)
		putWord(b, 87, 1<<14)
	}
	putWord(b, 85, 1<<14|1<<5|1)
	putWord(b, 86, 1<<13|1<<12|1<<10)
	putWord(b, 88, 0x3f|1<<13)
	putWord(b, 100, uint16(sectors))
	putWord(b, 101, uint16(sectors>>16))
	putWord(b, 102, uint16(sectors>>32))
	putWord(b, 103, uint16(sectors>>48))
	if wwn != 0 {
		putWord(b, 108, uint16(wwn>>48))
		putWord(b, 109, uint16(wwn>>32))
		putWord(b, 110, uint16(wwn>>16))
		putWord(b, 111, uint16(wwn))
	}
	return b
}

// encodeIdentify builds IDENTIFY data that decodes to id (the inverse of
// DecodeIdentify on its fields), sealed with the integrity word.
func encodeIdentify(id *Identity) []byte {
	b := make([]byte, 512)
	putATAString(b, 10, id.Serial, 20)
	putATAString(b, 23, id.Firmware, 8)
	putATAString(b, 27, id.Model, 40)
	w82, w83, w84 := uint16(0), uint16(0x4000), uint16(0x4000)
	w85, w87 := uint16(0), uint16(0x4000)
	if id.SMARTSupported {
		w82 |= 1
	}
	if id.SMARTEnabled {
		w85 |= 1
	}
	if id.LBA48 {
		w83 |= 1 << 10
	}
	if id.WWN != 0 {
		w84 |= 1 << 8
		putWord(b, 108, uint16(id.WWN>>48))
		putWord(b, 109, uint16(id.WWN>>32))
		putWord(b, 110, uint16(id.WWN>>16))
		putWord(b, 111, uint16(id.WWN))
	}
	putWord(b, 82, w82)
	putWord(b, 83, w83)
	putWord(b, 84, w84)
	putWord(b, 85, w85)
	putWord(b, 87, w87)
	if id.LBA48 {
		s28 := id.Sectors
		if s28 > 0x0FFFFFFF {
			s28 = 0x0FFFFFFF
		}
		putWord(b, 60, uint16(s28))
		putWord(b, 61, uint16(s28>>16))
		putWord(b, 100, uint16(id.Sectors))
		putWord(b, 101, uint16(id.Sectors>>16))
		putWord(b, 102, uint16(id.Sectors>>32))
		putWord(b, 103, uint16(id.Sectors>>48))
	} else {
		putWord(b, 60, uint16(id.Sectors))
		putWord(b, 61, uint16(id.Sectors>>16))
	}
	lss, pss := id.LogicalSectorSize, id.PhysicalSectorSize
	if lss == 0 {
		lss = 512
	}
	if pss == 0 {
		pss = lss
	}
	if lss != 512 || pss != lss {
		w106 := uint16(0x4000)
		if lss != 512 {
			w106 |= 1 << 12
			putWord(b, 117, uint16(lss/2))
			putWord(b, 118, uint16(lss/2>>16))
		}
		if pss != lss {
			w106 |= 1<<13 | uint16(bits.TrailingZeros32(pss/lss))
		}
		putWord(b, 106, w106)
	}
	putWord(b, 217, id.RotationRate)
	sealIdentify(b)
	return b
}

// qemuAttributeRows is QEMU 7.2's smart_attributes table (hw/ide/core.c):
// id, flags, hflags, val, wrst, raw[6], threshold.
var qemuAttributeRows = [][12]byte{
	{0x01, 0x03, 0x00, 0x64, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06},
	{0x03, 0x03, 0x00, 0x64, 0x64, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x04, 0x02, 0x00, 0x64, 0x64, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14},
	{0x05, 0x03, 0x00, 0x64, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24},
	{0x09, 0x03, 0x00, 0x64, 0x64, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x0c, 0x03, 0x00, 0x64, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	{190, 0x03, 0x00, 0x45, 0x45, 0x1f, 0x00, 0x1f, 0x1f, 0x00, 0x00, 0x32},
}

// qemuSMARTData is SMART READ DATA as QEMU's cmd_smart builds it: version
// 1, bytes 0-10 of each row, offline status 0x02 (autosave off), the
// capability bytes, QEMU's checksum (0x100 - sum).
func qemuSMARTData() []byte {
	b := make([]byte, 512)
	b[0] = 0x01
	for n, row := range qemuAttributeRows {
		copy(b[2+n*12:], row[:11])
	}
	b[362] = 0x02
	b[363] = 0
	b[364] = 0x20
	b[365] = 0x01
	b[367] = 1<<4 | 1<<3 | 1
	b[368] = 0x03
	b[369] = 0x00
	b[370] = 0x01
	b[372] = 0x02
	b[373] = 0x36
	b[374] = 0x01
	var s byte
	for _, c := range b[:511] {
		s += c
	}
	b[511] = 0 - s
	return b
}

// qemuThresholds is QEMU's SMART READ THRESHOLDS page.
func qemuThresholds() []byte {
	b := make([]byte, 512)
	b[0] = 0x01
	for n, row := range qemuAttributeRows {
		b[2+n*12] = row[0]
		b[2+n*12+1] = row[11]
	}
	b[511] = -sum8(b[:511])
	return b
}

// smartPage builds a SMART READ DATA page holding attrs in consecutive
// slots (or at a.slot when keepSlots), revision 0x10, sealed.
func smartPage(attrs []Attribute, keepSlots bool) []byte {
	b := make([]byte, 512)
	b[0] = 0x10
	for i, a := range attrs {
		slot := i
		if keepSlots {
			slot = a.slot
		}
		e := b[2+slot*12:]
		e[0] = a.ID
		binary.LittleEndian.PutUint16(e[1:], a.Flags)
		e[3] = a.Value
		e[4] = a.Worst
		for k := 0; k < 6; k++ {
			e[5+k] = byte(a.Raw >> (8 * k))
		}
	}
	b[511] = -sum8(b[:511])
	return b
}

// encodeSMARTData is the inverse of DecodeSMARTData on every field.
func encodeSMARTData(d *SMARTData) []byte {
	b := smartPage(d.Attributes, true)
	binary.LittleEndian.PutUint16(b[0:], d.Revision)
	b[362] = d.OfflineStatus
	b[363] = d.SelfTestStatus
	binary.LittleEndian.PutUint16(b[364:], d.OfflineSeconds)
	b[367] = d.OfflineCap
	binary.LittleEndian.PutUint16(b[368:], d.Capability)
	b[370] = d.ErrorLogging
	b[372] = d.ShortTestMinutes
	if d.ExtendedTestMinutes < 0xFF {
		b[373] = byte(d.ExtendedTestMinutes)
	} else {
		b[373] = 0xFF
		binary.LittleEndian.PutUint16(b[375:], d.ExtendedTestMinutes)
	}
	b[374] = d.ConveyanceTestMinutes
	b[511] = 0
	b[511] = -sum8(b[:511])
	return b
}

// thresholdPage builds a thresholds page (at e.slot when keepSlots).
func thresholdPage(rev uint16, entries []Threshold, keepSlots bool) []byte {
	b := make([]byte, 512)
	binary.LittleEndian.PutUint16(b, rev)
	for i, e := range entries {
		slot := i
		if keepSlots {
			slot = e.slot
		}
		b[2+slot*12] = e.ID
		b[2+slot*12+1] = e.Value
	}
	b[511] = -sum8(b[:511])
	return b
}

// attr is a compact Attribute literal helper.
func attr(id uint8, flags uint16, value, worst uint8, raw uint64) Attribute {
	return Attribute{ID: id, Flags: flags, Value: value, Worst: worst, Raw: raw}
}

// ---- NVMe byte fixtures -------------------------------------------------

func putASCII(b []byte, s string) {
	for i := range b {
		b[i] = ' '
		if i < len(s) {
			b[i] = s[i]
		}
	}
}

// nvmeIdentifyCtrl builds Identify Controller data at the spec offsets.
func nvmeIdentifyCtrl(model, serial, fw string, wctemp, cctemp uint16) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b[0:], 0x1b36)
	binary.LittleEndian.PutUint16(b[2:], 0x1af4)
	putASCII(b[4:24], serial)
	putASCII(b[24:64], model)
	putASCII(b[64:72], fw)
	binary.LittleEndian.PutUint32(b[80:], 0x00010400)
	binary.LittleEndian.PutUint16(b[266:], wctemp)
	binary.LittleEndian.PutUint16(b[268:], cctemp)
	binary.LittleEndian.PutUint32(b[516:], 256)
	return b
}

// nvmeIdentifyNS builds Identify Namespace data with LBA format flbas
// index idx of 2^lbads bytes.
func nvmeIdentifyNS(nsze uint64, idx int, lbads byte) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint64(b[0:], nsze)
	binary.LittleEndian.PutUint64(b[8:], nsze)
	binary.LittleEndian.PutUint64(b[16:], nsze/2)
	b[25] = 7
	b[26] = byte(idx&0x0F) | byte(idx>>4)<<5
	for i := 0; i < 8; i++ {
		b[128+4*i+2] = 9
	}
	b[128+4*idx+2] = lbads
	return b
}

func put128(b []byte, u Uint128) {
	binary.LittleEndian.PutUint64(b, u.Lo)
	binary.LittleEndian.PutUint64(b[8:], u.Hi)
}

// encodeHealthLog writes h over a copy of base (nil: zeros), the inverse
// of DecodeHealthLog on every field.
func encodeHealthLog(h *HealthLog, base []byte) []byte {
	b := make([]byte, 512)
	copy(b, base)
	le := binary.LittleEndian
	b[0] = h.CriticalWarning
	le.PutUint16(b[1:], h.TemperatureK)
	b[3] = h.AvailableSpare
	b[4] = h.SpareThreshold
	b[5] = h.PercentageUsed
	b[6] = h.EnduranceWarning
	put128(b[32:], h.DataUnitsRead)
	put128(b[48:], h.DataUnitsWritten)
	put128(b[64:], h.HostReads)
	put128(b[80:], h.HostWrites)
	put128(b[96:], h.ControllerBusyMinutes)
	put128(b[112:], h.PowerCycles)
	put128(b[128:], h.PowerOnHours)
	put128(b[144:], h.UnsafeShutdowns)
	put128(b[160:], h.MediaErrors)
	put128(b[176:], h.ErrorLogEntries)
	le.PutUint32(b[192:], h.WarningTempMinutes)
	le.PutUint32(b[196:], h.CriticalTempMinutes)
	for i, t := range h.TempSensorsK {
		le.PutUint16(b[200+2*i:], t)
	}
	le.PutUint32(b[216:], h.ThermalMgmt1Count)
	le.PutUint32(b[220:], h.ThermalMgmt2Count)
	le.PutUint32(b[224:], h.ThermalMgmt1Seconds)
	le.PutUint32(b[228:], h.ThermalMgmt2Seconds)
	return b
}

// qemuHealthLog is the log QEMU 7.2 answered in the measurements: 323 K,
// spare 0 %, threshold 0 %, some live counters, power-on hours 0.
func qemuHealthLog(critical uint8) []byte {
	b := make([]byte, 512)
	b[0] = critical
	binary.LittleEndian.PutUint16(b[1:], 323)
	binary.LittleEndian.PutUint64(b[32:], 12)  // data units read
	binary.LittleEndian.PutUint64(b[48:], 3)   // data units written
	binary.LittleEndian.PutUint64(b[64:], 700) // host reads
	binary.LittleEndian.PutUint64(b[80:], 90)  // host writes
	return b
}

// ---- sense fixtures ----------------------------------------------------

// descSense is descriptor-format sense with an ATA Status Return
// descriptor when regs is non-nil (libata's layout).
func descSense(key, asc, ascq uint8, regs *ATARegs) []byte {
	b := []byte{0x72, key, asc, ascq, 0, 0, 0, 0}
	if regs != nil {
		d := make([]byte, 14)
		d[0], d[1] = 0x09, 0x0c
		if regs.Ext {
			d[2] = 1
		}
		d[3] = regs.Error
		d[4] = byte(regs.Count >> 8)
		d[5] = byte(regs.Count)
		d[6] = byte(regs.LBA >> 24)
		d[7] = byte(regs.LBA)
		d[8] = byte(regs.LBA >> 32)
		d[9] = byte(regs.LBA >> 8)
		d[10] = byte(regs.LBA >> 40)
		d[11] = byte(regs.LBA >> 16)
		d[12] = regs.Device
		d[13] = regs.Status
		b = append(b, d...)
	}
	b[7] = byte(len(b) - 8)
	return b
}

// fixedSense is fixed-format sense; with regs, the ATA fields SAT-3
// defines and the VALID bit (libata since 2024).
func fixedSense(key, asc, ascq uint8, regs *ATARegs) []byte {
	b := make([]byte, 18)
	b[0] = 0x70
	b[2] = key
	b[7] = 10
	b[12], b[13] = asc, ascq
	if regs != nil {
		b[0] |= 0x80
		b[3] = regs.Error
		b[4] = regs.Status
		b[5] = regs.Device
		b[6] = byte(regs.Count)
		if regs.Ext {
			b[8] |= 0x80
		}
		b[9] = byte(regs.LBA)
		b[10] = byte(regs.LBA >> 8)
		b[11] = byte(regs.LBA >> 16)
	}
	return b
}

// ---- fake devices ------------------------------------------------------

// ataKey names an ATA command for the fake: command and feature.
type ataKey struct{ cmd, feat uint8 }

var (
	keyIdentify   = ataKey{ATACmdIdentify, 0}
	keyReadData   = ataKey{ATACmdSMART, SMARTReadData}
	keyThresholds = ataKey{ATACmdSMART, SMARTReadThresholds}
	keyStatus     = ataKey{ATACmdSMART, SMARTReturnStatus}
)

// fakeATA is an ATA disk: pages per command, registers for RETURN STATUS,
// forced errors per command. It checks the taskfile of every command.
type fakeATA struct {
	t      *testing.T
	pages  map[ataKey][]byte
	status *ATARegs
	errs   map[ataKey]error
	calls  []ataKey
}

func newFakeATA(t *testing.T, identify, data, thresholds []byte, status *ATARegs) *fakeATA {
	return &fakeATA{t: t, status: status, errs: map[ataKey]error{},
		pages: map[ataKey][]byte{keyIdentify: identify, keyReadData: data, keyThresholds: thresholds}}
}

// passedRegs and failingRegs are RETURN STATUS answers.
func passedRegs() *ATARegs  { return &ATARegs{Status: 0x50, LBA: 0xC24F00} }
func failingRegs() *ATARegs { return &ATARegs{Status: 0x50, LBA: 0x2CF400} }

func (f *fakeATA) ATACommand(ctx context.Context, cmd ATACmd, buf []byte) (*ATARegs, error) {
	f.t.Helper()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := ataKey{cmd.Command, uint8(cmd.Features)}
	f.calls = append(f.calls, k)
	if cmd.Command == ATACmdSMART && (cmd.LBA != 0xC24F00) {
		f.t.Errorf("SMART command %#x without the 4F/C2 signature: LBA %#x", cmd.Features, cmd.LBA)
	}
	if len(buf) > 0 && int(cmd.Count)*512 != len(buf) {
		f.t.Errorf("command %#x/%#x: count %d for %d bytes", cmd.Command, cmd.Features, cmd.Count, len(buf))
	}
	if k == keyStatus && !cmd.CheckCondition {
		f.t.Errorf("RETURN STATUS without CK_COND")
	}
	if err := f.errs[k]; err != nil {
		return nil, err
	}
	if k == keyStatus {
		return f.status, nil
	}
	p, ok := f.pages[k]
	if !ok {
		return nil, &ATAError{Command: cmd.Command, Features: uint8(cmd.Features), Status: 0x51, ErrorReg: ataErrorABRT}
	}
	if len(p) < len(buf) {
		copy(buf, p)
		return nil, fmt.Errorf("short transfer: %d of %d bytes: %w", len(p), len(buf), ErrTruncated)
	}
	copy(buf, p)
	return nil, nil
}

// fakeNVMe is an NVMe controller: pages per (opcode, cns/log id, nsid).
type fakeNVMe struct {
	t     *testing.T
	ctrl  []byte
	ns    map[uint32][]byte
	log   []byte
	errs  map[uint8]error // per opcode
	calls []NVMeAdminCmd
}

func (f *fakeNVMe) AdminCommand(ctx context.Context, cmd NVMeAdminCmd, buf []byte) (uint32, error) {
	f.t.Helper()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.calls = append(f.calls, cmd)
	if err := f.errs[cmd.Opcode]; err != nil {
		return 0, err
	}
	var p []byte
	switch {
	case cmd.Opcode == NVMeOpIdentify && cmd.CDW10 == 1:
		if cmd.NSID != 0 {
			f.t.Errorf("Identify Controller with nsid %d", cmd.NSID)
		}
		p = f.ctrl
	case cmd.Opcode == NVMeOpIdentify && cmd.CDW10 == 0:
		var ok bool
		if p, ok = f.ns[cmd.NSID]; !ok {
			return 0, &NVMeStatusError{Opcode: cmd.Opcode, Status: 0x000B} // invalid namespace
		}
	case cmd.Opcode == NVMeOpGetLogPage:
		if cmd.CDW10 != 127<<16|2 || cmd.NSID != 0xFFFFFFFF || len(buf) != 512 {
			f.t.Errorf("Get Log Page cdw10 %#x nsid %#x len %d", cmd.CDW10, cmd.NSID, len(buf))
		}
		p = f.log
	default:
		return 0, &NVMeStatusError{Opcode: cmd.Opcode, Status: 0x0001} // invalid opcode
	}
	if len(p) < len(buf) {
		copy(buf, p)
		return 0, fmt.Errorf("short transfer: %w", ErrTruncated)
	}
	copy(buf, p)
	return 0, nil
}

// errEIO is a stand-in kernel error.
var errEIO = syscall.EIO
