package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/registry/merge"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// mergerRegistries: "both" prefers a over b.
var mergerRegistries = []config.Registry{{Name: "both", Sources: []string{"a", "b"}}}

type mergerFixture struct {
	t      *testing.T
	srv    *bustest.Server
	writer *entries.Store

	mu     sync.Mutex
	events []events.RegistryChanged
	ids    []string
	// results counts the syncs write stands for, to name their results.
	results int
}

func startMerger(t *testing.T) *mergerFixture {
	srv := bustest.Start(t, 2*time.Second)
	f := &mergerFixture{t: t, srv: srv, writer: entries.New(srv.JS, srv.Handles.Entries, time.Hour)}
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := srv.JS.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.AllRegistryChanges}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			t.Errorf("decode %s: %v", msg.Subject(), err)
			return
		}
		var d events.RegistryChanged
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			t.Errorf("decode data of %s: %v", ev.ID(), err)
			return
		}
		f.mu.Lock()
		f.events, f.ids = append(f.events, d), append(f.ids, ev.ID())
		f.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Stop(); cancel() })
	return f
}

// replica runs a follower, a merger and their status watch under holder.
func (f *mergerFixture) replica(holder string) (*Merger, *views.Follower) {
	f.t.Helper()
	log := testsupport.Logger(f.t)
	h := f.srv.Handles
	fl := views.New(h.Entries, mergerRegistries, nil, log)
	m := NewMerger(h, MergerOptions{Leases: NewLeases(h.Locks, holder, 2*time.Second), Views: fl.Merged,
		LeaseTTL: 2 * time.Second, Logger: log}, mergerRegistries)
	fl.OnMerged(m.Changed)
	sw := NewStatusWatch(h, log, m)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{fl.Run, m.Run, sw.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				f.t.Errorf("%s: %v", holder, err)
			}
		}()
	}
	f.t.Cleanup(func() { cancel(); wg.Wait() })
	return m, fl
}

