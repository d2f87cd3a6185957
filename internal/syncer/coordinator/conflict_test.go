package coordinator

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
	"github.com/regsync/regsync/internal/tracing"
)

// overtakenStatus is a status bucket in which another writer gets in
// first once: the first write of an outcome (a record with a pending
// result) finds the record moved on, and the compare-and-swap conflicts.
type overtakenStatus struct {
	jetstream.KeyValue
	once sync.Once
	// overtaken is closed once the other writer has written; err says
	// why it could not.
	overtaken chan struct{}
	err       error
}

func (s *overtakenStatus) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if bytes.Contains(value, []byte(`"pendingResult"`)) {
		s.once.Do(func() {
			defer close(s.overtaken)
			e, err := s.KeyValue.Get(ctx, key)
			if err == nil {
				_, err = s.KeyValue.Update(ctx, key, e.Value(), e.Revision())
			}
			s.err = err
		})
	}
	return s.KeyValue.Update(ctx, key, value, last)
}

// An outcome written again after a compare-and-swap conflict is logged
// and traced once: the write is retried, its side effects are not.
func TestOutcomeSideEffectsOnceOnConflict(t *testing.T) {
	tests := []struct {
		name string
		// registry writes the source's file, or nothing for a missing one.
		registry func(t *testing.T, path string)
		logLine  string
		// exceptions is how many exception events the span records.
		exceptions int
	}{
		{"completed", func(t *testing.T, path string) { writeRegistry(t, path, alpha) }, "sync completed", 0},
		{"failed", func(*testing.T, string) {}, "sync failed", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := tracetest.NewInMemoryExporter()
			tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
			t.Cleanup(func() { tracing.Install(noop.NewTracerProvider()) })

			h := newHarness(t)
			path := filepath.Join(h.dir, "registry.json")
			tt.registry(t, path)
			kv := &overtakenStatus{KeyValue: h.h.Status, overtaken: make(chan struct{})}
			var logs testsupport.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := New(h.h, syncer.NewManager(&sources.Fetcher{}, h.snapshots, logger), state.NewStore(kv, logger),
				[]config.Source{fileSource("local", path, nil)}, Options{LeaseTTL: h.leaseTTL, Holder: "replica", Logger: logger})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			res := h.results("local")

			h.request("local")
			ev, _ := res.next()
			<-kv.overtaken
			if kv.err != nil {
				t.Fatalf("the other writer did not write: %v", kv.err)
			}
			// The result published is the one written: it is cleared from
			// the record once published.
			testsupport.Eventually(t, "result "+ev.ID()+" cleared from the status", func() bool {
				return h.getStatus("local").PendingResult == nil
			})
			if n := logs.Count(tt.logLine); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", tt.logLine, n, logs.String())
			}
			var span *tracetest.SpanStub
			testsupport.Eventually(t, "the sync span exported", func() bool {
				for _, s := range spans.GetSpans() {
					if s.Name == SpanName {
						span = &s
					}
				}
				return span != nil
			})
			exceptions := 0
			for _, e := range span.Events {
				if e.Name == "exception" {
					exceptions++
				}
			}
			if exceptions != tt.exceptions {
				t.Errorf("span has %d exception events, want %d: %+v", exceptions, tt.exceptions, span.Events)
			}
		})
	}
}
