package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"keep/engine/backup"
)

// isTerminal reports whether w is a terminal (a TCGETS ioctl succeeds).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressView shows a backup's progress: on a terminal one line
// rewritten in place, otherwise a plain line every `every`.
type progressView struct {
	w     io.Writer
	tty   bool
	quiet bool
	every time.Duration

	mu       sync.Mutex
	last     time.Time
	lastLen  int
	total    int64 // pre-scanned bytes (0: unknown)
	scanned  bool
	drawn    bool
	cur      backup.Progress
	sent     int64
	finished bool
}

func newProgressView(w io.Writer, tty, quiet bool, every time.Duration) *progressView {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &progressView{w: w, tty: tty, quiet: quiet, every: every}
}

// prescan sums the sizes of regular files under paths, for an ETA. It
// gives up after a few seconds (no ETA then).
func (p *progressView) prescan(ctx context.Context, paths, images []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var total int64
	for _, root := range paths {
		err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return nil
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
		if err != nil {
			return
		}
	}
	for _, im := range images {
		if fi, err := os.Stat(im); err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		} else {
			return // a device's size: not worth an ioctl here; no ETA
		}
	}
	p.mu.Lock()
	p.total, p.scanned = total, true
	p.mu.Unlock()
}

func (p *progressView) update(pr backup.Progress, sent int64) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.cur, p.sent = pr, sent
	now := time.Now()
	if !p.tty {
		if now.Sub(p.last) < p.every {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "progress: %d files, %d dirs, %s seen, %s read, %s new (sent), %s/s, %s elapsed\n",
			pr.Files, pr.Dirs, human(pr.BytesSeen), human(pr.BytesRead), human(sent), human(int64(pr.Rate)), pr.Elapsed.Round(time.Second))
		return
	}
	p.drawLocked()
}

func (p *progressView) drawLocked() {
	pr := p.cur
	// "new" is what the vault lacked and was sent: the agent's own
	// estimate (BytesNew) counts chunks before the vault is asked.
	line := fmt.Sprintf("%d files  %s seen  %s new  %s/s", pr.Files, human(pr.BytesSeen), human(p.sent), human(int64(pr.Rate)))
	if p.scanned && p.total > 0 {
		frac := min(float64(pr.BytesSeen)/float64(p.total), 1)
		const width = 20
		n := int(frac * width)
		bar := "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
		eta := "ETA --"
		if pr.Rate > 0 && frac < 1 {
			left := time.Duration(float64(p.total-pr.BytesSeen) / pr.Rate * float64(time.Second))
			eta = "ETA " + left.Round(time.Second).String()
		}
		line = fmt.Sprintf("%s %3.0f%%  %s  %s", bar, frac*100, line, eta)
	}
	pad := ""
	if len(line) < p.lastLen {
		pad = strings.Repeat(" ", p.lastLen-len(line))
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.lastLen = len(line)
	p.drawn = true
}

// checkpoint reports that everything sent so far is durable on the vault.
func (p *progressView) checkpoint(n int, sent int64) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		return // the bar is enough
	}
	fmt.Fprintf(p.w, "checkpoint %d: the %s (%d bytes) sent so far are durable on the vault\n", n, human(sent), sent)
}

func (p *progressView) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\n")
	}
}
