// Package proc reads a process's peak memory from /proc for the benchmark
// programs: VmHWM, and its reset through clear_refs.
package proc

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// VmHWM returns the peak resident set size in KiB of process pid ("self"
// for this one), 0 if unknown.
func VmHWM(pid string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
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
func ResetPeak(pid string) bool {
	return os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0) == nil
}
