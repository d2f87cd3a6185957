package coordinator

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
	"github.com/regsync/regsync/internal/testsupport"
)

// preparing is a real entries store that says when a sync began to
// prepare its entries (reading what is stored of the source).
type preparing struct {
	*entries.Store
	began chan struct{}
	once  sync.Once
}

func (p *preparing) Prepare(ctx context.Context, source string, lists registry.Lists) (*entries.Batch, error) {
	p.once.Do(func() { close(p.began) })
	return p.Store.Prepare(ctx, source, lists)
}

// startAfterPrepare is a status bucket whose write of a sync's start is
// stored only once the sync began to prepare its entries (or says it
// never did).
type startAfterPrepare struct {
	jetstream.KeyValue
	began <-chan struct{}
}

func (kv *startAfterPrepare) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if bytes.Contains(value, []byte(`"phase":"`+state.PhaseSyncing+`"`)) {
		select {
		case <-kv.began:
		case <-time.After(testsupport.Patience):
			return 0, errors.New("the sync's entries were not read while its start was written")
		}
	}
	return kv.KeyValue.Update(ctx, key, value, rev)
}

// A sync's start is written while what the sync compares with is read
// (the source's stored entries, the previous snapshot's index), not before:
// nothing is written before the start, so the order of the writes stays,
// and the start's round trip is off the way to the result.
func TestASyncsStartIsWrittenWhileItsEntriesAreRead(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	p := &preparing{Store: entries.New(h.js, h.h.Entries, time.Hour), began: make(chan struct{})}
	h.status = state.NewStore(&startAfterPrepare{KeyValue: h.h.Status, began: p.began}, testsupport.Logger(t))
	res := h.results("local")
	h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{}, func(c *Coordinator) { c.mgr.Entries = p })
	h.request("local")
	if c := res.completed(); c.ServerCount != 2 {
		t.Errorf("completed with %d servers, want 2", c.ServerCount)
	}
	if st := h.getStatus("local"); st.Phase != state.PhaseComplete {
		t.Errorf("status %s, want %s", st.Phase, state.PhaseComplete)
	}
}

// replica runs a coordinator of its own (its own Manager and record
// store, as another process would have) until stop is called.
func (h *harness) replica(t testing.TB, name string, srcs []config.Source) (c *Coordinator, stop func()) {
	t.Helper()
	return h.replicaOn(t, h.h, h.js, name, srcs)
}

