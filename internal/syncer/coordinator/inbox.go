package coordinator

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// arrival is a delivery as the consumer handed it over, not yet decoded.
type arrival struct {
	msg jetstream.Msg
	// streamCreated is when the stream it was delivered from was created
	// (unix nanoseconds).
	streamCreated int64
}

// inbox holds deliveries from the moment the consumer hands them over
// until they are decoded and queued for their source. The consumer's
// callback only appends, so a delivery is held, and kept alive, at once:
// however long the deliveries ahead of it take to decode (a burst of
// large triggers), it never waits out the AckWait unseen and comes back.
type inbox struct {
	mu   sync.Mutex
	cond *sync.Cond
	msgs []arrival
	// decoding is set while the oldest delivery is being decoded.
	decoding bool
	closed   bool
}

func newInbox() *inbox {
	in := &inbox{}
	in.cond = sync.NewCond(&in.mu)
	return in
}

// add appends a delivery; false means the inbox is closed.
func (in *inbox) add(a arrival) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.msgs = append(in.msgs, a)
	in.cond.Signal()
	return true
}

// next blocks until a delivery is there and returns the oldest, which
// stays held until done; ok is false once the inbox is closed.
func (in *inbox) next() (a arrival, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for len(in.msgs) == 0 && !in.closed {
		in.cond.Wait()
	}
	if in.closed {
		return arrival{}, false
	}
	in.decoding = true
	return in.msgs[0], true
}

// done removes the delivery next returned: it is queued or answered.
func (in *inbox) done() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs, in.decoding = in.msgs[1:], false
}

// held returns the deliveries not yet queued.
func (in *inbox) held() []jetstream.Msg {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]jetstream.Msg, 0, len(in.msgs))
	for _, a := range in.msgs {
		out = append(out, a.msg)
	}
	return out
}

// close wakes the decoder and returns the deliveries it will not decode,
// so they can be handed back to the stream; the one it is decoding, if
// any, it still queues (or hands back).
func (in *inbox) close() []jetstream.Msg {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	in.cond.Broadcast()
	rest := in.msgs
	if in.decoding {
		rest, in.msgs = in.msgs[1:], in.msgs[:1]
	} else {
		in.msgs = nil
	}
	out := make([]jetstream.Msg, 0, len(rest))
	for _, a := range rest {
		out = append(out, a.msg)
	}
	return out
}
