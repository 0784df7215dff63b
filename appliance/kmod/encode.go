package kmod

import (
	"bytes"
	"fmt"
)

// Subset returns a DB that keeps only the given loadable modules (every
// module's hard dependencies must be among them), the aliases and softdeps of
// those modules, and all built-in modules. Encoded with IndexFiles, it gives
// an image index files that never point at a module file it lacks.
func (db *DB) Subset(names ...string) (*DB, error) {
	keep := map[string]bool{}
	for _, n := range names {
		m, ok := db.mods[NormalizeName(n)]
		if !ok {
			return nil, fmt.Errorf("subset: %w: %s", ErrUnknownModule, n)
		}
		keep[m.Name] = true
	}
	sub := &DB{
		fsys:         db.fsys,
		dir:          db.dir,
		mods:         map[string]*Module{},
		softdepOf:    map[string]int{},
		builtinPaths: db.builtinPaths,
	}
	for _, name := range db.depOrder {
		if !keep[name] {
			continue
		}
		m := db.mods[name]
		for _, d := range m.Deps {
			if dm := db.mods[d]; !keep[d] && (dm == nil || !dm.Builtin) {
				return nil, fmt.Errorf("subset: %s depends on %s, which is not in the subset", name, d)
			}
		}
		sub.mods[name] = m
		sub.depOrder = append(sub.depOrder, name)
	}
	for name, m := range db.mods {
		if m.Builtin {
			sub.mods[name] = m
		}
	}
	for _, a := range db.aliases {
		if keep[a.Module] {
			sub.aliases = append(sub.aliases, a)
		}
	}
	sub.builtinAliases = db.builtinAliases
	for _, s := range db.softdeps {
		if keep[s.Module] {
			sub.softdepOf[s.Module] = len(sub.softdeps)
			sub.softdeps = append(sub.softdeps, s)
		}
	}
	return sub, nil
}

// IndexFiles encodes the database in the text formats depmod writes
// (modules.dep, modules.alias, modules.softdep, modules.builtin,
// modules.builtin.modinfo with its alias records only), keyed by file name.
// Open reads them back to an equal database.
func (db *DB) IndexFiles() map[string][]byte {
	var dep, alias, soft, builtin, modinfo bytes.Buffer
	for _, name := range db.depOrder {
		m := db.mods[name]
		dep.WriteString(m.Path + ":")
		for _, d := range m.depPaths {
			dep.WriteString(" " + d)
		}
		dep.WriteByte('\n')
	}
	alias.WriteString("# Aliases extracted from modules themselves.\n")
	for _, a := range db.aliases {
		fmt.Fprintf(&alias, "alias %s %s\n", a.Pattern, a.Module)
	}
	soft.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, s := range db.softdeps {
		soft.WriteString("softdep " + s.Module)
		writeList(&soft, " pre:", s.Pre)
		writeList(&soft, " post:", s.Post)
		soft.WriteByte('\n')
	}
	for _, p := range db.builtinPaths {
		builtin.WriteString(p + "\n")
	}
	for _, a := range db.builtinAliases {
		fmt.Fprintf(&modinfo, "%s.alias=%s\x00", a.Module, a.Pattern)
	}
	return map[string][]byte{
		DepFile:            dep.Bytes(),
		AliasFile:          alias.Bytes(),
		SoftdepFile:        soft.Bytes(),
		BuiltinFile:        builtin.Bytes(),
		BuiltinModinfoFile: modinfo.Bytes(),
	}
}

func writeList(b *bytes.Buffer, label string, words []string) {
	if len(words) == 0 {
		return
	}
	b.WriteString(label)
	for _, w := range words {
		b.WriteString(" " + w)
	}
}
