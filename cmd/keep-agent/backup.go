package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"keep/engine/backup"
	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/remote"
	"keep/engine/snapshot"
	"keep/internal/gctune"
)

// defaultCheckpoint is how many bytes of new blobs the agent sends
// between two checkpoints (a Flush on the vault: everything sent so far
// becomes durable, so an interrupted backup's retry does not send it
// again).
const defaultCheckpoint = 64 << 20

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func runBackup(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "backup", "backup [options] PATHS...\n\n"+
		"Backs up PATHS (and --stdin, --image streams) to the vault as one snapshot, with\n"+
		"source-side deduplication: only chunks the vault lacks are sent. Incremental by\n"+
		"default: files whose size, times and inode are unchanged since the latest snapshot\n"+
		"of this client and host with the same paths are not read again; a full backup when\n"+
		"there is none, or with --full.\n\n"+
		"Exit codes: 0 ok; 1 failed (no snapshot was made); 3 the snapshot was made but some\n"+
		"items were skipped (listed with reasons in the summary and the vault's job record).")
	var exclude, include, images, tags strList
	fs.Var(&exclude, "exclude", "leave out items matching `GLOB` (repeatable; gitignore-like, see engine/backup)")
	fs.Var(&include, "include", "re-include items an --exclude matched (repeatable)")
	fs.Var(&images, "image", "back up the block device or file at `PATH` whole, as a disk image (repeatable)")
	fs.Var(&tags, "tag", "tag the snapshot (repeatable)")
	sysEx := fs.Bool("system-excludes", false, "leave out /proc, /sys, /dev, /run and /tmp contents, caches, swap files, lost+found")
	stdinName := fs.String("stdin", "", "back up standard input as a file named `NAME`")
	full := fs.Bool("full", false, "read every file (no parent snapshot)")
	host := fs.String("hostname", hostname(), "hostname recorded in the snapshot")
	quiet := fs.Bool("quiet", false, "no progress, only the summary")
	compress := fs.Bool("compress", true, "compress data before sending it (false: send it as is and let the vault compress; for a host short of CPU on a fast network)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout")
	every := fs.Duration("progress-every", 5*time.Second, "interval of plain progress lines when stderr is not a terminal")
	ckpt := fs.String("checkpoint", strconv.Itoa(defaultCheckpoint), "make the vault flush after every `bytes` of data queued, so an interrupted backup's retry does not send it again (64M; 0: only at the end)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 && *stdinName == "" && len(images) == 0 {
		return usagef("nothing to back up: give PATHS, --stdin NAME or --image PATH")
	}
	ckptBytes, err := parseSize(*ckpt)
	if err != nil {
		return usagef("--checkpoint %q: %v", *ckpt, err)
	}
	if *stdinName != "" && (strings.Contains(*stdinName, "/") || *stdinName == "." || *stdinName == "..") {
		return usagef("--stdin %q: give a plain name, without \"/\"", *stdinName)
	}
	opts := backup.Options{Hostname: *host, Tags: tags, Exclude: exclude, Include: include, Images: images}
	if *sysEx {
		opts.Presets = []string{backup.PresetSystem}
	}
	for _, p := range append(slices.Clone([]string(exclude)), include...) {
		if _, err := backup.CompilePattern(p); err != nil {
			return usagef("pattern %q: %v", p, err)
		}
	}
	// The paths the snapshot records, as engine/backup records them: the
	// parent is the latest snapshot with the same set.
	var given []string
	for _, p := range pos {
		ap, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(ap); err != nil {
			return fmt.Errorf("cannot back up %s: %w", p, err)
		}
		given = append(given, ap)
	}
	for _, p := range images {
		ap, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(ap); err != nil {
			return fmt.Errorf("cannot back up image %s: %w", p, err)
		}
		given = append(given, ap)
	}
	if *stdinName != "" {
		opts.Streams = []backup.Stream{{Name: *stdinName, R: e.stdin}}
		given = append(given, backup.StreamPathPrefix+*stdinName)
	}

	c, err := connectWith(ctx, *dir, remote.Options{NoCompression: !*compress})
	if err != nil {
		return err
	}
	defer c.Close()
	opts.Client = c.Info().Client
	var parent fingerprint.ID
	if !*full {
		snaps, err := listSnaps(ctx, c)
		if err != nil {
			return err
		}
		// The parent is one of this client's own snapshots: the vault
		// lists others' too while a grant lets it read them, and refuses
		// a commit whose parent is not the client's.
		if p := snapshot.Latest(ofClient(snaps, whoseOf(c, "")), *host, given); p != nil {
			parent = p.ID
		}
	}
	st, err := c.NewStore(ctx, remote.Job{Hostname: *host, Paths: given, Parent: parent})
	if err != nil {
		return err
	}
	opts.Parent = st.Parent()
	gctune.ApplyPercent(backupGCPercent(opts.Parent != nil))
	kind := "full"
	if opts.Parent != nil {
		kind = "incremental, parent " + opts.Parent.ID.Short()
	}
	tty := !*quiet && !*asJSON && isTerminal(e.stderr)
	pr := newProgressView(e.stderr, tty, *quiet, *every)
	if tty {
		go pr.prescan(ctx, pos, images)
	}
	if !*quiet {
		fmt.Fprintf(e.stderr, "backup to vault %s as client %q (job %s, %s)\n", c.Info().VaultID, c.Info().Client, st.JobID(), kind)
	}
	cs := &checkpointStore{Store: st, every: ckptBytes, onCheckpoint: pr.checkpoint}
	opts.Progress = func(p backup.Progress) {
		st.Progress(p)
		pr.update(p, st.Stats().BytesSent)
	}
	res, runErr := backup.Run(ctx, cs, pos, opts)
	pr.done()
	finErr := st.Finish(context.WithoutCancel(ctx), res, runErr)
	if runErr != nil {
		return fmt.Errorf("backup failed, no snapshot was made: %w (chunks already flushed to the vault are kept; the next backup will not send them again)", runErr)
	}
	if finErr != nil {
		fmt.Fprintf(e.stderr, "warning: snapshot %s committed, but the job record could not be completed: %v\n", res.Snapshot.ID.Short(), finErr)
	}
	// The vault recorded its own count of what it stored (the agent only
	// knows what it sent): show the snapshot as the vault committed it.
	if vs, err := c.OpenSnapshot(context.WithoutCancel(ctx), res.Snapshot.ID); err == nil {
		res.Snapshot = vs
	}
	stats := st.Stats()
	printSummary(e, res, stats, *asJSON)
	if len(res.Skipped) > 0 {
		return &exitError{exitSkipped}
	}
	return nil
}

