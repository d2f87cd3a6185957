package registry

import (
	"encoding/json"
	"slices"
	"testing"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

func TestCompare(t *testing.T) {
	version := func(s upstreamv0.ServerJSON, v string) upstreamv0.ServerJSON {
		s.Version = v
		return s
	}
	describe := func(s upstreamv0.ServerJSON, d string) upstreamv0.ServerJSON {
		s.Description = d
		return s
	}
	a, b, c := testServer("io.test/a", "x"), testServer("io.test/b", "y"), testServer("io.test/c", "z")
	base := testRegistry(a, version(b, "1.0.0"), version(b, "2.0.0"), c)

	tests := []struct {
		name       string
		prev, next *thvregistry.UpstreamRegistry
		want       Diff
	}{
		{"first sync adds every name once", nil, base,
			Diff{Added: []string{"io.test/a", "io.test/b", "io.test/c"}, Updated: []string{}, Removed: []string{}}},
		{"nothing to nothing", nil, nil,
			Diff{Added: []string{}, Updated: []string{}, Removed: []string{}}},
		{"same data", base, testRegistry(a, version(b, "1.0.0"), version(b, "2.0.0"), c),
			Diff{Added: []string{}, Updated: []string{}, Removed: []string{}}},
		{"reordered entries are unchanged", base, testRegistry(c, version(b, "2.0.0"), a, version(b, "1.0.0")),
			Diff{Added: []string{}, Updated: []string{}, Removed: []string{}}},
		{"changed description", base, testRegistry(describe(a, "new"), version(b, "1.0.0"), version(b, "2.0.0"), c),
			Diff{Added: []string{}, Updated: []string{"io.test/a"}, Removed: []string{}}},
		{"changed tags", base, testRegistry(testServer("io.test/a", "x", "new"), version(b, "1.0.0"), version(b, "2.0.0"), c),
			Diff{Added: []string{}, Updated: []string{"io.test/a"}, Removed: []string{}}},
		{"version dropped", base, testRegistry(a, version(b, "2.0.0"), c),
			Diff{Added: []string{}, Updated: []string{"io.test/b"}, Removed: []string{}}},
		{"version added", base, testRegistry(a, version(b, "1.0.0"), version(b, "2.0.0"), version(b, "3.0.0"), c),
			Diff{Added: []string{}, Updated: []string{"io.test/b"}, Removed: []string{}}},
		{"added, updated and removed sorted", base, testRegistry(testServer("io.test/e"), describe(c, "new"), testServer("io.test/d")),
			Diff{Added: []string{"io.test/d", "io.test/e"}, Updated: []string{"io.test/c"}, Removed: []string{"io.test/a", "io.test/b"}}},
		{"everything removed", base, nil,
			Diff{Added: []string{}, Updated: []string{}, Removed: []string{"io.test/a", "io.test/b", "io.test/c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(tt.prev, tt.next)
			if !slices.Equal(got.Added, tt.want.Added) || !slices.Equal(got.Updated, tt.want.Updated) || !slices.Equal(got.Removed, tt.want.Removed) {
				t.Errorf("Compare = %+v, want %+v", got, tt.want)
			}
			if got.Added == nil || got.Updated == nil || got.Removed == nil {
				t.Errorf("Compare = %#v, want non-nil lists", got)
			}
		})
	}
}

func TestDiffEncodesEmptyLists(t *testing.T) {
	raw, err := json.Marshal(Compare(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"added":[],"updated":[],"removed":[]}`; string(raw) != want {
		t.Errorf("Diff encodes as %s, want %s", raw, want)
	}
}

func TestCompareSharedRegistryWithItsFilteredSelf(t *testing.T) {
	reg, err := Parse(readSharedRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	filtered := Apply(reg, &Filter{Names: &PatternSet{Exclude: []string{"*/git*"}}})
	d := Compare(reg, filtered)
	want := []string{"io.github.stacklok/github", "io.github.stacklok/gitlab"}
	if !slices.Equal(d.Removed, want) || len(d.Added) != 0 || len(d.Updated) != 0 {
		t.Errorf("Compare = %+v, want only %q removed", d, want)
	}
}
