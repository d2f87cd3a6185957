package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer/state"
)

// records is a store of records of type R keyed by name, written with
// compare-and-swap: state.Store (a source's status) and registryStatuses
// (a registry's). Update follows state.Store.Update: mutate may run more
// than once and only changes the record; an error from mutate refuses the
// record it was given (computed from an earlier revision, say), and Update
// writes nothing and returns that error. UpdateEncoded is Update for a
// mutate that encoded the record it left: those bytes are written as they
// are (nil: the store encodes the record).
type records[R any] interface {
	Update(ctx context.Context, key string, init func() R, mutate func(r R, base uint64) error) (R, error)
	UpdateEncoded(ctx context.Context, key string, init func() R, mutate func(r R, base uint64) ([]byte, error)) (R, error)
}

// ledger holds the steps of the outcome protocol (see outcome.go) that do
// not depend on what an outcome answers: record a status and its event in
// one compare-and-swap, publish the event, and clear it from the record
// once published. Every method takes the key of the record, so any writer
// of outcomes in a status bucket goes through the same steps, for sources
// and registries alike.
type ledger[R any] struct {
	status records[R]
	// pending is the field of a record that holds its event until it is
	// published; shrink cuts the messages of a record, false when they
	// are short already.
	pending func(R) *json.RawMessage
	shrink  func(R) bool
	// spare, when set, leaves out what a record keeps that it can do
	// without, false when there is nothing; a record that does not fit
	// is spared before anything else is cut.
	spare func(R) bool
	// unpend, when set, clears what a record keeps beside its pending
	// event, once the event is cleared.
	unpend func(R)
	// publish stores an event on a subject; a test seam for a JetStream
	// that does not take results.
	publish func(ctx context.Context, subject string, ev event.Event) error
	// mode is the content mode events are published in, and source their
	// CloudEvents source attribute.
	mode   events.ContentMode
	source string
	// recordLimit is the largest record the status bucket takes
	// (bus.ValueLimit), set before the first record.
	recordLimit int
	// callTimeout bounds every request.
	callTimeout time.Duration
}

// entry is an outcome as it was written.
type entry[R any] struct {
	// status is the record written.
	status R
	// data is what the outcome's event says, before any cut to fit.
	data events.Data
	// event is the event kept in status.PendingResult; it has no id when
	// err says why it could not be made.
	event event.Event
	// cut says that the event or the record was cut to fit.
	cut bool
	err error
}

// report logs what kept an entry's event from being recorded whole.
func (e entry[R]) report(log *slog.Logger) {
	switch {
	case e.err != nil:
		// An event that cannot be published is a bug; the outcome is
		// recorded and said so rather than lost or retried for ever.
		log.Error("outcome recorded without its result event", "err", e.err)
	case e.cut:
		log.Warn("result cut to fit the status record and the result stream", "result", e.event.ID())
	}
}

// call bounds one request. It is not cut short when ctx is: a request
// under way is better finished than left in doubt.
func (l *ledger[R]) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), l.callTimeout)
}

// record applies an outcome to the record of key (init() when there is
// none) and seals its event into the record, in one compare-and-swap.
// mutate changes the record and returns the event's id and data; it is
// told the revision it writes over, and may run more than once (see
// state.Store.Update), so it must do nothing else: whatever else the
// outcome does, it does with the entry returned. An outcome computed
// from what an earlier revision said refuses a later one by returning an
// error: nothing is recorded, and record returns that error, wrapped.
func (l *ledger[R]) record(ctx context.Context, key string, init func() R,
	mutate func(s R, base uint64) (string, events.Data, error)) (entry[R], error) {
	var e entry[R]
	call, cancel := l.call(ctx)
	defer cancel()
	// The record is written as seal encoded it to check its size.
	st, err := l.status.UpdateEncoded(call, key, init, func(s R, base uint64) ([]byte, error) {
		id, data, err := mutate(s, base)
		if err != nil {
			return nil, err
		}
		ev, encoded, cut, serr := l.seal(ctx, s, id, data)
		e = entry[R]{data: data, event: ev, cut: cut, err: serr}
		return encoded, nil
	})
	if err != nil {
		return entry[R]{}, fmt.Errorf("record outcome: %w", err)
	}
	e.status = st
	return e, nil
}

// publishTries is how often announce tries to store an event before it
// leaves it pending for the next holder of the lease.
const publishTries = 3

// announceRetry is how an event is tried again: briefly, and not once ctx
// is done (a try in flight still finishes, see call).
var announceRetry = retry.Backoff{First: 100 * time.Millisecond, Limit: 200 * time.Millisecond, Attempts: publishTries}

// announce publishes a recorded event on subject, trying again briefly.
func (l *ledger[R]) announce(ctx context.Context, subject string, ev event.Event) error {
	return announceRetry.Do(ctx, func(ctx context.Context) error {
		call, cancel := l.call(ctx)
		defer cancel()
		return l.publish(call, subject, ev)
	})
}

// settle clears the event with the given id from the record of key once
// it is published; a record that holds another event (or none) is left.
func (l *ledger[R]) settle(ctx context.Context, key, id string) error {
	call, cancel := l.call(ctx)
	defer cancel()
	_, err := l.status.Update(call, key, func() (none R) { return none }, func(s R, _ uint64) error {
		if pendingID(*l.pending(s)) == id {
			*l.pending(s) = nil
			if l.unpend != nil {
				l.unpend(s)
			}
		}
		return nil
	})
	return err
}

// drop removes the pending event from the record of key, if it still
// holds that one, and returns the record written.
func (l *ledger[R]) drop(ctx context.Context, key string, init func() R, pending []byte) (R, error) {
	call, cancel := l.call(ctx)
	defer cancel()
	st, err := l.status.Update(call, key, init, func(s R, _ uint64) error {
		if bytes.Equal(*l.pending(s), pending) {
			*l.pending(s) = nil
			if l.unpend != nil {
				l.unpend(s)
			}
		}
		return nil
	})
	if err != nil {
		var none R
		return none, fmt.Errorf("drop pending result: %w", err)
	}
	return st, nil
}

// pendingID is the id of a pending event, or "".
func pendingID(pending json.RawMessage) string {
	if pending == nil {
		return ""
	}
	var ev event.Event
	if ev.UnmarshalJSON(pending) != nil {
		return ""
	}
	return ev.ID()
}

// statusLedger is the ledger of the sources' status records.
func statusLedger(status *state.Store) *ledger[*state.Status] {
	return &ledger[*state.Status]{status: status,
		pending: func(s *state.Status) *json.RawMessage { return &s.PendingResult },
		shrink:  shrinkStatus}
}
