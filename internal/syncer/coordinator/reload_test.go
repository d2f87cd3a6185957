package coordinator

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/reload"
	"github.com/regsync/regsync/internal/syncer"
)

// reload applies a reload from the sources old to next, as serve does.
func (h *harness) reload(c *Coordinator, old, next []config.Source) error {
	a := &reload.Applier{Followers: []reload.Follower{c}, Publisher: h.h.Publisher, Status: h.status, Logger: slog.New(slog.DiscardHandler)}
	return a.Apply(context.Background(), &config.Config{Sources: old}, &config.Config{Sources: next})
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
	if err := h.reload(c, old, next); err != nil {
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
	if err := h.reload(c, old, next); err != nil {
		t.Fatal(err)
	}
	got := res.completed()
	if got.Reason != "source-data-changed" || !slices.Equal(got.Diff.Added, []string{beta.name}) {
		t.Errorf("completed %+v", got)
	}
}

// Every replica applies a reload of the configuration they share: the same
// change seen by several replicas before its sync is one trigger, so it
// gets one result.
func TestReplicasApplyingOneReloadStoreOneTrigger(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	old := []config.Source{fileSource("keep", path, nil)}
	next := []config.Source{fileSource("keep", path, &registry.Filter{Tags: &registry.PatternSet{Include: []string{"web"}}})}
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	before := lastSeq()
	for range 3 { // three replicas, no worker running yet
		a := &reload.Applier{Publisher: h.h.Publisher, Status: h.status, Logger: slog.New(slog.DiscardHandler)}
		if err := a.Apply(ctx, &config.Config{Sources: old}, &config.Config{Sources: next}); err != nil {
			t.Fatal(err)
		}
	}
	if stored := lastSeq() - before; stored != 1 {
		t.Errorf("three replicas applying one reload stored %d triggers, want 1", stored)
	}
}
