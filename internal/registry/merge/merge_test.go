package merge

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
)

func entry(version, content string) Entry {
	data := []byte(`{"version":"` + version + `","c":"` + content + `"}`)
	return Entry{Version: version, Digest: sha256.Sum256(data), Data: data}
}

func server(name string) Key { return Key{Server, name} }

// versions lists an item's versions, or nil for no item.
func versions(it *Item) []string {
	if it == nil {
		return nil
	}
	var out []string
	for _, e := range it.Versions {
		out = append(out, e.Version)
	}
	return out
}

func TestMergeRule(t *testing.T) {
	tests := []struct {
		name         string
		sources      []Source
		key          Key
		wantSource   string
		wantVersions []string
		wantLatest   string
	}{
		{
			// The case the reference's own tests miss: it lets the version
			// that sorts first win.
			name: "first source wins with a higher version than the later one",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("2.0.0", "a")}}},
				{Name: "b", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "b")}}},
			},
			key: server("x/s"), wantSource: "a", wantVersions: []string{"2.0.0"}, wantLatest: "2.0.0",
		},
		{
			name: "first source wins with a lower version than the later one",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "a")}}},
				{Name: "b", Entries: map[Key][]Entry{server("x/s"): {entry("2.0.0", "b")}}},
			},
			key: server("x/s"), wantSource: "a", wantVersions: []string{"1.0.0"}, wantLatest: "1.0.0",
		},
		{
			name: "no mixed histories: the winner's versions only",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.1.0", "a"), entry("1.0.0", "a")}}},
				{Name: "b", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "b"), entry("3.0.0", "b")}}},
			},
			key: server("x/s"), wantSource: "a", wantVersions: []string{"1.0.0", "1.1.0"}, wantLatest: "1.1.0",
		},
		{
			name: "a name only the later source has comes from it",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/other"): {entry("1.0.0", "a")}}},
				{Name: "b", Entries: map[Key][]Entry{server("x/s"): {entry("0.1.0", "b")}}},
			},
			key: server("x/s"), wantSource: "b", wantVersions: []string{"0.1.0"}, wantLatest: "0.1.0",
		},
		{
			name: "latest by semantic version, not string order",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.10.0", "a"), entry("1.9.0", "a"), entry("1.10.0-rc.1", "a")}}},
			},
			key: server("x/s"), wantSource: "a", wantVersions: []string{"1.9.0", "1.10.0-rc.1", "1.10.0"}, wantLatest: "1.10.0",
		},
		{
			name: "latest by string order when a version is not semantic",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("2024-10-01", "a"), entry("2024-09-15", "a")}}},
			},
			key: server("x/s"), wantSource: "a", wantVersions: []string{"2024-09-15", "2024-10-01"}, wantLatest: "2024-10-01",
		},
		{
			name: "skills are merged alike, apart from servers of the same name",
			sources: []Source{
				{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "a")}}},
				{Name: "b", Entries: map[Key][]Entry{{Skill, "x/s"}: {entry("0.2.0", "b")}}},
			},
			key: Key{Skill, "x/s"}, wantSource: "b", wantVersions: []string{"0.2.0"}, wantLatest: "0.2.0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := Merge(tt.sources).Get(tt.key)
			if it == nil {
				t.Fatalf("%v not in the view", tt.key)
			}
			if it.Source != tt.wantSource || !slices.Equal(versions(it), tt.wantVersions) || it.Latest().Version != tt.wantLatest {
				t.Errorf("got %s %v latest %s, want %s %v latest %s", it.Source, versions(it), it.Latest().Version, tt.wantSource, tt.wantVersions, tt.wantLatest)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "v1.0.1", "1.2.0", "1.10.0", "10.0.0"}
	for i := range ordered {
		for j := range ordered {
			if got, want := CompareVersions(ordered[i], ordered[j]), cmpInt(i, j); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	// Not semantic versions (two parts, a date, a word): string order.
	for _, c := range []struct {
		a, b string
		want int
	}{{"1.10", "1.9", -1}, {"latest", "1.0.0", 1}, {"2024-10-01", "2024-9-01", -1}} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// model is the merge rule written as plainly as it reads: for each key of
// any source, the first source in order that has it, with all of its
// versions; the latest is the one no other version of the winner exceeds.
func model(sources []Source) map[Key]string {
	out := make(map[Key]string)
	for _, s := range sources {
		for k, versions := range s.Entries {
			if _, done := out[k]; done || len(versions) == 0 {
				continue
			}
			latest := versions[0].Version
			var vs []string
			for _, e := range versions {
				vs = append(vs, e.Version)
				if CompareVersions(e.Version, latest) > 0 {
					latest = e.Version
				}
			}
			slices.Sort(vs)
			out[k] = s.Name + " " + strings.Join(vs, ",") + " latest " + latest
		}
	}
	return out
}

func describe(v *View) map[Key]string {
	out := make(map[Key]string)
	for _, it := range v.Items() {
		vs := versions(it)
		slices.Sort(vs)
		out[it.Key] = it.Source + " " + strings.Join(vs, ",") + " latest " + it.Latest().Version
	}
	return out
}

func randomSources(r *rand.Rand) []Source {
	names := []string{"a", "b", "c", "d"}
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	versionPool := []string{"1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "v3.0.0", "2024-01-01", "latest"}
	kinds := []Kind{Server, Skill, Plugin}
	sources := make([]Source, r.IntN(len(names))+1)
	for i := range sources {
		s := Source{Name: names[i], Entries: map[Key][]Entry{}}
		for range r.IntN(12) {
			k := Key{kinds[r.IntN(len(kinds))], fmt.Sprintf("ns/e%d", r.IntN(8))}
			if _, ok := s.Entries[k]; ok {
				continue
			}
			perm := r.Perm(len(versionPool))[:r.IntN(3)+1]
			for _, p := range perm {
				s.Entries[k] = append(s.Entries[k], entry(versionPool[p], s.Name+fmt.Sprint(r.IntN(2))))
			}
		}
		sources[i] = s
	}
	return sources
}

// cloneSources copies the sources with every version list in another
// order, as another replica may hold them.
func cloneSources(r *rand.Rand, sources []Source) []Source {
	out := make([]Source, len(sources))
	for i, s := range sources {
		c := Source{Name: s.Name, Entries: make(map[Key][]Entry, len(s.Entries))}
		for k, vs := range s.Entries {
			vs = slices.Clone(vs)
			r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			c.Entries[k] = vs
		}
		out[i] = c
	}
	return out
}

// TestMergeMatchesModel checks Merge against the plain model over random
// sources and orders, that two views built independently from the same
// data share their digest, and that Apply after random changes builds the
// view Merge builds.
func TestMergeMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		sources := randomSources(r)
		v := Merge(sources)
		want := model(sources)
		got := describe(v)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d keys, want %d", round, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("round %d: %v = %q, want %q", round, k, got[k], w)
			}
		}
		if other := Merge(cloneSources(r, sources)); other.Digest() != v.Digest() {
			t.Fatalf("round %d: two views of the same data have different digests", round)
		}

		// Change, add and remove a few keys of a random source.
		next := cloneSources(r, sources)
		s := &next[r.IntN(len(next))]
		var changed []Key
		for range r.IntN(4) + 1 {
			k := Key{[]Kind{Server, Skill, Plugin}[r.IntN(3)], fmt.Sprintf("ns/e%d", r.IntN(10))}
			if _, ok := s.Entries[k]; ok && r.IntN(2) == 0 {
				delete(s.Entries, k)
			} else {
				s.Entries[k] = []Entry{entry("9.9.9", "changed"+fmt.Sprint(round))}
			}
			changed = append(changed, k)
		}
		applied, merged := Apply(v, next, changed), Merge(next)
		if applied.Digest() != merged.Digest() || fmt.Sprint(describe(applied)) != fmt.Sprint(describe(merged)) {
			t.Fatalf("round %d: Apply differs from Merge", round)
		}
		if Merge(sources).Digest() != v.Digest() {
			t.Fatalf("round %d: Apply changed the view it started from", round)
		}
	}
}

