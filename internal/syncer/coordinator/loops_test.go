package coordinator

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// A replica whose trigger consumer is taken away must not look healthy
// while it consumes nothing: it says why it is not ready, makes the
// consumer again, and answers the next trigger.
func TestTriggersAreAnsweredAfterTheConsumerIsLost(t *testing.T) {
	tests := []struct {
		name string
		lose func(t *testing.T, h *harness)
	}{
		{"durable consumer deleted", func(t *testing.T, h *harness) {
			if err := h.js.DeleteConsumer(context.Background(), events.StreamTriggers, ConsumerName); err != nil {
				t.Fatal(err)
			}
		}},
		{"trigger stream recreated", func(t *testing.T, h *harness) {
			h.recreateTriggerStream(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			path := filepath.Join(h.dir, "registry.json")
			writeRegistry(t, path, alpha)
			c := h.start([]config.Source{fileSource("local", path, nil)}, 0)
			res := h.results("local")
			h.request("local")
			res.completed()
			if err := c.Ready(); err != nil {
				t.Fatalf("consuming replica not ready: %v", err)
			}
			// The answered trigger is acknowledged (else the new consumer
			// rightly delivers it again).
			testsupport.Eventually(t, "the trigger acknowledged", func() bool {
				cons, err := h.js.Consumer(context.Background(), events.StreamTriggers, ConsumerName)
				if err != nil {
					return false
				}
				info, err := cons.Info(context.Background())
				return err == nil && info.NumAckPending == 0 && info.NumPending == 0
			})

			tt.lose(t, h)
			id := h.request("local")
			_, d := res.next()
			if !coveredOf(t, d).Answers(id) {
				t.Errorf("result %+v does not answer request %s", d, id)
			}
			if err := c.Ready(); err != nil {
				t.Errorf("replica consuming again is not ready: %v", err)
			}
		})
	}
}

// While the trigger stream is gone the replica is not ready, and says so.
func TestReplicaWithoutItsTriggerStreamIsNotReady(t *testing.T) {
	h := newHarness(t)
	c := h.start([]config.Source{fileSource("local", filepath.Join(h.dir, "registry.json"), nil)}, 0)
	testsupport.Eventually(t, "the replica consuming", func() bool { return c.Ready() == nil })
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if err := h.js.DeleteStream(ctx, events.StreamTriggers); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the replica not ready", func() bool {
		err := c.Ready()
		return err != nil && strings.Contains(err.Error(), events.StreamTriggers)
	})
	if _, err := h.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the replica ready again", func() bool { return c.Ready() == nil })
}

// endingWatches is a status bucket whose first watch ends at once, as a
// watch does when its subscription is closed under it.
type endingWatches struct {
	jetstream.KeyValue
	watches atomic.Int32
}

func (e *endingWatches) EnsureStatus(context.Context) (jetstream.KeyValue, error) { return e, nil }

func (e *endingWatches) WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	if e.watches.Add(1) == 1 {
		return endedWatch{}, nil
	}
	return e.KeyValue.WatchAll(ctx, opts...)
}

type endedWatch struct{}

func (endedWatch) Updates() <-chan jetstream.KeyValueEntry {
	ch := make(chan jetstream.KeyValueEntry)
	close(ch)
	return ch
}

func (endedWatch) Stop() error { return nil }

func TestIntervalWatchesStatusAgainWhenItsWatchEnds(t *testing.T) {
	h := newHarness(t)
	src := config.Source{Name: "flaky", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	bucket := &endingWatches{KeyValue: h.h.Status}
	log := &testsupport.Buffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	iv := NewInterval(h.h.Publisher, []config.Source{src}, logger)
	w := NewStatusWatch(bucket, logger, iv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- iv.Run(ctx) }()
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done; <-done }()

	testsupport.Eventually(t, "the status watched again", func() bool { return bucket.watches.Load() >= 2 })
	if !log.Contains("status watch stopped") {
		t.Errorf("the ended watch was not logged: %s", log)
	}
	failedAt := time.Now()
	retryAt := failedAt.Add(100 * time.Millisecond)
	data, _ := json.Marshal(state.Status{Phase: state.PhaseFailed, AttemptCount: 1, LastSyncTime: &failedAt, NextSyncTime: &retryAt})
	if _, err := h.h.Status.Put(context.Background(), "flaky", data); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "a retry trigger", func() bool {
		for _, id := range streamIDs(t, h, "flaky") {
			if strings.HasPrefix(id, "rt-flaky-") {
				return true
			}
		}
		return false
	})
}
