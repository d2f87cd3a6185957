package coordinator

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/testsupport"
)

// witness is a consumer that takes a message and never answers it: the
// server hands it back once the witness's AckWait has passed, so it marks
// that moment by the server's own clock, without a timer in the test. It
// has a stream of its own (REGSYNC_TRIGGERS is a work queue: one consumer
// per subject).
type witness struct {
	t    *testing.T
	cons jetstream.Consumer
}

// newWitness takes a message now, unanswered, under ackWait.
func newWitness(t *testing.T, h *harness, ackWait time.Duration) *witness {
	t.Helper()
	ctx := context.Background()
	stream, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: "WITNESS", Subjects: []string{"witness"}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(ctx, "witness", nil); err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(testsupport.Patience))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 1 {
		t.Fatalf("witness took %d messages, want 1 (%v)", n, batch.Error())
	}
	return &witness{t: t, cons: cons}
}

// handedBack reports whether the server has handed the witness's message
// back, that is whether its AckWait has passed.
func (w *witness) handedBack() bool {
	w.t.Helper()
	batch, err := w.cons.FetchNoWait(1)
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	return n > 0
}

// formerAckWait is the AckWait regsync used to give a delivered trigger:
// a replica restarted after a kill -9 waited that long for the triggers
// its dead run held.
const formerAckWait = 5 * time.Second

// A replica killed while it holds a trigger and started again on the same
// data directory (the same replica id) gets the trigger back and answers
// it well before the former AckWait: before a witness that took a message
// when the replica died, under half that AckWait, gets it back.
func TestRestartedReplicaAnswersWhatItsDeadRunHeldWithinAnAckWait(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}

	// The first run has its own connection, takes the trigger and hangs
	// in the fetch, with the default AckWait.
	ncA, res, id := h.startHungReplica(t, "first-run", srcs, Options{SyncTimeout: time.Minute, Holder: "replica-a"})
	// kill -9: the connection drops, the trigger unanswered, the lease held.
	ncA.Close()
	w := newWitness(t, h, formerAckWait/2)

	// The replica starts again under the same id.
	h.startWith(srcs, Options{Holder: "replica-a"})
	c := res.completed()
	if !slices.Contains(c.TriggerIDs, id) {
		t.Errorf("completed %+v does not answer %s", c.Covered, id)
	}
	if w.handedBack() {
		t.Errorf("the trigger the dead run held was answered only after half the former AckWait (%s)", formerAckWait)
	}
}

// A live replica whose sync outlasts many AckWaits keeps its trigger: the
// server never hands it back, however long the sync takes.
func TestLiveReplicaKeepsItsTriggerThroughALongSync(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	srcs := []config.Source{fileSource("local", path, nil)}
	g := newGate()
	h.run(srcs, gatedFetcher{Fetcher: &sources.Fetcher{}, g: g}, Options{SyncTimeout: time.Minute})

	res := h.results("local")
	id := h.request("local")
	select {
	case <-g.reached:
	case <-time.After(testsupport.Patience):
		t.Fatal("the sync never started")
	}
	// Three AckWaits pass, by the server's clock.
	for range 3 {
		w := newWitness(t, h, DefaultAckWait)
		testsupport.Eventually(t, "the witness's AckWait to pass", w.handedBack)
		if err := h.js.DeleteStream(context.Background(), "WITNESS"); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := h.js.Consumer(context.Background(), events.StreamTriggers, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 || info.NumAckPending != 1 {
		t.Errorf("during the sync: %d redelivered, %d awaiting an answer; want 0 and 1", info.NumRedelivered, info.NumAckPending)
	}
	close(g.open)
	if c := res.completed(); !slices.Equal(c.TriggerIDs, []string{id}) || c.TriggerCount != 1 {
		t.Errorf("completed %+v, want the answer to %s alone", c.Covered, id)
	}
	res.none(2 * DefaultAckWait)
}