func TestDigestChangesWithContent(t *testing.T) {
	base := []Source{{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "one")}}}}
	d := Merge(base).Digest()
	variants := map[string][]Source{
		"another entry digest": {{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "two")}}}},
		"another version":      {{Name: "a", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.1", "one")}}}},
		"another source":       {{Name: "b", Entries: map[Key][]Entry{server("x/s"): {entry("1.0.0", "one")}}}},
		"another kind":         {{Name: "a", Entries: map[Key][]Entry{{Skill, "x/s"}: {entry("1.0.0", "one")}}}},
		"another name":         {{Name: "a", Entries: map[Key][]Entry{server("x/t"): {entry("1.0.0", "one")}}}},
	}
	for name, sources := range variants {
		if Merge(sources).Digest() == d {
			t.Errorf("%s: same digest", name)
		}
	}
	if Merge(nil).Digest() == d || Merge(nil).Len() != 0 {
		t.Error("an empty view")
	}
}

func TestCompare(t *testing.T) {
	prev := Merge([]Source{
		{Name: "a", Entries: map[Key][]Entry{server("x/same"): {entry("1.0.0", "a")}, server("x/edited"): {entry("1.0.0", "a")}, server("x/gone"): {entry("1.0.0", "a")}}},
		{Name: "b", Entries: map[Key][]Entry{server("x/moved"): {entry("1.0.0", "b")}, {Skill, "x/skill"}: {entry("1.0.0", "b")}}},
	})
	next := Merge([]Source{
		{Name: "a", Entries: map[Key][]Entry{server("x/same"): {entry("1.0.0", "a")}, server("x/edited"): {entry("1.0.0", "a2")}, server("x/moved"): {entry("1.0.0", "b")}, server("x/new"): {entry("1.0.0", "a")}}},
		{Name: "b", Entries: map[Key][]Entry{server("x/moved"): {entry("1.0.0", "b")}, {Skill, "x/skill"}: {entry("1.0.0", "b")}}},
	})
	d := Compare(prev, next, Server)
	if !slices.Equal(d.Added, []string{"x/new"}) || !slices.Equal(d.Updated, []string{"x/edited", "x/moved"}) || !slices.Equal(d.Removed, []string{"x/gone"}) {
		t.Errorf("diff %+v", d.Diff)
	}
	if !slices.Equal(d.SourceChanged, []string{"x/moved"}) || d.SourceChangedCount != 1 {
		t.Errorf("source changed %v (%d), want x/moved: the same bytes from another source", d.SourceChanged, d.SourceChangedCount)
	}
	if s := Compare(prev, next, Skill); !s.Empty() {
		t.Errorf("skills diff %+v, want none", s)
	}
	if !Compare(next, next, Server).Empty() {
		t.Error("a view differs from itself")
	}

	t.Run("lists are cut with the counts of all", func(t *testing.T) {
		entries := map[Key][]Entry{}
		for i := range events.MaxDiffNames + 5 {
			entries[server(fmt.Sprintf("x/s%05d", i))] = []Entry{entry("1.0.0", "a")}
		}
		d := Compare(nil, Merge([]Source{{Name: "a", Entries: entries}}), Server)
		if len(d.Added) != events.MaxDiffNames || d.AddedCount != events.MaxDiffNames+5 || d.Added[0] != "x/s00000" {
			t.Errorf("%d names, count %d, first %s", len(d.Added), d.AddedCount, d.Added[0])
		}
	})
}

