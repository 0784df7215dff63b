package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/agentproto"

	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/tree"
)

// TestBundleRestore: a restore receives a stored bundle whole, as stored
// (compressed), when every member is a blob of the snapshot it opened,
// and takes the members from it; a bundle that also holds a blob the
// client may not read (here a file that only the older snapshot has) is
// never sent whole: its members come one by one, and the restore is the
// same.
func TestBundleRestore(t *testing.T) {
	v := newVaultWith(t, repo.Options{Chunker: testChunker, BundleBelow: 8 << 10})
	cr := v.enrolAgent(t, "web1")
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	// One text in 40 files: compressible together, in any order.
	all := corpus.Text(10, 40*4000)[:40*4000]
	for i := range 40 {
		must(t, os.WriteFile(filepath.Join(src, "small"+string(rune('a'+i))), all[i*4000:(i+1)*4000], 0o644))
	}
	c := v.dial(t, cr, Options{})
	res1, st := runBackup(t, c, []string{src}, fingerprint.ID{})
	s := st.Stats()
	t.Logf("backup: %+v", s)
	if s.PutBundles == 0 {
		t.Fatalf("the small files were not sent in a bundle: %+v", s)
	}

	rc := v.dial(t, cr, Options{})
	_, target := restoreAll(t, rc, res1.Snapshot.ID, "web1")
	compareTrees(t, src, filepath.Join(target, "src"))
	wire, plain := rc.Received()
	got := rc.BundleMembersReceived()
	t.Logf("restore of the first snapshot: %d members from whole bundles (%d GetBundle), %d bytes received for %d of plaintext", got, rc.Sent(agentproto.TypeGetBundle), wire, plain)
	if got != 40 {
		t.Fatalf("%d of the 40 small files came from a bundle sent whole", got)
	}
	// What compressing the files together saves, at least half of it,
	// must be missing from the wire.
	_, z := rc.coder.Encode(nil, all)
	saved := int64(len(all) - len(z))
	if plain < 40*4000 || saved < 40*4000/4 || wire > plain-saved/2 {
		t.Fatalf("received %d bytes for %d of plaintext (compressing the files saves %d): the bundle did not come compressed", wire, plain, saved)
	}
	if n := rc.Sent(agentproto.TypeGetBundle); n != 1 {
		t.Fatalf("the bundle was asked for %d times", n)
	}

	// The second snapshot lacks one file of the bundle: that member is
	// not the client's to read in a restore of it.
	must(t, os.Remove(filepath.Join(src, "smallc")))
	res2, _ := runBackup(t, v.dial(t, cr, Options{}), []string{src}, res1.Snapshot.ID)
	rc2 := v.dial(t, cr, Options{})
	_, target2 := restoreAll(t, rc2, res2.Snapshot.ID, "web1")
	compareTrees(t, src, filepath.Join(target2, "src"))
	if n := rc2.BundleMembersReceived(); n != 0 {
		t.Fatalf("a bundle holding a blob outside the snapshot was sent whole (%d members taken from it)", n)
	}
	if _, plain := rc2.Received(); plain < 39*4000 {
		t.Fatalf("received %d bytes of plaintext for 39 files of 4000", plain)
	}
	// Learning the snapshot's trees and its parent's makes the deleted
	// file the client's to read again: the bundle comes whole.
	rc3 := v.dial(t, cr, Options{})
	_, target3 := restoreWith(t, rc3, res2.Snapshot.ID, "web1", true)
	compareTrees(t, src, filepath.Join(target3, "src"))
	if n := rc3.BundleMembersReceived(); n != 39 {
		t.Fatalf("with the parent's trees learnt, %d of 39 files came from the bundle sent whole", n)
	}

	// Asked for directly, the bundle is refused in that session, and so
	// is a name the vault never gave (the right place, another length).
	ref, ok := v.repo.BundleOf(pack.Data, rc2.fp.Sum(all[:4000]))
	if !ok {
		t.Fatal("the first file is not in a bundle")
	}
	forged := ref
	forged.Length--
	for _, r := range []repo.BundleRef{ref, forged} {
		var w agentproto.BundleRef
		copy(w[:], r.Pack[:])
		binary.BigEndian.PutUint32(w[32:], r.Offset)
		binary.BigEndian.PutUint32(w[36:], r.Length)
		if _, err := rc2.call(context.Background(), &agentproto.GetBundle{Ref: w}); !isCode(err, agentproto.CodeForbidden) {
			t.Fatalf("GetBundle of %+v outside the snapshot: %v; want CodeForbidden", r, err)
		}
		if _, err := rc.call(context.Background(), &agentproto.GetBundle{Ref: w}); r == ref && err != nil || r != ref && !isCode(err, agentproto.CodeForbidden) {
			t.Fatalf("GetBundle of %+v in the first snapshot's session: %v", r, err)
		}
	}
}

