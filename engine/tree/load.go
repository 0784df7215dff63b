package tree

import (
	"context"
	"fmt"

	"keep/engine/fingerprint"
	"keep/engine/pack"
)

// Getter reads tree blobs: engine/repo's Repo. Get appends the
// authenticated plaintext of the blob to dst; a missing blob is
// repo.ErrNotFound, a damaged one repo.ErrCorrupt.
type Getter interface {
	Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error)
}

// Load reads the directory whose tree ID is id: its nodes in name order,
// parts joined and every Content resolved (ContentBlobs empty). A blob
// that is missing, damaged or of the wrong kind is an error; a directory
// is never returned partially.
func Load(ctx context.Context, g Getter, id fingerprint.ID) ([]Node, error) {
	blob, err := get(ctx, g, id)
	if err != nil {
		return nil, err
	}
	var nodes []Node
	switch blob.Kind {
	case KindNodes:
		nodes = blob.Nodes
	case KindParts:
		for _, pid := range blob.Parts {
			part, err := get(ctx, g, pid)
			if err != nil {
				return nil, err
			}
			if part.Kind != KindNodes || len(part.Nodes) == 0 {
				return nil, fmt.Errorf("tree %s: part %s: %w: kind %d with %d nodes", id.Short(), pid.Short(), ErrFormat, part.Kind, len(part.Nodes))
			}
			if len(nodes) > 0 && nodes[len(nodes)-1].Name >= part.Nodes[0].Name {
				return nil, fmt.Errorf("tree %s: part %s: %w: names out of order", id.Short(), pid.Short(), ErrFormat)
			}
			nodes = append(nodes, part.Nodes...)
		}
	default:
		return nil, fmt.Errorf("tree %s: %w: kind %d is not a directory", id.Short(), ErrFormat, blob.Kind)
	}
	for i := range nodes {
		if err := resolve(ctx, g, &nodes[i]); err != nil {
			return nil, fmt.Errorf("tree %s: %q: %w", id.Short(), nodes[i].Name, err)
		}
	}
	return nodes, nil
}

// resolve replaces n's ContentBlobs by the content they hold.
func resolve(ctx context.Context, g Getter, n *Node) error {
	if len(n.ContentBlobs) == 0 {
		return nil
	}
	var es []Extent
	for _, cid := range n.ContentBlobs {
		blob, err := get(ctx, g, cid)
		if err != nil {
			return err
		}
		if blob.Kind != KindExtents {
			return fmt.Errorf("content blob %s: %w: kind %d", cid.Short(), ErrFormat, blob.Kind)
		}
		if len(es) > 0 && es[len(es)-1].Hole && blob.Extents[0].Hole {
			return fmt.Errorf("content blob %s: %w: two holes in a row", cid.Short(), ErrFormat)
		}
		es = append(es, blob.Extents...)
	}
	size, err := ExtentsSize(es)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if size != n.Size {
		return fmt.Errorf("%w: content adds up to %d bytes, size is %d", ErrFormat, size, n.Size)
	}
	n.Content, n.ContentBlobs = es, nil
	return nil
}

func get(ctx context.Context, g Getter, id fingerprint.ID) (*Blob, error) {
	b, err := g.Get(ctx, pack.Tree, id, nil)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	blob, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return blob, nil
}
