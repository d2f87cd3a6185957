package coordinator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/testsupport"
)

// A registry changed while a trigger of one of its sources is pending or
// syncing on the replica is merged once its sources' triggers are all
// answered, so a burst of syncs makes one generation rather than one per
// view between them; sources synced one after another without end hold it
// for syncHold at most. A registry whose sources are idle is merged at
// once.
func TestARegistryWaitsForItsSourcesSyncsUnderWay(t *testing.T) {
	c := newFakeClock()
	busy := map[string]bool{}
	m := &Merger{log: testsupport.Logger(t), clock: c, heldWait: 5 * time.Second, dirty: map[string]bool{},
		waiting: map[string]mergeWait{}, held: map[string]time.Time{}, seen: map[string][]*views.Registry{},
		registries: []config.Registry{{Name: "r", Sources: []string{"a", "b"}}, {Name: "other", Sources: []string{"c"}}},
		sources:    map[string][]string{"r": {"a", "b"}, "other": {"c"}},
		busy:       func(s string) bool { return busy[s] }, lastBusy: map[string]string{}, wake: make(chan struct{}, 1)}
	due := func(want ...string) {
		t.Helper()
		if got := m.due(c.current()); !slices.Equal(got, want) {
			t.Fatalf("due %v, want %v", got, want)
		}
	}
	m.Changed("r", nil)
	m.Changed("other", nil)
	due("other", "r")

	// a has triggers queued; b's sync changed the view, and c's.
	busy["a"] = true
	m.Changed("r", nil)
	m.Changed("other", nil)
	due("other")
	if d, ok := m.nextDue(c.current()); !ok || d != syncHold {
		t.Fatalf("next due in %v (%v), want the hold's end in %v", d, ok, syncHold)
	}
	c.advance(syncHold / 2)
	m.Changed("r", nil)
	due()
	busy["a"] = false
	m.SourceIdle("a")
	select {
	case <-m.wake:
	default:
		t.Fatal("an idle source does not wake the merger")
	}
	due("r")
	m.merged("r", nil, c.current())

	// Sources that stay busy hold the registry for syncHold only, counted
	// from the first change it holds.
	busy["b"] = true
	m.Changed("r", nil)
	due()
	c.advance(syncHold - time.Millisecond)
	m.Changed("r", nil)
	due()
	c.advance(time.Millisecond)
	due("r")
	m.merged("r", nil, c.current())
	m.Changed("r", nil)
	due()
	c.advance(syncHold)
	due("r")
}

// A registry held by a busy source asks first about the source it found
// busy last: a burst of syncs wakes the merger once for every source that
// goes idle, and each wake does not look at every source of every
// registry that waits.
func TestAHeldRegistryAsksFirstAboutTheSourceFoundBusyLast(t *testing.T) {
	c := newFakeClock()
	var sources []string
	for i := range 100 {
		sources = append(sources, fmt.Sprintf("s%02d", i))
	}
	busy := map[string]bool{"s99": true}
	asked := 0
	m := &Merger{log: testsupport.Logger(t), clock: c, heldWait: 5 * time.Second, dirty: map[string]bool{},
		waiting: map[string]mergeWait{}, held: map[string]time.Time{}, seen: map[string][]*views.Registry{},
		registries: []config.Registry{{Name: "r", Sources: sources}},
		sources:    map[string][]string{"r": sources},
		busy:       func(s string) bool { asked++; return busy[s] }, lastBusy: map[string]string{}, wake: make(chan struct{}, 1)}
	m.Changed("r", nil)
	if got := m.due(c.current()); len(got) != 0 {
		t.Fatalf("due %v while s99 syncs", got)
	}
	asked = 0
	for range 10 {
		m.SourceIdle("s00")
		if got := m.due(c.current()); len(got) != 0 {
			t.Fatalf("due %v while s99 syncs", got)
		}
	}
	if asked != 10 {
		t.Fatalf("10 looks at a registry held by s99 asked about %d sources, want 10", asked)
	}
	busy["s99"], busy["s42"] = false, true
	if got := m.due(c.current()); len(got) != 0 {
		t.Fatalf("due %v while s42 syncs", got)
	}
	busy["s42"] = false
	if got := m.due(c.current()); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("due %v once every source is idle, want [r]", got)
	}
}
