package coordinator

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

var (
	alpha = server{"io.example/alpha", "Alpha server", []string{"database"}}
	beta  = server{"io.example/beta", "Beta server", []string{"web"}}
	gamma = server{"io.example/gamma", "Gamma server", []string{"web", "beta"}}
)

func TestSyncEditedFile(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	t.Run("first sync adds every server", func(t *testing.T) {
		id := h.request("local")
		c := res.completed()
		if c.Reason != syncer.ReasonRegistryNotReady.String() {
			t.Errorf("reason %q, want registry-not-ready", c.Reason)
		}
		if !slices.Contains(c.TriggerIDs, id) || c.TriggerCount != 1 {
			t.Errorf("covered %v (%d), want [%s]", c.TriggerIDs, c.TriggerCount, id)
		}
		if want := []string{alpha.name, beta.name}; !slices.Equal(c.Diff.Added, want) {
			t.Errorf("added %v, want %v", c.Diff.Added, want)
		}
		if c.ServerCount != 2 || c.PreviousHash != "" || c.Hash == "" || c.SnapshotDigest == "" {
			t.Errorf("completed %+v", c)
		}
		st := h.getStatus("local")
		if st.Phase != state.PhaseComplete || st.LastSyncHash != c.Hash || st.Revision != c.Hash ||
			st.ServerCount != 2 || st.LastAppliedFilterHash == "" || st.LastTriggerID != id || st.LastManualRequestID != id {
			t.Errorf("status %+v", st)
		}
		for _, typ := range []string{syncer.ConditionSourceAvailable, syncer.ConditionDataValid, syncer.ConditionSyncSuccessful, syncer.ConditionAPIReady} {
			if c, ok := st.Condition(typ); !ok || c.Status != state.ConditionTrue {
				t.Errorf("condition %s = %+v, want True", typ, c)
			}
		}
	})

	t.Run("an edit is a diff of added, updated and removed", func(t *testing.T) {
		before := h.getStatus("local").LastSyncHash
		changedBeta := beta
		changedBeta.description = "Beta server, now better"
		writeRegistry(t, path, changedBeta, gamma)
		h.changed("local", "")
		c := res.completed()
		if c.Reason != syncer.ReasonSourceDataChanged.String() {
			t.Errorf("reason %q, want source-data-changed", c.Reason)
		}
		if !slices.Equal(c.Diff.Added, []string{gamma.name}) || !slices.Equal(c.Diff.Updated, []string{beta.name}) ||
			!slices.Equal(c.Diff.Removed, []string{alpha.name}) {
			t.Errorf("diff %+v", c.Diff)
		}
		if c.PreviousHash != before {
			t.Errorf("previous hash %q, want %q", c.PreviousHash, before)
		}
		var snap struct {
			Data struct {
				Servers []struct{ Name, Description string }
			}
		}
		if err := json.Unmarshal(h.snapshot("local"), &snap); err != nil {
			t.Fatal(err)
		}
		if len(snap.Data.Servers) != 2 || snap.Data.Servers[0].Description != changedBeta.description {
			t.Errorf("snapshot servers %+v", snap.Data.Servers)
		}
	})

	t.Run("manual sync without change is skipped", func(t *testing.T) {
		id := h.request("local")
		s := res.skipped()
		if s.Reason != "manual-sync-no-data-changes" || !slices.Contains(s.TriggerIDs, id) {
			t.Errorf("skipped %+v", s)
		}
		if st := h.getStatus("local"); st.LastManualRequestID != id {
			t.Errorf("lastManualRequestId %q, want %q", st.LastManualRequestID, id)
		}
	})

	t.Run("a change trigger naming the synced revision is skipped without fetching", func(t *testing.T) {
		rev := h.getStatus("local").Revision
		// Remove the file: if the worker fetched, the sync would fail.
		moved := path + ".moved"
		if err := os.Rename(path, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, path)
		h.changed("local", rev)
		if s := res.skipped(); s.Reason != "up-to-date-with-policy" {
			t.Errorf("skipped %+v", s)
		}
	})
}

