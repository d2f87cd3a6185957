package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// The faults a replica meets on a real cluster, each made to happen on
// purpose: a redelivered trigger overtaking a newer one, a result that
// JetStream does not take, a store that does not answer, a lease create
// cut off in flight, leases held by others or by an earlier run of the
// same replica, and a sync that outlives shutdown.

func TestBatchActsOnTheNewestObservation(t *testing.T) {
	// After a kill -9 the old trigger (seq 10, revision A) is redelivered
	// and arrives after the trigger of a newer write (seq 11, revision B).
	stale := triggerMsg{id: "old", seq: 10, kind: events.TriggerFile, changed: true, revision: "A"}
	fresh := triggerMsg{id: "new", seq: 11, kind: events.TriggerFile, changed: true, revision: "B"}
	b := newBatch([]triggerMsg{fresh, stale}, time.Now())
	got := b.trigger()
	if got.Revision != "B" {
		t.Errorf("batch acts on revision %q, want the newest observation B", got.Revision)
	}
	if got.OnlyRevision != "" {
		t.Errorf("OnlyRevision %q: a batch naming two revisions must read the data", got.OnlyRevision)
	}
	if b.lastID != "new" {
		t.Errorf("last trigger %q, want the one with the highest stream sequence", b.lastID)
	}

	same := newBatch([]triggerMsg{fresh, {id: "again", seq: 12, kind: events.TriggerFile, changed: true, revision: "B"}}, time.Now())
	if same.trigger().OnlyRevision != "B" {
		t.Errorf("OnlyRevision %q for two triggers naming B", same.trigger().OnlyRevision)
	}
	manual := newBatch([]triggerMsg{fresh, {id: "m", seq: 12, kind: events.TriggerManual}}, time.Now())
	if manual.trigger().OnlyRevision != "" {
		t.Error("a manual request beside a change must read the data")
	}
}

func TestStaleTriggerBesideANewWriteSyncsTheNewWrite(t *testing.T) {
	h := newHarnessTTL(t, 30*time.Second)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}
	c := h.start(srcs, 0)
	res := h.results("local")
	h.request("local")
	first := res.completed()

	// Another replica holds the lease while a new write and a late copy of
	// the old observation arrive, so both land in one batch.
	wait, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other, err := NewLeases(h.h.Locks, "other-replica", h.leaseTTL).Acquire(wait, "local")
	if err != nil {
		t.Fatal(err)
	}
	writeRegistry(t, path, alpha, beta)
	h.changed("local", registry.Hash(mustRead(t, path)))
	h.changed("local", first.Revision) // stale: names the synced revision
	// Both held is not enough: the first may still be in a worker's hands,
	// about to find the lease free and sync alone. Both put back together
	// to wait for the lease are one batch.
	testsupport.Eventually(t, "both triggers waiting together for the lease", func() bool {
		c.queues.mu.Lock()
		defer c.queues.mu.Unlock()
		sq := c.queues.bySrc["local"]
		return sq != nil && sq.running == nil && len(sq.pending) == 2
	})
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := res.completed()
	if got.ServerCount != 2 || got.TriggerCount != 2 {
		t.Errorf("completed %d servers for %d triggers, want 2 and 2", got.ServerCount, got.TriggerCount)
	}
}

func TestRecordedSyncIsAnnouncedWhenPublishingFails(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}

	var mu sync.Mutex
	var attempts []event.Event
	res := h.results("local")
	h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{}, func(c *Coordinator) {
		real := c.ledger.publish
		c.ledger.publish = func(ctx context.Context, subject string, ev event.Event) error {
			mu.Lock()
			attempts = append(attempts, ev.Clone())
			n := len(attempts)
			mu.Unlock()
			if n <= publishTries+1 { // a leader election: the first announce and one more try fail
				return errors.New("nats: no responders available for request")
			}
			return real(ctx, subject, ev)
		}
	})
	h.request("local")

	ev, d := res.next()
	c, ok := d.(events.SyncCompleted)
	if !ok {
		t.Fatalf("first result %T %+v, want the recorded sync announced as completed", d, d)
	}
	if c.ServerCount != 1 {
		t.Errorf("completed %+v", c)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range attempts {
		if a.ID() != ev.ID() {
			t.Errorf("attempt %d published id %s, want every attempt to carry %s", i, a.ID(), ev.ID())
		}
		want, _ := json.Marshal(a)
		got, _ := json.Marshal(ev)
		if string(want) != string(got) {
			t.Errorf("attempt %d had other content than the published result:\n%s\n%s", i, want, got)
		}
	}
	testsupport.Eventually(t, "the announced result cleared from the status", func() bool { return h.getStatus("local").PendingResult == nil })
	res.none(300 * time.Millisecond)
}

