package coordinator

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
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
			ctx := context.Background()
			stream, err := h.js.Stream(ctx, events.StreamTriggers)
			if err != nil {
				t.Fatal(err)
			}
			cfg := stream.CachedInfo().Config
			if err := h.js.DeleteStream(ctx, events.StreamTriggers); err != nil {
				t.Fatal(err)
			}
			if _, err := h.js.CreateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
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