func TestInvalidDataKeepsLastGoodSnapshot(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 1<<20)
	res := h.results("local")
	h.request("local")
	good := res.completed()
	goodSnapshot := h.snapshot("local")

	cases := []struct {
		name, content string
		condition     string
		want          string
	}{
		{"invalid JSON", `{"version": "1.0.0", "meta": {`, syncer.ConditionDataValid, "invalid JSON"},
		{"schema-invalid data", `{"version":"one","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[{"name":"x","description":"d","version":"1"}]}}`, syncer.ConditionDataValid, "registry schema validation failed"},
		{"empty server list", `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[]}}`, syncer.ConditionDataValid, "upstream registry must contain at least one server"},
		{"empty file", ``, syncer.ConditionDataValid, "data cannot be empty"},
		{"missing file", "", syncer.ConditionSourceAvailable, "file not found"},
		{"file over the size limit", "", syncer.ConditionSourceAvailable, "over the size limit"},
		{"unreadable file", "", syncer.ConditionSourceAvailable, "failed to read file"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "missing file":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case "file over the size limit":
				// 100 MB, sparse: the limit is checked before reading.
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(100 << 20); err != nil {
					t.Fatal(err)
				}
				f.Close()
			case "unreadable file":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(path)
			default:
				writeFile(t, path, []byte(tc.content))
			}
			h.changed("local", "")
			f := res.failed()
			if !strings.Contains(f.Message, tc.want) {
				t.Errorf("message %q does not say %q", f.Message, tc.want)
			}
			if f.ConditionType != tc.condition || f.AttemptCount != i+1 || f.NextRetryTime == nil {
				t.Errorf("failed %+v", f)
			}
			st := h.getStatus("local")
			if st.Phase != state.PhaseFailed || st.Message != f.Message || st.AttemptCount != i+1 {
				t.Errorf("status phase %s message %q attempts %d", st.Phase, st.Message, st.AttemptCount)
			}
			if st.LastSyncHash != good.Hash || st.ServerCount != 1 {
				t.Errorf("failure lost the last good hash or counts: %+v", st)
			}
			if c, _ := st.Condition(tc.condition); c.Status != state.ConditionFalse || c.Message != f.Message {
				t.Errorf("condition %s = %+v, want False", tc.condition, c)
			}
			if c, _ := st.Condition(syncer.ConditionAPIReady); c.Status != state.ConditionTrue {
				t.Errorf("APIReady %+v, want True while the last good snapshot is served", c)
			}
			if got := h.snapshot("local"); string(got) != string(goodSnapshot) {
				t.Error("the last good snapshot was overwritten")
			}
		})
	}

	t.Run("repairing the file syncs again and resets the attempt count", func(t *testing.T) {
		writeRegistry(t, path, alpha)
		h.changed("local", "")
		c := res.completed()
		if c.Reason != syncer.ReasonRegistryNotReady.String() {
			t.Errorf("reason %q", c.Reason)
		}
		if st := h.getStatus("local"); st.Phase != state.PhaseComplete || st.AttemptCount != 0 {
			t.Errorf("status %+v", st)
		}
	})
}

func TestFilterChangeBetweenRuns(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta, gamma)
	c := h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	h.request("local")
	if got := res.completed(); got.ServerCount != 3 {
		t.Fatalf("servers %d, want 3", got.ServerCount)
	}

	c.SetSources([]config.Source{fileSource("local", path, &registry.Filter{
		Tags: &registry.PatternSet{Include: []string{"web"}, Exclude: []string{"beta"}},
	})})
	h.publish(nextID("iv"), &events.SyncRequested{Source: "local", Trigger: events.TriggerInterval})
	got := res.completed()
	if got.Reason != "filter-changed" || got.ServerCount != 1 || !slices.Equal(got.Diff.Removed, []string{alpha.name, gamma.name}) {
		t.Errorf("completed %+v", got)
	}
	if st := h.getStatus("local"); st.LastAppliedFilterHash != got.FilterHash || st.ServerCount != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestStructuredEventFromPlainNATS(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	// What `nats pub regsync.trigger.local '{...}'` sends: no headers.
	body := `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","data":{"source":"local","trigger":"manual"}}`
	if err := h.nc.Publish(events.TriggerSubject("local"), []byte(body)); err != nil {
		t.Fatal(err)
	}
	c := res.completed()
	if !slices.Equal(c.TriggerIDs, []string{"req-1"}) {
		t.Errorf("covered %v, want [req-1]", c.TriggerIDs)
	}
}

