package reload

import (
	"slices"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

func names(srcs []config.Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
}

func fileSource(name, path string, f *registry.Filter) config.Source {
	return config.Source{Name: name, File: &config.File{Path: path}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}, Filter: f}
}

func TestDiff(t *testing.T) {
	a := fileSource("a", "a.json", nil)
	b := fileSource("b", "b.json", nil)
	c := fileSource("c", "c.json", nil)
	b2 := fileSource("b", "b.json", &registry.Filter{Names: &registry.PatternSet{Include: []string{"x/*"}}})
	managed := config.Source{Name: "m", Managed: &config.Managed{}}
	ch := Diff([]config.Source{a, b, managed}, []config.Source{b2, c, managed})
	if !slices.Equal(names(ch.Added), []string{"c"}) || !slices.Equal(names(ch.Changed), []string{"b"}) ||
		!slices.Equal(names(ch.Removed), []string{"a"}) {
		t.Errorf("changes %+v", ch)
	}
	if !Diff([]config.Source{a}, []config.Source{fileSource("a", "a.json", nil)}).Empty() {
		t.Error("equal configurations differ")
	}
}
