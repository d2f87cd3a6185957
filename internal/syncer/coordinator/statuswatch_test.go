package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// scriptedBucket is a status bucket whose opens go as its script says, one
// step per open: "fail" (the bucket cannot be opened), "end" (the watch
// ends at once) or "replay" (the watch replays the records, none, and
// ends). Past the script the watch stays open.
type scriptedBucket struct {
	jetstream.KeyValue // nil: the watch uses WatchAll only
	script             []string

	mu    sync.Mutex
	opens int
}

func (b *scriptedBucket) step() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := b.opens - 1; i < len(b.script) {
		return b.script[i]
	}
	return "open"
}

func (b *scriptedBucket) EnsureStatus(context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	b.opens++
	b.mu.Unlock()
	if b.step() == "fail" {
		return nil, errors.New("nats: timeout")
	}
	return b, nil
}

func (b *scriptedBucket) WatchAll(context.Context, ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	updates := make(chan jetstream.KeyValueEntry, 1)
	switch b.step() {
	case "end":
		close(updates)
	case "replay":
		updates <- nil
		close(updates)
	}
	return scriptedWatch(updates), nil
}

type scriptedWatch chan jetstream.KeyValueEntry

func (w scriptedWatch) Updates() <-chan jetstream.KeyValueEntry { return w }
func (scriptedWatch) Stop() error                               { return nil }

// A status watch that keeps stopping, or a bucket that cannot be opened,
// is watched again after pauses that grow; a watch that replayed the
// records before it stopped starts them over.
func TestStatusWatchPausesGrowWhileWatchesKeepStopping(t *testing.T) {
	bucket := &scriptedBucket{script: []string{"fail", "end", "end", "end", "replay", "end", "fail"}}
	w := NewStatusWatch(bucket, testsupport.Logger(t))
	var mu sync.Mutex
	var waits []time.Duration
	w.wait = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	testsupport.Eventually(t, "the watch open past the script", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before the watch was open again", err)
		default:
		}
		bucket.mu.Lock()
		defer bucket.mu.Unlock()
		return bucket.opens > len(bucket.script)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, s, 2 * s, 4 * s}; !slices.Equal(waits, want) {
		t.Errorf("paused %v, want %v", waits, want)
	}
}

// statusEntry is one record of the status bucket as a watch hands it on.
type statusEntry struct {
	jetstream.KeyValueEntry // nil: note reads only what is below
	key                     string
	value                   []byte
}

func (e statusEntry) Key() string                     { return e.key }
func (e statusEntry) Value() []byte                   { return e.value }
func (e statusEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
func (e statusEntry) Revision() uint64                { return 1 }
func (e statusEntry) Bucket() string                  { return "regsync_status" }
func (e statusEntry) Created() time.Time              { return time.Time{} }
func (e statusEntry) Delta() uint64                   { return 0 }

// lastStatus keeps the last record it was told of.
type lastStatus struct{ st *state.Status }

func (l *lastStatus) restartStatus()                        {}
func (l *lastStatus) noteStatus(_ string, st *state.Status) { l.st = st }

// The status watch's followers read a few fields of each record; the
// watch hands them those fields as a full decode has them, and decodes
// nothing else: a record of many conditions costs the watch no more than
// one of a few.
func TestTheStatusWatchDecodesOnlyWhatItsFollowersRead(t *testing.T) {
	at := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	later := at.Add(time.Minute)
	full := &state.Status{Phase: state.PhaseFailed, Message: "fetch: connection refused", LastAttempt: &at,
		LastSyncTime: &at, LastSuccessTime: &at, AttemptCount: 3, LastSyncHash: "sha256:abc", LastAppliedFilterHash: "sha256:def",
		ServerCount: 12, SkillCount: 2, PluginCount: 1, SyncSchedule: "30m", Revision: "main@1234",
		SnapshotDigest: "sha256:0123", SnapshotNUID: "NUID", SnapshotSize: 4096, LastReason: "interval",
		LastTriggerID: "iv-s-1", LastManualRequestID: "req-1", NextSyncTime: &later, Epoch: "e1",
		PendingResult: json.RawMessage(`{"specversion":"1.0","id":"r1","source":"regsync","type":"io.regsync.sync.failed.v1","data":{"message":"fetch: connection refused"}}`)}
	for _, typ := range []string{"Ready", "Synced", "Degraded"} {
		full.SetCondition(typ, "False", "FetchFailed", "fetch: connection refused by the upstream server", at)
	}
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	watchedOnly := &state.Status{Phase: full.Phase, LastSyncTime: full.LastSyncTime, LastSuccessTime: full.LastSuccessTime,
		AttemptCount: full.AttemptCount, ServerCount: full.ServerCount, SkillCount: full.SkillCount,
		PluginCount: full.PluginCount, NextSyncTime: full.NextSyncTime}
	// more is the same record with ten times the conditions.
	more := *full
	more.Conditions = nil
	for i := range 30 {
		more.SetCondition(fmt.Sprintf("Check%d", i), "False", "FetchFailed", "fetch: connection refused by the upstream server", at)
	}
	moreJSON, err := json.Marshal(&more)
	if err != nil {
		t.Fatal(err)
	}

	last := &lastStatus{}
	w := NewStatusWatch(nil, testsupport.Logger(t), last)
	w.note(statusEntry{key: "s", value: fullJSON})
	if last.st == nil {
		t.Fatal("the followers were told the record does not decode")
	}
	got := *last.st
	got.Conditions = nil // the watch need not decode what no follower reads
	want := *watchedOnly
	want.Conditions = nil
	if got.Phase != want.Phase || got.AttemptCount != want.AttemptCount ||
		got.ServerCount != want.ServerCount || got.SkillCount != want.SkillCount || got.PluginCount != want.PluginCount ||
		!got.LastSyncTime.Equal(*want.LastSyncTime) || !got.LastSuccessTime.Equal(*want.LastSuccessTime) ||
		!got.NextSyncTime.Equal(*want.NextSyncTime) {
		t.Fatalf("followers told %+v, want the watched fields of %+v", got, want)
	}

	fewAllocs := testing.AllocsPerRun(100, func() { w.note(statusEntry{key: "s", value: fullJSON}) })
	moreAllocs := testing.AllocsPerRun(100, func() { w.note(statusEntry{key: "s", value: moreJSON}) })
	if moreAllocs > fewAllocs {
		t.Fatalf("noting a record of 30 conditions allocates %.0f times, of 3 conditions %.0f: the watch decodes fields no follower reads", moreAllocs, fewAllocs)
	}
}
