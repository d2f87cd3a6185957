package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// Invalid data of any size is answered with a failed result whose message
// is bounded, and once the data is fixed the source syncs again by
// itself: what a failure records never wedges its source.
func TestInvalidDataOfAnySizeFailsBoundedAndRecovers(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	// 20,000 servers without a description: 20,000 failed checks.
	entries := make([]string, 20_000)
	for i := range entries {
		entries[i] = `{"name":"io.test/s` + strconv.Itoa(i) + `","version":"1.0.0"}`
	}
	writeFile(t, path, []byte(`{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[`+
		strings.Join(entries, ",")+`]}}`))
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	h.request("local")
	f := res.failed()
	if len(f.Message) > events.MaxMessageLen || !strings.Contains(f.Message, "with 20000 errors") {
		t.Errorf("failed result message is %d bytes (at most %d wanted) and reads %q",
			len(f.Message), events.MaxMessageLen, events.Clip(f.Message, 300))
	}
	testsupport.Eventually(t, "the published result cleared from the status", func() bool {
		st := h.getStatus("local")
		return st.PendingResult == nil && st.Phase == state.PhaseFailed
	})
	if st := h.getStatus("local"); len(st.Message) > events.MaxMessageLen {
		t.Errorf("status message is %d bytes, want at most %d", len(st.Message), events.MaxMessageLen)
	}

	writeRegistry(t, path, alpha)
	h.request("local")
	if c := res.completed(); c.ServerCount != 1 {
		t.Errorf("completed with %d servers, want 1", c.ServerCount)
	}
}

