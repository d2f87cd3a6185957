package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/syncer/state"
)

// countingKV counts the reads of a key-value bucket.
type countingKV struct {
	jetstream.KeyValue
	gets atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets.Add(1)
	return c.KeyValue.Get(ctx, key)
}

// A registry's record written by the merger is not read back for its next
// write, a read decodes it only when another writer changed it, and a
// write refused by its mutation leaves nothing of it behind.
func TestARegistryRecordIsReadBackOnlyWhenAnotherWriterChangedIt(t *testing.T) {
	srv := bustest.Start(t, 2*time.Second)
	ctx := context.Background()
	kv := &countingKV{KeyValue: srv.Handles.RegistryStatus}
	r := &registryStatuses{kv: kv}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	set := func(gen uint64) func(*events.RegistryStatus, uint64) error {
		return func(s *events.RegistryStatus, _ uint64) error {
			s.Generation = gen
			s.Sources = append(s.Sources, events.RegistrySource{Name: "a", Revision: "rev"})
			s.LastChange = &now
			s.SetCondition(events.ConditionReady, state.ConditionTrue, "Synced", "ready", now)
			s.PendingEvent = json.RawMessage(`{"id":"g-1"}`)
			return nil
		}
	}
	initial := func() *events.RegistryStatus { return &events.RegistryStatus{} }
	if _, err := r.Update(ctx, "reg", initial, set(1)); err != nil {
		t.Fatal(err)
	}
	kv.gets.Store(0)
	if _, err := r.Update(ctx, "reg", initial, set(2)); err != nil {
		t.Fatal(err)
	}
	if n := kv.gets.Load(); n != 0 {
		t.Fatalf("the write after the merger's own read the record %d times, want 0", n)
	}

	// A mutation that refuses its record changes nothing kept.
	refused := errors.New("refused")
	if _, err := r.Update(ctx, "reg", initial, func(s *events.RegistryStatus, _ uint64) error {
		s.Generation, s.Sources[0].Name, s.Conditions[0].Message = 99, "changed", "changed"
		s.PendingEvent[2] = 'X'
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("Update: %v, want the mutation's error", err)
	}
	got, rev, err := r.read(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := srv.Handles.RegistryStatus.Get(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	var want events.RegistryStatus
	if err := json.Unmarshal(stored.Value(), &want); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(&want)
	if string(gotJSON) != string(wantJSON) || rev != stored.Revision() {
		t.Fatalf("read %s at %d, want the stored %s at %d", gotJSON, rev, wantJSON, stored.Revision())
	}

	// Another writer's record is what the next write starts from.
	want.Generation = 7
	other, _ := json.Marshal(&want)
	if _, err := srv.Handles.RegistryStatus.Put(ctx, "reg", other); err != nil {
		t.Fatal(err)
	}
	var seen uint64
	if _, err := r.Update(ctx, "reg", initial, func(s *events.RegistryStatus, _ uint64) error {
		seen = s.Generation
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 7 {
		t.Fatalf("the write started from generation %d, want the other writer's 7", seen)
	}
	if got, _, err := r.read(ctx, "reg"); err != nil || got.Generation != 7 {
		t.Fatalf("read %+v, %v: want generation 7", got, err)
	}
}

// A bucket made again counts revisions anew: a record at the revision kept
// but with other bytes is read as stored, not taken for the one kept.
func TestARegistryRecordOfABucketMadeAgainIsRead(t *testing.T) {
	srv := bustest.Start(t, 2*time.Second)
	ctx := context.Background()
	kv := srv.Handles.RegistryStatus
	r := &registryStatuses{kv: kv}
	if _, err := r.Update(ctx, "reg", func() *events.RegistryStatus { return &events.RegistryStatus{} },
		func(s *events.RegistryStatus, _ uint64) error { s.Generation = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	_, kept, err := r.read(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.JS.DeleteKeyValue(ctx, st.Bucket()); err != nil {
		t.Fatal(err)
	}
	again, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: st.Bucket()})
	if err != nil {
		t.Fatal(err)
	}
	for rev := uint64(0); rev < kept; {
		if rev, err = again.Put(ctx, "reg", []byte(`{"generation":5,"viewDigest":"other"}`)); err != nil {
			t.Fatal(err)
		}
	}
	got, rev, err := r.read(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	if rev != kept || got.Generation != 5 {
		t.Fatalf("read generation %d at revision %d, want the new bucket's 5 at %d", got.Generation, rev, kept)
	}
}
