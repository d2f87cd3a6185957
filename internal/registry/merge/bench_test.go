package merge

import (
	"fmt"
	"testing"
)

// benchSources are two sources of 10,000 servers each, half of the names
// in both.
func benchSources() []Source {
	a := Source{Name: "internal", Entries: make(map[Key][]Entry, 10_000)}
	b := Source{Name: "upstream", Entries: make(map[Key][]Entry, 10_000)}
	for i := range 10_000 {
		a.Entries[server(fmt.Sprintf("io.example/a-%05d", i))] = []Entry{entry("1.0.0", "a"), entry("1.1.0", "a")}
		b.Entries[server(fmt.Sprintf("io.example/a-%05d", i+5_000))] = []Entry{entry("2.0.0", "b")}
	}
	return []Source{a, b}
}

// BenchmarkMerge merges 10,000 servers over 2 sources from scratch.
func BenchmarkMerge(b *testing.B) {
	sources := benchSources()
	b.ReportAllocs()
	for b.Loop() {
		Merge(sources)
	}
}

// BenchmarkApplyOneChange re-merges after one entry of the first source
// changed: one name resolved again, the rest of the view shared.
func BenchmarkApplyOneChange(b *testing.B) {
	sources := benchSources()
	prev := Merge(sources)
	k := server("io.example/a-07777")
	sources[0].Entries[k] = []Entry{entry("1.2.0", "edited")}
	b.ReportAllocs()
	for b.Loop() {
		Apply(prev, sources, []Key{k})
	}
}
