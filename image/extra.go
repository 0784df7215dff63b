package image

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
)

// Exported building blocks for other initramfs builders in this module (the
// NOC guest image of qemu/noc). They are thin wrappers over the same code
// Build uses, so every image in the project shares one newc writer, one
// layout discipline (sorted entries, parents first, uid/gid/mtime 0) and one
// module-closure computation.

// Tree is a file tree for an initramfs archive.
type Tree struct{ t *tree }

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{t: newTree()} }

// Dir adds a directory (a later explicit mode wins over an earlier one).
func (t *Tree) Dir(name string, perm uint32) error { return t.t.dir(name, perm) }

// File adds a regular file. Adding a path twice is an error.
func (t *Tree) File(name string, perm uint32, data []byte) error { return t.t.file(name, perm, data) }

// Symlink adds a symbolic link.
func (t *Tree) Symlink(name, target string) error { return t.t.symlink(name, target) }

// CharDev adds a character device node.
func (t *Tree) CharDev(name string, perm, major, minor uint32) error {
	return t.t.charDev(name, perm, major, minor)
}

// Has reports whether the tree holds an entry at name.
func (t *Tree) Has(name string) bool {
	_, ok := t.t.byName[name]
	return ok
}

// WriteNewc writes the tree as a newc cpio archive (with every parent
// directory present, sorted by path) and returns the bytes written.
func (t *Tree) WriteNewc(w io.Writer) (int64, error) {
	entries, err := t.t.entries()
	if err != nil {
		return 0, err
	}
	return writeNewc(w, entries)
}

// Modules describes the kernel modules AddModules put into a tree.
type Modules struct {
	Release string   // the module tree's release (base name of its directory)
	Files   int      // module files added
	Bytes   int64    // their total size
	List    []string // the requested modules in load order
}

// AddModules adds the closure (dependencies and softdeps) of names from the
// module tree at dir — the module files and the filtered modules.* index —
// under lib/modules/<release>/, exactly as Build lays out the appliance's
// modules, so kmod (the loader and /sbin/modprobe) can use it at run time.
func (t *Tree) AddModules(ctx context.Context, dir string, names []string) (Modules, error) {
	mods, err := selectModules(ctx, filepath.Clean(dir), names, names)
	if err != nil {
		return Modules{}, err
	}
	modDir := modulesRoot + "/" + mods.release
	for name, data := range mods.index {
		if err := t.t.file(modDir+"/"+name, 0o644, data); err != nil {
			return Modules{}, fmt.Errorf("module index: %w", err)
		}
	}
	for p, data := range mods.files {
		if err := t.t.file(modDir+"/"+p, 0o644, data); err != nil {
			return Modules{}, fmt.Errorf("module file: %w", err)
		}
	}
	return Modules{Release: mods.release, Files: len(mods.files), Bytes: mods.bytes, List: mods.list}, nil
}

// CompressZstd writes raw as one reproducible zstd frame with the settings
// Build uses (8 MiB window, content size, checksum).
func CompressZstd(w io.Writer, raw []byte) error { return compressZstd(w, raw) }