// TestAgentChecksBundleMembers: a member taken from a bundle the vault
// sent is checked against its ID; one that does not match, or is not in
// the bundle, is ErrCorrupt.
func TestAgentChecksBundleMembers(t *testing.T) {
	v := newVault(t)
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	good, bad := corpus.Text(1, 3000), corpus.Text(2, 3000)
	var b pack.Bundler
	b.Add(c.fp.Sum(good), good)
	b.Add(c.fp.Sum(good[:100]), bad) // listed under another content's ID
	ms, err := pack.ParseBundle(b.Plaintext())
	must(t, err)
	d := &decodedBundle{done: make(chan struct{}), plain: b.Plaintext(), members: pack.NewBundleIndex(ms)}
	close(d.done)
	ref := agentproto.BundleRef{1}
	c.bundles.m = map[agentproto.BundleRef]*decodedBundle{ref: d}
	c.bundles.recent = []agentproto.BundleRef{ref}
	ctx := context.Background()
	if got, err := c.bundleMember(ctx, ref, c.fp.Sum(good)); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("good member: %v", err)
	}
	for name, id := range map[string]fingerprint.ID{"wrong content": c.fp.Sum(good[:100]), "not a member": c.fp.Sum(bad)} {
		if _, err := c.bundleMember(ctx, ref, id); !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("%s: %v; want ErrCorrupt", name, err)
		}
	}
}

// TestLearnTrees: a bundle of small files from many directories is sent
// whole to a restore only once the vault has served all their trees;
// LearnTrees reads them ahead of the restore's walk, so every member then
// comes from the bundle.
func TestLearnTrees(t *testing.T) {
	v := newVaultWith(t, repo.Options{Chunker: testChunker, BundleBelow: 8 << 10})
	cr := v.enrolAgent(t, "web1")
	src := filepath.Join(t.TempDir(), "src")
	all := corpus.Text(20, 60*3000)[:60*3000]
	for i := range 60 {
		d := filepath.Join(src, fmt.Sprintf("d%02d", i/2))
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i%2)), all[i*3000:(i+1)*3000], 0o644))
	}
	res, _ := runBackup(t, v.dial(t, cr, Options{}), []string{src}, fingerprint.ID{})

	rc := v.dial(t, cr, Options{})
	_, target := restoreWith(t, rc, res.Snapshot.ID, "web1", true)
	compareTrees(t, src, filepath.Join(target, "src"))
	if n := rc.BundleMembersReceived(); n != 60 {
		t.Fatalf("%d of 60 small files in 30 directories came from a bundle sent whole", n)
	}
}

// TestLearnParentImage: the bundles of a disk image's chunks formed by
// the parent's backup hold blocks the restored generation rewrote; once
// LearnTrees has read the parent's trees, those of the image's chunks
// too, every chunk of the restore comes from a bundle sent whole.
func TestLearnParentImage(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	cr := v.enrolAgent(t, "web1")
	img := filepath.Join(t.TempDir(), "disk.img")
	data := pseudo(13, 80<<20) // more chunks than a node keeps inline: they go to extent trees
	must(t, os.WriteFile(img, data, 0o600))
	res1 := backupImage(t, v.dial(t, cr, Options{}), img, fingerprint.ID{})
	for i := range 8 { // one 4 KiB block in each MiB
		copy(data[i<<20+4096*i:], pseudo(uint64(100+i), 4096))
	}
	must(t, os.WriteFile(img, data, 0o600))
	res2 := backupImage(t, v.dial(t, cr, Options{}), img, res1.Snapshot.ID)

	rc := v.dial(t, cr, Options{})
	rd, target := restoreWith(t, rc, res2.Snapshot.ID, "web1", true)
	got := restoredImage(t, target)
	nodes, err := tree.Load(ctx, rd, rd.Snapshot().Tree)
	must(t, err)
	chunks := 0
	for _, n := range nodes {
		for _, e := range n.Content {
			if !e.Hole {
				chunks++
			}
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("restored image differs from the second generation")
	}
	t.Logf("%d chunks, %d from bundles sent whole", chunks, rc.BundleMembersReceived())
	if n := rc.BundleMembersReceived(); chunks < 4097 || n != int64(chunks) {
		t.Fatalf("%d of the image's %d chunks came from bundles sent whole", n, chunks)
	}
}
