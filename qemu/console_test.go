package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// appender writes lines to a log file from its own goroutine, as QEMU would.
type appender struct {
	path string
	done chan struct{}
}

// startAppender writes lines to path, one every gap, then returns; the test's
// cleanup waits for it.
func startAppender(t *testing.T, path string, gap time.Duration, lines ...string) *appender {
	t.Helper()
	a := &appender{path: path, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("appender: %v", err)
			return
		}
		defer f.Close()
		for _, l := range lines {
			time.Sleep(gap)
			if _, err := f.WriteString(l); err != nil {
				t.Errorf("appender: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() { <-a.done })
	return a
}

func TestConsoleExpectWhileAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	c := newConsole(path, nil) // the file does not exist yet
	defer c.close()
	startAppender(t, path, 5*time.Millisecond,
		"[    0.000000] Linux version 6.1.0-56-amd64\r\n",
		"booting\r", "\n", // a CRLF split between two writes
		"KEEP-READY 4.21s\r\n",
		"after ready\r\n",
	)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	m, err := c.Expect(ctx, regexp.MustCompile(`Linux version (\S+)`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "6.1.0-56-amd64" {
		t.Errorf("submatch = %q", m[1])
	}
	m, err = c.Expect(ctx, regexp.MustCompile(`(?m)^KEEP-READY ([0-9.]+)s$`))
	if err != nil {
		t.Fatal(err)
	}
	if m[0] != "KEEP-READY 4.21s" || m[1] != "4.21" {
		t.Errorf("match = %q", m)
	}
	if err := c.ExpectString(ctx, "after ready"); err != nil {
		t.Fatal(err)
	}
	text, err := c.Text()
	if err != nil {
		t.Fatal(err)
	}
	if want := "[    0.000000] Linux version 6.1.0-56-amd64\nbooting\nKEEP-READY 4.21s\nafter ready\n"; text != want {
		t.Errorf("Text() = %q, want %q", text, want)
	}
}

func TestConsoleExpectCursorAdvances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newConsole(path, nil)
	defer c.close()
	ctx := t.Context()
	if err := c.ExpectString(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := c.ExpectString(short, "one"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("text before the cursor matched again: %v", err)
	}
	if err := c.ExpectString(ctx, "three"); err != nil {
		t.Errorf("text after the cursor: %v", err)
	}
}

func TestConsoleExpectTimeoutShowsTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	var lines []string
	for i := 1; i <= 100; i++ {
		lines = append(lines, fmt.Sprintf("line %03d\r\n", i))
	}
	c := newConsole(path, nil)
	defer c.close()
	a := startAppender(t, path, 0, lines...)
	<-a.done
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Expect(ctx, regexp.MustCompile(`KEEP-READY`))
	if time.Since(start) > 2*time.Second {
		t.Errorf("Expect took %v to time out", time.Since(start))
	}
	var ee *ExpectError
	if !errors.As(err, &ee) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Expect error = %v, want an ExpectError wrapping DeadlineExceeded", err)
	}
	msg := err.Error()
	for _, want := range []string{"KEEP-READY", "line 061", "line 100"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "line 060") || strings.Contains(msg, "\r") {
		t.Errorf("error tail is not the last 40 clean lines:\n%s", msg)
	}
}

func TestConsoleExpectStopsWhenQEMUExits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	stopped := make(chan struct{})
	c := newConsole(path, stopped)
	defer c.close()
	a := startAppender(t, path, 10*time.Millisecond, "Kernel panic - not syncing\r\n", "last words\r\n")
	go func() {
		<-a.done
		close(stopped)
	}()
	_, err := c.Expect(t.Context(), regexp.MustCompile(`KEEP-READY`))
	if !errors.Is(err, ErrVMExited) || !strings.Contains(err.Error(), "last words") {
		t.Fatalf("Expect error = %v, want ErrVMExited with the final output", err)
	}
	// Output written just before the exit still matches.
	c2 := newConsole(path, stopped)
	defer c2.close()
	if err := c2.ExpectString(t.Context(), "last words"); err != nil {
		t.Errorf("final output: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConsoleFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	stopped := make(chan struct{})
	c := newConsole(path, stopped)
	defer c.close()
	a := startAppender(t, path, 5*time.Millisecond, "a\r\n", "b\r\n", "c\r\n")
	go func() {
		<-a.done
		close(stopped)
	}()
	var out syncBuffer
	if err := c.Follow(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "a\r\nb\r\nc\r\n" {
		t.Errorf("Follow copied %q", got)
	}

	// A context that ends stops Follow of a console that never stops.
	c2 := newConsole(path, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c2.Follow(ctx, &out); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Follow = %v, want DeadlineExceeded", err)
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 5, "a\nb\nc\n"},
		{"a\n\n\n", 1, "a\n"},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
