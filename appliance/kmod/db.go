package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Index file names inside a modules directory.
const (
	DepFile            = "modules.dep"
	AliasFile          = "modules.alias"
	SoftdepFile        = "modules.softdep"
	BuiltinFile        = "modules.builtin"
	BuiltinModinfoFile = "modules.builtin.modinfo"
)

// ErrUnknownModule is returned (wrapped, naming the module) for a module or
// alias that the database does not know.
var ErrUnknownModule = errors.New("unknown module")

// DB is the parsed module database of one kernel release. It is immutable
// after Open and safe for concurrent use.
type DB struct {
	fsys fs.FS
	dir  string // on-disk modules directory, "" when opened from an fs.FS

	mods           map[string]*Module // loadable and built-in modules by name
	depOrder       []string           // loadable modules in modules.dep order
	builtinPaths   []string           // modules.builtin lines in order
	aliases        []Alias
	builtinAliases []Alias
	softdeps       []Softdep
	softdepOf      map[string]int // module name → index into softdeps
}

// OpenDir parses the module database in dir (e.g. /lib/modules/6.1.0-56-amd64).
// Modules of a DB opened this way can be loaded with finit_module.
func OpenDir(dir string) (*DB, error) {
	db, err := Open(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	db.dir = dir
	return db, nil
}

// Open parses the module database at the root of fsys. modules.dep is
// required; modules.alias, modules.softdep, modules.builtin and
// modules.builtin.modinfo are optional.
func Open(fsys fs.FS) (*DB, error) {
	files := map[string][]byte{}
	for _, name := range []string{DepFile, AliasFile, SoftdepFile, BuiltinFile, BuiltinModinfoFile} {
		data, err := fs.ReadFile(fsys, name)
		switch {
		case err == nil:
			files[name] = data
		case errors.Is(err, fs.ErrNotExist) && name != DepFile:
		default:
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	db, err := parseFiles(files)
	if err != nil {
		return nil, err
	}
	db.fsys = fsys
	return db, nil
}

// parseFiles builds a DB from index file contents keyed by file name.
func parseFiles(files map[string][]byte) (*DB, error) {
	db := &DB{mods: map[string]*Module{}, softdepOf: map[string]int{}}
	mods, err := parseDep(files[DepFile])
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", DepFile, err)
	}
	for _, m := range mods {
		if _, dup := db.mods[m.Name]; dup {
			continue // like modprobe, the first entry wins
		}
		db.mods[m.Name] = m
		db.depOrder = append(db.depOrder, m.Name)
	}
	if db.aliases, err = parseAlias(files[AliasFile]); err != nil {
		return nil, fmt.Errorf("parse %s: %w", AliasFile, err)
	}
	if db.softdeps, err = parseSoftdep(files[SoftdepFile]); err != nil {
		return nil, fmt.Errorf("parse %s: %w", SoftdepFile, err)
	}
	for i, s := range db.softdeps {
		db.softdepOf[s.Module] = i
	}
	paths, err := parseBuiltin(files[BuiltinFile])
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", BuiltinFile, err)
	}
	for _, p := range paths {
		name, _ := NameFromPath(p) // validated by parseBuiltin
		if _, known := db.mods[name]; known {
			continue
		}
		db.mods[name] = &Module{Name: name, Builtin: true}
		db.builtinPaths = append(db.builtinPaths, p)
	}
	if db.builtinAliases, err = parseBuiltinModinfo(files[BuiltinModinfoFile]); err != nil {
		return nil, fmt.Errorf("parse %s: %w", BuiltinModinfoFile, err)
	}
	return db, nil
}

// FS returns the file system the database was read from; module Paths are
// relative to its root.
func (db *DB) FS() fs.FS { return db.fsys }

// Dir returns the on-disk modules directory, or "" if the DB was opened
// from an fs.FS.
func (db *DB) Dir() string { return db.dir }

// Module returns the named module (name is normalized first).
func (db *DB) Module(name string) (Module, bool) {
	m, ok := db.mods[NormalizeName(name)]
	if !ok {
		return Module{}, false
	}
	return *m, true
}

// Modules returns the loadable modules in modules.dep order.
func (db *DB) Modules() []Module {
	out := make([]Module, 0, len(db.depOrder))
	for _, n := range db.depOrder {
		out = append(out, *db.mods[n])
	}
	return out
}

// Aliases returns the aliases of loadable modules (modules.alias) in file order.
func (db *DB) Aliases() []Alias { return append([]Alias(nil), db.aliases...) }

// Softdeps returns the soft dependencies in file order.
func (db *DB) Softdeps() []Softdep { return append([]Softdep(nil), db.softdeps...) }
