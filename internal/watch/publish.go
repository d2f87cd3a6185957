package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
)

// Publisher stores a trigger event: bus.Publisher, or a fake in tests.
// Publish returns once the event is stored, or with the reason it was not;
// Source names a producer of this deployment (events.ProducerSource).
type Publisher interface {
	Publish(ctx context.Context, subject string, ev event.Event) error
	Source(producer string) string
}

// errStale reports a publish abandoned because a newer observation of the
// same source replaced it.
var errStale = errors.New("replaced by a newer observation")

// retry is how a producer retries a trigger that could not be stored.
// Every try sends the same event, so a try that was stored although its
// answer was lost collapses with the next one in JetStream's duplicate
// window.
type retry struct {
	attempts int           // tries in all
	first    time.Duration // wait before the second try; doubles each time
	max      time.Duration // longest wait between tries
	timeout  time.Duration // deadline of one try
}

var defaultRetry = retry{
	attempts: 5,
	first:    100 * time.Millisecond,
	max:      2 * time.Second,
	timeout:  10 * time.Second,
}

// publish tries to store ev on subject until it is stored, the tries run
// out, ctx is done, or stale reports that a newer observation replaced ev
// (errStale). A failed try that will be retried is logged here; the final
// error is returned for the caller to log.
func (r retry) publish(ctx context.Context, pub Publisher, subject string, ev event.Event, stale func() bool, logger *slog.Logger) error {
	wait := r.first
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := pub.Publish(tctx, subject, ev)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= r.attempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		logger.Warn("cannot publish trigger, retrying",
			"event_id", ev.ID(), "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if stale() {
			return errStale
		}
		wait = min(2*wait, r.max)
	}
}

// pollChange is what a poller saw: a source's new revision, or "" when the
// source could not be checked or its revision is not known.
type pollChange struct {
	producer string // events.ProducerGitPoller or events.ProducerHTTPPoller
	trigger  string // events.TriggerGitPoll or events.TriggerHTTPPoll
	idPrefix string // gp, hp
	source   string
	revision string
}

// publishChange stores a poller's observation as a source.changed trigger
// whose id is unique to the observation, so a revision that comes back
// (A → B → A) is never collapsed as a duplicate.
func (r retry) publishChange(ctx context.Context, pub Publisher, c pollChange, logger *slog.Logger) error {
	short := c.revision
	if len(short) > 12 {
		short = short[:12]
	}
	if short == "" {
		short = "unknown"
	}
	id := fmt.Sprintf("%s-%s-%s-%d", c.idPrefix, c.source, short, time.Now().UnixNano())
	ev, err := events.New(id, pub.Source(c.producer), &events.SourceChanged{Source: c.source, Trigger: c.trigger, Revision: c.revision})
	if err != nil {
		return err
	}
	return r.publish(ctx, pub, events.TriggerSubject(c.source), ev, func() bool { return false }, logger)
}
