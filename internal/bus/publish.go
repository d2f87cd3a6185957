package bus

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// Publish writes an event in binary content mode to subject and waits for
// JetStream to store it. The event id is the message id, so repeats of one
// observation collapse in the stream's duplicate window.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, ev event.Event) (*jetstream.PubAck, error) {
	msg, err := events.Encode(subject, ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event %s: %w", ev.Type(), ev.ID(), err)
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("publish %s event %s to %s: %w", ev.Type(), ev.ID(), subject, err)
	}
	return ack, nil
}

// Publisher publishes events on one JetStream handle; producers take it as
// their way to store triggers.
type Publisher struct {
	JS jetstream.JetStream
}

// Publish stores ev on subject (see the function Publish).
func (p Publisher) Publish(ctx context.Context, subject string, ev event.Event) error {
	_, err := Publish(ctx, p.JS, subject, ev)
	return err
}
