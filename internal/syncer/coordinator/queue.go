package coordinator

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/regsync/regsync/internal/retry"
)

// triggerMsg is one trigger message delivered from REGSYNC_TRIGGERS,
// decoded.
type triggerMsg struct {
	msg jetstream.Msg
	id  string
	seq uint64
	// streamCreated is when the stream the trigger was stored in was
	// created (unix nanoseconds): a stream made again starts its
	// sequences over.
	streamCreated int64
	kind          string // events trigger kind: file, git-poll, http-poll, webhook, manual, interval, startup
	changed       bool   // a source.changed event
	revision      string
	// requestID of a manual request.
	requestID string
	// published is when the trigger was stored in the stream.
	published time.Time
	// trace is the trace the trigger was published in, if any.
	trace trace.SpanContext
	// malformed says what is wrong with a trigger whose source and id
	// could be read: it is answered with a failed result that says so.
	malformed error
}

// ref names the trigger's message for the life of the deployment's
// streams, "<stream created>-<sequence>": a sequence alone repeats when the
// trigger stream is made again. Answers that record nothing in the status
// take their ids from it, so they are the same every time the same
// triggers are answered, and never repeat otherwise.
func (d triggerMsg) ref() string {
	return strconv.FormatInt(d.streamCreated, 10) + "-" + strconv.FormatUint(d.seq, 10)
}

// sameTrigger reports whether e is a delivery of the same stored trigger.
func (d triggerMsg) sameTrigger(e triggerMsg) bool {
	return d.seq == e.seq && d.streamCreated == e.streamCreated
}

// queue holds the deliveries of one source that wait for a worker, and
// whether a worker has the source now or it waits for a retry time.
type queue struct {
	pending []triggerMsg
	running []triggerMsg
	queued  bool
	// waiting is set while the source sits out a pause (its lease is held
	// elsewhere, or NATS did not answer); new deliveries join pending
	// without readying it. stop ends the pause early, at shutdown.
	waiting bool
	stop    func() bool
	// forLease says the pause is for a lease held elsewhere, which
	// leaseFreed ends as soon as its holder lets it go.
	forLease bool
	// failures counts the source's batches in a row that were put back
	// after a failure; a batch that is not put back sets it to 0.
	failures int
	// putBack says the running batch was put back (retry or wait).
	putBack bool
}

// queues coalesces deliveries per source and hands sources to workers: a
// source is given to at most one worker at a time, and deliveries that
// arrive while it syncs wait for the next batch.
type queues struct {
	mu     sync.Mutex
	cond   *sync.Cond
	bySrc  map[string]*queue
	ready  []string
	closed bool
	// backoff is the pause before a source whose batch failed is tried
	// again, after its consecutive failures.
	backoff retry.Backoff
	// clock ends the pauses.
	clock clock
}

// queueRetry is the pause before a batch that could not be answered (NATS
// did not answer, its result could not be stored) is tried again: a second
// after the first failure, doubled after each further one in a row, so a
// source whose calls keep failing does not keep a worker busy; bounded like
// the retry of the trigger consumer, so the queues go on within seconds of
// the consumer once NATS is back.
var queueRetry = retry.Backoff{First: time.Second, Limit: 10 * time.Second}

