package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// storedResults returns the number of results of a source REGSYNC_RESULTS
// holds.
func storedResults(t *testing.T, h *harness, source string) uint64 {
	t.Helper()
	stream, err := h.js.Stream(context.Background(), events.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(events.SourceResults(source)))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// Result ids name the status revision an outcome was written over; a
// status bucket created again starts its revisions over, and its results
// must still be stored, not dropped as repeats of the earlier bucket's.
func TestResultsAfterStatusBucketRecreatedAreStored(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	h.request("local")
	first, _ := res.next()
	ids := []string{first.ID()}

	ctx := context.Background()
	kv, err := h.js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	for range 2 {
		if err := h.js.DeleteKeyValue(ctx, events.BucketStatus); err != nil {
			t.Fatal(err)
		}
		if _, err := h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketStatus, History: uint8(cfg.MaxMsgsPerSubject), Storage: cfg.Storage}); err != nil {
			t.Fatal(err)
		}
		h.request("local")
		ev, _ := res.next()
		ids = append(ids, ev.ID())
	}
	// A result reaches the core subscription as the stream stores it,
	// not after: wait for the stream to hold the last one.
	testsupport.Eventually(t, fmt.Sprintf("REGSYNC_RESULTS to hold 3 results of local (%v)", ids), func() bool {
		return storedResults(t, h, "local") == 3
	})
}

// Deleting regsync_status while regsync runs must not stop the status
// watch (which ended serve) and leave the bucket missing: the bucket is
// created again and followed from the start.
func TestStatusBucketDeletedIsCreatedAgain(t *testing.T) {
	h := newHarness(t)
	m := NewStatusMetrics([]config.Source{{Name: "a", File: &config.File{Path: "a.json"}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewStatusWatch(h.h, testsupport.Logger(t), m).Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	put := func(servers int) {
		t.Helper()
		_, err := state.NewStore(h.h.Status, nil).Update(ctx, "a", func() *state.Status { return state.Initial("") },
			func(s *state.Status, _ uint64) error { s.ServerCount = servers; return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	watched := func(servers int) func() bool {
		return func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			st := m.statuses["a"]
			return st != nil && st.ServerCount == servers
		}
	}
	put(1)
	testsupport.Eventually(t, "the record followed", watched(1))

	if err := h.js.DeleteKeyValue(ctx, events.BucketStatus); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the bucket created again", func() bool {
		_, err := h.js.KeyValue(ctx, events.BucketStatus)
		return err == nil
	})
	put(2)
	testsupport.Eventually(t, "the new bucket followed", watched(2))
	select {
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	default:
	}
}

// The answers to malformed triggers and to triggers for unknown sources
// are named by the triggers they answer; the trigger stream created again
// starts its sequences over, and the answers to its triggers must still be
// stored, not dropped as repeats of the earlier stream's.
func TestAnswersAfterTriggerStreamRecreatedAreStored(t *testing.T) {
	malformed := func(source, id string) string {
		return `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"` + id +
			`","data":{"source":"` + source + `","trigger":"sometime"}}`
	}
	manual := func(source, id string) string {
		return `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"` + id +
			`","data":{"source":"` + source + `","trigger":"manual"}}`
	}
	tests := []struct {
		name, source, prefix string
		body                 func(source, id string) string
	}{
		{"malformed trigger", "local", "m-local-", malformed},
		{"unknown source", "nosuch", "u-nosuch-", manual},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			path := filepath.Join(h.dir, "registry.json")
			writeRegistry(t, path, alpha)
			// Unknown names are answered every time, not once a minute.
			h.runPrepared([]config.Source{fileSource("local", path, nil)}, &sources.Fetcher{}, h.snapshots, Options{},
				func(c *Coordinator) { c.unknown = newAnsweredNames(unknownNames, 0) })
			res := h.results(tt.source)
			ctx := context.Background()
			answer := func() string {
				t.Helper()
				if _, err := h.js.Publish(ctx, events.TriggerSubject(tt.source), []byte(tt.body(tt.source, nextID("t")))); err != nil {
					t.Fatal(err)
				}
				ev, _ := res.next()
				if !strings.HasPrefix(ev.ID(), tt.prefix) {
					t.Fatalf("answer id %q, want %s…", ev.ID(), tt.prefix)
				}
				return ev.ID()
			}
			first := answer()
			testsupport.Eventually(t, "the trigger acknowledged", func() bool {
				info, err := h.js.Stream(ctx, events.StreamTriggers)
				return err == nil && info.CachedInfo().State.Msgs == 0
			})
			h.recreateTriggerStream(t)
			second := answer()
			if first == second {
				t.Errorf("both answers have id %s", first)
			}
			// The answer reaches a subscriber as the stream stores it, not
			// after: the count is waited for. An answer dropped as a repeat
			// of the earlier stream's never makes it 2.
			testsupport.Eventually(t, "REGSYNC_RESULTS holding both answers of "+tt.source, func() bool {
				return storedResults(t, h, tt.source) == 2
			})
		})
	}
}
