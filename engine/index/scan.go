package index

import "slices"

// scanBatch is how many entries Scan copies per read lock.
const scanBatch = 4096

// Scan calls fn for every entry, in (ID, type) order, and stops at the first
// error fn returns. It copies the entries in batches under the read lock and
// calls fn without it, so fn may use the Index; entries added during the
// scan are visited only if they sort after the scan's position.
func (x *Index) Scan(fn func(Entry) error) error {
	var after *key
	buf := make([]Entry, 0, scanBatch)
	for {
		buf = x.batch(after, buf[:0])
		if len(buf) == 0 {
			return nil
		}
		for _, e := range buf {
			if err := fn(e); err != nil {
				return err
			}
		}
		last := buf[len(buf)-1]
		after = &key{last.ID, last.Type}
	}
}

// batch appends to dst up to cap(dst) entries that sort after *after (all
// entries if after is nil), merging main and tail.
func (x *Index) batch(after *key, dst []Entry) []Entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, j := 0, 0
	if after != nil {
		i = upperBound(x.main, *after)
		j = upperBound(x.tail, *after)
	}
	for len(dst) < cap(dst) {
		var e entry
		switch {
		case i < len(x.main) && (j == len(x.tail) || cmpEntry(x.main[i], x.tail[j]) < 0):
			e = x.main[i]
			i++
		case j < len(x.tail):
			e = x.tail[j]
			j++
		default:
			return dst
		}
		dst = append(dst, Entry{Type: e.typ(), ID: e.id, Location: Location{Pack: x.packs[e.pack()], Offset: e.off, Length: e.len}})
	}
	return dst
}

// upperBound returns the index of the first entry of s that sorts after k.
func upperBound(s []entry, k key) int {
	i, found := slices.BinarySearchFunc(s, k, cmpKey)
	if found {
		i++
	}
	return i
}
