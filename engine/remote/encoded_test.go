package remote

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/agentproto"
	"keep/engine/fingerprint"
	"keep/engine/internal/corpus"
	"keep/engine/jobs"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/seal"
)

// TestCompressedTransfer: file data crosses the network compressed both
// ways. The agent encodes what it sends (not the small blobs the vault
// bundles), the vault stores the payloads as they came, and a restore
// receives the stored payloads and decodes them; the restored tree is
// the source. With NoCompression the agent sends plaintext.
func TestCompressedTransfer(t *testing.T) {
	v := newVaultWith(t, repo.Options{Chunker: testChunker, BundleBelow: 8 << 10})
	cr := v.enrolAgent(t, "web1")
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(src, 0o755))
	text := corpus.Text(1, 2<<20)
	must(t, os.WriteFile(filepath.Join(src, "log.txt"), text, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "media.bin"), corpus.Random(2, 256<<10), 0o644))
	for i := range 20 {
		must(t, os.WriteFile(filepath.Join(src, "small"+string(rune('a'+i))), corpus.Text(uint64(10+i), 3000), 0o644))
	}

	c := v.dial(t, cr, Options{})
	if c.Info().BundleBelow != 8<<10 {
		t.Fatalf("HelloOK said bundle below %d, the vault bundles below %d", c.Info().BundleBelow, 8<<10)
	}
	res, st := runBackup(t, c, []string{src}, fingerprint.ID{})
	s := st.Stats()
	t.Logf("backup: %d blobs (%d bundles), %d bytes sent for %d of plaintext", s.PutBlobs, s.PutBundles, s.BytesSent, s.PlainSent)
	if s.PutBundles == 0 {
		t.Fatal("the small files were not sent in a bundle")
	}
	// What compressing the text saves, at least half of it chunk by
	// chunk, must be missing from the wire.
	_, z := c.coder.Encode(nil, text)
	saved := int64(len(text) - len(z))
	if s.PlainSent < 2<<20 || saved < 1<<19 || s.BytesSent > s.PlainSent-saved/2 {
		t.Fatalf("sent %d bytes for %d of plaintext (compressing the text alone saves %d): the text was not compressed on the wire", s.BytesSent, s.PlainSent, saved)
	}
	j, err := v.jobs.Get(st.JobID())
	must(t, err)
	if j.State != jobs.Succeeded || j.Counts.BytesSent != s.BytesSent || j.Counts.BytesNew < s.PlainSent {
		t.Fatalf("job record: %+v; want bytes sent %d (as on the wire), new ≥ %d (plaintext)", j.Counts, s.BytesSent, s.PlainSent)
	}
	// Stored as it came: about what the in-process engine stores for the
	// same data (the vault neither stored plaintext nor compressed twice).
	var stored int64
	must(t, filepath.WalkDir(filepath.Join(v.dir, "repo", "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			stored += fi.Size()
		}
		return err
	}))
	t.Logf("repository: %d bytes of packs", stored)
	if stored > s.BytesSent+s.BytesSent/4+64<<10 {
		t.Fatalf("repository holds %d bytes after %d were sent compressed", stored, s.BytesSent)
	}

	rc := v.dial(t, cr, Options{})
	_, target := restoreAll(t, rc, res.Snapshot.ID, "web1")
	compareTrees(t, src, filepath.Join(target, "src"))
	wire, plain := rc.Received()
	t.Logf("restore: received %d bytes for %d of plaintext", wire, plain)
	if plain < 2<<20 || wire > plain-saved/2 {
		t.Fatalf("restore received %d bytes for %d of plaintext: data was not sent compressed", wire, plain)
	}

	// NoCompression: plaintext on the wire, the same snapshot content.
	nc := v.dial(t, v.enrolAgent(t, "db1"), Options{NoCompression: true})
	src2 := filepath.Join(t.TempDir(), "src2")
	must(t, os.MkdirAll(src2, 0o755))
	must(t, os.WriteFile(filepath.Join(src2, "other.txt"), corpus.Text(3, 1<<20), 0o644))
	_, st2 := runBackup(t, nc, []string{src2}, fingerprint.ID{})
	if s2 := st2.Stats(); s2.PlainSent < 1<<20 || s2.BytesSent != s2.PlainSent {
		t.Fatalf("NoCompression sent %d bytes for %d of plaintext", s2.BytesSent, s2.PlainSent)
	}
}

