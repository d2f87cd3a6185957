package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
	"github.com/regsync/regsync/internal/testsupport"
)

// stallKV is a bucket whose nth write that stall picks never returns:
// the writer stops there, as a process killed at that moment would.
// Earlier writes that it picks, and every other write, go through.
type stallKV struct {
	jetstream.KeyValue
	stall   func(key string, value []byte) bool
	nth     int
	reached chan struct{}
	release chan struct{}

	mu   sync.Mutex
	seen int
}

func newStallKV(kv jetstream.KeyValue, nth int, stall func(key string, value []byte) bool) *stallKV {
	return &stallKV{KeyValue: kv, stall: stall, nth: nth, reached: make(chan struct{}), release: make(chan struct{})}
}

func (kv *stallKV) stop(key string, value []byte) bool {
	if !kv.stall(key, value) {
		return false
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.seen++
	if kv.seen != kv.nth {
		return false
	}
	close(kv.reached)
	return true
}

func (kv *stallKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if kv.stop(key, value) {
		<-kv.release
		return 0, fmt.Errorf("put %s: the writer was killed", key)
	}
	return kv.KeyValue.Put(ctx, key, value)
}

func (kv *stallKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if kv.stop(key, value) {
		<-kv.release
		return 0, fmt.Errorf("update %s: the writer was killed", key)
	}
	return kv.KeyValue.Update(ctx, key, value, rev)
}

// recordsOutcome picks the status writes that record a completed sync
// with its result.
func recordsOutcome(_ string, value []byte) bool {
	var st state.Status
	return json.Unmarshal(value, &st) == nil && st.Phase == state.PhaseComplete && st.PendingResult != nil
}

// writesCommit picks the writes of commit markers.
func writesCommit(key string, _ []byte) bool { return strings.HasSuffix(key, "."+entries.CommitToken) }

// startDyingReplica starts a replica of its own, on a connection named
// name, that records entries; statusKV and entriesKV wrap its buckets.
// Closing the returned connection is the replica's kill -9.
func (h *harness) startDyingReplica(t *testing.T, name string, srcs []config.Source, holder string,
	statusKV, entriesKV func(jetstream.KeyValue) jetstream.KeyValue) *nats.Conn {
	t.Helper()
	nc, js, hh := h.replicaConn(t, name)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil)).With("replica", name)
	mgr := syncer.NewManager(&sources.Fetcher{}, writer.New(hh.Data), logger)
	mgr.Entries = entries.New(js, entriesKV(hh.Entries), time.Hour)
	c := New(hh, mgr, state.NewStore(statusKV(hh.Status), logger), srcs,
		Options{LeaseTTL: h.leaseTTL, Logger: logger, Holder: holder, SyncTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return nc
}

// storedCompleted returns the completed results of a source stored in
// REGSYNC_RESULTS, in order, with their ids.
func (h *harness) storedCompleted(t *testing.T, source string) ([]string, []events.SyncCompleted) {
	t.Helper()
	ctx := context.Background()
	cons, err := h.js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.ResultSubject(source, events.OutcomeCompleted)}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var all []events.SyncCompleted
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 0 {
			return ids, all
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(testsupport.Patience))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		d, err := events.DecodeData[events.SyncCompleted](ev)
		if err != nil {
			t.Fatal(err)
		}
		ids, all = append(ids, ev.ID()), append(all, d)
	}
}

// committedResults returns the result ids a source's commit marker
// names, its earlier commits' first.
func (h *harness) committedResults(t *testing.T, source string) []string {
	t.Helper()
	e, err := h.h.Entries.Get(context.Background(), entries.CommitKey(source))
	if err != nil {
		t.Fatal(err)
	}
	var c entries.Commit
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range c.Earlier {
		ids = append(ids, e.ResultID)
	}
	return append(ids, c.ResultID)
}

