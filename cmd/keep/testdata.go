package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

// testdataMain is the scenarios' data checker: `keep testdata write PATH
// MIB` writes MIB MiB of random data, fsyncs it and prints its SHA-256;
// `keep testdata sum PATH` drops the page cache (so the bytes come from the
// disks, through md) and prints the file's SHA-256. A test compares the
// two across disk failures, rebuilds and reboots. `keep testdata cat PATH`
// prints a (small) file such as /proc/mounts: the test image has no shell.
// `keep testdata rewrite PATH SECONDS` overwrites an existing file in
// place with fresh random data, 1 MiB at a time with an fdatasync every 4
// MiB, until SECONDS pass: writes stay in flight for as long as a test
// needs (a power cut meets them) and touch only the file's own blocks, no
// new allocations elsewhere on the filesystem.
func testdataMain(args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "keep testdata: "+format+"\n", a...)
		return 1
	}
	switch {
	case len(args) == 3 && args[0] == "write":
		mib, err := strconv.Atoi(args[2])
		if err != nil || mib <= 0 {
			return fail("size %q is not a positive number of MiB", args[2])
		}
		f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fail("%v", err)
		}
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for i := range mib {
			rand.Read(buf)
			h.Write(buf)
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return fail("write %s: %v", args[1], err)
			}
			// Sync as it goes, so the writes reach the disks while
			// they run (a power cut then meets them in flight).
			if i%4 == 3 {
				if err := f.Sync(); err != nil {
					f.Close()
					return fail("fsync %s: %v", args[1], err)
				}
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fail("fsync %s: %v", args[1], err)
		}
		if err := f.Close(); err != nil {
			return fail("%v", err)
		}
		fmt.Println(hex.EncodeToString(h.Sum(nil)))
		return 0
	case len(args) == 3 && args[0] == "rewrite":
		secs, err := strconv.Atoi(args[2])
		if err != nil || secs <= 0 {
			return fail("duration %q is not a positive number of seconds", args[2])
		}
		f, err := os.OpenFile(args[1], os.O_WRONLY, 0)
		if err != nil {
			return fail("%v (rewrite overwrites an existing file; write it first)", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fail("%v", err)
		}
		const block = 1 << 20
		blocks := fi.Size() / block
		if blocks == 0 {
			return fail("%s is smaller than 1 MiB: nothing to rewrite", args[1])
		}
		buf := make([]byte, block)
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		var n int64
		for time.Now().Before(deadline) {
			rand.Read(buf)
			if _, err := f.WriteAt(buf, (n%blocks)*block); err != nil {
				return fail("write %s: %v", args[1], err)
			}
			n++
			// A short pause per MiB leaves the rest of the box
			// (the API a test polls) room; md's 200 ms
			// safe-mode delay keeps the array active across it.
			time.Sleep(10 * time.Millisecond)
			if n%4 == 0 {
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					return fail("fdatasync %s: %v", args[1], err)
				}
			}
		}
		fmt.Printf("rewrote %d MiB\n", n)
		return 0
	case len(args) == 2 && args[0] == "sum":
		// Best effort: without it the sum may come from the cache.
		os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
		f, err := os.Open(args[1])
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fail("read %s: %v", args[1], err)
		}
		fmt.Println(hex.EncodeToString(h.Sum(nil)))
		return 0
	case len(args) == 2 && args[0] == "cat":
		b, err := os.ReadFile(args[1])
		if err != nil {
			return fail("%v", err)
		}
		os.Stdout.Write(b)
		return 0
	}
	return fail("usage: keep testdata write PATH MIB | keep testdata rewrite PATH SECONDS | keep testdata sum PATH | keep testdata cat PATH")
}
