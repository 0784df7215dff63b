package repo

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/zeebo/blake3"

	"keep/engine/fingerprint"
	"keep/engine/index"
	"keep/engine/pack"
	"keep/engine/seal"
)

// maxProblems caps the problems a Report lists; Damaged counts them all.
const maxProblems = 1000

// Report is what Check found.
type Report struct {
	Packs    int   // pack files read
	Blobs    int   // blobs authenticated and fingerprinted
	Bytes    int64 // bytes read
	Damaged  int   // problems found (Problems lists the first maxProblems)
	Problems []Problem
}

// OK reports whether Check found no damage.
func (rep *Report) OK() bool { return rep.Damaged == 0 }

// Problem is one piece of damage: a whole pack's (Blob zero) or one
// blob's.
type Problem struct {
	Pack pack.ID
	Type pack.BlobType
	Blob fingerprint.ID
	Err  error
}

func (p Problem) String() string {
	if p.Blob.IsZero() {
		return fmt.Sprintf("pack %s: %v", p.Pack, p.Err)
	}
	return fmt.Sprintf("pack %s: %v blob %s: %v", p.Pack, p.Type, p.Blob, p.Err)
}

func (rep *Report) add(p Problem) {
	rep.Damaged++
	if len(rep.Problems) < maxProblems {
		rep.Problems = append(rep.Problems, p)
	}
}

// Check re-reads every pack: its content must hash to its name, its header
// must authenticate and tile it, every blob must authenticate, decompress
// to its listed size and hash to its ID, and the index must agree with the
// headers (every blob indexed, every index entry in its pack's header,
// every indexed pack present). Damage is reported, never fatal; Check
// returns an error only if it cannot run (the context ends, the data
// directory cannot be listed). It reads packs written before it started
// and may run while Puts and Flushes do.
func (r *Repo) Check(ctx context.Context) (*Report, error) {
	if err := r.checkOpen(false); err != nil {
		return nil, err
	}
	// The index first, the listing second: packs are only ever added,
	// so every indexed pack must be in the listing.
	perPack := map[pack.ID]int{}
	_ = r.idx.Scan(func(e index.Entry) error {
		perPack[e.Pack]++
		return nil
	})
	onDisk, _, err := r.listPacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	rep := &Report{}
	r.mu.Lock()
	for id, n := range r.missing {
		rep.add(Problem{Pack: id, Err: fmt.Errorf("%w: pack missing since the repository was opened; %d blobs lost", ErrCorrupt, n)})
	}
	r.mu.Unlock()
	seen := make(map[pack.ID]bool, len(onDisk))
	var buf []byte // one blob at a time
	for _, id := range onDisk {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("check: %w", err)
		}
		seen[id] = true
		buf = r.checkPack(rep, id, perPack[id], buf)
	}
	for id, n := range perPack {
		if !seen[id] {
			rep.add(Problem{Pack: id, Err: fmt.Errorf("%w: indexed pack is missing; %d blobs lost", ErrCorrupt, n)})
		}
	}
	return rep, nil
}

// checkPack verifies pack id, which the index says holds indexed blobs,
// into rep. It reads the pack once, blob by blob (memory: one blob), and
// hashes it on the way. buf is a reusable read buffer; it returns it.
func (r *Repo) checkPack(rep *Report, id pack.ID, indexed int, buf []byte) []byte {
	bad := func(err error) { rep.add(Problem{Pack: id, Err: err}) }
	f, err := r.fs.Open(packPath(id))
	if err != nil {
		bad(fmt.Errorf("%w: %w", ErrCorrupt, err))
		return buf
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		bad(err)
		return buf
	}
	rep.Packs++
	rep.Bytes += size
	h := blake3.New()
	hashed := int64(0) // h has hashed the pack's bytes [0, hashed)
	hashTo := func(end int64) error {
		_, err := io.Copy(h, io.NewSectionReader(f, hashed, end-hashed))
		hashed = end
		return err
	}
	blobs, err := pack.ReadHeader(f, size, r.metaSeal)
	if err != nil {
		bad(err)
		r.checkIndexedBlobs(rep, id, f, size)
		blobs = nil // hash the whole file below
	}
	matched := 0
	var plain []byte
	for i := 0; i < len(blobs); {
		// One blob, or the members of one bundle: blobs[i:j].
		j := i + 1
		for j < len(blobs) && blobs[i].InBundle() && blobs[j].Offset == blobs[i].Offset && blobs[j].Length == blobs[i].Length {
			j++
		}
		b := blobs[i]
		var errs []error // per blob of blobs[i:j]; nil: verified
		var sealedLen int64
		if b.InBundle() {
			sealedLen = int64(b.Sealed())
		} else {
			sealedLen = int64(b.Length)
		}
		if (b.InBundle() && sealedLen > pack.MaxBundleSize+seal.Overhead) ||
			(!b.InBundle() && sealedLen > int64(r.limit(b.Type))+seal.Overhead) {
			errs = sameErr(j-i, fmt.Errorf("%w: %d bytes, more than a %v blob can be", ErrCorrupt, sealedLen, b.Type))
			if err := hashTo(int64(b.End())); err != nil {
				bad(fmt.Errorf("%w: read: %w", ErrCorrupt, err))
				return buf
			}
		} else {
			buf = slices.Grow(buf[:0], int(sealedLen))[:sealedLen]
			if _, err := f.ReadAt(buf, int64(b.Offset)); err != nil {
				bad(fmt.Errorf("%w: read: %w", ErrCorrupt, err))
				return buf
			}
			_, _ = h.Write(buf)
			hashed = int64(b.End())
			if b.InBundle() {
				plain, errs = r.checkBundle(blobs[i:j], buf, plain)
			} else {
				plain, err = r.openBlob(plain[:0], b.Type, b.ID, buf, true)
				if err == nil && len(plain) != int(b.RawLength) {
					err = fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, len(plain), b.RawLength)
				}
				errs = []error{err}
			}
		}
		for k, b := range blobs[i:j] {
			blobBad := func(err error) { rep.add(Problem{Pack: id, Type: b.Type, Blob: b.ID, Err: err}) }
			if errs[k] != nil {
				blobBad(errs[k])
			} else {
				rep.Blobs++
			}
			loc, ok := r.idx.Lookup(b.Type, b.ID)
			switch {
			case !ok && indexed > 0:
				blobBad(fmt.Errorf("%w: blob is not indexed", ErrCorrupt))
			case ok && loc.Pack == id && (loc.Offset != b.Offset || loc.Length != b.Length):
				blobBad(fmt.Errorf("%w: index has it at %d+%d, header at %d+%d", ErrCorrupt, loc.Offset, loc.Length, b.Offset, b.Length))
			case ok && loc.Pack == id:
				matched++
			}
		}
		i = j
	}
	if blobs != nil && matched < indexed {
		bad(fmt.Errorf("%w: index lists %d blobs in this pack that its header does not", ErrCorrupt, indexed-matched))
	}
	if err := hashTo(size); err != nil {
		bad(fmt.Errorf("%w: read: %w", ErrCorrupt, err))
		return buf
	}
	if pack.ID(h.Sum(nil)) != id {
		bad(fmt.Errorf("%w: content does not match its name", ErrCorrupt))
	}
	return buf
}

