package merge

import "github.com/regsync/regsync/events"

// Diff is what changed between two views for one kind of entry: the names
// added, updated (another source won, or the winner's versions or entries
// changed) and removed, each list cut to events.MaxDiffNames in sorted
// order with the counts of all, and apart from them the names whose
// winning source changed, also in Updated.
type Diff struct {
	events.Diff
	// SourceChanged are the first events.MaxDiffNames names, sorted, whose
	// winning source changed; SourceChangedCount counts them all.
	SourceChanged      []string
	SourceChangedCount int
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool {
	a, u, r := d.Counts()
	return a+u+r == 0
}

// Compare reports what changed for the keys of kind from prev to next. A
// nil prev is an empty view.
func Compare(prev, next *View, kind Kind) Diff {
	var added, updated, removed, moved []string
	var before, after []*Item
	if prev != nil {
		before = prev.items
	}
	after = next.items
	// Both are sorted by key: walk them together.
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		var c int
		switch {
		case i == len(before):
			c = 1
		case j == len(after):
			c = -1
		default:
			c = compareKeys(before[i].Key, after[j].Key)
		}
		switch {
		case c < 0:
			if before[i].Key.Kind == kind {
				removed = append(removed, before[i].Key.Name)
			}
			i++
		case c > 0:
			if after[j].Key.Kind == kind {
				added = append(added, after[j].Key.Name)
			}
			j++
		default:
			a, b := before[i], after[j]
			if a.Key.Kind == kind && !equal(a, b) {
				updated = append(updated, b.Key.Name)
				if a.Source != b.Source {
					moved = append(moved, b.Key.Name)
				}
			}
			i++
			j++
		}
	}
	return Diff{
		Diff:               events.DiffOf(added, updated, removed),
		SourceChanged:      moved[:min(len(moved), events.MaxDiffNames)],
		SourceChangedCount: len(moved),
	}
}
