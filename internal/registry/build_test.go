package registry

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/registry/registrytest"
)

// buildInputs are registries Build must treat exactly as Parse and
// Snapshot do: valid ones, invalid ones, and the spellings that only the
// whole-document path understands.
func buildInputs(tb testing.TB) map[string][]byte {
	in := map[string][]byte{
		"snapshot document":          []byte(snapshotDoc),
		"generated":                  registrytest.Large(30, 0),
		"key in another case":        []byte(withServers(minimalServer, `{"name":"io.test/two","description":"d","version":"1.0.0","NAME":"io.test/x"}`)),
		"data key in another case":   []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` + minimalServer + `]},"Data":{"servers":[]}}`),
		"meta key in another case":   []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z","LAST_UPDATED":1},"data":{"servers":[` + minimalServer + `]}}`),
		"servers twice":              []byte(withData(`{"servers":[` + minimalServer + `],"servers":[{"name":"io.test/two","description":"d","version":"1.0.0"}]}`)),
		"data twice":                 []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[]},"data":{"servers":[` + minimalServer + `]}}`),
		"server not an object":       []byte(withServers(minimalServer, `"io.test/two"`)),
		"servers not a list":         []byte(withData(`{"servers":{}}`)),
		"no servers":                 []byte(withData(`{"servers":[]}`)),
		"server without description": []byte(withServers(`{"name":"io.test/one","description":"","version":"1.0.0"}`)),
		"invalid server":             []byte(withServers(minimalServer, `{"name":"io.test/two","version":"1.0.0"}`)),
		"invalid extension":          []byte(withExtensions(stacklokExtension(`"status":7`))),
		"tagged":                     []byte(withExtensions(stacklokExtension(`"status":"Active","tags":["database","sql"]`))),
		"two versions":               []byte(withServers(minimalServer, `{"name":"io.test/one","description":"d","version":"2.0.0"}`)),
	}
	for i, seed := range parseSeeds {
		in["seed "+string(rune('a'+i))] = []byte(seed)
	}
	raw, err := os.ReadFile(sharedRegistryPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tb.Logf("shared test data %s is not present; Build is checked without it", sharedRegistryPath)
	case err != nil:
		tb.Fatal(err)
	default:
		in["shared registry"] = raw
	}
	return in
}

var buildFilters = map[string]*Filter{
	"no filter":        nil,
	"everything":       {Names: &PatternSet{Include: []string{"*"}}},
	"one name dropped": {Names: &PatternSet{Exclude: []string{"io.test/two", "*-000001"}}},
	"skills only":      {Names: &PatternSet{Include: []string{"io.test/skill-*", "io.test/pdf"}}},
	"by tag":           {Tags: &PatternSet{Include: []string{"database"}, Exclude: []string{"beta"}}},
}

// Build is Parse, Snapshot and IndexOf in one pass: same errors, same
// bytes, same counts, same index.
func TestBuildAgreesWithParseAndSnapshot(t *testing.T) {
	for name, raw := range buildInputs(t) {
		for fname, f := range buildFilters {
			t.Run(name+"/"+fname, func(t *testing.T) {
				got, gotErr := Build(raw, f)
				reg, wantErr := Parse(raw)
				if wantErr != nil {
					if gotErr == nil || gotErr.Error() != wantErr.Error() {
						t.Fatalf("Build error %v, Parse error %v", gotErr, wantErr)
					}
					return
				}
				if gotErr != nil {
					t.Fatalf("Build: %v, Parse accepted", gotErr)
				}
				filtered, data, err := Snapshot(raw, reg, f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Data, data) {
					t.Errorf("snapshot differs:\n got %s\nwant %s", got.Data, data)
				}
				s, k, p := Counts(filtered)
				if got.Servers != s || got.Skills != k || got.Plugins != p {
					t.Errorf("counts %d/%d/%d, want %d/%d/%d", got.Servers, got.Skills, got.Plugins, s, k, p)
				}
				if want := TallyOf(reg); got.Source != want {
					t.Errorf("source counts %v, want %v", got.Source, want)
				}
				if want := IndexOf(filtered); !reflect.DeepEqual(got.Index, want) {
					t.Errorf("index of %d names, want %d", len(got.Index), len(want))
				}
				want, err := SnapshotLists(data)
				if err != nil {
					t.Fatal(err)
				}
				for kind, l := range map[string][2][][]byte{"servers": {got.Entries.Servers, want.Servers},
					"skills": {got.Entries.Skills, want.Skills}, "plugins": {got.Entries.Plugins, want.Plugins}} {
					if len(l[0]) != len(l[1]) || len(l[0]) != map[string]int{"servers": s, "skills": k, "plugins": p}[kind] {
						t.Errorf("%s: %d entries, the snapshot holds %d, counted %d/%d/%d", kind, len(l[0]), len(l[1]), s, k, p)
						continue
					}
					for i := range l[0] {
						if !bytes.Equal(l[0][i], l[1][i]) {
							t.Errorf("%s %d: %s, the snapshot holds %s", kind, i, l[0][i], l[1][i])
						}
					}
				}
			})
		}
	}
}

// The entry-wise path is the one taken for a valid registry: it never
// decodes the whole document.
func TestBuildTakesTheEntrywisePathForValidRegistries(t *testing.T) {
	for _, name := range []string{"snapshot document", "generated", "tagged", "two versions"} {
		raw := buildInputs(t)[name]
		for fname, f := range buildFilters {
			if _, _, ok := buildEntrywise(raw, f, nil, nil); !ok {
				t.Errorf("%s/%s: entry-wise path refused a valid registry", name, fname)
			}
		}
	}
}

func TestIndexEncoding(t *testing.T) {
	reg, err := Parse([]byte(snapshotDoc))
	if err != nil {
		t.Fatal(err)
	}
	ix := IndexOf(reg)
	raw, err := ix.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Index
	if err := back.UnmarshalJSON(raw); err != nil || !reflect.DeepEqual(back, ix) {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{`[]`, `{"io.test/one":"short"}`, `{"io.test/one":"!!"}`} {
		if err := back.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// BenchmarkBuild10k is the data work of one sync of a 10,000-server
// registry (about 35 MB): validate, decode, filter and index, reporting
// the peak heap in use during one build.
func BenchmarkBuild10k(b *testing.B) {
	raw := registrytest.Large(10_000, 0)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse10k is the whole-document path on the same registry, for
// comparison: Parse, Snapshot and Compare against the previous registry
// decoded again, as a sync did before Build.
func BenchmarkParse10k(b *testing.B) {
	raw := registrytest.Large(10_000, 0)
	prev := registrytest.Large(10_000, 1)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		reg, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		old, err := Parse(prev)
		if err != nil {
			b.Fatal(err)
		}
		Compare(old, reg)
	}
}

// A Builder's builds equal fresh ones, whatever came before: valid
// registries, edited ones, broken ones.
func TestBuilderAgreesWithBuild(t *testing.T) {
	var bl Builder
	inputs := [][]byte{
		registrytest.Large(40, 0),
		registrytest.Large(40, 1),
		[]byte(withServers(minimalServer, `{"name":"io.test/two","version":"1.0.0"}`)),
		registrytest.Large(40, 1),
		registrytest.Large(40, 2),
		[]byte(snapshotDoc),
	}
	for i, raw := range inputs {
		for fname, f := range buildFilters {
			got, gotErr := bl.Build(raw, f)
			want, wantErr := Build(raw, f)
			if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
				t.Fatalf("input %d/%s: error %v, want %v", i, fname, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("input %d/%s: builder's build differs from a fresh one", i, fname)
			}
		}
	}
}

// An entry met before is taken from the last build, not checked again:
// here the remembered entry of one server is given another name, which the
// index then shows.
func TestBuilderReusesCheckedEntries(t *testing.T) {
	raw := registrytest.Large(3, 0)
	_, checked, ok := buildEntrywise(raw, nil, nil, nil)
	if !ok || len(checked) != 3 {
		t.Fatalf("first build: ok %v, %d entries", ok, len(checked))
	}
	for key, e := range checked {
		if e.name == "io.github.example/server-000001" {
			e.name = "io.test/remembered"
			checked[key] = e
		}
	}
	b, _, ok := buildEntrywise(raw, nil, checked, nil)
	if _, found := b.Index["io.test/remembered"]; !ok || !found {
		t.Errorf("the remembered entry was not used: %v", slices.Sorted(maps.Keys(b.Index)))
	}
}

// BenchmarkBuilder10kEdit is a sync of an edit of the 10,000-server
// registry that changes one server in a hundred, as a Builder that built
// the previous version does it: without a filter (the snapshot is the
// document) and with one (the snapshot is cut from it).
func BenchmarkBuilder10kEdit(b *testing.B) {
	versions := [][]byte{registrytest.Large(10_000, 0), registrytest.Large(10_000, 1)}
	for _, tc := range []struct {
		name   string
		filter *Filter
	}{
		{"unfiltered", nil},
		{"filtered", &Filter{Names: &PatternSet{Exclude: []string{"*7"}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var bl Builder
			if _, err := bl.Build(versions[1], tc.filter); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(versions[0])))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bl.Build(versions[i%2], tc.filter); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func TestCheckKept(t *testing.T) {
	for _, tc := range []struct {
		name         string
		source, kept Tally
		fails        bool
	}{
		{"some kept", Tally{Servers: 2}, Tally{Servers: 1}, false},
		{"only skills kept", Tally{Servers: 2, Skills: 1}, Tally{Skills: 1}, false},
		{"an empty source", Tally{}, Tally{}, false},
		{"nothing kept", Tally{Servers: 2, Plugins: 1}, Tally{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKept(tc.source, tc.kept)
			if (err != nil) != tc.fails || err != nil && (!errors.Is(err, ErrFilterRemovedEverything) || !strings.Contains(err.Error(), tc.source.String())) {
				t.Errorf("CheckKept(%v, %v) = %v, want failure %v naming the source's counts", tc.source, tc.kept, err, tc.fails)
			}
		})
	}
}
