package repo

// Test knobs for the external tests (package repo_test), which cannot set
// Options' unexported fields.

// SetIndexKnobs sets how many small index files trigger a merge and after
// how many unindexed blobs Put writes an index file by itself.
func SetIndexKnobs(o *Options, maxIndexFiles, autoIndexBlobs int) {
	o.maxIndexFiles, o.autoIndexBlobs = maxIndexFiles, autoIndexBlobs
}
