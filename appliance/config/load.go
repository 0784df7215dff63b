package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// CmdlineKey is the kernel command line parameter that overrides the
// configuration: keep.config=PATH or keep.config=b64:BASE64-YAML.
const CmdlineKey = "keep.config"

// Loaded is the outcome of Load: the configuration the box runs with,
// where it came from, and the layers that were rejected.
type Loaded struct {
	Config Config
	// Sources lists the layers applied, in order (e.g. "built-in",
	// "/etc/keep/keep.yaml", "kernel command line").
	Sources []string
	// Err is non-nil when a layer was rejected; the box then runs on the
	// layers before it and is not ready until the configuration is fixed.
	Err error
}

// Load builds the running configuration from the compiled-in defaults,
// the image's defaults file and a kernel command line override. A layer
// that fails to read or validate is skipped and reported in Loaded.Err:
// the box always gets a configuration it can boot with (and so a
// reachable API), and says why it is not the one asked for.
func Load(readFile func(string) ([]byte, error), defaultsPath, cmdline string) Loaded {
	out := Loaded{Config: Defaults(), Sources: []string{"built-in"}}
	layer := func(name string, doc []byte) bool {
		cfg, err := Parse(out.Config, doc)
		if err != nil {
			out.Err = fmt.Errorf("%s: %w", name, err)
			return false
		}
		out.Config = cfg
		out.Sources = append(out.Sources, name)
		return true
	}

	if doc, err := readFile(defaultsPath); err != nil {
		out.Err = fmt.Errorf("%w: read image defaults: %v", ErrInvalid, err)
	} else if !layer(defaultsPath, doc) {
		return out
	}

	override, ok := CmdlineValue(cmdline, CmdlineKey)
	if !ok {
		return out
	}
	name := "kernel command line " + CmdlineKey
	var doc []byte
	if enc, isB64 := strings.CutPrefix(override, "b64:"); isB64 {
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			out.Err = fmt.Errorf("%s: %w: not base64: %v", name, ErrInvalid, err)
			return out
		}
		doc = b
	} else {
		name = override
		b, err := readFile(override)
		if err != nil {
			out.Err = fmt.Errorf("%s: %w: %v", name, ErrInvalid, err)
			return out
		}
		doc = b
	}
	layer(name, doc)
	return out
}

// CmdlineValue returns the value of key=value in a kernel command line.
// The last occurrence wins, as for the kernel's own parameters.
func CmdlineValue(cmdline, key string) (string, bool) {
	var val string
	found := false
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			val, found = v, true
		}
	}
	return val, found
}