// checkCommitsAreResults checks what a registry relies on: every result
// id a source's commits name is a completed result stored, and every
// completed result stored that changed the source's data is named by
// exactly one commit.
func (h *harness) checkCommitsAreResults(t *testing.T, source string) {
	t.Helper()
	committed := h.committedResults(t, source)
	ids, results := h.storedCompleted(t, source)
	stored := map[string]bool{}
	for _, id := range ids {
		stored[id] = true
	}
	for _, id := range committed {
		if !stored[id] {
			t.Errorf("a commit names result %s, which is not a completed result stored (stored: %v)", id, ids)
		}
	}
	last := ""
	for i, r := range results {
		if r.Hash == last {
			continue
		}
		last = r.Hash
		n := 0
		for _, id := range committed {
			if id == ids[i] {
				n++
			}
		}
		if n != 1 {
			t.Errorf("completed result %s changed the data and is named by %d commits (commits name %v)", ids[i], n, committed)
		}
	}
}

// A replica killed -9 at any point of a sync that changes a source, and
// started again, leaves every commit naming a completed result that is
// stored, and every completed result that changed the data named by one
// commit: whether the source still holds what the dead sync read or has
// changed again meanwhile.
func TestKilledSyncLeavesNoCommitWithoutItsResult(t *testing.T) {
	for _, at := range []struct {
		name              string
		statusKV, entries func(jetstream.KeyValue) jetstream.KeyValue
		stalled           func(status, entries jetstream.KeyValue) *stallKV
	}{
		{name: "killed when recording the outcome",
			statusKV: func(kv jetstream.KeyValue) jetstream.KeyValue { return newStallKV(kv, 2, recordsOutcome) },
			entries:  func(kv jetstream.KeyValue) jetstream.KeyValue { return kv },
			stalled:  func(status, _ jetstream.KeyValue) *stallKV { return status.(*stallKV) }},
		{name: "killed when committing the entries",
			statusKV: func(kv jetstream.KeyValue) jetstream.KeyValue { return kv },
			entries:  func(kv jetstream.KeyValue) jetstream.KeyValue { return newStallKV(kv, 2, writesCommit) },
			stalled:  func(_, entries jetstream.KeyValue) *stallKV { return entries.(*stallKV) }},
	} {
		for _, changedAgain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, source changed again before the restart: %v", at.name, changedAgain), func(t *testing.T) {
				h := newHarness(t)
				path := filepath.Join(h.dir, "registry.json")
				writeRegistry(t, path, alpha)
				srcs := []config.Source{fileSource("local", path, nil)}
				var statusKV, entriesKV jetstream.KeyValue
				nc := h.startDyingReplica(t, "dying", srcs, "replica-a",
					func(kv jetstream.KeyValue) jetstream.KeyValue { statusKV = at.statusKV(kv); return statusKV },
					func(kv jetstream.KeyValue) jetstream.KeyValue { entriesKV = at.entries(kv); return entriesKV })
				stall := at.stalled(statusKV, entriesKV)
				t.Cleanup(func() { close(stall.release) }) // runs before the replica's own cleanup

				res := h.results("local")
				h.request("local")
				if c := res.completed(); c.ServerCount != 1 {
					t.Fatalf("first sync completed %+v, want 1 server", c)
				}
				writeRegistry(t, path, alpha, beta)
				h.request("local")
				select {
				case <-stall.reached:
				case <-time.After(testsupport.Patience):
					t.Fatal("the second sync never reached the write it is killed at")
				}
				nc.Close() // kill -9
				want := 2
				if changedAgain {
					writeRegistry(t, path, alpha, beta, gamma)
					h.request("local") // as the file watcher would
					want = 3
				}

				h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{Holder: "replica-a"}, func(c *Coordinator) {
					c.mgr.Entries = entries.New(h.js, h.h.Entries, time.Hour)
				})
				testsupport.Eventually(t, fmt.Sprintf("the source synced with %d servers and its result published", want), func() bool {
					st := h.getStatus("local")
					return st.Phase == state.PhaseComplete && st.ServerCount == want && st.PendingResult == nil
				})
				h.checkCommitsAreResults(t, "local")
			})
		}
	}
}
