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