// A malformed trigger whose subject names a source and whose id can be
// read is answered with a failed result that names the problem, so that
// whoever sent it does not wait for ever; a body from which nothing can be
// read is terminated. Neither keeps the source from answering the others.
func TestMalformedTriggersNeverBlockOthers(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("")

	unreadable := []string{
		`this is not an event`,
		`{"type":"io.regsync.sync.requested.v1","source":"cli","id":"x","data":{"source":"local","trigger":"manual"}}`,
	}
	// Each answered one, by its id, with what the answer must name.
	answered := map[string]struct{ body, names string }{
		"x2": {`{"specversion":"1.0","type":"io.regsync.sync.completed.v1","source":"cli","id":"x2","data":{}}`, `"io.regsync.sync.completed.v1" is not a trigger`},
		"x3": {`{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"x3","data":{"source":"other","trigger":"manual"}}`, `names source "other"`},
		"x4": {`{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"x4","data":{"source":"local","trigger":"sometime"}}`, `"sometime" is not one of`},
		"x5": {`{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"x5","data":{"source":"local","trigger":"manual","requestId":7}}`, `requestId`},
		"x6": {`{"specversion":"1.0","type":"io.regsync.sync.requested.v2","source":"cli","id":"x6","data":{"source":"local","trigger":"manual"}}`, `"io.regsync.sync.requested.v2" is not a trigger`},
		"x7": {`{"specversion":"1.0","type":"io.regsync.source.changed.v1","source":"cli","id":"x7","data":{"source":"local","trigger":"file","provider":{"name":"github"}}}`, `provider`},
	}
	for _, body := range unreadable {
		if _, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(answered)) {
		if _, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(answered[id].body)); err != nil {
			t.Fatal(err)
		}
	}
	id := h.request("local")

	seen := map[string]bool{}
	completed := false
	for len(seen) < len(answered) || !completed {
		_, d := res.next()
		switch r := d.(type) {
		case events.SyncCompleted:
			if !slices.Equal(r.TriggerIDs, []string{id}) {
				t.Errorf("completed covers %v, want only %s", r.TriggerIDs, id)
			}
			completed = true
		case events.SyncFailed:
			if r.Source != "local" || r.Reason != "malformed-trigger" || r.ConditionReason != syncer.ConditionReasonMalformedTrigger {
				t.Fatalf("failed %+v, want a malformed-trigger answer for local", r)
			}
			for _, tid := range r.TriggerIDs {
				want, ok := answered[tid]
				if !ok || seen[tid] {
					t.Fatalf("failed %+v answers %s, which is not a malformed trigger or was answered before", r, tid)
				}
				seen[tid] = true
				if !strings.Contains(r.Message, "malformed trigger "+tid+": ") || !strings.Contains(r.Message, want.names) {
					t.Errorf("answer to %s says %q, want it to name %q", tid, r.Message, want.names)
				}
			}
		default:
			t.Fatalf("unexpected result %T %+v", d, d)
		}
	}
	res.none(300 * time.Millisecond)
	// The unreadable ones were terminated, the others acknowledged: none is
	// left to redeliver.
	testsupport.Eventually(t, "malformed triggers removed from the stream", func() bool {
		info, err := h.js.Stream(context.Background(), events.StreamTriggers)
		return err == nil && info.CachedInfo().State.Msgs == 0
	})
}

func TestOversizedTriggerIsRejected(t *testing.T) {
	h := newHarness(t)
	body := `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"big","data":{"source":"local","trigger":"manual","pad":"` +
		strings.Repeat("x", 2<<20) + `"}}`
	_, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(body))
	if err == nil {
		t.Fatal("a 2 MiB trigger was accepted")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "maximum") && !strings.Contains(strings.ToLower(err.Error()), "too large") &&
		!strings.Contains(err.Error(), "payload") {
		t.Errorf("error %q does not say the message is too large", err)
	}
}

func TestUnknownSourceIsAnsweredWithFailure(t *testing.T) {
	h := newHarness(t)
	h.start(nil, 0)
	res := h.results("nosuch")
	id := h.request("nosuch")
	f := res.failed()
	if !strings.Contains(f.Message, `unknown source "nosuch"`) || !slices.Contains(f.TriggerIDs, id) {
		t.Errorf("failed %+v", f)
	}
}

