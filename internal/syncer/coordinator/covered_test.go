package coordinator

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// gate holds the first call that reaches it until it is opened.
type gate struct {
	once    sync.Once
	reached chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{reached: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) pass() {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.reached)
		<-g.open
	}
}

// gatedStatus is a status bucket whose first read waits at a gate: the
// worker has taken its batch and not yet read the source.
type gatedStatus struct {
	jetstream.KeyValue
	g *gate
}

func (s gatedStatus) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	s.g.pass()
	return s.KeyValue.Get(ctx, key)
}

// gatedFetcher reads a source after its first fetch waited at a gate: the
// worker is reading the source.
type gatedFetcher struct {
	*sources.Fetcher
	g *gate
}

func (f gatedFetcher) Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error) {
	f.g.pass()
	return f.Fetcher.Fetch(ctx, src)
}

// At start-up the start-up trigger and the file watcher's first look
// arrive together; a missing file then failed twice within milliseconds,
// with attemptCount 2 for one failure. A trigger stored before the sync
// read the source is answered by that sync; one stored after it is not.
func TestTriggersStoredBeforeTheReadShareItsResult(t *testing.T) {
	tests := []struct {
		name string
		// gated says where the worker waits while the watcher's trigger
		// is stored: before or while it reads the source.
		gated   func(g *gate, h *harness) (syncer.Fetcher, jetstream.KeyValue)
		covered bool
	}{
		{"stored before the read", func(g *gate, h *harness) (syncer.Fetcher, jetstream.KeyValue) {
			return &sources.Fetcher{}, gatedStatus{KeyValue: h.h.Status, g: g}
		}, true},
		{"stored while the source is read", func(g *gate, h *harness) (syncer.Fetcher, jetstream.KeyValue) {
			return gatedFetcher{Fetcher: &sources.Fetcher{}, g: g}, h.h.Status
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			src := fileSource("local", filepath.Join(h.dir, "missing.json"), nil)
			g := newGate()
			f, kv := tt.gated(g, h)
			logger := testsupport.Logger(t)
			c := New(h.h, syncer.NewManager(f, h.snapshots, logger), state.NewStore(kv, logger), []config.Source{src},
				Options{LeaseTTL: h.leaseTTL, Holder: "replica", Logger: logger})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			res := h.results("local")

			startup := "st-local-test"
			h.publish(startup, &events.SyncRequested{Source: "local", Trigger: events.TriggerStartup, RequestID: startup})
			<-g.reached
			watched := h.publish("file-local-missing-0", &events.SourceChanged{Source: "local", Trigger: events.TriggerFile})
			testsupport.Eventually(t, "the watcher's trigger queued behind the sync", func() bool {
				return len(c.queues.held()) == 2
			})
			close(g.open)

			first := res.failed()
			if first.AttemptCount != 1 {
				t.Errorf("first failure has attemptCount %d, want 1", first.AttemptCount)
			}
			if got := first.Covers("file-local-missing-0", watched.Sequence); got != tt.covered {
				t.Errorf("first failure covers %v: the watcher's trigger covered %v, want %v", first.TriggerIDs, got, tt.covered)
			}
			attempts := 1
			if !tt.covered {
				// The watcher's trigger asks for a look after the read
				// began: a second attempt.
				second := res.failed()
				attempts++
				if !second.Covers("file-local-missing-0", watched.Sequence) || second.AttemptCount != attempts {
					t.Errorf("second failure %+v attemptCount %d, want the watcher's trigger answered by attempt %d", second.Covered, second.AttemptCount, attempts)
				}
			}
			// A request then is the next real attempt, and the next result.
			id := h.request("local")
			last := res.failed()
			attempts++
			if !last.Answers(id) || last.AttemptCount != attempts {
				t.Errorf("next failure %+v attemptCount %d, want the request answered by attempt %d", last.Covered, last.AttemptCount, attempts)
			}
			if st := h.getStatus("local"); st.AttemptCount != attempts {
				t.Errorf("status attemptCount %d, want %d", st.AttemptCount, attempts)
			}
		})
	}
}