func TestResultIDsAreNeverReused(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	seen := map[string]bool{}
	for i := range 6 {
		if i%2 == 1 {
			writeRegistry(t, path, alpha, server{name: "io.example/n" + string(rune('a'+i)), description: "x"})
		}
		h.request("local")
		ev, _ := res.next()
		if seen[ev.ID()] {
			t.Fatalf("result id %s published twice", ev.ID())
		}
		seen[ev.ID()] = true
	}
}

// silentSnapshots stands for an object store whose reads get no answer
// during a leader election.
type silentSnapshots struct{ syncer.Snapshots }

func (silentSnapshots) Load(ctx context.Context, _ string) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestSnapshotStoreThatDoesNotAnswerCostsSecondsNotTheSyncTimeout(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	res := h.results("local")
	h.runPrepared([]config.Source{fileSource("local", path, nil)}, &sources.Fetcher{}, silentSnapshots{h.snapshots},
		Options{SyncTimeout: time.Hour}, nil)
	h.request("local")
	// The diff's read of the previous snapshot gives up after the call
	// timeout; the sync itself goes on.
	if c := res.completed(); c.ServerCount != 1 {
		t.Errorf("completed %+v", c)
	}
}

// cutOffKV is a bucket whose create is stored but whose answer is lost,
// as when the caller's context is cancelled while the request is in flight.
type cutOffKV struct{ jetstream.KeyValue }

func (kv cutOffKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if _, err := kv.KeyValue.Create(context.WithoutCancel(ctx), key, value, opts...); err != nil {
		return 0, err
	}
	return 0, context.Canceled
}

func TestLeaseCreateCutOffInFlightIsNotOrphaned(t *testing.T) {
	h := newHarnessTTL(t, time.Minute)
	leases := NewLeases(cutOffKV{h.h.Locks}, "replica", h.leaseTTL)
	lease, err := leases.TryAcquire(context.Background(), "src")
	if err != nil {
		t.Fatalf("acquire: %v: a lease stored for us must be recognised as ours", err)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.h.Locks.Get(context.Background(), "src"); !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) {
		t.Errorf("lease still stored after release: %v", err)
	}
}

