package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regsync/regsync/internal/retry"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
)

// Sender stores an event on a subject and returns what was stored once it
// is, or the reason it was not: Publisher, or a fake in tests.
type Sender interface {
	Publish(ctx context.Context, subject string, ev event.Event) (Stored, error)
}

// Stored is what JetStream stored for one event: the event as sent, its
// stream sequence, and whether it repeated an event already stored and
// collapsed with it (Duplicate; Sequence is then the stored one's, or 0
// when another publisher was storing it at the same moment).
type Stored struct {
	Event     event.Event
	Sequence  uint64
	Duplicate bool
}

// Producer publishes the events of one part of regsync, the one way every
// producer does: it builds each event with events.New under its name (the
// CloudEvents source), puts it on the subject its data belongs to (the
// source's trigger subject, or its result subject for the outcome) and
// stores it, trying again as Retry says. Every try sends the same event, so
// a try that was stored although its answer was lost collapses with the
// next one in JetStream's duplicate window.
type Producer struct {
	Name   string
	Sender Sender
	// Retry is how an event that could not be stored is tried again:
	// after any error its Retryable accepts (nil: every one) but ErrStale
	// and ErrBuild, telling its OnRetry besides the Logger. The zero
	// Backoff tries until ctx is done; Attempts: 1 tries once.
	Retry  retry.Backoff
	Logger *slog.Logger // for the tries that will be retried; nil logs nothing
}

// DefaultRetry is the retry of the producers that run in the service and
// of the CLI's requests: an event is tried until it is stored, ctx is done
// or (PublishUnlessStale) a newer observation replaces it, so a change
// observed during an outage is published once NATS is back instead of
// waiting for the next change. A try that gets no answer costs at most
// Timeout: a request lost with a dying server is sent again.
var DefaultRetry = retry.Backoff{First: 100 * time.Millisecond, Limit: 2 * time.Second, Timeout: 5 * time.Second}

// Producer returns the producer named name (one of the events.Producer
// names) of p's deployment, publishing through p with DefaultRetry and
// logging its retries to logger.
func (p Publisher) Producer(name string, logger *slog.Logger) Producer {
	return Producer{Name: p.Source(name), Sender: p, Retry: DefaultRetry, Logger: logger}
}

// ErrBuild reports an event that could not be built from its data: no try
// would store it.
var ErrBuild = errors.New("cannot build event")

// ErrStale reports a publish abandoned because a newer observation of the
// same source replaced it (see PublishUnlessStale).
var ErrStale = errors.New("replaced by a newer observation")

// Publish builds and stores one event and returns what was stored; the
// error is the last try's, once the tries run out or ctx is done.
func (p Producer) Publish(ctx context.Context, id string, d events.Data) (Stored, error) {
	return p.PublishUnlessStale(ctx, id, d, nil)
}

// PublishUnlessStale is Publish that gives up between tries, with
// ErrStale, once stale (when not nil) reports that a newer observation
// replaced this one.
func (p Producer) PublishUnlessStale(ctx context.Context, id string, d events.Data, stale func() bool) (Stored, error) {
	ev, err := events.New(id, p.Name, d)
	if err != nil {
		return Stored{Event: ev}, fmt.Errorf("%w %s: %w", ErrBuild, id, err)
	}
	subject := SubjectOf(d)
	b := p.Retry
	b.Retryable = func(err error) bool {
		return !errors.Is(err, ErrStale) && !errors.Is(err, ErrBuild) && (p.Retry.Retryable == nil || p.Retry.Retryable(err))
	}
	b.OnRetry = func(attempt int, err error, wait time.Duration) {
		// Tries 1, 2, 4, 8, ... are logged: a long outage logs a line
		// now and then, not one every few seconds per event.
		if p.Logger != nil && attempt&(attempt-1) == 0 {
			p.Logger.Warn("cannot publish event, retrying", "event_id", id, "attempt", attempt, "retry_in", wait, "err", err)
		}
		if p.Retry.OnRetry != nil {
			p.Retry.OnRetry(attempt, err, wait)
		}
	}
	tried := false
	stored := Stored{Event: ev}
	err = b.Do(ctx, func(ctx context.Context) error {
		if tried && stale != nil && stale() {
			return ErrStale
		}
		tried = true
		s, err := p.Sender.Publish(ctx, subject, ev)
		if err == nil {
			stored = s
		}
		return err
	})
	return stored, err
}

// SubjectOf is the subject an event with data d goes to: the source's
// trigger subject for source.changed and sync.requested, the registry's
// subject for registry.changed, the source's result subject for a result.
func SubjectOf(d events.Data) string {
	switch d.EventType() {
	case events.TypeSourceChanged, events.TypeSyncRequested:
		return events.TriggerSubject(d.SourceName())
	case events.TypeRegistryChanged:
		return events.RegistrySubject(d.SourceName())
	}
	return events.ResultSubject(d.SourceName(), events.OutcomeOf(d.EventType()))
}
