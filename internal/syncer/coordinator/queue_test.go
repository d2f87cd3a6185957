package coordinator

import (
	"slices"
	"testing"
	"time"
)

func newPausedQueues() (*queues, *fakeClock) {
	q, c := newQueues(), newFakeClock()
	q.clock = c
	return q, c
}

// nextBatch takes the next batch and checks it is source's.
func nextBatch(t *testing.T, q *queues, source string) []triggerMsg {
	t.Helper()
	got, batch, ok := q.next()
	if !ok || got != source {
		t.Fatalf("next() = %q, %v; want %q", got, ok, source)
	}
	return batch
}

func TestQueueRetryPausesGrowWithConsecutiveFailures(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	var asked []time.Duration
	for range 6 {
		batch := nextBatch(t, q, "a")
		delay, ok := q.retry("a", batch)
		if !ok {
			t.Fatal("retry on open queues reported closed")
		}
		asked = append(asked, delay)
		q.done("a")
		p.advance(queueRetry.Limit)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(asked, want) || !slices.Equal(p.pauses(), want) {
		t.Errorf("pauses after six failures in a row: returned %v, waited %v; want %v", asked, p.asked, want)
	}
}

func TestQueueRetryPauseStartsOverAfterSuccess(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	for range 3 {
		q.retry("a", nextBatch(t, q, "a"))
		q.done("a")
		p.advance(queueRetry.Limit)
	}
	nextBatch(t, q, "a")
	q.add("a", triggerMsg{id: "t2", seq: 2}) // arrives during the sync that succeeds
	q.done("a")

	if delay, _ := q.retry("a", nextBatch(t, q, "a")); delay != queueRetry.First {
		t.Errorf("first failure after a success paused %v, want %v", delay, queueRetry.First)
	}
}

func TestQueueWaitForLeaseIsNotAFailure(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	q.retry("a", nextBatch(t, q, "a"))
	q.done("a")
	p.advance(queueRetry.Limit)
	if !q.wait("a", nextBatch(t, q, "a"), 50*time.Millisecond) {
		t.Fatal("wait on open queues reported closed")
	}
	q.done("a")
	p.advance(queueRetry.Limit)
	if delay, _ := q.retry("a", nextBatch(t, q, "a")); delay != 2*queueRetry.First {
		t.Errorf("second failure, after a wait for the lease, paused %v; want %v", delay, 2*queueRetry.First)
	}
	if want := []time.Duration{time.Second, 50 * time.Millisecond, 2 * time.Second}; !slices.Equal(p.pauses(), want) {
		t.Errorf("paused %v, want %v", p.asked, want)
	}
}

func TestQueueRetriedSourceWaitsItsPause(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	q.retry("a", nextBatch(t, q, "a"))
	q.done("a")
	q.add("a", triggerMsg{id: "t2", seq: 2}) // joins the batch that waits
	q.add("b", triggerMsg{id: "t3", seq: 3})
	if got := nextBatch(t, q, "b"); len(got) != 1 {
		t.Errorf("b's batch %+v", got)
	}
	q.done("b")
	p.advance(queueRetry.Limit)
	got := nextBatch(t, q, "a")
	if ids := []string{got[0].id, got[1].id}; len(got) != 2 || !slices.Equal(ids, []string{"t1", "t2"}) {
		t.Errorf("after its pause a's batch is %+v, want t1 then t2", got)
	}
}

func TestQueueCloseEndsPausesAndHandsBackWaitingTriggers(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	q.retry("a", nextBatch(t, q, "a"))
	q.done("a")
	back := q.close()
	if len(back) != 1 || back[0].id != "t1" {
		t.Errorf("close handed back %+v, want t1", back)
	}
	if n := len(p.running()); n != 0 {
		t.Errorf("%d pauses still running after close", n)
	}
	if _, ok := q.retry("a", back); ok {
		t.Error("retry after close reported the triggers kept")
	}
	if q.wait("a", back, time.Second) {
		t.Error("wait after close reported the triggers kept")
	}
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

func TestLeaseFreedEndsOnlyAPauseForTheLease(t *testing.T) {
	q, p := newPausedQueues()
	q.add("a", triggerMsg{id: "t1", seq: 1})
	q.wait("a", nextBatch(t, q, "a"), time.Second) // its lease is held elsewhere
	q.done("a")
	q.add("a", triggerMsg{id: "t2", seq: 2}) // a fresh trigger joins the waiting batch
	q.leaseFreed("a")
	if batch := nextBatch(t, q, "a"); len(batch) != 2 {
		t.Fatalf("batch after the lease was freed: %d triggers, want 2", len(batch))
	}
	if len(p.running()) != 0 {
		t.Errorf("the lease's pause still runs after the lease was freed")
	}

	q.retry("a", []triggerMsg{{id: "t1", seq: 1}}) // a failure's pause
	q.done("a")
	q.leaseFreed("a")
	q.mu.Lock()
	ready := len(q.ready)
	q.mu.Unlock()
	if ready != 0 || len(p.running()) != 1 {
		t.Errorf("a freed lease ended a failure's pause: %d ready, %d pauses running", ready, len(p.running()))
	}
}
