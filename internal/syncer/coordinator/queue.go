package coordinator

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// trigger is one received trigger message, decoded.
type trigger struct {
	msg      jetstream.Msg
	id       string
	seq      uint64
	kind     string // events trigger kind: file, git-poll, webhook, manual, interval, startup
	changed  bool   // a source.changed event
	revision string
	// requestID of a manual request.
	requestID string
}

// queue holds the triggers of one source that wait for a worker, and
// whether a worker is syncing that source now.
type queue struct {
	pending []trigger
	running []trigger
	queued  bool
}

// queues coalesces triggers per source and hands sources to workers: a
// source is given to at most one worker at a time, and triggers that arrive
// while it syncs wait for the next batch.
type queues struct {
	mu     sync.Mutex
	cond   *sync.Cond
	bySrc  map[string]*queue
	ready  []string
	closed bool
}

func newQueues() *queues {
	q := &queues{bySrc: map[string]*queue{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues a trigger for a source; false means the queues are closed.
func (q *queues) add(source string, t trigger) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	sq := q.bySrc[source]
	if sq == nil {
		sq = &queue{}
		q.bySrc[source] = sq
	}
	sq.pending = append(sq.pending, t)
	q.markReady(source, sq)
	return true
}

func (q *queues) markReady(source string, sq *queue) {
	if sq.queued || sq.running != nil || len(sq.pending) == 0 {
		return
	}
	sq.queued = true
	q.ready = append(q.ready, source)
	q.cond.Signal()
}

// next blocks until a source is ready and returns it with its batch; ok is
// false once the queues are closed.
func (q *queues) next() (source string, batch []trigger, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", nil, false
	}
	source, q.ready = q.ready[0], q.ready[1:]
	sq := q.bySrc[source]
	sq.queued = false
	batch, sq.running, sq.pending = sq.pending, sq.pending, nil
	return source, batch, true
}

// done marks a source's batch finished and readies it again if triggers
// arrived meanwhile.
func (q *queues) done(source string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.bySrc[source]
	sq.running = nil
	if len(sq.pending) == 0 {
		delete(q.bySrc, source)
		return
	}
	q.markReady(source, sq)
}

// held returns every trigger not yet answered, pending or running.
func (q *queues) held() []trigger {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []trigger
	for _, sq := range q.bySrc {
		out = append(out, sq.pending...)
		out = append(out, sq.running...)
	}
	return out
}

// close wakes every waiting worker and returns the triggers that no worker
// took, so they can be handed back to the stream.
func (q *queues) close() []trigger {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
	var out []trigger
	for _, sq := range q.bySrc {
		out = append(out, sq.pending...)
		sq.pending = nil
	}
	return out
}
