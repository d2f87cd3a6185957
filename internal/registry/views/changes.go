package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/retry"
)

// Recorder takes the registry.changed events of every registry, in the
// order of the stream (api.Feed).
type Recorder interface {
	Record(events.RegistryChanged)
	// Loaded is called once every event stored when following began was
	// recorded.
	Loaded()
}

// Changes follows the registry.changed events stored in REGSYNC_RESULTS,
// every one from the oldest kept, with one ordered consumer per replica,
// and gives them to a Recorder: the change feed learns each generation
// and the history its clients resume from.
type Changes struct {
	js  jetstream.JetStream
	rec Recorder
	log *slog.Logger
}

// NewChanges returns a follower of the registry.changed events that tells
// rec.
func NewChanges(js jetstream.JetStream, rec Recorder, log *slog.Logger) *Changes {
	return &Changes{js: js, rec: rec, log: log}
}

// changesCallTimeout bounds the creation of the consumer.
const changesCallTimeout = 10 * time.Second

// Run follows until ctx ends. A consumer that fails is made again after
// the last event recorded, so none is lost or recorded twice.
func (c *Changes) Run(ctx context.Context) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.AllRegistryChanges}, DeliverPolicy: jetstream.DeliverAllPolicy}
	b := retry.Backoff{First: time.Second, Limit: 30 * time.Second, OnRetry: func(attempt int, err error, wait time.Duration) {
		c.log.Warn("following registry changes failed, following again", "attempt", attempt, "retry_in", wait, "err", err)
	}}
	err := b.Do(ctx, func(ctx context.Context) error { return c.follow(ctx, &cfg) })
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// follow is one ordered consumer; after each event recorded, cfg starts
// after it.
func (c *Changes) follow(ctx context.Context, cfg *jetstream.OrderedConsumerConfig) error {
	create, cancel := context.WithTimeout(ctx, changesCallTimeout)
	cons, err := c.js.OrderedConsumer(create, events.StreamResults, *cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("follow %s: %w", events.AllRegistryChanges, err)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		c.rec.Loaded()
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow %s: %w", events.AllRegistryChanges, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow %s: %w", events.AllRegistryChanges, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("follow %s: %w", events.AllRegistryChanges, err)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, meta.Sequence.Stream+1
		if d, err := decodeChange(msg); err != nil {
			c.log.Warn("skipping a registry change event", "subject", msg.Subject(), "seq", meta.Sequence.Stream, "err", err)
		} else {
			c.rec.Record(d)
		}
		if meta.NumPending == 0 {
			c.rec.Loaded()
		}
	}
}

// decodeChange reads the RegistryChanged of a message.
func decodeChange(msg jetstream.Msg) (events.RegistryChanged, error) {
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		return events.RegistryChanged{}, err
	}
	d, err := events.DataOf(ev)
	if err != nil {
		return events.RegistryChanged{}, err
	}
	rc, ok := d.(events.RegistryChanged)
	if !ok {
		return events.RegistryChanged{}, errors.New("not a " + events.TypeRegistryChanged + " event: " + ev.Type())
	}
	return rc, nil
}
