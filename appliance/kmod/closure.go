package kmod

import (
	"fmt"
	"strings"
)

// Closure returns the named modules and everything they need, in load order:
// for each module its softdep "pre:" modules, its modules.dep dependencies,
// the module itself, then its softdep "post:" modules. Every module appears
// once, at its first position. Built-in modules are included (with Builtin
// set and no Path) and need no file. A name the DB does not know, or a
// dependency on one, is an ErrUnknownModule error naming it; a dependency
// cycle in modules.dep is an error. Softdeps that resolve to nothing are
// skipped, as modprobe does.
func (db *DB) Closure(names ...string) ([]Module, error) {
	w := walk{db: db, state: map[string]visitState{}}
	for _, n := range names {
		if err := w.visit(NormalizeName(n), nil); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

type visitState uint8

const (
	unvisited visitState = iota
	visiting
	visited
)

// walk is one depth-first traversal of the dependency graph.
type walk struct {
	db    *DB
	state map[string]visitState
	out   []Module
}

// visit appends name's closure to w.out. path is the chain of hard
// dependencies that led here, for error messages.
func (w *walk) visit(name string, path []string) error {
	switch w.state[name] {
	case visited:
		return nil
	case visiting:
		return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(path, " -> "), name)
	}
	m, ok := w.db.mods[name]
	if !ok {
		if len(path) > 0 {
			return fmt.Errorf("%s depends on %s: %w: %s", path[len(path)-1], name, ErrUnknownModule, name)
		}
		return fmt.Errorf("%w: %s", ErrUnknownModule, name)
	}
	w.state[name] = visiting
	path = append(path, name)
	sd, hasSoft := w.db.softdepOf[name]
	if hasSoft {
		if err := w.visitSoft(w.db.softdeps[sd].Pre, path); err != nil {
			return err
		}
	}
	// modules.dep lists dependencies so that loading them last-to-first works.
	for i := len(m.Deps) - 1; i >= 0; i-- {
		if err := w.visit(m.Deps[i], path); err != nil {
			return err
		}
	}
	w.out = append(w.out, *m)
	w.state[name] = visited
	if hasSoft {
		return w.visitSoft(w.db.softdeps[sd].Post, path)
	}
	return nil
}

// visitSoft visits the modules that soft dependency entries resolve to.
// A module already on the current path is skipped: a softdep may point back
// at a module that depends on its owner (ipmi_msghandler post: ipmi_devintf).
func (w *walk) visitSoft(entries []string, path []string) error {
	for _, e := range entries {
		for _, name := range w.db.lookup(e) {
			if w.state[name] == visiting {
				continue
			}
			if err := w.visit(name, path); err != nil {
				return err
			}
		}
	}
	return nil
}
