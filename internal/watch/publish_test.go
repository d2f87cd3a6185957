package watch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// Triggers of different sources are stored at once, so that a thousand
// sources changed together do not wait for each other: here every publish
// waits until eight are in flight together, which one at a time never
// reaches.
func TestTriggersPublishSourcesAtOnce(t *testing.T) {
	t.Parallel()
	const together = 8
	var mu sync.Mutex
	inFlight, stored := 0, 0
	all := make(chan struct{})
	pub := publisherFunc(func(ctx context.Context, _ string, _ event.Event) error {
		mu.Lock()
		inFlight++
		if inFlight == together {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		stored++
		mu.Unlock()
		return nil
	})
	tr := newTriggers(pub, &statuses{}, fileProducer, events.TriggerFile, "file", "missing", testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range together {
		tr.offer(string(rune('a'+i)), "rev", false)
	}
	testsupport.Eventually(t, "every trigger stored", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stored == together
	})
}

// One source's triggers are stored one at a time, and the newest
// observation replaces one not yet taken.
func TestTriggersOneSourceLatestWins(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	pub := publisherFunc(func(ctx context.Context, _ string, ev event.Event) error {
		d, err := events.DecodeData[events.SourceChanged](ev)
		if err != nil {
			return err
		}
		mu.Lock()
		got = append(got, d.Revision)
		first := len(got) == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	})
	tr := newTriggers(pub, &statuses{}, fileProducer, events.TriggerFile, "file", "missing", testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tr.offer("a", "r1", false)
	testsupport.Eventually(t, "the first publish", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	tr.offer("a", "r2", false)
	tr.offer("a", "r3", false)
	tr.offer("a", "r3", false)
	close(release)
	testsupport.Eventually(t, "the newest stored", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	testsupport.Eventually(t, "r3 recorded as stored", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		rev, known := tr.sources["a"].latest()
		return known && rev == "r3" && tr.sources["a"].inflight == nil
	})
	mu.Lock()
	defer mu.Unlock()
	if got[1] != "r3" {
		t.Errorf("published %v, want r1 then r3", got)
	}
}

// replica is one producer's triggers, as one replica runs them, with the
// ids it stored.
type replica struct {
	tr  *triggers
	mu  sync.Mutex
	ids []string
}

func startReplica(t *testing.T, st *statuses) *replica {
	r := &replica{}
	pub := publisherFunc(func(_ context.Context, _ string, ev event.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ids = append(r.ids, ev.ID())
		return nil
	})
	r.tr = newTriggers(pub, st, fileProducer, events.TriggerFile, "file", "missing", testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.tr.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// observe offers a revision and waits until the replica handled it:
// stored a trigger or found it already synced.
func (r *replica) observe(t *testing.T, source, revision string) {
	t.Helper()
	r.tr.offer(source, revision, false)
	testsupport.Eventually(t, "the observation handled", func() bool {
		r.tr.mu.Lock()
		defer r.tr.mu.Unlock()
		s := r.tr.sources[source]
		return s.pending == nil && s.inflight == nil && s.known && s.published == revision
	})
}

func (r *replica) stored() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// Replicas that see the same change name it alike, so that their triggers
// collapse into one and the change gets one result; a revision that comes
// back after a sync (A → B → A) is a new observation, and a revision the
// status records as synced is no news.
func TestReplicasNameOneObservationAlike(t *testing.T) {
	t.Parallel()
	st := &statuses{}
	synced := func(revision string, at time.Time) {
		st.set("a", state.Status{Phase: state.PhaseComplete, Revision: revision, LastSyncTime: &at, Epoch: "e0"})
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	synced("aaaa", t0)
	one, two := startReplica(t, st), startReplica(t, st)

	one.observe(t, "a", "bbbb")
	two.observe(t, "a", "bbbb")
	synced("bbbb", t0.Add(time.Second))
	one.observe(t, "a", "aaaa")
	two.observe(t, "a", "aaaa")
	synced("aaaa", t0.Add(2*time.Second))
	one.observe(t, "a", "bbbb")
	two.observe(t, "a", "bbbb")

	ids := one.stored()
	if !slices.Equal(ids, two.stored()) {
		t.Errorf("replicas named the same observations %v and %v", ids, two.stored())
	}
	if len(ids) != 3 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
		t.Errorf("A → B → A → B gave the ids %v, want three distinct", ids)
	}

	// Seen late, after the status records it: nothing to publish.
	late := startReplica(t, st)
	late.observe(t, "a", "aaaa")
	if got := late.stored(); len(got) != 0 {
		t.Errorf("a synced revision was published again: %v", got)
	}
}

// A change undone while the sync of the change is under way (A → B → A,
// the status still recording A) is news: the sync may have read B, and
// only a trigger for A brings the source back to A.
func TestChangeUndoneBeforeItsSyncEndedIsPublished(t *testing.T) {
	t.Parallel()
	st := &statuses{}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st.set("a", state.Status{Phase: state.PhaseComplete, Revision: "aaaa", LastSyncTime: &t0, Epoch: "e0"})
	r := startReplica(t, st)
	r.observe(t, "a", "bbbb")
	r.observe(t, "a", "aaaa")
	if ids := r.stored(); len(ids) != 2 {
		t.Errorf("A → B → A before B's sync ended stored %v, want a trigger for B and one for A", ids)
	}
}

// Before any sync ends, the status does not move: a revision that comes
// back to the same producer still gets an id of its own.
func TestRevisionBackBeforeASyncGetsItsOwnID(t *testing.T) {
	t.Parallel()
	r := startReplica(t, &statuses{})
	r.observe(t, "a", "aaaa")
	r.observe(t, "a", "bbbb")
	r.observe(t, "a", "aaaa")
	ids := r.stored()
	if len(ids) != 3 || ids[0] == ids[2] {
		t.Errorf("A → B → A gave the ids %v, want three distinct", ids)
	}
}
