package kmod

import (
	"fmt"
	"os"
	"strings"
)

// Params maps a module name to the parameter string passed to the kernel
// when that module is loaded ("max_bonds=0 mode=1").
//
// The kernel applies "module.param=value" from its command line only to
// built-in modules; for loadable modules the loader must pass them itself.
type Params map[string]string

// ParseCmdline extracts module parameters from a kernel command line
// (/proc/cmdline): every "module.param[=value]" word before a "--" word.
// Double quotes group words ("mod.p=\"a b\""). Module names are normalized;
// several parameters of one module are joined with spaces in command-line
// order.
func ParseCmdline(cmdline string) Params {
	p := Params{}
	for _, word := range splitCmdline(cmdline) {
		if word == "--" {
			break
		}
		key, _, _ := strings.Cut(word, "=")
		mod, param, ok := strings.Cut(key, ".")
		if !ok || mod == "" || param == "" {
			continue
		}
		p.Add(NormalizeName(mod), word[len(mod)+1:])
	}
	return p
}

// ReadCmdline reads a kernel command line file and parses it with ParseCmdline.
func ReadCmdline(path string) (Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel command line: %w", err)
	}
	return ParseCmdline(string(data)), nil
}

// Add appends a "param[=value]" string to module's parameters.
func (p Params) Add(module, param string) {
	module = NormalizeName(module)
	if cur := p[module]; cur != "" {
		param = cur + " " + param
	}
	p[module] = param
}

// splitCmdline splits on unquoted whitespace, keeping quotes in the words
// (the kernel's module parameter parser understands them) except a quote
// that opens a word, which the kernel strips along with its partner.
func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, started, leadQuote := false, false, false
	flush := func() {
		if started {
			w := cur.String()
			if leadQuote {
				w = requote(w)
			}
			words = append(words, w)
		}
		cur.Reset()
		started, leadQuote = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			if !started {
				leadQuote = true
				started = true
				continue
			}
			if leadQuote {
				continue
			}
			cur.WriteByte(c)
		case !inQuote && (c == ' ' || c == '\t' || c == '\n'):
			flush()
		default:
			started = true
			cur.WriteByte(c)
		}
	}
	flush()
	return words
}

// requote turns a word that was written "k=a b" (quotes around the whole
// word) into k="a b", the form a module parameter string needs.
func requote(w string) string {
	k, v, ok := strings.Cut(w, "=")
	if !ok || !strings.ContainsAny(v, " \t") {
		return w
	}
	return k + `="` + v + `"`
}