// sameErr returns n copies of err.
func sameErr(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// checkBundle verifies the members ms (header entries) of the sealed
// bundle: it must open, its table must list exactly them (IDs, lengths, in
// order), and each must hash to its ID. It returns one error per member
// (nil: verified) and plain, a reusable buffer.
func (r *Repo) checkBundle(ms []pack.Blob, sealed, plain []byte) ([]byte, []error) {
	b, err := r.openBundle(sealed)
	if err != nil {
		return plain, sameErr(len(ms), err)
	}
	table := b.table
	if len(table) != len(ms) {
		return plain, sameErr(len(ms), fmt.Errorf("%w: bundle holds %d blobs, header lists %d", ErrCorrupt, len(table), len(ms)))
	}
	errs := make([]error, len(ms))
	for k, m := range ms {
		if table[k].ID != m.ID || table[k].Len != m.RawLength {
			errs[k] = fmt.Errorf("%w: bundle member %d is %s (%d bytes), header lists %s (%d bytes)", ErrCorrupt, k,
				table[k].ID.Short(), table[k].Len, m.ID.Short(), m.RawLength)
			continue
		}
		plain, errs[k] = r.member(plain[:0], m.Type, m.ID, b, true)
	}
	return plain, errs
}

// checkIndexedBlobs verifies, in a pack whose header is unreadable, the
// blobs the index places there.
func (r *Repo) checkIndexedBlobs(rep *Report, id pack.ID, f File, size int64) {
	var sealed, plain []byte
	bundles := map[uint32]*openedBundle{} // by offset; nil: failed
	bundleErrs := map[uint32]error{}
	_ = r.idx.Scan(func(e index.Entry) error {
		if e.Pack != id {
			return nil
		}
		var err error
		if e.Length&pack.Bundled != 0 {
			b, seen := bundles[e.Offset]
			if !seen {
				var loc index.Location
				if loc, err = bundleLocation(e.Location); err == nil {
					if int64(loc.Offset)+int64(loc.Length) > size {
						err = fmt.Errorf("%w: bundle indexed at %d+%d, past the end of the pack", ErrCorrupt, loc.Offset, loc.Length)
					} else {
						sealed = slices.Grow(sealed[:0], int(loc.Length))[:loc.Length]
						if _, err = f.ReadAt(sealed, int64(loc.Offset)); err == nil {
							b, err = r.openBundle(sealed)
						}
					}
				}
				bundles[e.Offset], bundleErrs[e.Offset] = b, err
			}
			if err = bundleErrs[e.Offset]; err == nil {
				plain, err = r.member(plain[:0], e.Type, e.ID, b, true)
			}
			if err != nil {
				rep.add(Problem{Pack: id, Type: e.Type, Blob: e.ID, Err: err})
			} else {
				rep.Blobs++
			}
			return nil
		}
		switch end := int64(e.Offset) + int64(e.Length); {
		case end > size:
			err = fmt.Errorf("%w: indexed at %d+%d, past the end of the pack", ErrCorrupt, e.Offset, e.Length)
		case int64(e.Length) > int64(r.limit(e.Type))+seal.Overhead:
			err = fmt.Errorf("%w: indexed length %d exceeds the type's limit", ErrCorrupt, e.Length)
		default:
			sealed = slices.Grow(sealed[:0], int(e.Length))[:e.Length]
			if _, err = f.ReadAt(sealed, int64(e.Offset)); err == nil {
				plain, err = r.openBlob(plain[:0], e.Type, e.ID, sealed, true)
			}
		}
		if err != nil {
			rep.add(Problem{Pack: id, Type: e.Type, Blob: e.ID, Err: err})
		} else {
			rep.Blobs++
		}
		return nil
	})
}
