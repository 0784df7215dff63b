package kmod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
)

// ErrUsage is returned for a modprobe command line this implementation does
// not understand.
var ErrUsage = errors.New("usage")

// Modprobe is the entry point for a binary invoked as /sbin/modprobe, which
// is how the kernel's request_module() asks for a module
// ("modprobe -q -- <alias-or-name>"). args excludes argv[0]. It uses the
// running system's DefaultPaths. A non-nil error means exit status 1.
func Modprobe(ctx context.Context, args []string, stderr io.Writer) error {
	p, err := DefaultPaths()
	if err == nil {
		var l *Loader
		if l, err = p.Loader(); err == nil {
			return l.Modprobe(ctx, args, stderr)
		}
	}
	if !quietArgs(args) {
		fmt.Fprintf(stderr, "modprobe: %v\n", err)
	}
	return err
}

// modprobeArgs is a parsed modprobe command line.
type modprobeArgs struct {
	quiet, verbose, all, dryRun bool
	targets                     []string // names or aliases
	params                      []string // "param=value" for the single target
}

// Modprobe resolves each name or alias to modules and loads their closures.
// Options: -q (quiet), -v (print each result), -a (all arguments are
// modules; otherwise the first is and the rest are its parameters), -n (dry
// run), and the ignored -b and -s; "--" ends options. Removal (-r) and any
// other option are ErrUsage. It fails when a target is unknown, when a
// module failed, or when none of the modules a target resolved to is
// present afterwards (all NoDevice). Diagnostics go to stderr unless -q.
func (l *Loader) Modprobe(ctx context.Context, args []string, stderr io.Writer) error {
	a, err := parseModprobeArgs(args)
	if err == nil {
		err = l.modprobe(ctx, a, stderr)
	}
	if err != nil && !a.quiet {
		fmt.Fprintf(stderr, "modprobe: %v\n", err)
	}
	return err
}

func (l *Loader) modprobe(ctx context.Context, a modprobeArgs, stderr io.Writer) error {
	var errs []error
	for _, target := range a.targets {
		names, err := l.DB.Resolve(target)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.dryRun {
			if _, err := l.DB.Closure(names...); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		ld := *l
		if len(a.params) > 0 {
			ld.Params = maps.Clone(l.Params)
			if ld.Params == nil {
				ld.Params = Params{}
			}
			for _, n := range names {
				ld.Params.Add(n, strings.Join(a.params, " "))
			}
		}
		results, err := ld.Load(ctx, names...)
		if a.verbose {
			for _, r := range results {
				fmt.Fprintf(stderr, "modprobe: %s: %s (%s)\n", r.Module, r.Status, r.Duration)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !anyPresent(results, names) {
			errs = append(errs, fmt.Errorf("%s: no device for %s", target, strings.Join(names, ", ")))
		}
	}
	return errors.Join(errs...)
}

// anyPresent reports whether any of names ended up in the kernel.
func anyPresent(results []Result, names []string) bool {
	for _, r := range results {
		for _, n := range names {
			if r.Module == n && (r.Status == Loaded || r.Status == AlreadyLoaded || r.Status == Builtin) {
				return true
			}
		}
	}
	return false
}

func parseModprobeArgs(args []string) (modprobeArgs, error) {
	var a modprobeArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest = append(rest, arg)
			continue
		}
		var flags []string
		if long, ok := strings.CutPrefix(arg, "--"); ok {
			flags = []string{long}
		} else {
			for _, c := range arg[1:] {
				flags = append(flags, string(c))
			}
		}
		for _, f := range flags {
			switch f {
			case "q", "quiet":
				a.quiet = true
			case "v", "verbose":
				a.verbose = true
			case "a", "all":
				a.all = true
			case "n", "dry-run":
				a.dryRun = true
			case "b", "use-blacklist", "s", "syslog":
			default:
				return a, fmt.Errorf("%w: unsupported option %q", ErrUsage, arg)
			}
		}
	}
	if len(rest) == 0 {
		return a, fmt.Errorf("%w: no module name given", ErrUsage)
	}
	if a.all {
		a.targets = rest
	} else {
		a.targets, a.params = rest[:1], rest[1:]
	}
	return a, nil
}

// quietArgs reports whether args ask for quiet operation (for errors that
// happen before the arguments are parsed).
func quietArgs(args []string) bool {
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--quiet" || (strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && strings.Contains(arg, "q")) {
			return true
		}
	}
	return false
}
