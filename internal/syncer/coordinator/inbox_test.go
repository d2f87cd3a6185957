package coordinator

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A delivery is held (kept alive) from the moment the consumer hands it
// over, also while deliveries ahead of it are decoded; at shutdown the
// ones not decoded are handed back and the one being decoded is not.
func TestInboxHoldsDeliveriesUntilTheyAreQueued(t *testing.T) {
	in := newInbox()
	msgs := []jetstream.Msg{&fakeMsg{id: "a"}, &fakeMsg{id: "b"}, &fakeMsg{id: "c"}}
	for _, m := range msgs {
		if !in.add(arrival{msg: m}) {
			t.Fatal("inbox closed")
		}
	}
	a, ok := in.next()
	if !ok || a.msg != msgs[0] {
		t.Fatalf("next = %v, %t; want the oldest delivery", a.msg, ok)
	}
	if got := in.held(); len(got) != 3 {
		t.Fatalf("while the oldest is decoded, %d held, want 3", len(got))
	}
	in.done()
	if got := in.held(); len(got) != 2 || got[0] != msgs[1] {
		t.Fatalf("after the oldest is queued, held %v, want b and c", got)
	}
	if _, ok := in.next(); !ok {
		t.Fatal("inbox closed")
	}
	back := in.close()
	if len(back) != 1 || back[0] != msgs[2] {
		t.Fatalf("close handed back %v, want c alone (b is being decoded)", back)
	}
	in.done()
	if _, ok := in.next(); ok {
		t.Error("next after close returned a delivery")
	}
	if in.add(arrival{msg: &fakeMsg{id: "d"}}) {
		t.Error("a closed inbox took a delivery")
	}
}

// fakeMsg stands for a delivery; the inbox only passes it on.
type fakeMsg struct {
	jetstream.Msg
	id string
}

// A trigger handed back to the replica that holds it (a keep-alive came
// late) is held once: pending, the newer delivery replaces the older;
// running, the running batch answers it.
func TestTriggerHandedBackToItsHolderIsHeldOnce(t *testing.T) {
	q := newQueues()
	first := triggerMsg{msg: &fakeMsg{id: "first"}, id: "chg-1", seq: 7, streamCreated: 1}
	again := first
	again.msg = &fakeMsg{id: "again"}
	other := triggerMsg{msg: &fakeMsg{id: "other"}, id: "chg-2", seq: 8, streamCreated: 1}

	q.add("local", first)
	q.add("local", again)
	if held := q.held(); len(held) != 1 || held[0].msg != again.msg {
		t.Fatalf("pending: held %v, want the newer delivery alone", held)
	}
	_, batch, _ := q.next()
	if len(batch) != 1 {
		t.Fatalf("batch of %d, want 1", len(batch))
	}
	q.add("local", first)
	q.add("local", other)
	if held := q.held(); len(held) != 2 {
		t.Fatalf("running: held %d deliveries, want the running one and the other trigger", len(held))
	}
	q.done("local")
	_, batch, _ = q.next()
	if len(batch) != 1 || batch[0].id != "chg-2" {
		t.Errorf("next batch %v, want chg-2 alone", batch)
	}
}