// mutate changes, adds and removes a few keys of a random source.
func mutate(r *rand.Rand, sources []Source, tag string) []Source {
	next := cloneSources(r, sources)
	s := &next[r.IntN(len(next))]
	for range r.IntN(4) + 1 {
		k := Key{[]Kind{Server, Skill, Plugin}[r.IntN(3)], fmt.Sprintf("ns/e%d", r.IntN(10))}
		if _, ok := s.Entries[k]; ok && r.IntN(2) == 0 {
			delete(s.Entries, k)
		} else {
			s.Entries[k] = []Entry{entry("9.9.9", tag)}
		}
	}
	return next
}

// TestPatchRebuildsAViewFromTheKeysThatChanged checks that the view before
// a change, patched with the keys the change touched as the view after
// holds them (source and digest alone), has the digest of the view after
// and compares with any later view as the view after does.
func TestPatchRebuildsAViewFromTheKeysThatChanged(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 500 {
		first := randomSources(r)
		second := mutate(r, first, "second"+fmt.Sprint(round))
		third := mutate(r, second, "third"+fmt.Sprint(round))
		before, after, later := Merge(first), Merge(second), Merge(third)
		var known []Known
		for _, kind := range []Kind{Server, Skill, Plugin} {
			d := Compare(before, after, kind)
			for _, name := range slices.Concat(d.Added, d.Updated) {
				it := after.Get(Key{kind, name})
				known = append(known, Known{Key: it.Key, Source: it.Source, Digest: it.Digest()})
			}
			for _, name := range d.Removed {
				known = append(known, Known{Key: Key{kind, name}, Gone: true})
			}
		}
		patched := Patch(before, known)
		if patched.Digest() != after.Digest() {
			t.Fatalf("round %d: the patched view's digest differs from the view after", round)
		}
		for _, kind := range []Kind{Server, Skill, Plugin} {
			if got, want := Compare(patched, later, kind), Compare(after, later, kind); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d: %s diff from the patched view %+v, want %+v", round, kind, got, want)
			}
		}
	}
}