func TestHeldLeaseDoesNotCostAWorker(t *testing.T) {
	h := newHarnessTTL(t, time.Minute)
	var srcs []config.Source
	for _, name := range []string{"busy", "free"} {
		path := filepath.Join(h.dir, name+".json")
		writeRegistry(t, path, alpha)
		srcs = append(srcs, fileSource(name, path, nil))
	}
	// Another replica syncs "busy" and holds its lease for a minute.
	other, err := NewLeases(h.h.Locks, "other-replica", h.leaseTTL).TryAcquire(context.Background(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	h.startWith(srcs, Options{Workers: 1})
	busy, free := h.results("busy"), h.results("free")
	h.request("busy")
	h.request("free")
	// The only worker answers "free" instead of waiting out "busy"'s lease.
	free.completed()
	busy.none(200 * time.Millisecond)
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	busy.completed()
}

func TestRestartedReplicaTakesOverItsOwnLeasesAtOnce(t *testing.T) {
	h := newHarnessTTL(t, time.Minute)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	// The replica was killed while it held the lease.
	if _, err := NewLeases(h.h.Locks, "replica-1", h.leaseTTL).TryAcquire(context.Background(), "local"); err != nil {
		t.Fatal(err)
	}
	res := h.results("local")
	h.startWith([]config.Source{fileSource("local", path, nil)}, Options{Holder: "replica-1"})
	h.request("local")
	res.completed() // within the wait of next, far less than the one-minute TTL
}

// stuckFetcher never answers until its context ends.
type stuckFetcher struct{ started chan struct{} }

func (f stuckFetcher) Fetch(ctx context.Context, _ config.Source) (*sources.Fetched, error) {
	f.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestShutdownCutsOffAStuckSyncAndLetsGo(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}
	f := stuckFetcher{started: make(chan struct{}, 1)}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	mgr := syncer.NewManager(f, h.snapshots, logger)
	c := New(h.h, mgr, h.status, srcs, Options{LeaseTTL: h.leaseTTL, SyncTimeout: time.Hour,
		DrainTimeout: 100 * time.Millisecond, Holder: "stuck", Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	id := h.request("local")
	<-f.started
	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testsupport.Patience):
		t.Fatal("shutdown waited for a stuck sync")
	}
	if _, err := h.h.Locks.Get(context.Background(), "local"); err == nil {
		t.Error("lease left behind after shutdown")
	}
	// The trigger went back unanswered; the next replica answers it.
	res := h.results("local")
	h.start(srcs, 0)
	if got := res.completed(); !slices.Contains(got.TriggerIDs, id) {
		t.Errorf("completed %+v does not answer %s", got.Covered, id)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A status record that does not decode (cut short, or written by another
// tool) is replaced by the source's next sync: the source answers its
// triggers instead of retrying the record for ever.
func TestUndecodableStatusDoesNotWedgeItsSource(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	if _, err := h.h.Status.Put(context.Background(), "local", []byte(`{"phase":`)); err != nil {
		t.Fatal(err)
	}
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	id := h.request("local")
	c := res.completed()
	if !slices.Contains(c.TriggerIDs, id) || c.ServerCount != 1 {
		t.Errorf("completed %+v, want the request answered with one server", c)
	}
	if st := h.getStatus("local"); st.Phase != state.PhaseComplete {
		t.Errorf("status %+v, want Complete", st)
	}
}

// A snapshot whose content was replaced behind regsync's back, with its
// description (and so its digest, NUID and size) republished unchanged,
// is repaired by the next manual sync: the manual sync reads the snapshot
// back, finds it does not match its digest and stores it again.
func TestManualSyncRepairsAForgedSnapshot(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	h.request("local")
	c := res.completed()
	good := h.snapshot("local")
	if st := h.getStatus("local"); st.SnapshotNUID == "" || st.SnapshotSize != uint64(len(good)) {
		t.Fatalf("status records snapshot NUID %q and size %d, want the object's (%d bytes)", st.SnapshotNUID, st.SnapshotSize, len(good))
	}

	forged := []byte(strings.Repeat(" ", len(good)))
	copy(forged, `{"forged":true}`)
	bustest.ForgeObject(t, h.js, events.ObjectStoreData, "local", forged)

	h.request("local")
	repaired := res.completed()
	if repaired.Reason != syncer.ReasonRegistryNotReady.String() || repaired.SnapshotDigest != c.SnapshotDigest {
		t.Errorf("manual sync after the forgery: %+v, want registry-not-ready storing digest %s again", repaired, c.SnapshotDigest)
	}
	if got := h.snapshot("local"); string(got) != string(good) {
		t.Errorf("snapshot after the repair = %q, want the synced one", got)
	}
}

// A batch that waits for a lease held by another replica is answered as
// soon as that replica lets the lease go, not at the next look at the
// lease: the fresh trigger of an edit that arrives meanwhile would wait out
// the whole pause (the queues' clock here stands still, so only the
// release can end it).
func TestHeldLeaseReleasedEndsTheWaitAtOnce(t *testing.T) {
	h := newHarnessTTL(t, time.Minute)
	path := filepath.Join(h.dir, "busy.json")
	writeRegistry(t, path, alpha)
	other, err := NewLeases(h.h.Locks, "other-replica", h.leaseTTL).TryAcquire(context.Background(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	paused := newFakeClock()
	h.runPrepared([]config.Source{fileSource("busy", path, nil)}, &sources.Fetcher{}, h.snapshots, Options{},
		func(c *Coordinator) { c.queues.clock = paused })
	res := h.results("busy")
	h.request("busy")
	testsupport.Eventually(t, "the batch waiting for the lease", func() bool { return len(paused.running()) == 1 })
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	res.completed()
}