// summaryJSON is a backup's summary as printed with --json.
type summaryJSON struct {
	Snapshot      string           `json:"snapshot"`
	Parent        string           `json:"parent,omitempty"`
	Job           snapshot.JobType `json:"job"`
	Files         int64            `json:"files"`
	Dirs          int64            `json:"dirs"`
	BytesSeen     int64            `json:"bytes_seen"`
	BytesRead     int64            `json:"bytes_read"`
	BytesNew      int64            `json:"bytes_new"`
	BytesSent     int64            `json:"bytes_sent"`
	BytesStored   int64            `json:"bytes_stored"`
	BlobsSent     int64            `json:"blobs_sent"`
	DedupRatio    float64          `json:"dedup_ratio"`
	Compression   float64          `json:"compression_ratio"`
	Excluded      int64            `json:"excluded"`
	ExcludedBytes int64            `json:"excluded_bytes"`
	Skipped       []backup.Skipped `json:"skipped"`
	Elapsed       float64          `json:"elapsed_seconds"`
}

func printSummary(e *env, res *backup.Result, stats remote.StoreStats, asJSON bool) {
	s := res.Snapshot
	sum := s.Summary
	if asJSON {
		j := summaryJSON{Snapshot: s.ID.String(), Job: s.Job, Files: sum.FilesSeen, Dirs: sum.DirsSeen, BytesSeen: sum.BytesSeen,
			BytesRead: sum.BytesRead, BytesNew: sum.BytesNew, BytesSent: stats.BytesSent, BytesStored: sum.BytesStored, BlobsSent: stats.PutBlobs,
			DedupRatio: sum.DedupRatio, Compression: sum.Compression, Excluded: res.Excluded, ExcludedBytes: res.ExcludedBytes,
			Skipped: res.Skipped, Elapsed: s.End.Sub(s.Time).Seconds()}
		if j.Skipped == nil {
			j.Skipped = []backup.Skipped{}
		}
		if !s.Parent.IsZero() {
			j.Parent = s.Parent.String()
		}
		_ = writeJSON(e.stdout, j)
		return
	}
	w := e.stdout
	fmt.Fprintf(w, "snapshot %s saved (%s", s.ID.Short(), s.Job)
	if !s.Parent.IsZero() {
		fmt.Fprintf(w, " of %s", s.Parent.Short())
	}
	fmt.Fprintf(w, ") in %s\n", s.End.Sub(s.Time).Round(10*time.Millisecond))
	fmt.Fprintf(w, "  id           %s\n", s.ID)
	fmt.Fprintf(w, "  files        %d (%d new, %d changed, %d unchanged), %d directories\n", sum.FilesSeen, sum.FilesNew, sum.FilesChanged, sum.FilesUnchanged, sum.DirsSeen)
	fmt.Fprintf(w, "  bytes        %s seen, %s read, %s new, %s sent, %s stored\n", human(sum.BytesSeen), human(sum.BytesRead), human(sum.BytesNew), human(stats.BytesSent), human(sum.BytesStored))
	fmt.Fprintf(w, "  ratios       dedup %s, compression %s\n", ratio(sum.DedupRatio), ratio(sum.Compression))
	if res.Excluded > 0 {
		fmt.Fprintf(w, "  excluded     %d items (%s)\n", res.Excluded, human(res.ExcludedBytes))
	}
	if n := len(res.Skipped); n > 0 {
		fmt.Fprintf(w, "  skipped      %d items:\n", n)
		for i, sk := range res.Skipped {
			if i == 50 {
				fmt.Fprintf(w, "    … and %d more (all listed in the vault's job record)\n", n-50)
				break
			}
			fmt.Fprintf(w, "    %s: %s\n", sk.Path, sk.Reason)
		}
	}
}