// A pending result that can never be published as the source's result is
// dropped, so the source answers its triggers again instead of retrying
// it ahead of every batch for good.
func TestUnpublishablePendingResultIsDropped(t *testing.T) {
	tooLarge := func(t *testing.T) []byte {
		ev := event.New()
		ev.SetID("r-local-7")
		ev.SetSource("/test")
		ev.SetType(events.TypeSyncFailed)
		ev.SetSubject("local")
		data, err := json.Marshal(map[string]any{"source": "local", "reason": "source-data-changed",
			"triggerCount": 1, "triggerSeq": 1, "startedAt": time.Now().UTC(), "conditionType": "DataValid",
			"conditionReason": "ValidationFailed", "message": strings.Repeat("x", 2<<20), "attemptCount": 1, "durationMs": 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.SetData(event.ApplicationJSON, data); err != nil {
			t.Fatal(err)
		}
		raw, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ofAnotherSource := func(t *testing.T) []byte {
		ev, err := events.New("r-other-3", "/test", events.SyncSkipped{Source: "other", Reason: "up-to-date-no-policy",
			Covered: events.Covered{TriggerCount: 1, TriggerSeq: 1, StartedAt: time.Now().UTC()}})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for name, pending := range map[string]func(*testing.T) []byte{
		"over the event size limit":  tooLarge,
		"a result of another source": ofAnotherSource,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			path := filepath.Join(h.dir, "registry.json")
			writeRegistry(t, path, alpha)
			poison := pending(t)
			if _, err := h.status.Update(context.Background(), "local", func() *state.Status { return state.Initial("30m0s") },
				func(s *state.Status, _ uint64) error { s.PendingResult = poison; return nil }); err != nil {
				t.Fatal(err)
			}
			h.start([]config.Source{fileSource("local", path, nil)}, 0)
			res := h.results("local")
			h.request("local")
			if c := res.completed(); c.Source != "local" {
				t.Errorf("answered by a result of %q", c.Source)
			}
			testsupport.Eventually(t, "the pending result cleared", func() bool {
				return h.getStatus("local").PendingResult == nil
			})
		})
	}
}

// seal cuts what a result lists and what the record says until both fit
// where they are stored, and gives up, recording no pending result, when
// they cannot fit.
func TestSealCutsAResultToFit(t *testing.T) {
	longID := func(i int) string { return strconv.Itoa(i) + strings.Repeat("i", events.MaxIDLen-8) }
	covered := events.Covered{StartedAt: time.Now().UTC()}
	for i := range 100 {
		covered.Cover(longID(i), uint64(i+1))
		covered.CoverRequest(longID(i))
	}
	longMessage := strings.Repeat("m", events.MaxMessageLen)
	names := make([]string, events.MaxDiffNames)
	for i := range names {
		names[i] = "io.test/" + strconv.Itoa(i) + strings.Repeat("n", 500)
	}
	failedStatus := func() *state.Status {
		s := state.Initial("")
		s.Message = longMessage
		for _, typ := range []string{"SourceAvailable", "DataValid", "SyncSuccessful"} {
			s.SetCondition(typ, state.ConditionFalse, "ValidationFailed", longMessage, time.Now())
		}
		return s
	}
	tests := []struct {
		name   string
		limit  int
		status *state.Status
		data   events.Data
		fits   bool
	}{
		{"a record over the bucket's limit", 24 << 10, failedStatus(), events.SyncFailed{Source: "local", Reason: "source-data-changed",
			Covered: covered, ConditionType: "DataValid", ConditionReason: "ValidationFailed", Message: longMessage, AttemptCount: 1}, true},
		{"an event over the event size limit", 8 << 20, state.Initial(""), events.SyncCompleted{Source: "local", Reason: "source-data-changed",
			Covered: covered, Hash: "h", SnapshotDigest: "d", ServerCount: 3000, Diff: events.DiffOf(names, names, names)}, true},
		{"a limit nothing fits in", 100, failedStatus(), events.SyncFailed{Source: "local", Reason: "source-data-changed",
			Covered: covered, ConditionType: "DataValid", ConditionReason: "ValidationFailed", Message: longMessage, AttemptCount: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := statusLedger(nil)
			l.source, l.recordLimit = "/test", tt.limit
			s := tt.status
			ev, encoded, cut, err := l.seal(context.Background(), s, "r-local-1", tt.data)
			if !tt.fits {
				if err == nil || s.PendingResult != nil || encoded != nil {
					t.Fatalf("sealed %s (pending %d bytes, encoded %d), want an error, no pending result and no encoding", ev.ID(), len(s.PendingResult), len(encoded))
				}
				return
			}
			if err != nil || !cut {
				t.Fatalf("seal: cut %v, err %v", cut, err)
			}
			if err := publishable(events.Structured, ev); err != nil {
				t.Errorf("sealed event is not publishable: %v", err)
			}
			rec, _ := json.Marshal(s)
			if len(rec) > tt.limit {
				t.Errorf("record is %d bytes, more than the limit %d", len(rec), tt.limit)
			}
			// The record is written as encoded for its size check.
			if !bytes.Equal(encoded, rec) {
				t.Errorf("encoding returned for the write:\n%s\nthe record:\n%s", encoded, rec)
			}
			d, err := events.DataOf(ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := coveredOf(t, d); got.TriggerCount != 100 || got.TriggerSeq != 100 {
				t.Errorf("covered %d triggers up to %d after cutting, want the counts kept", got.TriggerCount, got.TriggerSeq)
			}
			if c, ok := d.(events.SyncCompleted); ok {
				if a, u, r := c.Diff.Counts(); a != len(names) || u != len(names) || r != len(names) {
					t.Errorf("diff counts %d/%d/%d after cutting, want %d each", a, u, r, len(names))
				}
			}
		})
	}
}

// Manual requests with long requestIds, coalesced, once made a result too
// large to publish. A request with a requestId over events.MaxIDLen is
// answered as malformed, with a failed result that names the problem, and
// the source keeps answering every other trigger.
func TestLongRequestIDsAreAnsweredAsMalformed(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	long := strings.Repeat("r", 150<<10)
	var ids []string
	for i := range 8 {
		id := "long-" + strconv.Itoa(i)
		body := `{"specversion":"1.0","type":"` + events.TypeSyncRequested + `","source":"cli","id":"` + id +
			`","data":{"source":"local","trigger":"manual","requestId":"` + long + `"}}`
		if _, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	answered := map[string]bool{}
	for len(answered) < len(ids) {
		f := res.failed()
		if f.Reason != "malformed-trigger" || !strings.Contains(f.Message, "requestId") || !strings.Contains(f.Message, "more than the 256 allowed") {
			t.Fatalf("failed result %+v, want malformed-trigger naming the requestId", f)
		}
		for _, id := range f.TriggerIDs {
			answered[id] = true
		}
	}
	for _, id := range ids {
		if !answered[id] {
			t.Errorf("trigger %s not answered", id)
		}
	}
	good := h.request("local")
	if c := res.completed(); !slices.Contains(c.TriggerIDs, good) {
		t.Errorf("completed %+v does not answer %s", c.Covered, good)
	}
	testsupport.Eventually(t, "every trigger removed from the stream", func() bool {
		info, err := h.js.Stream(context.Background(), events.StreamTriggers)
		return err == nil && info.CachedInfo().State.Msgs == 0
	})
}
