// Package merge computes the view of a registry from the entries of its
// sources: for each name, the first source in the registry's order that
// has the name gives all of its versions (versions of one name are never
// mixed from several sources), and the latest of them is marked. It is a
// pure function of its input, so every replica that holds the same stored
// entries builds the same view, with the same digest.
//
// A View is immutable. Merge builds one from scratch; Apply builds the next
// one from a previous view and the names that changed, sharing everything
// else, so a one-entry change costs that entry's work plus copying the
// view's sorted index of pointers and hashing its item digests, never a
// re-read of every source's entries.
package merge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Kind is the kind of an entry. Servers are keyed by name, skills and
// plugins by "namespace/name"; a server and a skill of the same name are
// different keys.
type Kind string

// The kinds of entries, in the order a view sorts them.
const (
	Server Kind = "server"
	Skill  Kind = "skill"
	Plugin Kind = "plugin"
)

// Key names an entry of a registry: its kind and name.
type Key struct {
	Kind Kind
	Name string
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Digest is the SHA-256 digest of an entry's stored bytes, or of a view.
type Digest [sha256.Size]byte

// String is the digest in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Entry is one version of an entry as a source stored it.
type Entry struct {
	Version string
	// Digest identifies Data; two entries with equal digests are equal.
	Digest Digest
	// Data is the entry's stored bytes, served as they are.
	Data []byte
}

// Source is one source's entries: every version of every key it has.
type Source struct {
	Name    string
	Entries map[Key][]Entry
}

// Item is one key of a view: the source that won it and all of that
// source's versions of it, in ascending version order (see
// CompareVersions), the last one being the latest.
type Item struct {
	Key      Key
	Source   string
	Versions []Entry
	// digest fingerprints the key, the source and every version with its
	// entry digest.
	digest Digest
}

// Digest fingerprints the item: its key, source and every version with
// its entry digest. Two items are equal when their digests are.
func (it *Item) Digest() Digest { return it.digest }

// Latest is the item's latest version.
func (it *Item) Latest() Entry { return it.Versions[len(it.Versions)-1] }

// View is the merged content of a registry. It is immutable: Apply returns
// a new view and leaves its input as it was.
type View struct {
	// items are sorted by key; a view shares them with the views built
	// from it.
	items  []*Item
	digest Digest
}

// Len is the number of keys of the view.
func (v *View) Len() int { return len(v.items) }

// Items returns the view's items sorted by kind and name. The slice and
// the items must not be changed.
func (v *View) Items() []*Item { return v.items }

// Get returns the item of key, or nil.
func (v *View) Get(k Key) *Item {
	if i, ok := v.find(k); ok {
		return v.items[i]
	}
	return nil
}

// Count is the number of keys of one kind.
func (v *View) Count(kind Kind) int {
	n := 0
	for _, it := range v.items {
		if it.Key.Kind == kind {
			n++
		}
	}
	return n
}

// Digest fingerprints the whole view: every key with its winning source,
// versions and entry digests, in sorted order. Two views of the same data
// have the same digest however they were built.
func (v *View) Digest() Digest { return v.digest }

func (v *View) find(k Key) (int, bool) {
	return slices.BinarySearchFunc(v.items, k, func(it *Item, k Key) int { return compareKeys(it.Key, k) })
}

// Merge builds the view of sources, given in the registry's order.
func Merge(sources []Source) *View {
	keys := make(map[Key]bool)
	for _, s := range sources {
		for k := range s.Entries {
			keys[k] = true
		}
	}
	items := make([]*Item, 0, len(keys))
	for k := range keys {
		if it := resolve(sources, k); it != nil {
			items = append(items, it)
		}
	}
	slices.SortFunc(items, func(a, b *Item) int { return compareKeys(a.Key, b.Key) })
	return newView(items)
}

// Apply builds the view that Merge(sources) would build, from prev, the
// view of the same registry before the entries of the keys in changed
// changed in sources. Only those keys are resolved again. The sources and
// their order must be those prev was built from: a registry whose sources
// or order changed is merged anew.
func Apply(prev *View, sources []Source, changed []Key) *View {
	items := slices.Clone(prev.items)
	for _, k := range changed {
		it := resolve(sources, k)
		i, ok := slices.BinarySearchFunc(items, k, func(it *Item, k Key) int { return compareKeys(it.Key, k) })
		switch {
		case ok && it != nil:
			items[i] = it
		case ok:
			items = slices.Delete(items, i, i+1)
		case it != nil:
			items = slices.Insert(items, i, it)
		}
	}
	return newView(items)
}

// Known is a key as a view holds it, known by its winning source and item
// digest alone (Item.Digest); Gone when the view does not hold it.
type Known struct {
	Key    Key
	Source string
	Digest Digest
	Gone   bool
}

// Patch is prev with the keys of known replaced as known says: a view to
// Compare against and nothing else, since the items it puts in have no
// versions.
func Patch(prev *View, known []Known) *View {
	items := slices.Clone(prev.items)
	for _, k := range known {
		i, ok := slices.BinarySearchFunc(items, k.Key, func(it *Item, k Key) int { return compareKeys(it.Key, k) })
		it := &Item{Key: k.Key, Source: k.Source, digest: k.Digest}
		switch {
		case ok && !k.Gone:
			items[i] = it
		case ok:
			items = slices.Delete(items, i, i+1)
		case !k.Gone:
			items = slices.Insert(items, i, it)
		}
	}
	return newView(items)
}

// resolve is the merge rule for one key: the first source that has it
// wins all its versions. It returns nil when no source has the key.
func resolve(sources []Source, k Key) *Item {
	for _, s := range sources {
		versions := s.Entries[k]
		if len(versions) == 0 {
			continue
		}
		sorted := slices.Clone(versions)
		slices.SortStableFunc(sorted, func(a, b Entry) int { return CompareVersions(a.Version, b.Version) })
		it := &Item{Key: k, Source: s.Name, Versions: sorted}
		it.digest = itemDigest(it)
		return it
	}
	return nil
}

// itemDigest fingerprints an item. Every field is followed by a zero byte
// (names and versions hold none), so no two items encode alike.
func itemDigest(it *Item) Digest {
	h := sha256.New()
	for _, s := range []string{string(it.Key.Kind), it.Key.Name, it.Source} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, e := range it.Versions {
		h.Write([]byte(e.Version))
		h.Write([]byte{0})
		h.Write(e.Digest[:])
	}
	return Digest(h.Sum(nil))
}

func newView(items []*Item) *View {
	h := sha256.New()
	for _, it := range items {
		h.Write(it.digest[:])
	}
	return &View{items: items, digest: Digest(h.Sum(nil))}
}

// CompareVersions orders two versions of one entry as the ToolHive
// Registry Server does to find the latest: by semantic version when both
// are semantic versions (major.minor.patch, an optional "v", pre-release
// and build as in semver 2.0.0), else by string order. Versions equal as
// semantic versions are ordered as strings, so the order is total.
func CompareVersions(a, b string) int {
	if va, vb := semverOf(a), semverOf(b); va != "" && vb != "" {
		if c := semver.Compare(va, vb); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// semverOf returns version with a "v" prefix when it is a full semantic
// version (three numeric parts), else "". The semver package alone also
// accepts "v1" and "v1.2".
func semverOf(version string) string {
	v := version
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	if strings.Count(core, ".") != 2 {
		return ""
	}
	return v
}

// equal reports whether two items have the same source, versions and
// entries.
func equal(a, b *Item) bool { return bytes.Equal(a.digest[:], b.digest[:]) }
