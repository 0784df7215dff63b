package repo

import (
	"keep/engine/fingerprint"
	"keep/engine/pack"
)

// Locate returns the pack that holds the blob of type t and ID id, from the
// index alone (no I/O). A blob not yet in a durable pack (pending) or not
// in the repository is not found. engine/restore's VerifyRepo uses it to
// name the pack of a damaged blob without checking the whole repository.
func (r *Repo) Locate(t pack.BlobType, id fingerprint.ID) (pack.ID, bool) {
	loc, ok := r.idx.Lookup(t, id)
	return loc.Pack, ok
}