func TestTriggersDuringASyncCoalesce(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	const n = 50
	var ids []string
	for range n {
		ids = append(ids, h.changed("local", ""))
	}
	var covered []string
	count, results := 0, 0
	for count < n {
		_, d := res.next()
		c := coveredOf(t, d)
		covered = append(covered, c.TriggerIDs...)
		count += c.TriggerCount
		results++
	}
	if count != n {
		t.Errorf("results cover %d triggers, want %d", count, n)
	}
	slices.Sort(covered)
	slices.Sort(ids)
	if !slices.Equal(covered, ids) {
		t.Errorf("covered ids differ from published ids")
	}
	if results >= n {
		t.Errorf("%d results for %d triggers: nothing coalesced", results, n)
	}
	res.none(300 * time.Millisecond)
	t.Logf("%d triggers answered by %d results", n, results)
}

func TestDeadHolderDoesNotWedgeSource(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)

	// A replica took the lease, marked the source Syncing and died.
	ctx := context.Background()
	if _, err := NewLeases(h.h.Locks, "dead-replica", h.leaseTTL).Acquire(ctx, "local"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := h.status.Update(ctx, "local", func() *state.Status { return state.Initial("30m0s") }, func(s *state.Status, _ uint64) error {
		syncer.RecordStart(s, syncer.ReasonRegistryNotReady, now)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	start := time.Now()
	h.request("local")
	c := res.completed()
	if waited := time.Since(start); waited > 10*h.leaseTTL {
		t.Errorf("source stayed wedged for %v", waited)
	}
	if c.Reason != syncer.ReasonRegistryNotReady.String() {
		t.Errorf("reason %q", c.Reason)
	}
}

func TestTwoReplicasAnswerEachTriggerOnce(t *testing.T) {
	h := newHarness(t)
	var srcs []config.Source
	for _, name := range []string{"one", "two", "three"} {
		path := filepath.Join(h.dir, name+".json")
		writeRegistry(t, path, alpha, beta)
		srcs = append(srcs, fileSource(name, path, nil))
	}
	h.start(srcs, 0)
	h.start(srcs, 0)
	res := h.results("")

	want := map[string]bool{}
	for range 10 {
		for _, s := range srcs {
			want[h.request(s.Name)] = true
		}
	}
	seen := map[string]int{}
	total := 0
	for total < len(want) {
		_, d := res.next()
		c := coveredOf(t, d)
		for _, id := range c.TriggerIDs {
			seen[id]++
		}
		total += c.TriggerCount
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("trigger %s answered %d times", id, seen[id])
		}
	}
	res.none(300 * time.Millisecond)
}

func TestStartupTriggers(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil), {Name: "managed", Managed: &config.Managed{}}}
	ctx := context.Background()

	n, err := Startup(ctx, h.h.Publisher, h.status, srcs, slog.New(slog.DiscardHandler))
	if err != nil || n != 1 {
		t.Fatalf("startup published %d (err %v), want 1", n, err)
	}
	// A second replica starting at the same time publishes the same id.
	if _, err := Startup(ctx, h.h.Publisher, h.status, srcs, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	res := h.results("local")
	h.start(srcs, 0)
	c := res.completed()
	if c.TriggerCount != 1 || !strings.HasPrefix(c.TriggerIDs[0], "st-local-") {
		t.Errorf("covered %+v, want one startup trigger", c.Covered)
	}
	// Complete, announced and not due: no trigger at the next start.
	testsupport.Eventually(t, "the announced result cleared from the status", func() bool { return h.getStatus("local").PendingResult == nil })
	if n, err := Startup(ctx, h.h.Publisher, h.status, srcs, slog.New(slog.DiscardHandler)); err != nil || n != 0 {
		t.Errorf("startup published %d (err %v), want 0 for a complete source", n, err)
	}
}

