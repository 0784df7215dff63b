package remote

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/repo"
	"keep/engine/tree"
)

// TestImageBundleLocality backs a disk image up through the vault and
// restores it: every chunk of an image is bundled, and the restore must
// get each bundle about once (GetBundle; the vault sends it whole and
// opens none), reading runs of chunks with GetBlobs. Bundles whose members
// are scattered over the image (chunks of many requests in flight bundled
// in the order their handlers ran) are fetched again and again, which made
// restoring an image through the vault several times as costly as
// in-process.
func TestImageBundleLocality(t *testing.T) {
	v := newVault(t)
	cr := v.enrolAgent(t, "web1")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	data := pseudo(11, 48<<20)
	must(t, os.WriteFile(img, data, 0o600))

	res := backupImage(t, v.dial(t, cr, Options{}), img, fingerprint.ID{})
	sealed := v.repo.Stats().BundlesSealed

	v.repo.DropCache()
	opens0 := v.repo.Stats().BundleOpens
	rc := v.dial(t, cr, Options{})
	_, target := restoreAll(t, rc, res.Snapshot.ID, "web1")
	opens := v.repo.Stats().BundleOpens - opens0
	if got := restoredImage(t, target); !bytes.Equal(got, data) {
		t.Fatalf("restored image differs (%d bytes, want %d)", len(got), len(data))
	}
	// The chunks came in runs (GetBlobs), not one request each.
	if runs, single := rc.Sent(agentproto.TypeGetBlobs), rc.Sent(agentproto.TypeGetBlob); runs < 40 || single > 10 {
		t.Fatalf("restore sent %d GetBlobs and %d GetBlob for a 48 MiB image", runs, single)
	}
	fetched := rc.Sent(agentproto.TypeGetBundle)
	t.Logf("%d bundles sealed, restore fetched %d (%.2f per bundle), the vault opened %d", sealed, fetched, float64(fetched)/float64(sealed), opens)
	// A 1 MiB run of the image may straddle two bundles; the agent keeps
	// the last few it decoded. Anything near 1 is local.
	if sealed < 40 || fetched < sealed || float64(fetched) > 1.25*float64(sealed) || opens != 0 {
		t.Fatalf("restore fetched %d bundles for %d sealed and the vault opened %d: bundles do not hold neighbouring chunks, or were not sent whole", fetched, sealed, opens)
	}
	if wire, plain := rc.Received(); plain < int64(len(data)) || wire > plain+plain/16 {
		t.Fatalf("received %d bytes for %d of plaintext", wire, plain)
	}
}

// TestBlobsReplyLimit: one batch of a whole image stored without bundles:
// the vault fills a reply up to its limit and marks the rest "ask again",
// which GetBatch does, one by one; every chunk comes back in order.
func TestBlobsReplyLimit(t *testing.T) {
	v := newVaultWith(t, repo.Options{Chunker: testChunker, BundleBelow: -1})
	ctx := context.Background()
	cr := v.enrolAgent(t, "web1")
	img := filepath.Join(t.TempDir(), "disk.img")
	data := pseudo(12, 24<<20)
	must(t, os.WriteFile(img, data, 0o600))
	res := backupImage(t, v.dial(t, cr, Options{}), img, fingerprint.ID{})
	if n := v.repo.Stats().BundlesSealed; n != 0 {
		t.Fatalf("%d bundles sealed by a vault that bundles nothing", n)
	}
	rc := v.dial(t, cr, Options{})
	rd, err := rc.OpenRestore(ctx, res.Snapshot.ID, "", "web1")
	must(t, err)
	nodes, err := tree.Load(ctx, rd, rd.Snapshot().Tree)
	must(t, err)
	var ids []fingerprint.ID
	for _, n := range nodes {
		for _, e := range n.Content {
			if e.Hole {
				t.Fatal("the image has a hole")
			}
			ids = append(ids, e.ID)
		}
	}
	var joined []byte
	single := rc.Sent(agentproto.TypeGetBlob)
	next := 0
	must(t, rd.GetBatch(ctx, ids, func(i int, b []byte, err error) error {
		if i != next {
			t.Fatalf("blob %d came as %d", next, i)
		}
		next++
		joined = append(joined, b...)
		return err
	}))
	if !bytes.Equal(joined, data) {
		t.Fatalf("GetBatch of the image's %d chunks returned %d bytes, not the image", len(ids), len(joined))
	}
	if asked := rc.Sent(agentproto.TypeGetBlob) - single; asked == 0 {
		t.Fatal("24 MiB in one batch: the vault's reply limit never made the agent ask again")
	}
}
