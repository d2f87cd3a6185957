package state_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

func newHandles(t *testing.T) *bus.Handles {
	t.Helper()
	return bustest.Start(t, 0).Handles
}

func TestStore(t *testing.T) {
	h := newHandles(t)
	store := state.NewStore(h.Status, nil)
	ctx := context.Background()
	initial := func() *state.Status { return state.Initial("30m0s") }

	t.Run("missing status is nil", func(t *testing.T) {
		st, rev, err := store.Get(ctx, "none")
		if st != nil || rev != 0 || err != nil {
			t.Errorf("got %v %d %v", st, rev, err)
		}
	})
	t.Run("first update starts from the initial status", func(t *testing.T) {
		st, err := store.Update(ctx, "a", initial, func(s *state.Status, _ uint64) error { s.LastReason = "x"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != state.PhaseFailed || st.Message != "No previous sync status found" || st.LastReason != "x" {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("the record uses the contract's field names", func(t *testing.T) {
		entry, err := h.Status.Get(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(entry.Value(), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"phase", "message", "attemptCount", "lastSyncHash", "lastAppliedFilterHash",
			"serverCount", "skillCount", "pluginCount", "syncSchedule", "revision", "lastReason", "lastTriggerId",
			"lastManualRequestId", "conditions"} {
			if _, ok := m[k]; !ok {
				t.Errorf("field %q missing from %s", k, entry.Value())
			}
		}
	})
	t.Run("concurrent updates never lose a write", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := store.Update(ctx, "counter", initial, func(s *state.Status, _ uint64) error { s.AttemptCount++; return nil }); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st, _, err := store.Get(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if st.AttemptCount != 8 {
			t.Errorf("attemptCount %d after 8 concurrent increments", st.AttemptCount)
		}
	})
	t.Run("list returns every record", func(t *testing.T) {
		all, err := store.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all["a"] == nil || all["counter"] == nil {
			t.Errorf("list %v", all)
		}
	})
}

func TestListEmptyBucket(t *testing.T) {
	store := state.NewStore(newHandles(t).Status, nil)
	all, err := store.List(context.Background())
	if err != nil || len(all) != 0 {
		t.Errorf("got %v, %v", all, err)
	}
}

func TestSetConditionTransitionTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := state.Initial("")
	st.SetCondition("DataValid", state.ConditionTrue, "ok", "fine", t0)
	st.SetCondition("DataValid", state.ConditionTrue, "ok", "still fine", t0.Add(time.Minute))
	c, _ := st.Condition("DataValid")
	if !c.LastTransitionTime.Equal(t0) || c.Message != "still fine" {
		t.Errorf("same status moved the transition time: %+v", c)
	}
	st.SetCondition("DataValid", state.ConditionFalse, "bad", "broken", t0.Add(2*time.Minute))
	c, _ = st.Condition("DataValid")
	if !c.LastTransitionTime.Equal(t0.Add(2*time.Minute)) || c.Status != state.ConditionFalse {
		t.Errorf("a status change kept the old transition time: %+v", c)
	}
}

// countingKV counts the reads of a bucket.
type countingKV struct {
	jetstream.KeyValue
	mu    sync.Mutex
	reads int
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.KeyValue.Get(ctx, key)
}

func TestStoreWritesOverTheRecordItKnows(t *testing.T) {
	h := newHandles(t)
	kv := &countingKV{KeyValue: h.Status}
	store := state.NewStore(kv, nil)
	ctx := context.Background()
	initial := func() *state.Status { return state.Initial("30m0s") }
	attempt := func(s *state.Status, _ uint64) error { s.AttemptCount++; return nil }

	for range 3 {
		if _, err := store.Update(ctx, "a", initial, attempt); err != nil {
			t.Fatal(err)
		}
	}
	if kv.reads != 1 {
		t.Errorf("%d reads for three updates, want 1 (the first)", kv.reads)
	}

	t.Run("a record written elsewhere is read again", func(t *testing.T) {
		st, rev, err := store.Get(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		st.LastReason = "written elsewhere"
		data, _ := json.Marshal(st)
		if _, err := h.Status.Update(ctx, "a", data, rev); err != nil {
			t.Fatal(err)
		}
		got, err := store.Update(ctx, "a", initial, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastReason != "written elsewhere" || got.AttemptCount != 4 {
			t.Errorf("updated %+v, want the other writer's record with a 4th attempt", got)
		}
	})
	t.Run("a record deleted elsewhere starts over", func(t *testing.T) {
		if err := h.Status.Purge(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		got, err := store.Update(ctx, "a", initial, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if got.AttemptCount != 1 || got.Message != "No previous sync status found" {
			t.Errorf("updated %+v, want the initial record with one attempt", got)
		}
	})
	t.Run("changing a status returned changes nothing kept", func(t *testing.T) {
		st, _, err := store.Get(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		st.SetCondition("Ready", state.ConditionTrue, "r", "m", time.Now())
		st.LastReason = "changed by the caller"
		got, err := store.Update(ctx, "a", initial, func(*state.Status, uint64) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got.LastReason == "changed by the caller" || len(got.Conditions) != 0 {
			t.Errorf("the kept record took the caller's changes: %+v", got)
		}
	})
}

// A record that does not decode (written by hand, by a foreign tool, or
// cut short) must not wedge its source: it reads as missing, with its
// revision, so the next write replaces it by compare-and-swap; it is
// logged once, and List skips it.
func TestUndecodableRecordReadsAsMissing(t *testing.T) {
	h := newHandles(t)
	var log testsupport.Buffer
	store := state.NewStore(h.Status, slog.New(slog.NewTextHandler(&log, nil)))
	ctx := context.Background()
	initial := func() *state.Status { return state.Initial("30m0s") }

	if _, err := store.Update(ctx, "good", initial, func(*state.Status, uint64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	bad, err := h.Status.Put(ctx, "bad", []byte(`{"phase": 42`))
	if err != nil {
		t.Fatal(err)
	}

	for range 3 {
		st, rev, err := store.Get(ctx, "bad")
		if st != nil || rev != bad || err != nil {
			t.Fatalf("Get of an undecodable record = %+v, %d, %v; want nil, %d, nil", st, rev, err, bad)
		}
	}
	t.Run("List skips it", func(t *testing.T) {
		all, err := store.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if _, ok := all["bad"]; ok || all["good"] == nil || len(all) != 1 {
			t.Errorf("List = %v, want the good record alone", all)
		}
	})
	if n := log.Count("does not decode"); n != 1 {
		t.Errorf("the undecodable record was logged %d times, want once:\n%s", n, log.String())
	}

	t.Run("the next update rewrites it from the initial record", func(t *testing.T) {
		st, err := store.Update(ctx, "bad", initial, func(s *state.Status, base uint64) error {
			if base != bad {
				t.Errorf("update wrote over revision %d, want the undecodable record's %d", base, bad)
			}
			s.LastReason = "rewritten"
			return nil
		})
		if err != nil {
			t.Fatalf("Update over an undecodable record: %v", err)
		}
		if st.Message != "No previous sync status found" || st.LastReason != "rewritten" {
			t.Errorf("rewritten as %+v, want the initial record", st)
		}
		got, _, err := state.NewStore(h.Status, nil).Get(ctx, "bad")
		if err != nil || got == nil || got.LastReason != "rewritten" {
			t.Errorf("record read back: %+v %v", got, err)
		}
	})
}

// A copy of the data restored from a backup (or run beside the original)
// continues the record's revisions from the backup's, which the original
// went on to use: its writes must still name versions the original never
// named, so that no result id repeats.
func TestRestoredRecordNamesNewVersions(t *testing.T) {
	ctx := context.Background()
	original, restored := newHandles(t), newHandles(t)
	initial := func() *state.Status { return state.Initial("30m0s") }
	var versions []string
	note := func(s *state.Status, base uint64) error { versions = append(versions, s.Version(base)); return nil }

	store := state.NewStore(original.Status, nil)
	if _, err := store.Update(ctx, "a", initial, note); err != nil {
		t.Fatal(err)
	}
	backup, err := original.Status.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := store.Update(ctx, "a", initial, note); err != nil {
			t.Fatal(err)
		}
	}
	// The restored copy holds the backup at the revision it had.
	if _, err := restored.Status.Put(ctx, "a", backup.Value()); err != nil {
		t.Fatal(err)
	}
	copied := state.NewStore(restored.Status, nil)
	for range 2 {
		if _, err := copied.Update(ctx, "a", initial, note); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, v := range versions {
		if seen[v] {
			t.Errorf("version %s named twice: %v", v, versions)
		}
		seen[v] = true
	}
}

// A mutate that refuses the record it is given (one computed from an
// earlier revision) writes nothing, and Update returns its error as is.
func TestUpdateWritesNothingAMutateRefuses(t *testing.T) {
	h := newHandles(t)
	store := state.NewStore(h.Status, nil)
	ctx := context.Background()
	initial := func() *state.Status { return state.Initial("30m0s") }
	if _, err := store.Update(ctx, "a", initial, func(s *state.Status, _ uint64) error { s.LastReason = "first"; return nil }); err != nil {
		t.Fatal(err)
	}
	before, err := h.Status.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	stale := errors.New("computed from an earlier revision")
	st, err := store.Update(ctx, "a", initial, func(s *state.Status, _ uint64) error {
		s.LastReason = "refused"
		return stale
	})
	if !errors.Is(err, stale) || st != nil {
		t.Fatalf("Update with a refusing mutate: %v, %v; want the mutate's error and no status", st, err)
	}
	after, err := h.Status.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision() != before.Revision() {
		t.Fatalf("the record moved from revision %d to %d: %s", before.Revision(), after.Revision(), after.Value())
	}
	// The next update starts from the record as it was.
	st, err = store.Update(ctx, "a", initial, func(s *state.Status, _ uint64) error { return nil })
	if err != nil || st.LastReason != "first" {
		t.Fatalf("the update after a refusal: %+v, %v; want the record as written first", st, err)
	}
}

// A status its mutate encoded (to check its size) is written as those
// bytes, not encoded a second time; without bytes the store encodes it.
func TestUpdateEncodedWritesTheMutatesEncoding(t *testing.T) {
	h := newHandles(t)
	store := state.NewStore(h.Status, nil)
	ctx := context.Background()
	initial := func() *state.Status { return state.Initial("30m0s") }
	var encoded []byte
	st, err := store.UpdateEncoded(ctx, "a", initial, func(s *state.Status, _ uint64) ([]byte, error) {
		s.LastReason = "encoded"
		var err error
		// Indented: bytes the store would not make itself.
		encoded, err = json.MarshalIndent(s, "", "  ")
		return encoded, err
	})
	if err != nil || st.LastReason != "encoded" {
		t.Fatalf("UpdateEncoded: %+v, %v", st, err)
	}
	e, err := h.Status.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != string(encoded) {
		t.Errorf("stored:\n%s\nwant the mutate's encoding:\n%s", e.Value(), encoded)
	}
	if _, err := store.UpdateEncoded(ctx, "a", initial, func(s *state.Status, _ uint64) ([]byte, error) {
		s.LastReason = "by the store"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := store.Get(ctx, "a"); err != nil || got.LastReason != "by the store" {
		t.Errorf("after an update without an encoding: %+v, %v", got, err)
	}
}
