package coordinator

import (
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
		busy:       func(s string) bool { return busy[s] }, wake: make(chan struct{}, 1)}
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