// TestEncodedPutRefused: the vault decodes every encoded blob before it
// stores anything. A payload that decodes to other content than its ID's,
// does not decode, decodes to another size than declared, or declares
// more than the type's limit is refused and nothing is stored; a good one
// is stored as it came (its sealed size is the payload's plus the seal's
// overhead: not compressed again).
func TestEncodedPutRefused(t *testing.T) {
	v := newVaultWith(t, repo.Options{Chunker: testChunker, BundleBelow: 8 << 10})
	ctx := context.Background()
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	real, other := corpus.Text(4, 40<<10), corpus.Text(5, 40<<10)
	id := c.fp.Sum(real)
	codec, payload := c.coder.Encode(nil, real)
	_, otherPayload := c.coder.Encode(nil, other)
	bomb := make([]byte, 1<<20)
	_, bombPayload := c.coder.Encode(nil, bomb)
	before := v.repo.Stats()
	for _, tc := range []struct {
		name string
		m    *agentproto.PutBlob
		code agentproto.Code
	}{
		{"other content", &agentproto.PutBlob{ID: id, Codec: uint8(codec), Size: uint32(len(other)), Data: otherPayload}, agentproto.CodeIDMismatch},
		{"not zstd", &agentproto.PutBlob{ID: id, Codec: uint8(codec), Size: uint32(len(real)), Data: real}, agentproto.CodeBadRequest},
		{"unknown codec", &agentproto.PutBlob{ID: id, Codec: 9, Size: uint32(len(real)), Data: payload}, agentproto.CodeBadRequest},
		{"size understated", &agentproto.PutBlob{ID: id, Codec: uint8(codec), Size: uint32(len(real) - 1), Data: payload}, agentproto.CodeBadRequest},
		{"size overstated", &agentproto.PutBlob{ID: id, Codec: uint8(codec), Size: uint32(len(real) + 1), Data: payload}, agentproto.CodeBadRequest},
		{"bomb", &agentproto.PutBlob{ID: c.fp.Sum(bomb), Codec: uint8(codec), Size: uint32(len(bomb)), Data: bombPayload}, agentproto.CodeTooLarge},
		{"bomb, size understated", &agentproto.PutBlob{ID: c.fp.Sum(bomb), Codec: uint8(codec), Size: uint32(testChunker.Max), Data: bombPayload}, agentproto.CodeBadRequest},
	} {
		tc.m.BlobType = uint8(pack.Data)
		if _, err := c.call(ctx, tc.m); !isCode(err, tc.code) {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	must(t, v.repo.Flush(ctx))
	if after := v.repo.Stats(); after.Blobs != before.Blobs || v.repo.Has(pack.Data, id) {
		t.Fatalf("refused blobs stored: %d → %d blobs", before.Blobs, after.Blobs)
	}
	r, err := c.call(ctx, &agentproto.PutBlob{BlobType: uint8(pack.Data), ID: id, Codec: uint8(codec), Size: uint32(len(real)), Data: payload})
	must(t, err)
	if ok := r.(*agentproto.PutOK); int(ok.Stored) != len(payload)+seal.Overhead {
		t.Fatalf("stored %d bytes for a %d-byte payload: want it sealed as it came (+%d)", ok.Stored, len(payload), seal.Overhead)
	}
	must(t, v.repo.Flush(ctx))
	if got, err := v.repo.Get(ctx, pack.Data, id, nil); err != nil || !bytes.Equal(got, real) {
		t.Fatalf("stored blob: %v", err)
	}
}

// TestAgentChecksReceived: every blob the agent receives is decoded
// within the type's limit and checked against its ID before use: a
// payload of other content, a damaged one and a decompression bomb are
// all ErrCorrupt, never bytes.
func TestAgentChecksReceived(t *testing.T) {
	v := newVault(t)
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	data := corpus.Text(6, 60<<10)
	id := c.fp.Sum(data)
	codec, payload := c.coder.Encode(nil, data)
	if got, err := c.decode([]byte("x"), pack.Data, id, uint8(codec), payload); err != nil || !bytes.Equal(got[1:], data) {
		t.Fatalf("good payload: %v", err)
	}
	_, otherPayload := c.coder.Encode(nil, corpus.Text(7, 60<<10))
	damaged := bytes.Clone(payload)
	damaged[len(damaged)/2] ^= 0xff
	bomb := make([]byte, 2*testChunker.Max)
	_, bombPayload := c.coder.Encode(nil, bomb)
	for name, tc := range map[string]struct {
		id      fingerprint.ID
		codec   uint8
		payload []byte
	}{
		"other content": {id, uint8(codec), otherPayload},
		"plaintext":     {id, 0, corpus.Text(7, 60<<10)},
		"damaged":       {id, uint8(codec), damaged},
		"bomb":          {c.fp.Sum(bomb), uint8(codec), bombPayload},
		"unknown codec": {id, 7, payload},
	} {
		if out, err := c.decode([]byte("x"), pack.Data, tc.id, tc.codec, tc.payload); !errors.Is(err, repo.ErrCorrupt) || string(out) != "x" {
			t.Errorf("%s: %v, dst %q; want ErrCorrupt and nothing appended", name, err, out)
		}
	}
}

// TestPutBundleRefused: a bundle with a member whose content is not its
// ID's, or one that does not decode, is refused whole and nothing of it
// is stored; a good one is stored as it came and its members read back.
func TestPutBundleRefused(t *testing.T) {
	v := newVault(t)
	ctx := context.Background()
	c := v.dial(t, v.enrolAgent(t, "web1"), Options{})
	a, b := corpus.Text(8, 10<<10), corpus.Text(9, 10<<10)
	bundleOf := func(ids []fingerprint.ID, data ...[]byte) *agentproto.PutBundle {
		var bu pack.Bundler
		for i, d := range data {
			bu.Add(ids[i], d)
		}
		codec, payload := c.coder.Encode(nil, bu.Plaintext())
		return &agentproto.PutBundle{Codec: uint8(codec), Size: uint32(len(bu.Plaintext())), Data: payload}
	}
	ida, idb := c.fp.Sum(a), c.fp.Sum(b)
	before := v.repo.Stats()
	poisoned := bundleOf([]fingerprint.ID{ida, idb}, a, corpus.Text(10, 10<<10))
	if _, err := c.call(ctx, poisoned); !isCode(err, agentproto.CodeIDMismatch) {
		t.Fatalf("bundle with a poisoned member: %v", err)
	}
	garbage := &agentproto.PutBundle{Codec: 1, Size: 100, Data: []byte("not a zstd frame")}
	if _, err := c.call(ctx, garbage); !isCode(err, agentproto.CodeBadRequest) {
		t.Fatalf("undecodable bundle: %v", err)
	}
	must(t, v.repo.Flush(ctx))
	if after := v.repo.Stats(); after.Blobs != before.Blobs || v.repo.Has(pack.Data, ida) {
		t.Fatalf("refused bundles stored: %d → %d blobs", before.Blobs, after.Blobs)
	}
	good := bundleOf([]fingerprint.ID{ida, idb}, a, b)
	r, err := c.call(ctx, good)
	must(t, err)
	if ok := r.(*agentproto.PutOK); int(ok.Stored) != len(good.Data)+seal.Overhead {
		t.Fatalf("stored %d bytes for a %d-byte bundle payload: want it sealed as it came", ok.Stored, len(good.Data))
	}
	must(t, v.repo.Flush(ctx))
	for id, want := range map[fingerprint.ID][]byte{ida: a, idb: b} {
		if got, err := v.repo.Get(ctx, pack.Data, id, nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("member %s: %v", id.Short(), err)
		}
	}
}
