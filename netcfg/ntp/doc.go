// Package ntp keeps the system clock with SNTP (RFC 5905 client mode,
// with RFC 4330's checks) and writes it to the RTC at shutdown.
//
// A Client asks its servers (from the configuration, else from DHCP
// option 42) every poll interval, rejects unusable replies (kiss-o'-
// death, stratum 0 or 16, leap alarm, an origin timestamp that does not
// echo the request, zero timestamps, too great a root distance), and
// combines the good ones (the median offset of three or more). At its
// first synchronisation it steps the clock if the offset is large; from
// then on it only slews, through the kernel's PLL (adjtimex ADJ_OFFSET),
// which also marks the kernel clock synchronised. Synchronised and
// unsynchronised transitions and large corrections are reported through
// callbacks for the event journal.
//
// The clock syscalls sit behind Clock (System is the kernel's) and the
// network behind Transport (UDP is the real one), so tests run against
// a fake clock and an in-process server on 127.0.0.1; the packet decoder
// is fuzzed.
package ntp
