// Package tree owns the directory tree format of snapshots: a tree blob
// lists the entries (Nodes) of one directory, and a Dir node names its
// subdirectory's tree by ID, so a snapshot is a Merkle tree of blobs
// stored as pack.Tree in engine/repo.
//
// A Node records everything a restore needs and everything an incremental
// backup compares: name, Type (file, dir, symlink, hardlink, char/block
// device, FIFO, socket, image), mode bits, uid/gid and names, size, mtime, ctime
// and atime in ns, inode, device and link count, link target, device
// number, extended attributes (POSIX ACLs included, as
// system.posix_acl_*), for files the ordered content list (chunk IDs with
// plaintext lengths, and holes, which are recorded and never stored), for
// directories the subtree ID.
//
// Format (versions 1 and 2), every integer an unsigned LEB128 varint of
// minimal length (times: zigzag), every string a length-prefixed byte
// string:
//
//	blob:    version (u8 = 1 or 2) | kind (u8) | count | count × item
//	kind 0 (KindNodes):   item = node
//	kind 1 (KindParts):   item = ID (32 bytes) of a kind 0 blob; count ≥ 2
//	kind 2 (KindExtents): item = extent; count ≥ 1
//	node:    name | type (u8) | mode | uid | gid | user | group | size |
//	         mtime | ctime | atime | inode | device | links | rdev |
//	         link target | n × (xattr name | value) | n × extent |
//	         n × content blob ID | subtree ID (32 bytes, dirs only)
//	extent:  0 | chunk ID (32) | length   or   1 | hole length
//
// Versions: version 2 (added with image streams) is version 1 plus node
// type 9, Image: a disk image or block device stored whole, with Content
// and Size as a File and Rdev the source's device number (0: a regular
// file or a stream), which a restore writes back to a file or into a
// block device. A KindNodes blob is written as version 2 exactly when one
// of its nodes is an Image, as version 1 otherwise; KindParts and
// KindExtents blobs are always version 1. So every tree without images
// encodes byte for byte as before (old snapshots keep deduplicating), a
// version 1 reader rejects a directory with an image as an unknown
// version instead of misreading it, and Decode rejects a version that is
// not the one the nodes need (canonical bytes).
//
// Invariants:
//
//   - Deterministic: nodes are sorted by name (bytes) and unique, xattrs by
//     name, every field is always present and varints are minimal, so the
//     same directory always encodes to the same bytes and the same ID, and
//     an unchanged directory is stored once however many snapshots hold
//     it. Decode accepts only such canonical bytes (what it accepts
//     re-encodes to itself).
//   - Strict: the version and kind are checked, every count and length is
//     checked against the bytes left (and the field's limit) before
//     anything is allocated, each node is validated (fields allowed only
//     for its type; a file's content adds up to its size; no two holes in
//     a row), trailing bytes are rejected. Errors wrap ErrFormat; no input
//     panics.
//   - Bounded: every blob is at most the repository's tree limit
//     (repo.MaxTreeSize). Content lists longer than InlineExtents are moved
//     into kind 2 blobs the node lists (ContentBlobs); a directory whose
//     encoding is larger is split in name order into kind 0 parts listed by
//     a kind 1 blob. Load follows these one level only (parts hold nodes,
//     content blobs hold extents), so a hostile tree cannot recurse.
//
// Hard links: the first name of a multiply linked file met in walk order
// is a File; later ones are Hardlink nodes whose LinkTarget is the first
// one's snapshot path and which repeat its content, so restoring a
// sub-path that lacks the first name still restores the data.
//
// Testing: round trips of every node type (Image included, and the
// version each blob is written as), determinism, splitting of
// large directories and long content lists with small limits, rejection of
// hand-broken encodings, and FuzzDecode (any input: no panic, and accepted
// bytes re-encode identically).
package tree
