package coordinator

import "testing"

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