func ratio(r float64) string {
	if r == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", r)
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parseSize parses a byte count with an optional K, M or G (binary) suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	t = strings.TrimSuffix(t, "I")
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, strings.TrimSuffix(t, "G")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size (examples: 0, 65536, 64M)")
	}
	return n * mult, nil
}

// checkpointStore makes the vault flush after every `every` bytes of
// blobs queued (blobs the vault turns out to have included): then a
// backup interrupted later (the vault or this process killed, the
// network cut) has left everything sent before the checkpoint durable,
// and its retry sends none of it again. It also bounds what an
// interruption can lose to `every` plus the Store's buffer. PutSizes wait
// while a checkpoint drains the pipeline, so it completes quickly.
type checkpointStore struct {
	*remote.Store
	every        int64
	onCheckpoint func(n int, sent int64)

	gate    sync.RWMutex
	pending atomic.Int64 // bytes queued since the last checkpoint
	n       atomic.Int64
}

func (cs *checkpointStore) PutSize(ctx context.Context, t pack.BlobType, id fingerprint.ID, data []byte) (int, error) {
	cs.gate.RLock()
	n, err := cs.Store.PutSize(ctx, t, id, data)
	cs.gate.RUnlock()
	if err != nil || cs.every <= 0 || n == 0 {
		return n, err
	}
	if cs.pending.Add(int64(n)) < cs.every {
		return n, nil
	}
	cs.gate.Lock()
	defer cs.gate.Unlock()
	if cs.pending.Load() < cs.every { // another PutSize checkpointed
		return n, nil
	}
	if err := cs.Store.Flush(ctx); err != nil {
		return n, fmt.Errorf("checkpoint: %w", err)
	}
	cs.pending.Store(0)
	// Flush drained the pipeline (every blob queued before it was sent
	// or found present) and the vault flushed: all sent is durable.
	sent := cs.Store.Stats().BytesSent
	k := cs.n.Add(1)
	if cs.onCheckpoint != nil {
		cs.onCheckpoint(int(k), sent)
	}
	return n, nil
}
