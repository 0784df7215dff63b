// Package ipmi is Keep's BMC client: a small transport over the Linux
// IPMI device interface (/dev/ipmi0) and the commands and decoders the
// supervisor needs for the watchdog, the System Event Log, the SDR
// repository and sensors, FRU identity, chassis state and the BMC's LAN
// configuration. It also encodes FRU images and SDR files, which the QEMU
// tests hand to the simulated BMC.
//
// It owns:
//
//   - Transport (client.go, device*.go): Client.Raw sends one request to
//     the BMC (system interface address type 0x0c, channel 0x0f, LUN 0)
//     with IPMICTL_SEND_COMMAND, polls, and reads the reply with
//     IPMICTL_RECEIVE_MSG_TRUNC. Replies are matched by msgid; async
//     events, incoming commands and stale replies to timed-out attempts
//     are dropped. One command is in flight per Client.
//   - Errors (errors.go): a non-zero completion code is a
//     *CompletionError{Code, NetFn, Cmd}; Code is a CompletionCode whose
//     named constants are sentinels (errors.Is(err, ErrInvalidCommand)).
//     ErrNoBMC (no device node, ENODEV, ENXIO) is the clean "no BMC"
//     state. ErrTimeout, ErrShortResponse and a few command-specific
//     sentinels (ErrWatchdogUninitialized, ErrSetInProgress, …) complete
//     the set.
//   - Commands: Get Device ID; Set/Get/Reset Watchdog Timer and a disarm;
//     SEL info, reserve, get entry (and iteration), add, clear with erase
//     polling, get/set time; SDR repository info, reserve, chunked Get SDR
//     and iteration; Get Sensor Reading and Thresholds; FRU area info,
//     chunked Read FRU Data and ReadFRU; Get Chassis Status, Set Power
//     Restore Policy; Get Channel Info, Get/Set LAN Configuration.
//   - Decoders and encoders: SEL records (system event, OEM timestamped
//     and non-timestamped) with sensor type names and event offset texts;
//     full and compact sensor records with the conversion
//     y = L[(M*x + B*10^K1) * 10^K2]; FRU common header, chassis, board
//     and product areas; type/length strings (8-bit, BCD plus, 6-bit).
//
// Invariants:
//
//   - Every call that talks to the BMC takes a context.Context and is
//     bounded: Config.Timeout per attempt (polled in 100 ms slices so a
//     cancelled context is seen), Config.Retries resends after a timeout
//     or a transient code (0xC0 node busy, 0xC3, 0xCE, 0xD2), with
//     Config.RetryDelay between. Nothing waits forever on a missing BMC.
//   - Responses are parsed by position against a minimum length; extra
//     bytes are ignored (ipmi_sim appends ~30 garbage bytes to some
//     replies). Short responses are ErrShortResponse, never a panic.
//   - Record chains (SEL, SDR) start at id 0x0000 and follow "next id"
//     until 0xFFFF; a revisited id stops the walk (ErrSELLoop, ErrSDRLoop).
//     Reservations are taken only where needed (clear, partial reads) and
//     re-taken a bounded number of times when cancelled (0xC5).
//   - Decoders never allocate more than their input and never panic on
//     any input; checksums are verified (FRU) and lengths checked before
//     indexing.
//   - No package-level mutable state; the device path is Config.Path.
//
// QEMU facts relied on (7.2 ipmi-bmc-sim, hw/ipmi/ipmi_bmc_sim.c;
// ../shared/notes/qemu.md §2):
//
//   - The first SEL record id is 0x0000 (real BMCs start at 1); asking
//     for 0x0000 means "first" on both, so one walk serves both. The SEL
//     holds 128 records; Clear SEL completes at once (status 1).
//   - Watchdog: countdown in 100 ms, decremented per second; action power
//     cycle and pre-timeout SMI are rejected with 0xCC; Reset before any
//     Set is 0x80; after a watchdog reset the expiration flag of the use
//     (0x10 for SMS/OS) survives the guest reset, which is how
//     WatchdogState.ResetByWatchdog works. Get Watchdog's "running" bit is
//     the stored "don't stop" bit there, not the live state.
//   - Get Chassis Status answers 61 00 00 00 (on, policy unknown); Set
//     Power Restore Policy, Get Channel Info, LAN configuration and Get
//     Sensor Thresholds are 0xC1 there (use ipmi_sim for LAN).
//   - sdrfile: concatenated SDR records; QEMU renumbers ids from 0, sets
//     the version to 0x51, and the file replaces the built-in compact
//     "Watchdog" record. Only compact records with sensor number < 20
//     become readable sensors (Get Sensor Reading); full records are
//     served by Get SDR only. EncodeSDRFile writes this format.
//   - frudatafile: raw bytes padded to fruareasize (default 1024) per FRU
//     device; Read FRU Data refuses offsets >= fruareasize-1, so ReadFRU
//     reads only the header and the areas it names. Without a file FRU 0
//     is all zeros (DecodeFRU: ErrFRUFormat). EncodeFRU writes this format.
//
// Testing: unit tests run every command against a scripted fake of the
// unexported device seam (fake_test.go) that checks the exact request
// bytes and replies with canned data, completion codes, truncated data,
// forced errnos (ENODEV, EIO, EAGAIN, EFAULT, EBADF), events, stale
// replies and silence. Golden decodes use QEMU's built-in SDR and the
// records QEMU logs on watchdog expiry, a full record and a FRU image
// laid out by hand from the specs (bytes built outside this package);
// encoders are checked by round trips. FuzzDecodeSELRecord,
// FuzzDecodeSDR and FuzzDecodeFRU feed arbitrary bytes to the decoders.
// The real device is proven by the QEMU scenarios (qemu/): the appliance's
// bmc service arms the simulated BMC's watchdog and the BMC resets a box
// that stops petting it. ipmitool as an independent oracle in a test
// image is still to come (issue 4).
package ipmi
