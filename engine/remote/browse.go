package remote

import (
	"context"
	"fmt"

	"keep/engine/fingerprint"
	"keep/engine/pack"
	"keep/engine/snapshot"
	"keep/engine/tree"
)

// OpenSnapshot opens one of the client's snapshots for reading without
// starting a job (browsing: ls, find): the vault then lets this
// connection read the snapshot's trees and chunks through Get. It is
// checked against its ID. A snapshot of another client is "not found".
func (c *Client) OpenSnapshot(ctx context.Context, id fingerprint.ID) (*snapshot.Snapshot, error) {
	s, _, err := c.openSnapshot(ctx, id, false)
	if err != nil {
		return nil, fmt.Errorf("remote: open snapshot %s: %w", id.Short(), err)
	}
	return s, nil
}

// Get reads a blob of a snapshot this connection opened (OpenSnapshot,
// OpenRestore), checked against its ID: the Client is a tree.Getter for
// engine/browse.
func (c *Client) Get(ctx context.Context, t pack.BlobType, id fingerprint.ID, dst []byte) ([]byte, error) {
	return c.getBlob(ctx, t, id, dst)
}

var _ tree.Getter = (*Client)(nil)
