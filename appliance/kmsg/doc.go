// Package kmsg reads the kernel's log buffer (/dev/kmsg), so the kernel's
// messages (disk errors, md, module loading through keep's modprobe) reach
// the appliance's log ring and `keep ctl logs kernel` without a shell on
// the box.
//
// The record format is the kernel's (Documentation/ABI/testing/dev-kmsg):
// "PRI,SEQ,TIMESTAMP_US,FLAGS[,…];MESSAGE" followed by optional
// continuation lines that start with a space. Parse is strict about the
// header and never panics; it is fuzzed, since the bytes come from outside
// the program.
package kmsg
