package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"keep/engine/pack"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// FindNode returns the node at sub ("a/b/c") of snap.
func FindNode(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, sub string) (*tree.Node, error) {
	if sub == "" {
		return nil, errors.New("the snapshot root is a directory: give a file's path")
	}
	id := snap.Tree
	parts := strings.Split(sub, "/")
	for i, name := range parts {
		nodes, err := tree.Load(ctx, g, id)
		if err != nil {
			return nil, fmt.Errorf("read directory /%s: %w", strings.Join(parts[:i], "/"), err)
		}
		var n *tree.Node
		for j := range nodes {
			if nodes[j].Name == name {
				n = &nodes[j]
				break
			}
		}
		if n == nil {
			return nil, fmt.Errorf("/%s: no such item in snapshot %s (see ls)", strings.Join(parts[:i+1], "/"), snap.ID.Short())
		}
		if i == len(parts)-1 {
			return n, nil
		}
		if n.Type != tree.Dir {
			return nil, fmt.Errorf("/%s: not a directory", strings.Join(parts[:i+1], "/"))
		}
		id = n.Subtree
	}
	return nil, errors.New("empty path")
}

// Cat writes the content of the file, image or stream at sub ("a/b/c")
// of snap to w, holes as zeros, each chunk authenticated (Get) and its
// length checked: a damaged chunk ends it with an error, never wrong bytes.
func Cat(ctx context.Context, g tree.Getter, snap *snapshot.Snapshot, sub string, w io.Writer) error {
	n, err := FindNode(ctx, g, snap, sub)
	if err != nil {
		return err
	}
	if !n.Type.HasContent() {
		return fmt.Errorf("/%s is a %s, not a file: cat writes files, images and streams", sub, n.Type)
	}
	var zeros []byte
	var buf []byte
	for _, ex := range n.Content {
		if ex.Hole {
			left := ex.Length
			if zeros == nil {
				zeros = make([]byte, 1<<20)
			}
			for left > 0 {
				k := min(left, uint64(len(zeros)))
				if _, err := w.Write(zeros[:k]); err != nil {
					return err
				}
				left -= k
			}
			continue
		}
		buf, err = g.Get(ctx, pack.Data, ex.ID, buf[:0])
		if err != nil {
			return fmt.Errorf("read /%s: %w", sub, err)
		}
		if uint64(len(buf)) != ex.Length {
			return fmt.Errorf("read /%s: chunk %s is %d bytes, the tree says %d", sub, ex.ID.Short(), len(buf), ex.Length)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
