// Package smart is Keep's disk health: SMART read in pure Go from ATA/SATA
// disks (SCSI/ATA Translation over SG_IO) and NVMe controllers (admin
// passthrough), judged into a verdict with its reasons. There is no
// smartctl on the box.
//
// What it owns:
//
//   - The ATA seam (sgio.go): ATADevice, one ATA command as a taskfile
//     (ATACmd) in and registers (ATARegs) out. LinuxATA implements it with
//     the SG_IO ioctl (0x2285, struct sg_io_hdr, 88 bytes on amd64) and ATA
//     PASS-THROUGH(16) (opcode 0x85; PIO data-in or non-data; CK_COND when
//     the registers are wanted) on /dev/sdX opened O_RDONLY|O_NONBLOCK.
//     The SG_IO outcome is interpreted by pure code: host/driver status,
//     SCSI status, CHECK CONDITION sense (DecodeSense: fixed 0x70/0x71 and
//     descriptor 0x72/0x73 format, the ATA Status Return descriptor 0x09),
//     resid.
//   - ATA commands and decoders (ata.go, identify.go, attributes.go):
//     IDENTIFY DEVICE (model, serial, firmware, capacity, sector sizes,
//     rotation rate, SMART supported/enabled, WWN), SMART READ DATA and
//     READ THRESHOLDS (attribute table, checksums), SMART RETURN STATUS
//     (4F/C2 passed, F4/2C failing), smartctl's default attribute names
//     and raw formats (Attribute.RawCount), ReadATA.
//   - The NVMe seam (nvme.go): NVMeDevice, one admin command. LinuxNVMe
//     implements it with NVME_IOCTL_ADMIN_CMD (0xC0484E41, struct
//     nvme_passthru_cmd, 72 bytes) on /dev/nvmeN or /dev/nvmeNnM. Identify
//     Controller, Identify Namespace, the SMART / Health log (every field,
//     128-bit counters as Uint128), ReadNVMe.
//   - The verdict (verdict.go): Policy — thresholds as data, DefaultPolicy
//     documents the shipped values — turns readings into Passed, Warning
//     or Failing with Reasons (stable ReasonCodes, the attribute, a
//     human detail). Report (report.go) is the JSON shape for `keep ctl
//     disks` and the monitoring hub: identity, verdict, reasons,
//     temperature, power-on hours, the attribute table or the health log.
//   - Reader.Read / Read (read.go): device path → whole disk (partitions
//     and /dev/disk/by-* links resolved through sysfs) → ATA or NVMe by the
//     disk's sysfs subsystem (scsi, nvme) or, without sysfs, by name →
//     Report. Virtio, md, loop, dm and MMC devices have no SMART:
//     ErrNoSMART, a clean state, not a failure.
//
// Invariants:
//
//   - Read-only. Keep issues IDENTIFY and the SMART read subcommands only;
//     it never enables SMART, starts self-tests or writes a log. Devices
//     are opened without O_EXCL, so active md members can be read.
//   - Every decoder takes the whole structure (512 bytes ATA and NVMe
//     log, 4096 NVMe identify) or fails with ErrTruncated; extra bytes are
//     ignored; no decoder panics or allocates beyond its input. Checksums
//     are verified (SMART data and thresholds always, IDENTIFY when word
//     255 carries the 0xA5 signature): a bad one is ErrBadChecksum and the
//     data is not used. All-zero pages are ErrMalformed (nothing was
//     transferred). Strings are printable ASCII, trimmed.
//   - A transfer shorter than asked (SG_IO resid) is ErrTruncated, never
//     decoded. CHECK CONDITION with "ATA pass-through information
//     available" (RECOVERED ERROR 00/1D) or NO SENSE is success; ATA
//     registers with ERR or DF are an *ATAError; other sense is a
//     *SenseError (ILLEGAL REQUEST: no SAT → ErrNoSMART at IDENTIFY).
//     Registers are taken from fixed-format sense only with its VALID bit
//     (libata before its 2024 fix wrote them elsewhere).
//   - Verdict: ATA RETURN STATUS failing, or any attribute value ≤ a
//     non-zero threshold, is Failing; NVMe critical warning bits (each
//     named) and the endurance group summary are Failing; the Warning
//     rules are Policy data. An unknown RETURN STATUS (no registers back)
//     is reported, not judged; READ THRESHOLDS refused (obsolete since
//     ACS-2) leaves attributes unjudged against thresholds. SMART disabled
//     is Warning: health unknown.
//   - Every command checks its context first; the ioctls cannot be
//     interrupted, so each carries a timeout (DefaultTimeout, or less to
//     meet the context deadline).
//   - No package-level mutable state: the sysfs root, the opener and the
//     policy are Reader fields; DefaultPolicy returns a fresh value.
//
// QEMU facts relied on (notes/qemu.md §4, QEMU 7.2 hw/ide/core.c): the
// AHCI disk answers IDENTIFY with words 82-87 valid, SMART supported and
// enabled, 48-bit LBA, no word 217 and no integrity word; SMART READ DATA
// is a fixed table — attributes 1, 3, 4, 5, 9, 12 value 100, 190 airflow
// temperature value 69 raw 31 °C, thresholds 6, 0, 20, 36, 0, 0, 50 — and
// RETURN STATUS is always "passed" (no failure injection). The NVMe
// controller (hw/nvme/ctrl.c) reports 323 K, spare 0 % with threshold 0 % (so spare is
// judged only by the controller's own critical warning bit), WCTEMP 343
// K, and its critical warning is settable with QMP qom-set
// smart_critical_warning.
//
// Testing: table tests for every decoder against byte fixtures built at
// the specification offsets (and QEMU's IDENTIFY, SMART table and
// thresholds reproduced as QEMU builds them), the pass-through CDB
// against the bytes measured on QEMU, sense data in both formats,
// every SG_IO outcome, ReadATA and ReadNVMe against fake devices with
// forced errors and truncated transfers, the verdict rules one by one,
// the Report's JSON, device resolution against a fake sysfs tree, the
// ioctl struct layouts (sizes 88 and 72, field offsets, ioctl number),
// and the real ioctl paths against a regular file (ENOTTY). Fuzz tests
// (FuzzDecodeIdentify, FuzzDecodeSMARTData, FuzzDecodeThresholds,
// FuzzDecodeHealthLog, FuzzDecodeNVMeIdentify, FuzzDecodeSense) check no
// panics and decode∘encode identities. Fakes are not the proof that the
// ioctls work on hardware: that comes from the QEMU scenario (AHCI and
// NVMe disks, critical warning injected over QMP) and from smartctl as an
// oracle agreeing with our readings, both still to be written by the
// lead.
package smart