func newQueues() *queues {
	q := &queues{bySrc: map[string]*queue{}, backoff: queueRetry, clock: wallClock{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues a delivery for a source; false means the queues are closed.
// A trigger the server hands back while this replica still holds it (its
// keep-alive came late) is held once: a pending copy is replaced by the
// newer delivery, and a running one answers it (an answer or keep-alive
// names the stream sequence, whichever delivery carries it), so one
// observation is never counted, or answered, twice.
func (q *queues) add(source string, d triggerMsg) bool {
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
	if slices.ContainsFunc(sq.running, d.sameTrigger) {
		return true
	}
	if i := slices.IndexFunc(sq.pending, d.sameTrigger); i >= 0 {
		sq.pending[i] = d
		return true
	}
	sq.pending = append(sq.pending, d)
	q.markReady(source, sq)
	return true
}

func (q *queues) markReady(source string, sq *queue) {
	if q.closed || sq.queued || sq.waiting || sq.running != nil || len(sq.pending) == 0 {
		return
	}
	sq.queued = true
	q.ready = append(q.ready, source)
	q.cond.Signal()
}

// next blocks until a source is ready and returns it with its batch; ok is
// false once the queues are closed.
func (q *queues) next() (source string, batch []triggerMsg, ok bool) {
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

// done marks a source's batch finished and readies it again if deliveries
// arrived meanwhile. A batch that was not put back ends the source's run
// of failures. It reports whether no delivery of the source is held any
// more (see busy).
func (q *queues) done(source string) (idle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.bySrc[source]
	sq.running = nil
	if !sq.putBack {
		sq.failures = 0
	}
	sq.putBack = false
	if len(sq.pending) == 0 && !sq.waiting {
		delete(q.bySrc, source)
		return true
	}
	q.markReady(source, sq)
	return false
}

// busy reports whether a delivery of the source is held: pending, waiting
// out a pause, or running.
func (q *queues) busy(source string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bySrc[source] != nil
}

// retry puts the rest of a source's batch back after a failure, ahead of
// anything that arrived meanwhile, and readies the source again after the
// backoff's pause for its consecutive failures, which it returns. The
// worker is free for other sources in between; the deliveries stay held
// (and kept alive by the heartbeat), so no other replica answers them out
// of order. The caller still calls done. False means the queues are closed
// and the caller must hand the deliveries back to the stream itself.
func (q *queues) retry(source string, rest []triggerMsg) (time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, false
	}
	sq := q.bySrc[source]
	sq.failures++
	delay := q.backoff.Delay(sq.failures)
	q.putBack(source, sq, rest, delay)
	return delay, true
}

// wait is retry for a batch that did not fail but cannot be worked on
// before d has passed (its lease is held elsewhere): the source's failures
// are neither counted nor forgiven.
func (q *queues) wait(source string, rest []triggerMsg, d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	sq := q.bySrc[source]
	pausing := !sq.waiting
	q.putBack(source, sq, rest, d)
	sq.forLease = pausing && sq.waiting
	return true
}

// leaseFreed ends at once the pause of a source whose batch waits for a
// lease held elsewhere: its holder let it go. A pause for anything else
// (a failure's backoff) goes on.
func (q *queues) leaseFreed(source string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.bySrc[source]
	if sq == nil || !sq.waiting || !sq.forLease || sq.stop == nil {
		return
	}
	if !sq.stop() {
		return // the pause is ending by itself
	}
	sq.waiting, sq.stop, sq.forLease = false, nil, false
	q.markReady(source, sq)
}

func (q *queues) putBack(source string, sq *queue, rest []triggerMsg, delay time.Duration) {
	sq.putBack = true
	sq.pending = append(append([]triggerMsg{}, rest...), sq.pending...)
	if len(sq.pending) == 0 || sq.waiting {
		return
	}
	sq.waiting = true
	sq.stop = q.clock.AfterFunc(delay, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		sq.waiting, sq.stop, sq.forLease = false, nil, false
		q.markReady(source, sq)
	})
}

// take removes from a source's pending deliveries those that answered
// says the running batch answers too, and returns them. They count as
// running until done: the caller answers them with its batch, or puts
// them back with retry.
func (q *queues) take(source string, answered func(triggerMsg) bool) []triggerMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.bySrc[source]
	if sq == nil {
		return nil
	}
	var taken, rest []triggerMsg
	for _, d := range sq.pending {
		if answered(d) {
			taken = append(taken, d)
		} else {
			rest = append(rest, d)
		}
	}
	sq.pending = rest
	sq.running = append(sq.running, taken...)
	return taken
}

// held returns every delivery not yet answered: pending, waiting or running.
func (q *queues) held() []triggerMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []triggerMsg
	for _, sq := range q.bySrc {
		out = append(out, sq.pending...)
		out = append(out, sq.running...)
	}
	return out
}

// close wakes every waiting worker, ends the pauses and returns the
// deliveries that no worker has, so they can be handed back to the stream.
func (q *queues) close() []triggerMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
	var out []triggerMsg
	for _, sq := range q.bySrc {
		if sq.stop != nil {
			sq.stop()
		}
		out = append(out, sq.pending...)
		sq.pending = nil
	}
	return out
}
