// Package proc reads a process's CPU time and peak memory from /proc for
// the benchmark programs.
package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU returns the user plus system CPU seconds of process pid, 0 if
// unknown.
func CPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// utime and stime are fields 14 and 15; the command name (field 2,
	// in parentheses) may hold spaces, so count after its ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	const hz = 100 // USER_HZ on Linux
	return (ut + st) / hz
}

// VmHWM returns the peak resident set size in KiB of process pid, 0 if
// unknown.
func VmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// ResetPeak resets pid's VmHWM to its current RSS; false if the kernel
// refused.
func ResetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// LoopbackBytes returns the bytes received on the loopback interface so
// far (every byte sent over 127.0.0.1 is received there once), 0 if
// unknown.
func LoopbackBytes() int64 {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0
	}
	return netDevRx(string(b), "lo")
}

// netDevRx returns the receive-bytes counter of interface name in the
// text of /proc/net/dev, 0 if it is not there.
func netDevRx(text, name string) int64 {
	for _, l := range strings.Split(text, "\n") {
		dev, counters, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(dev) != name {
			continue
		}
		f := strings.Fields(counters)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}
