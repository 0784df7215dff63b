// Command keep-agent is the backup client of a Keep vault: it runs on a
// protected server, enrols once with a one-time token from the vault
// operator, and then backs up, browses and restores over mutual TLS 1.3
// with source-side deduplication (engine/remote).
//
// Exit codes: 0 success; 1 failure; 2 usage error; 3 the command
// completed but skipped items (a backup's unreadable files, a restore's
// unwritable ones), which the summary lists with reasons.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"keep/internal/gctune"
)

const version = "keep-agent/1"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitSkipped = 3
)

const synopsis = `keep-agent — backup client of a Keep vault

Usage:
  keep-agent enrol TOKEN [--dir DIR]
  keep-agent backup [options] PATHS...
  keep-agent snapshots [--path P] [--since T] [--json]
  keep-agent ls SNAPSHOT [PATH] [--json]
  keep-agent find GLOB [--snapshot S] [--json]
  keep-agent restore SNAPSHOT [PATH...] (--target DIR | --in-place) [--overwrite never|always|if-newer]
  keep-agent restore SNAPSHOT IMAGE --to FILE|DEVICE
  keep-agent cat SNAPSHOT PATH

SNAPSHOT is "latest" or a unique prefix of a snapshot ID (see "snapshots").
Every command takes --dir DIR, the credentials directory (default
/etc/keep-agent, or $KEEP_AGENT_DIR). The vault's address comes from the
enrolment token; set KEEP_VAULT=host:port if the vault moved (its CA stays
pinned). An agent sees and restores its own client's snapshots; another
client's only while an operator's grant is in force (keep ctl grant-restore
on the vault), with --client NAME on snapshots, ls, find, cat and restore.

Run "keep-agent COMMAND --help" for a command's options.

Exit codes: 0 ok, 1 failed, 2 usage error, 3 completed with skipped items.
`

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries an exit code other than 1 after the command said
// what happened.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

type command struct {
	name  string
	short string
	run   func(ctx context.Context, env *env, args []string) error
}

// env is what a command runs with: its streams, so tests and main share
// one path.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"enrol", "enrol this machine with a one-time token from the vault operator", runEnrol},
		{"backup", "back up paths, streams and disk images to the vault", runBackup},
		{"snapshots", "list this client's snapshots", runSnapshots},
		{"ls", "list a directory of a snapshot", runLs},
		{"find", "find items by name pattern across snapshots", runFind},
		{"restore", "restore a snapshot (or paths in it) to a directory, in place, or an image to a device", runRestore},
		{"cat", "write one file of a snapshot to stdout", runCat},
	}
}

func main() {
	gctune.ApplyPercent(gcPercent(os.Args[1:]))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// gcPercent is the GC percent for the command line args: AgentPercent
// for a backup (the command whose memory counts), Percent for the rest.
func gcPercent(args []string) int {
	if len(args) > 0 && args[0] == "backup" {
		return gctune.AgentPercent
	}
	return gctune.Percent
}

// backupGCPercent is the GC percent of a backup once it knows whether it
// has a parent: AgentPercent for a full one (it reads everything, and its
// peak RSS is the one that counts), Percent for an incremental, whose
// garbage is mostly the parent's trees, read and dropped, and which reads
// little: at 25 the collector took a tenth of a no-change incremental's
// CPU on the benchmark's file-server corpus (wall 2.1-2.9 s against
// 2.0-2.3 at 50, peak RSS 47-49 MiB against 47-52; a full backup's is
// about 100).
func backupGCPercent(incremental bool) int {
	if incremental {
		return gctune.Percent
	}
	return gctune.AgentPercent
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, synopsis)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(e.stdout, version)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] && !(c.name == "enrol" && args[0] == "enroll") {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ue *usageError
		var ee *exitError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(e.stderr, "keep-agent %s: %s\nRun \"keep-agent %s --help\" for usage.\n", c.name, ue.msg, c.name)
			return exitUsage
		case errors.As(err, &ee):
			return ee.code
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			fmt.Fprintf(e.stderr, "keep-agent %s: interrupted\n", c.name)
			return exitFailed
		default:
			fmt.Fprintf(e.stderr, "keep-agent %s: %v\n", c.name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(e.stderr, "keep-agent: unknown command %q\n\n%s", args[0], synopsis)
	return exitUsage
}

// strList is a repeatable string flag.
type strList []string

func (s *strList) String() string     { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error { *s = append(*s, v); return nil }

// newFlags makes a command's flag set with the common --dir flag.
func newFlags(e *env, name, usage string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv("KEEP_AGENT_DIR")
	if def == "" {
		def = "/etc/keep-agent"
	}
	dir := fs.String("dir", def, "credentials `directory` (key, certificates, vault address)")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: keep-agent %s\n\nOptions:\n", usage)
		fs.PrintDefaults()
	}
	return fs, dir
}

// parse parses flags anywhere among the arguments (the flag package stops
// at the first positional one) and returns the positional arguments.
// "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at "--" (consumed) or at a positional one.
		if len(args) >= len(rest)+1 && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
