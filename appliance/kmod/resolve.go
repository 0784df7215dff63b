package kmod

import "fmt"

// Resolve returns the modules that a name or alias stands for, as modprobe
// looks them up: a module name (loadable or built-in) is itself; otherwise
// every module with a matching modules.alias pattern, in file order, then
// built-in modules with a matching alias. Aliases naming a module the DB does
// not have are ignored. The result has no duplicates.
// An alias that matches nothing is an ErrUnknownModule error naming it.
func (db *DB) Resolve(alias string) ([]string, error) {
	if out := db.lookup(alias); len(out) > 0 {
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownModule, alias)
}

// lookup is Resolve without the error: nil when nothing matches.
func (db *DB) lookup(alias string) []string {
	if m, ok := db.mods[NormalizeName(alias)]; ok {
		return []string{m.Name}
	}
	key := matchKey(alias)
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]Alias{db.aliases, db.builtinAliases} {
		for _, a := range list {
			if seen[a.Module] || db.mods[a.Module] == nil || !a.matches(key) {
				continue // an alias of a module not in the DB resolves to nothing
			}
			seen[a.Module] = true
			out = append(out, a.Module)
		}
	}
	return out
}
