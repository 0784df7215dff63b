package kmod

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary index files to the parsers. Whatever parses must
// encode to files that parse back to the same database, and lookups on it
// must not panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fakeDep), []byte(fakeAlias), []byte(fakeSoftdep), []byte(fakeBuiltin), []byte(fakeModinfo))
	f.Add([]byte("a.ko: b.ko\nb.ko: a.ko\n"), []byte("alias [!a-]* a\n"), []byte("softdep a pre: b post: a\n"), []byte("x/b.ko\n"), []byte("b.alias=a\x00"))
	f.Add([]byte("a.ko.xz:\n#c\n\n"), []byte("alias x/y* a\nalias [ a\n"), []byte("softdep a\n"), []byte(""), []byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, dep, alias, softdep, builtin, modinfo []byte) {
		db, err := parseFiles(map[string][]byte{
			DepFile: dep, AliasFile: alias, SoftdepFile: softdep, BuiltinFile: builtin, BuiltinModinfoFile: modinfo,
		})
		if err != nil {
			return
		}
		enc := db.IndexFiles()
		back, err := parseFiles(enc)
		if err != nil {
			t.Fatalf("encoded database does not parse: %v\n%q", err, enc)
		}
		for name, data := range back.IndexFiles() {
			if !bytes.Equal(data, enc[name]) {
				t.Fatalf("%s changed on a round trip:\n%q\n%q", name, enc[name], data)
			}
		}
		for i, m := range db.Modules() {
			if i == 16 {
				break
			}
			db.Closure(m.Name)
		}
		for i, a := range db.aliases {
			if i == 16 {
				break
			}
			db.Resolve(a.Pattern)
		}
	})
}