// write stores a source's servers as a sync does, and returns the id of
// the result that sync stands for.
func (f *mergerFixture) write(source string, servers ...string) string {
	f.t.Helper()
	f.mu.Lock()
	f.results++
	id := fmt.Sprintf("r-%s-test-%d", source, f.results)
	f.mu.Unlock()
	snap := []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` +
		strings.Join(servers, ",") + `]}}`)
	lists, err := registry.SnapshotLists(snap)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := f.writer.Prepare(context.Background(), source, lists)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.writer.Write(context.Background(), b, entries.Sync{Revision: "rev-" + source, ResultID: id}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// setPhase writes a source's status record as its syncs would.
func (f *mergerFixture) setPhase(source string, phase events.Phase) {
	f.t.Helper()
	st := state.NewStore(f.srv.Handles.Status, testsupport.Logger(f.t))
	if _, err := st.Update(context.Background(), source, func() *state.Status { return state.Initial("") },
		func(s *state.Status, _ uint64) error { s.Phase = phase; return nil }); err != nil {
		f.t.Fatal(err)
	}
}

func (f *mergerFixture) waitGeneration(gen uint64) events.RegistryChanged {
	f.t.Helper()
	testsupport.Eventually(f.t, fmt.Sprintf("registry.changed of generation %d", gen), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.events) > 0 && f.events[len(f.events)-1].Generation >= gen
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, e := range f.events {
		if e.Generation != uint64(i+1) {
			f.t.Fatalf("event %d (%s) is of generation %d, want one event per generation: %v", i, f.ids[i], e.Generation, f.ids)
		}
	}
	return f.events[gen-1]
}

func (f *mergerFixture) status() *events.RegistryStatus {
	f.t.Helper()
	e, err := f.srv.Handles.RegistryStatus.Get(context.Background(), "both")
	if err != nil {
		return nil
	}
	var s events.RegistryStatus
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		f.t.Fatal(err)
	}
	return &s
}

func srv(name, version, desc string) string {
	return fmt.Sprintf(`{"name":%q,"version":%q,"description":%q}`, name, version, desc)
}

func TestMergerAnnouncesEachGenerationOnce(t *testing.T) {
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			f := startMerger(t)
			for i := range replicas {
				f.replica(fmt.Sprintf("replica-%d", i))
			}
			f.setPhase("a", events.PhaseComplete)
			f.setPhase("b", events.PhaseComplete)
			f.write("a", srv("io.x/one", "1.0.0", "a's one"))
			f.write("b", srv("io.x/one", "2.0.0", "b's one"), srv("io.x/two", "1.0.0", "b's two"))
			last := f.waitGeneration(1)
			testsupport.Eventually(t, "both sources in the view", func() bool {
				s := f.status()
				return s != nil && s.ServerCount == 2 && s.PendingEvent == nil
			})
			gen := f.status().Generation
			last = f.waitGeneration(gen)

			// An unchanged resync of a writes nothing; the edit of b after
			// it is the next generation, and the only event.
			f.write("a", srv("io.x/one", "1.0.0", "a's one"))
			f.write("b", srv("io.x/one", "2.0.0", "b's one"), srv("io.x/two", "1.0.0", "b's two, edited"))
			next := f.waitGeneration(gen + 1)
			if next.PreviousGeneration != gen || next.Diff.UpdatedCount != 1 || next.Diff.Updated[0] != "io.x/two" ||
				next.Diff.AddedCount+next.Diff.RemovedCount != 0 || next.ServerCount != 2 {
				t.Fatalf("generation %d: %+v, want io.x/two updated over generation %d", gen+1, next, gen)
			}
			if next.ViewDigest == last.ViewDigest {
				t.Fatal("the view digest did not change with the view")
			}
			// a wins io.x/one: removing b's says nothing of the view.
			f.write("b", srv("io.x/two", "1.0.0", "b's two, edited"))
			f.write("a", srv("io.x/one", "1.0.1", "a's one"))
			third := f.waitGeneration(gen + 2)
			if third.Diff.UpdatedCount != 1 || third.Diff.Updated[0] != "io.x/one" {
				t.Fatalf("generation %d: %+v, want only io.x/one updated", gen+2, third.Diff)
			}
			st := f.status()
			obj, err := f.srv.Handles.Registries.GetBytes(context.Background(), "both")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(obj), `"1.0.1"`) || strings.Contains(string(obj), `"2.0.0"`) {
				t.Fatalf("stored registry %s: want a's io.x/one 1.0.1 only", obj)
			}
			info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
			if err != nil {
				t.Fatal(err)
			}
			if info.Metadata[events.MetaGeneration] != fmt.Sprint(st.Generation) || info.Metadata[events.MetaViewDigest] != st.ViewDigest {
				t.Fatalf("object metadata %v, want generation %d and digest %s", info.Metadata, st.Generation, st.ViewDigest)
			}
			f.mu.Lock()
			id := f.ids[len(f.ids)-1]
			f.mu.Unlock()
			if want := fmt.Sprintf("g-both-%s-%d", st.Epoch, gen+2); id != want {
				t.Fatalf("event id %s, want %s", id, want)
			}
		})
	}
}

// A generation names as its causes the source results stored since the
// generation before it, in the registry's source order.
func TestAGenerationNamesTheResultsThatMadeIt(t *testing.T) {
	f := startMerger(t)
	f.setPhase("a", events.PhaseComplete)
	f.setPhase("b", events.PhaseComplete)
	// Both sources are stored before any replica looks: one generation.
	ra := f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	rb := f.write("b", srv("io.x/two", "1.0.0", "b's two"))
	f.replica("replica-0")
	first := f.waitGeneration(1)
	want := []events.Cause{{Source: "a", ResultID: ra, Revision: "rev-a"}, {Source: "b", ResultID: rb, Revision: "rev-b"}}
	if !slices.Equal(first.Causes, want) || first.CauseCount != 2 {
		t.Fatalf("generation 1 causes %+v (count %d), want %+v", first.Causes, first.CauseCount, want)
	}

	rb = f.write("b", srv("io.x/two", "1.0.0", "b's two, edited"))
	second := f.waitGeneration(2)
	want = []events.Cause{{Source: "b", ResultID: rb, Revision: "rev-b"}}
	if !slices.Equal(second.Causes, want) || second.CauseCount != 1 {
		t.Fatalf("generation 2 causes %+v (count %d), want %+v", second.Causes, second.CauseCount, want)
	}
}

// A source that syncs twice before the merger writes the next generation
// changed the registry twice: that generation names both results, not
// only the later one.
func TestAGenerationNamesEveryResultSinceTheOneBefore(t *testing.T) {
	f := startMerger(t)
	f.setPhase("a", events.PhaseComplete)
	f.setPhase("b", events.PhaseComplete)
	_, fl := f.replica("replica-0")
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	f.write("b", srv("io.x/two", "1.0.0", "b's two"))
	testsupport.Eventually(t, "both sources recorded", func() bool {
		s := f.status()
		return s != nil && s.ServerCount == 2 && s.PendingEvent == nil
	})
	gen := f.status().Generation
	f.waitGeneration(gen)

	// Another holder keeps the registry's lease while b syncs twice: the
	// merger writes no generation in between.
	blocker := NewLeases(f.srv.Handles.Locks, "blocker", time.Hour)
	lease, err := blocker.TryAcquire(context.Background(), registryLeasePrefix+"both")
	if err != nil {
		t.Fatal(err)
	}
	r1 := f.write("b", srv("io.x/two", "1.1.0", "b's two"))
	r2 := f.write("b", srv("io.x/two", "1.2.0", "b's two"))
	testsupport.Eventually(t, "b's second sync in the view", func() bool {
		v := fl.Registry("both")
		return v != nil && v.Sources[1].Commit.ResultID == r2
	})
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := f.waitGeneration(gen + 1)
	want := []events.Cause{{Source: "b", ResultID: r1, Revision: "rev-b"}, {Source: "b", ResultID: r2, Revision: "rev-b"}}
	if !slices.Equal(next.Causes, want) || next.CauseCount != 2 {
		t.Fatalf("generation %d causes %+v (count %d), want %+v", gen+1, next.Causes, next.CauseCount, want)
	}
}

// Before its sources have synced, a registry has a status record that
// says it waits for them, and no generation: the first one announced is
// the first with data.
func TestARegistryWaitsForItsSourcesAtFirstStart(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-0")
	testsupport.Eventually(t, "the status record of the registry", func() bool { return f.status() != nil })
	st := f.status()
	ready, ok := st.Condition(events.ConditionReady)
	if st.Generation != 0 || !ok || ready.Status != state.ConditionFalse || ready.Reason != events.ConditionReasonSourceNotSynced ||
		ready.Message != "waits for the first sync of a, b" {
		t.Fatalf("status before any sync: %+v, want generation 0 and Ready false waiting for a, b", st)
	}
	f.write("b", srv("io.x/two", "1.0.0", "b's two"))
	first := f.waitGeneration(1)
	if first.ServerCount != 1 || first.PreviousGeneration != 0 {
		t.Fatalf("first generation %+v, want the one with b's server", first)
	}
	ready, _ = f.status().Condition(events.ConditionReady)
	if ready.Status != state.ConditionFalse || ready.Message != "waits for the first sync of a" {
		t.Fatalf("Ready %+v, want false while a has not synced", ready)
	}
}

// The first generation of a registry that waited for its sources names
// every entry of its view as added: the record that waited names no
// generation, so no view was announced before it.
func TestTheFirstGenerationAfterWaitingAnnouncesItsEntriesAsAdded(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-0")
	testsupport.Eventually(t, "the status record of the registry", func() bool { return f.status() != nil })
	f.write("b", srv("io.x/two", "1.0.0", "b's two"))
	first := f.waitGeneration(1)
	if first.Diff.AddedCount != 1 || !slices.Equal(first.Diff.Added, []string{"io.x/two"}) ||
		first.Diff.UpdatedCount+first.Diff.RemovedCount+first.Diff.SourceChangedCount != 0 {
		t.Fatalf("first generation diff %+v, want io.x/two added", first.Diff)
	}
}

// A holder that did not follow the view stored before it (it took the
// lease over from a replica that started earlier) takes the diff of its
// generation against the object of the recorded generation, not against
// the one it stores itself.
func TestAHolderThatDidNotSeeThePreviousViewDiffsAgainstTheStoredObject(t *testing.T) {
	f := startMerger(t)
	first, fl := f.followedMerger("replica-a")
	viewOf := func(result string) { f.awaitView(fl, result) }
	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one"), srv("io.x/two", "1.0.0", "a's two")))
	if err := first.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(1)
	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one, edited"), srv("io.x/two", "1.0.0", "a's two")))
	// The next holder was told of no view before.
	next := f.manualMerger("replica-b", fl.Registry)
	if err := next.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	got := f.waitGeneration(2)
	if got.Diff.UpdatedCount != 1 || got.Diff.Updated[0] != "io.x/one" || got.Diff.AddedCount+got.Diff.RemovedCount != 0 {
		t.Fatalf("generation 2 diff %+v, want io.x/one updated", got.Diff)
	}
}

// A registry whose sources all synced empty announces its empty view.
func TestARegistryOfEmptySourcesIsAnnounced(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-0")
	f.write("a")
	f.write("b")
	first := f.waitGeneration(1)
	if first.ServerCount != 0 || first.CauseCount != 2 {
		t.Fatalf("first generation %+v, want the empty view of a and b", first)
	}
	testsupport.Eventually(t, "the registry ready", func() bool {
		ready, _ := f.status().Condition(events.ConditionReady)
		return ready.Status == state.ConditionTrue
	})
}

func TestAFailingSourceDegradesTheRegistryUntilItRecovers(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-0")
	f.setPhase("a", events.PhaseComplete)
	f.setPhase("b", events.PhaseComplete)
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	f.write("b", srv("io.x/two", "1.0.0", "b's two"))
	condition := func(typ, status string) func() bool {
		return func() bool {
			s := f.status()
			if s == nil || s.ServerCount != 2 {
				return false
			}
			c, ok := s.Condition(typ)
			return ok && c.Status == status
		}
	}
	testsupport.Eventually(t, "Ready", condition(events.ConditionDegraded, state.ConditionFalse))
	f.setPhase("b", events.PhaseFailed)
	testsupport.Eventually(t, "Degraded", condition(events.ConditionDegraded, state.ConditionTrue))
	c, _ := f.status().Condition(events.ConditionDegraded)
	if !strings.Contains(c.Message, "b") || c.Reason != events.ConditionReasonSourceFailing {
		t.Fatalf("Degraded %+v, want it to name source b", c)
	}
	if s := f.status(); s.ServerCount != 2 {
		t.Fatalf("the failing source's entries left the view: %d servers", s.ServerCount)
	}
	f.setPhase("b", events.PhaseComplete)
	testsupport.Eventually(t, "Ready again", condition(events.ConditionDegraded, state.ConditionFalse))
}

// A holder that recorded a generation and died before publishing it left
// the event pending: the next holder publishes it, with its id, first.
func TestANewHolderPublishesTheEventADeadOneLeftPending(t *testing.T) {
	f := startMerger(t)
	ev, err := events.New("g-both-deadholder-1", "/test", events.RegistryChanged{Registry: "both",
		Reason: events.RegistryReasonSourceChanged, Generation: 1, ViewDigest: "left-by-the-dead-holder"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := ev.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(events.RegistryStatus{Generation: 1, ViewDigest: "left-by-the-dead-holder",
		Epoch: "deadholder", PendingEvent: pending})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Handles.RegistryStatus.Put(context.Background(), "both", rec); err != nil {
		t.Fatal(err)
	}
	f.replica("replica-0")
	f.setPhase("a", events.PhaseComplete)
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	second := f.waitGeneration(2)
	f.mu.Lock()
	ids := slices.Clone(f.ids)
	f.mu.Unlock()
	if ids[0] != "g-both-deadholder-1" || ids[1] != "g-both-deadholder-2" || second.PreviousGeneration != 1 {
		t.Fatalf("events %v (second %+v), want the pending generation 1 first, then 2", ids, second)
	}
	testsupport.Eventually(t, "the published event cleared from the record", func() bool {
		return f.status().PendingEvent == nil
	})
}

// A reload that reorders a registry's sources makes a generation of
// reason registry-config-changed; the next source change is
// source-changed again.
func TestAReorderedRegistryIsAConfigChange(t *testing.T) {
	f := startMerger(t)
	m, fl := f.replica("replica-0")
	f.setPhase("a", events.PhaseComplete)
	f.setPhase("b", events.PhaseComplete)
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	f.write("b", srv("io.x/one", "1.0.0", "b's one"))
	testsupport.Eventually(t, "a's io.x/one stored", func() bool {
		s := f.status()
		return s != nil && s.ServerCount == 1 && len(s.Sources) == 2 && s.Sources[1].Revision != "" && s.PendingEvent == nil
	})
	gen := f.status().Generation
	reordered := []config.Registry{{Name: "both", Sources: []string{"b", "a"}}}
	m.SetRegistries(reordered)
	if err := fl.SetRegistries(context.Background(), reordered); err != nil {
		t.Fatal(err)
	}
	got := f.waitGeneration(gen + 1)
	if got.Reason != events.RegistryReasonConfigChanged || got.Diff.SourceChangedCount != 1 || got.Diff.UpdatedCount != 1 {
		t.Fatalf("after the reorder: %+v, want registry-config-changed with io.x/one from b", got)
	}
	f.write("b", srv("io.x/one", "1.0.1", "b's one"))
	if got := f.waitGeneration(gen + 2); got.Reason != events.RegistryReasonSourceChanged {
		t.Fatalf("after b's sync: reason %s, want source-changed", got.Reason)
	}
}

// A holder that did not see the view stored before it takes the diff
// against the stored object: read back, it is the view that was written.
// A holder stores a view's object, then records it. One that died in
// between left the object of a view never recorded (generation 2, view
// B) over the recorded one (generation 1, view A); when the view is A
// again (B reverted), the next holder must store A's object again, so the
// object and the status record agree.
func TestAnObjectLeftByADeadHolderIsStoredAgainWhenTheViewReturns(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-0")
	f.setPhase("a", events.PhaseComplete)
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	testsupport.Eventually(t, "a's view recorded", func() bool {
		s := f.status()
		return s != nil && s.ServerCount == 1 && s.PendingEvent == nil
	})
	recorded := f.status().Generation
	next := strconv.FormatUint(recorded+1, 10)
	meta := map[string]string{events.MetaGeneration: next, events.MetaViewDigest: "view-b-never-recorded",
		events.MetaServerCount: "1", events.MetaSkillCount: "0", events.MetaPluginCount: "0"}
	body := `{"version":"1.0.0","data":{"servers":[` + srv("io.x/one", "2.0.0", "a's reverted one") + `]}}`
	if _, err := f.srv.Handles.Registries.Put(context.Background(), jetstream.ObjectMeta{Name: "both", Metadata: meta},
		strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	// Anything that makes the holder look at the registry again: here
	// the source starts failing.
	f.setPhase("a", events.PhaseFailed)
	testsupport.Eventually(t, "Degraded", func() bool {
		c, ok := f.status().Condition(events.ConditionDegraded)
		return ok && c.Status == state.ConditionTrue
	})
	st := f.status()
	info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata[events.MetaGeneration]; got != strconv.FormatUint(recorded, 10) || st.Generation != recorded ||
		info.Metadata[events.MetaViewDigest] != st.ViewDigest {
		t.Fatalf("object of generation %s, view %s; the status record holds generation %d, view %s",
			got, info.Metadata[events.MetaViewDigest], st.Generation, st.ViewDigest)
	}
	stored, err := f.srv.Handles.Registries.GetBytes(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), "a's one") {
		t.Fatalf("object %s, want the recorded view's entries", stored)
	}
}

// A replica whose follower lags behind the view another replica stored
// must not store its older view as a new generation: the registry would
// go back, and the change it missed would be announced a second time
// when it caught up.
func TestALaggingReplicaDoesNotStoreAnOlderView(t *testing.T) {
	f := startMerger(t)
	_, fl := f.replica("replica-0")
	f.setPhase("a", events.PhaseComplete)
	recorded := func(v *views.Registry) func() bool {
		return func() bool {
			s := f.status()
			return v != nil && s != nil && s.ViewDigest == v.Merged.Digest().String() && s.PendingEvent == nil
		}
	}
	f.write("a", srv("io.x/one", "1.0.0", "a's one"))
	testsupport.Eventually(t, "a's first view recorded", func() bool {
		s := f.status()
		return s != nil && s.ServerCount == 1 && recorded(fl.Registry("both"))()
	})
	older := fl.Registry("both")
	f.write("a", srv("io.x/one", "1.1.0", "a's one, later"))
	testsupport.Eventually(t, "a's second view recorded", func() bool {
		v := fl.Registry("both")
		return v != older && recorded(v)()
	})
	before := f.status()
	h := f.srv.Handles
	lagging := NewMerger(h, MergerOptions{Leases: NewLeases(h.Locks, "replica-1", 2*time.Second),
		Views: func(string) *views.Registry { return older }, LeaseTTL: 2 * time.Second,
		Logger: testsupport.Logger(t)}, mergerRegistries)
	limit, err := bus.ValueLimit(context.Background(), h.RegistryStatus, h.JS.Conn())
	if err != nil {
		t.Fatal(err)
	}
	lagging.ledger.recordLimit = limit
	if err := lagging.merge(context.Background(), "both"); err != nil {
		var held *HeldError
		if !errors.As(err, &held) {
			t.Fatal(err)
		}
		// replica-0 holds the lease right now: try again once it let go.
		testsupport.Eventually(t, "the lease taken", func() bool {
			err := lagging.merge(context.Background(), "both")
			return err == nil
		})
	}
	after := f.status()
	if after.Generation != before.Generation || after.ViewDigest != before.ViewDigest {
		t.Fatalf("a lagging replica stored generation %d (view %s) over generation %d (view %s)",
			after.Generation, after.ViewDigest, before.Generation, before.ViewDigest)
	}
}

func TestAStoredRegistryReadsBackAsTheViewWritten(t *testing.T) {
	entry := func(raw string) merge.Entry {
		var id struct{ Version string }
		if err := json.Unmarshal([]byte(raw), &id); err != nil {
			t.Fatal(err)
		}
		return merge.Entry{Version: id.Version, Digest: sha256.Sum256([]byte(raw)), Data: []byte(raw)}
	}
	one := merge.Key{Kind: merge.Server, Name: "io.x/one"}
	skill := merge.Key{Kind: merge.Skill, Name: "team/review"}
	written := merge.Merge([]merge.Source{
		{Name: "a", Entries: map[merge.Key][]merge.Entry{one: {entry(`{"name":"io.x/one","version":"1.0.0","description":"<a> & b"}`),
			entry(`{"name":"io.x/one","version":"1.1.0","description":"a"}`)}}},
		{Name: "b", Entries: map[merge.Key][]merge.Entry{skill: {entry(`{"namespace":"team","name":"review","version":"2"}`)}}},
	})
	r, err := upstreamOf(written, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	read, err := viewOfObject(body, written)
	if err != nil {
		t.Fatal(err)
	}
	if read.Digest() != written.Digest() {
		t.Fatalf("read back %s, written %s:\n%s", read.Digest(), written.Digest(), body)
	}
	for _, kind := range []merge.Kind{merge.Server, merge.Skill, merge.Plugin} {
		if d := merge.Compare(read, written, kind); !d.Empty() || d.SourceChangedCount != 0 {
			t.Errorf("%s diff of the view read back: %+v", kind, d)
		}
	}
}

// The merged object of a registry is stored in chunks of
// bus.ObjectChunkSize, not the object store's 128 KiB, which the server
// copied whole before storing each (see bus.ObjectChunkSize).
func TestTheMergedObjectIsStoredInChunksOfTheObjectChunkSize(t *testing.T) {
	f := startMerger(t)
	f.replica("replica-a")
	f.setPhase("a", events.PhaseComplete)
	f.setPhase("b", events.PhaseComplete)
	servers := make([]string, 0, 1000)
	for i := range cap(servers) {
		servers = append(servers, srv(fmt.Sprintf("io.x/server-%04d", i), "1.0.0", strings.Repeat("d", 90)))
	}
	f.write("a", servers...)
	f.write("b")
	testsupport.Eventually(t, "every server in the stored registry", func() bool {
		s := f.status()
		return s != nil && s.ServerCount == len(servers) && s.PendingEvent == nil
	})
	info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size <= 2*bus.ObjectChunkSize || info.Opts == nil || info.Opts.ChunkSize != bus.ObjectChunkSize {
		t.Errorf("registry object of %d bytes stored with %+v, want more than two chunks of %d bytes", info.Size, info.Opts, bus.ObjectChunkSize)
	}
}