func TestSyncRealRegistryWithFilters(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "shared", "testdata", "registry", "upstream-registry.json")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared test data not available (%v): run from a checkout with ../shared beside it", err)
	}
	h := newHarness(t)
	srcs := []config.Source{
		fileSource("all-servers", path, nil),
		fileSource("dev-tools", path, &registry.Filter{Names: &registry.PatternSet{Include: []string{"*/aws-*", "*/chrome-*", "*/fetch"}}}),
	}
	h.start(srcs, 0)
	for _, tc := range []struct {
		source  string
		servers int
	}{{"all-servers", 12}, {"dev-tools", 3}} {
		res := h.results(tc.source)
		h.request(tc.source)
		if c := res.completed(); c.ServerCount != tc.servers || len(c.Diff.Added) != tc.servers {
			t.Errorf("%s: %d servers, added %v; want %d", tc.source, c.ServerCount, c.Diff.Added, tc.servers)
		}
	}
}

// blockingFetcher stands for a source that hangs: it never answers before
// its context ends.
type blockingFetcher struct{ started chan struct{} }

func (f blockingFetcher) Fetch(ctx context.Context, _ config.Source) (*sources.Fetched, error) {
	select {
	case f.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestReplicaKilledMidSyncLosesNothing(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}
	const ackWait = 2 * time.Second

	// Replica A has its own connection, takes the trigger and hangs in the fetch.
	ncA, res, id := h.startHungReplica(t, "replica-a", srcs, Options{AckWait: ackWait, SyncTimeout: 5 * time.Second, Holder: "replica-a"})
	// A dies: its connection drops with the trigger unanswered and the lease held.
	ncA.Close()
	killed := time.Now()

	// Replica B takes over once the trigger is redelivered and the lease expired.
	h.startWith(srcs, Options{AckWait: ackWait})
	c := res.completed()
	if !slices.Contains(c.TriggerIDs, id) {
		t.Errorf("completed %+v does not answer %s", c.Covered, id)
	}
	t.Logf("answered %v after the replica died", time.Since(killed).Round(time.Millisecond))
}

// slowFetcher delays a real fetch.
type slowFetcher struct {
	sources.Fetcher
	delay   time.Duration
	started chan struct{}
}

func (f *slowFetcher) Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error) {
	select {
	case f.started <- struct{}{}:
	default:
	}
	time.Sleep(f.delay)
	return f.Fetcher.Fetch(ctx, src)
}

func TestShutdownDrainsSyncInFlight(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}
	f := &slowFetcher{delay: 500 * time.Millisecond, started: make(chan struct{}, 1)}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	c := New(h.h, syncer.NewManager(f, h.snapshots, logger), h.status, srcs,
		Options{LeaseTTL: h.leaseTTL, Holder: "draining", Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	res := h.results("local")
	id := h.request("local")
	<-f.started
	cancel() // SIGTERM while the sync runs
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := res.completed()
	if !slices.Contains(got.TriggerIDs, id) {
		t.Errorf("completed %+v", got.Covered)
	}
	if _, err := h.h.Locks.Get(context.Background(), "local"); err == nil {
		t.Error("lease still held after shutdown")
	}
}

func TestResultsNameTheDeploymentAndTheRequests(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	h.publish("rq-7-local", &events.SyncRequested{Source: "local", Trigger: events.TriggerManual, RequestID: "rq-7"})
	ev, d := res.next()
	c, ok := d.(events.SyncCompleted)
	if !ok {
		t.Fatalf("result %T, want completed", d)
	}
	if want := events.ProducerSource(h.h.Deployment, events.ProducerCoordinator); ev.Source() != want {
		t.Errorf("source %q, want %q", ev.Source(), want)
	}
	if ev.DataSchema() != events.DataSchema(events.TypeSyncCompleted) {
		t.Errorf("dataschema %q", ev.DataSchema())
	}
	if !slices.Equal(c.RequestIDs, []string{"rq-7"}) {
		t.Errorf("requestIds %q, want [rq-7]", c.RequestIDs)
	}

	t.Run("a trigger with a field this version does not know is answered", func(t *testing.T) {
		body := `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"urn:example:bot","id":"rq-8-local",` +
			`"data":{"source":"local","trigger":"manual","requestId":"rq-8","priority":"high"}}`
		if _, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(body)); err != nil {
			t.Fatal(err)
		}
		s := res.skipped()
		if !slices.Equal(s.RequestIDs, []string{"rq-8"}) || !slices.Equal(s.TriggerIDs, []string{"rq-8-local"}) {
			t.Errorf("skipped %+v, want the answer to rq-8", s)
		}
	})
}
