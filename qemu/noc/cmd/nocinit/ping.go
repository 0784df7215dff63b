package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// pingMain is a small ICMP echo client for images built on a host without
// iputils: `ping [-c count] [-i interval] [-W wait] [-I source] [-q] host`.
// It prints one line per reply and iputils' summary line, and exits 0 when
// at least one reply came back, 1 when none did, 2 on usage errors.
func pingMain(args []string) int {
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	count := fs.Int("c", 4, "echo requests to send")
	interval := fs.Float64("i", 1, "seconds between requests")
	wait := fs.Float64("W", 1, "seconds to wait for the last reply")
	src := fs.String("I", "", "source address")
	quiet := fs.Bool("q", false, "summary only")
	size := fs.Int("s", 56, "payload bytes")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ping [-c count] [-i interval] [-W wait] [-I source] [-q] [-s size] host")
		return 2
	}
	dst, err := net.ResolveIPAddr("ip4", fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ping: %v\n", err)
		return 2
	}
	conn, err := net.ListenPacket("ip4:icmp", *src)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ping: %v\n", err)
		return 2
	}
	defer conn.Close()
	id := uint16(os.Getpid())
	var mu sync.Mutex
	sent := map[uint16]time.Time{}
	received := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if len(b) < 8 || b[0] != 0 || binary.BigEndian.Uint16(b[4:]) != id {
				continue
			}
			seq := binary.BigEndian.Uint16(b[6:])
			mu.Lock()
			t0, ok := sent[seq]
			if ok {
				delete(sent, seq)
				received++
			}
			mu.Unlock()
			if ok && !*quiet {
				fmt.Printf("%d bytes from %s: icmp_seq=%d time=%.3f ms\n", n, from, seq,
					float64(time.Since(t0).Microseconds())/1000)
			}
		}
	}()
	fmt.Printf("PING %s (%s) %d(%d) bytes of data.\n", fs.Arg(0), dst.IP, *size, *size+28)
	start := time.Now()
	for seq := 1; seq <= *count; seq++ {
		msg := make([]byte, 8+*size)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		mu.Lock()
		sent[uint16(seq)] = time.Now()
		mu.Unlock()
		if _, err := conn.WriteTo(msg, dst); err != nil {
			fmt.Fprintf(os.Stderr, "ping: sendmsg: %v\n", err)
		}
		if seq < *count {
			time.Sleep(time.Duration(*interval * float64(time.Second)))
		}
	}
	deadline := time.Now().Add(time.Duration(*wait * float64(time.Second)))
	for time.Now().Before(deadline) {
		mu.Lock()
		pending := len(sent)
		mu.Unlock()
		if pending == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	loss := 100 * (*count - received) / max(*count, 1)
	fmt.Printf("\n--- %s ping statistics ---\n", fs.Arg(0))
	fmt.Printf("%d packets transmitted, %d received, %d%% packet loss, time %dms\n",
		*count, received, loss, time.Since(start).Milliseconds())
	if received == 0 {
		return 1
	}
	return 0
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = (s & 0xffff) + s>>16
	}
	return ^uint16(s)
}
