package image

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// tree collects the archive's entries by path; entries returns them sorted
// with every parent directory present, so the archive is the same whatever
// order things were added in and the kernel always sees a directory before
// its contents.
type tree struct {
	byName map[string]entry
}

func newTree() *tree { return &tree{byName: map[string]entry{}} }

func (t *tree) add(e entry) error {
	e.name = strings.TrimPrefix(path.Clean("/"+e.name), "/")
	if e.name == "" {
		return fmt.Errorf("empty path")
	}
	if old, ok := t.byName[e.name]; ok {
		if old.mode&modeType == modeDir && e.mode&modeType == modeDir {
			t.byName[e.name] = e // a later explicit mode wins
			return nil
		}
		return fmt.Errorf("%s added twice", e.name)
	}
	t.byName[e.name] = e
	return nil
}

func (t *tree) dir(name string, perm uint32) error {
	return t.add(entry{name: name, mode: modeDir | perm})
}

func (t *tree) file(name string, perm uint32, data []byte) error {
	return t.add(entry{name: name, mode: modeRegular | perm, data: data})
}

func (t *tree) symlink(name, target string) error {
	return t.add(entry{name: name, mode: modeSymlink | 0o777, data: []byte(target)})
}

func (t *tree) charDev(name string, perm, major, minor uint32) error {
	return t.add(entry{name: name, mode: modeCharDev | perm, rdevMajor: major, rdevMinor: minor})
}

// entries returns all entries sorted by path, adding missing parent
// directories with mode 0755.
func (t *tree) entries() ([]entry, error) {
	all := map[string]entry{}
	for name, e := range t.byName {
		all[name] = e
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if p, ok := t.byName[dir]; ok && p.mode&modeType != modeDir {
				return nil, fmt.Errorf("%s: parent %s is not a directory", name, dir)
			}
			if _, ok := all[dir]; !ok {
				all[dir] = entry{name: dir, mode: modeDir | 0o755}
			}
		}
	}
	out := make([]entry, 0, len(all))
	for _, e := range all {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