// replicaOn is replica on a connection of its own (hh, js).
func (h *harness) replicaOn(t testing.TB, hh *bus.Handles, js jetstream.JetStream, name string, srcs []config.Source) (c *Coordinator, stop func()) {
	t.Helper()
	logger := testsupport.Logger(t)
	mgr := syncer.NewManager(&sources.Fetcher{}, writer.New(hh.Data), logger)
	mgr.Entries = entries.New(js, hh.Entries, time.Hour)
	c = New(hh, mgr, state.NewStore(hh.Status, logger), srcs, Options{Workers: 1, LeaseTTL: h.leaseTTL, SyncTimeout: 30 * time.Second, Holder: name, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("replica %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	testsupport.Eventually(t, "replica "+name+" consuming triggers", func() bool { return c.Ready() == nil })
	return c, stop
}

// releases follows the releases of a source's lease: each receive is
// the next one.
func (h *harness) releases(t *testing.T, source string) <-chan struct{} {
	t.Helper()
	w, err := h.h.Locks.Watch(context.Background(), source, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = w.Stop() })
	go func() {
		for e := range w.Updates() {
			if e == nil || e.Operation() == jetstream.KeyValuePut {
				continue
			}
			select {
			case released <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	return released
}

// released waits for the next release of a lease.
func released(t *testing.T, releases <-chan struct{}) {
	t.Helper()
	select {
	case <-releases:
	case <-time.After(testsupport.Patience):
		t.Fatal("the lease was not let go")
	}
}

// syncRequest says whether a subject is a request that a sync makes: to
// the buckets, object stores and streams, not the consumer's own pulls
// and looks (whose number depends on timing) nor a trigger.
func syncRequest(subject string) bool {
	switch {
	case strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT."), strings.HasPrefix(subject, "$JS.API.CONSUMER.INFO."):
		return false
	}
	for _, prefix := range []string{"$KV.", "$O.", "$JS.API.", "$JS.ACK.", "regsync.result."} {
		if strings.HasPrefix(subject, prefix) {
			return true
		}
	}
	return false
}

// The requests of an edit's sync on a replica other than the one that
// made the last sync (the usual case with replicas sharing the consumer),
// from the trigger to the lease's release. Each is a JetStream round
// trip, most of them one after the other: this number is the sync's
// latency against an external nats-server, kept from growing unnoticed.
func TestTheRequestsOfAnEditSync(t *testing.T) {
	// Leases long enough that no renewal falls within the sync.
	h := newHarnessTTL(t, time.Minute)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	res := h.results("local")
	releases := h.releases(t, "local")
	_, stop := h.replica(t, "a", srcs)
	h.request("local")
	res.completed()
	released(t, releases)
	stop()

	// b has answered a request of its own, so it saw the lease let go as
	// a replica that keeps running does, but it has not synced the source.
	b, _ := h.replica(t, "b", srcs)
	h.request("local")
	res.skipped()
	released(t, releases)
	testsupport.Eventually(t, "b seeing the lease let go", func() bool {
		b.leases.mu.Lock()
		defer b.leases.mu.Unlock()
		_, ok := b.leases.freed["local"]
		return ok
	})

	writeRegistry(t, path, alpha, server{"io.example/beta", "Beta server, edited", []string{"web"}})
	requests := h.requests(t, syncRequest)
	h.changed("local", "")
	if c := res.completed(); len(c.Diff.Updated) != 1 {
		t.Fatalf("diff %+v, want one server updated", c.Diff)
	}
	released(t, releases)
	got := requests()
	const want = 26
	if len(got) != want {
		t.Errorf("an edit's sync made %d requests, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
	}
}

// describing is a snapshot store that says when a snapshot's description
// was first asked for.
type describing struct {
	syncer.Snapshots
	began chan struct{}
	once  sync.Once
}

func (s *describing) Info(ctx context.Context, source string) (writer.Info, error) {
	s.once.Do(func() { close(s.began) })
	return s.Snapshots.Info(ctx, source)
}

// statusAfterDescription is a status bucket whose reads are answered only
// once a snapshot's description was asked for (or say it never was).
type statusAfterDescription struct {
	jetstream.KeyValue
	began <-chan struct{}
}

func (kv *statusAfterDescription) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	select {
	case <-kv.began:
	case <-time.After(testsupport.Patience):
		return nil, errors.New("the snapshot's description was not asked for while the status was read")
	}
	return kv.KeyValue.Get(ctx, key)
}

// A sync asks for the stored snapshot's description while it reads the
// status, both under its lease, instead of after: for a file source, whose
// read is local, it is a round trip less before the sync starts.
func TestASyncDescribesTheSnapshotWhileItReadsTheStatus(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	snaps := &describing{Snapshots: h.snapshots, began: make(chan struct{})}
	h.status = state.NewStore(&statusAfterDescription{KeyValue: h.h.Status, began: snaps.began}, testsupport.Logger(t))
	res := h.results("local")
	h.runPrepared(srcs, &sources.Fetcher{}, snaps, Options{}, nil)
	h.request("local")
	res.completed()
	writeRegistry(t, path, alpha, server{"io.example/beta", "Beta server, edited", []string{"web"}})
	h.changed("local", "")
	if c := res.completed(); c.Reason != "source-data-changed" || len(c.Diff.Updated) != 1 {
		t.Errorf("edit answered %s with diff %+v, want source-data-changed with one server updated", c.Reason, c.Diff)
	}
}
