package coordinator

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer"
)

func names(srcs []config.Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
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

func TestReloadAddsRefiltersAndRemoves(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta, gamma)
	old := []config.Source{fileSource("keep", path, nil), fileSource("gone", path, nil)}
	c := h.start(old, 0)
	res := h.results("")
	h.request("keep")
	h.request("gone")
	res.completed()
	res.completed()

	next := []config.Source{
		fileSource("keep", path, &registry.Filter{Tags: &registry.PatternSet{Include: []string{"web"}}}),
		fileSource("new", path, nil),
	}
	ch := Diff(old, next)
	c.SetSources(next)
	if err := ApplyReload(context.Background(), h.h.Publisher, h.status, ch); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for range 2 {
		_, d := res.next()
		if r, ok := d.(interface{ SourceName() string }); ok {
			got[r.SourceName()] = dataReason(d)
		}
	}
	if got["keep"] != "filter-changed" || got["new"] != "registry-not-ready" {
		t.Errorf("reasons %v", got)
	}
	st := h.getStatus("gone")
	if !syncer.Removed(st) || !strings.Contains(st.Message, "removed") {
		t.Errorf("removed source status %+v", st)
	}
	if len(h.snapshot("gone")) == 0 {
		t.Error("a removed source's snapshot was dropped")
	}
}

func TestReloadWithAChangedPathSyncsTheNewFile(t *testing.T) {
	h := newHarness(t)
	first := filepath.Join(h.dir, "first.json")
	second := filepath.Join(h.dir, "second.json")
	writeRegistry(t, first, alpha)
	writeRegistry(t, second, alpha, beta)
	old := []config.Source{fileSource("moving", first, nil)}
	c := h.start(old, 0)
	res := h.results("moving")
	h.request("moving")
	res.completed()

	next := []config.Source{fileSource("moving", second, nil)}
	c.SetSources(next)
	if err := ApplyReload(context.Background(), h.h.Publisher, h.status, Diff(old, next)); err != nil {
		t.Fatal(err)
	}
	got := res.completed()
	if got.Reason != "source-data-changed" || !slices.Equal(got.Diff.Added, []string{beta.name}) {
		t.Errorf("completed %+v", got)
	}
}
