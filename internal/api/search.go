package api

import (
	"iter"
	"slices"
	"sort"
)

// gramLen is the length in bytes of the substrings the search index
// keeps. A query shorter than that is answered by scanning the listing.
const gramLen = 3

// maxSearchOverlay is how many entries a view rebuilt from the previous
// one may search outside its index (entries added since the index was
// built, and indexed entries since removed) before Rebuild indexes the
// whole view again. Each search checks the added entries one by one, so
// the overlay stays small; a change of a few records reuses the index.
const maxSearchOverlay = 512

// searchIndex finds the entries whose search text may contain a query:
// every entry whose search text holds all the query's byte trigrams. A
// search text and a query are both lower-cased by strings.ToLower, so
// a query contained in a text has all its trigrams in the text's; the
// caller still checks each candidate with strings.Contains, so the index
// never changes an answer, only how many entries are looked at.
//
// It is immutable. A view rebuilt after a few changes shares the
// previous view's index and lists what differs: the entries added
// since (added) and the indexed entries removed since (gone).
type searchIndex struct {
	base  *trigramIndex
	added []*serverEntry            // not in base, by name then version
	gone  map[*serverEntry]struct{} // in base, no longer in the view
}

// trigramIndex maps each trigram of a set of entries to the entries
// whose search text holds it.
type trigramIndex struct {
	entries []*serverEntry // by name then version
	// postings[slot[g]] are the indexes in entries, ascending, of the
	// entries whose search text holds trigram g.
	slot     map[uint32]int32
	postings [][]int32
}

// gram is the trigram of s starting at i.
func gram(s string, i int) uint32 {
	return uint32(s[i])<<16 | uint32(s[i+1])<<8 | uint32(s[i+2])
}

// newTrigramIndex indexes entries, which are in name then version order.
func newTrigramIndex(entries []*serverEntry) *trigramIndex {
	ix := &trigramIndex{entries: entries, slot: map[uint32]int32{}}
	for i, e := range entries {
		for j := 0; j+gramLen <= len(e.search); j++ {
			g := gram(e.search, j)
			s, ok := ix.slot[g]
			if !ok {
				s = int32(len(ix.postings))
				ix.slot[g] = s
				ix.postings = append(ix.postings, nil)
			}
			if p := ix.postings[s]; len(p) == 0 || p[len(p)-1] != int32(i) {
				ix.postings[s] = append(p, int32(i))
			}
		}
	}
	// One array for all lists, without what append left over: the index
	// lives as long as the views that share it.
	n := 0
	for _, p := range ix.postings {
		n += len(p)
	}
	flat := make([]int32, 0, n)
	for s, p := range ix.postings {
		start := len(flat)
		flat = append(flat, p...)
		ix.postings[s] = flat[start:len(flat):len(flat)]
	}
	return ix
}

// newSearchIndex indexes every entry of a view.
func newSearchIndex(entries []*serverEntry) *searchIndex {
	return &searchIndex{base: newTrigramIndex(entries)}
}

// next is the index a view of entries gets when it was rebuilt from a
// view with index prev: the entries removed from that view and the ones
// added to it (fresh) are the only differences. It indexes entries anew
// when the differences outgrow maxSearchOverlay.
func (prev *searchIndex) next(entries []*serverEntry, removed, fresh []*serverEntry) *searchIndex {
	if prev == nil || len(prev.added)+len(prev.gone)+len(removed)+len(fresh) > maxSearchOverlay {
		return newSearchIndex(entries)
	}
	if len(removed) == 0 && len(fresh) == 0 {
		return prev
	}
	gone := make(map[*serverEntry]struct{}, len(prev.gone)+len(removed))
	for e := range prev.gone {
		gone[e] = struct{}{}
	}
	dropped := make(map[*serverEntry]struct{}, len(removed))
	for _, e := range removed {
		dropped[e] = struct{}{}
	}
	added := make([]*serverEntry, 0, len(prev.added)+len(fresh))
	for _, e := range prev.added {
		if _, ok := dropped[e]; ok {
			delete(dropped, e) // added since the index was built: never in base
			continue
		}
		added = append(added, e)
	}
	for e := range dropped {
		gone[e] = struct{}{}
	}
	added = append(added, fresh...)
	slices.SortFunc(added, func(a, b *serverEntry) int { return compareKey(a.name, a.version, b.name, b.version) })
	return &searchIndex{base: prev.base, added: added, gone: gone}
}

// candidates yields, by name then version, every entry of the view after
// the position after (if any) whose search text may contain q, which is
// at least gramLen bytes long.
func (x *searchIndex) candidates(q string, after *position) iter.Seq[*serverEntry] {
	return func(yield func(*serverEntry) bool) {
		base := x.base.rarest(q)
		added := x.added
		if after != nil {
			base = base[sort.Search(len(base), func(i int) bool {
				e := x.base.entries[base[i]]
				return compareKey(e.name, e.version, after.key, after.version) > 0
			}):]
			added = added[sort.Search(len(added), func(i int) bool {
				return compareKey(added[i].name, added[i].version, after.key, after.version) > 0
			}):]
		}
		for len(base) > 0 || len(added) > 0 {
			var e *serverEntry
			if len(base) > 0 {
				e = x.base.entries[base[0]]
			}
			if len(added) > 0 && (e == nil || compareKey(added[0].name, added[0].version, e.name, e.version) < 0) {
				e, added = added[0], added[1:]
			} else {
				base = base[1:]
				if _, ok := x.gone[e]; ok {
					continue
				}
			}
			if !yield(e) {
				return
			}
		}
	}
}

// rarest returns the shortest posting list among q's trigrams: every
// entry holding q is on it. It is empty when some trigram of q is in no
// entry.
func (ix *trigramIndex) rarest(q string) []int32 {
	var best []int32
	for i := 0; i+gramLen <= len(q); i++ {
		s, ok := ix.slot[gram(q, i)]
		if !ok {
			return nil
		}
		if p := ix.postings[s]; i == 0 || len(p) < len(best) {
			best = p
		}
	}
	return best
}
