package bus

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/tracing"
)

// Publisher publishes the events of one deployment on one JetStream handle,
// in one content mode; every producer publishes through it.
type Publisher struct {
	JS jetstream.JetStream
	// Mode is the content mode events are written in (events.Structured
	// when empty).
	Mode events.ContentMode
	// Deployment is the deployment id that Source puts in the source
	// attribute of the events built with it.
	Deployment string
}

// Source returns the CloudEvents source attribute of the events producer
// publishes in this deployment (events.ProducerSource).
func (p Publisher) Source(producer string) string {
	return events.ProducerSource(p.Deployment, producer)
}

// Publish writes ev to subject, waits for JetStream to store it and
// returns what was stored. The event id is the message id, so repeats of
// one observation collapse in the stream's duplicate window; Stored says
// whether this was one (Duplicate) and the stream sequence of the stored
// event. A repeat that another publisher is storing at the same moment
// counts as stored: the stream holds it either way.
//
// Publishing is a span of its own, a child of ctx's span or the start of a
// trace; the event carries the trace in its distributed-tracing extension
// (unless it already carries one) and in the message headers.
func (p Publisher) Publish(ctx context.Context, subject string, ev event.Event) (Stored, error) {
	ctx, span := tracing.Tracer().Start(ctx, "publish "+ev.Type(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", ev.ID()), attribute.String("registry.name", ev.Subject())))
	defer span.End()
	ev = ev.Clone()
	tracing.InjectEvent(ctx, &ev)
	msg, err := p.Mode.Encode(subject, ev)
	if err != nil {
		span.SetStatus(codes.Error, "encode failed")
		// No try would store it (too large, say): never retried.
		return Stored{}, fmt.Errorf("%w: encode %s event %s: %w", ErrBuild, ev.Type(), ev.ID(), err)
	}
	tracing.InjectHeader(ev, msg.Header)
	ack, err := p.JS.PublishMsg(ctx, msg)
	if jserr.IsDuplicateInProcess(err) {
		return Stored{Event: ev, Duplicate: true}, nil
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return Stored{}, fmt.Errorf("publish %s event %s to %s: %w", ev.Type(), ev.ID(), subject, err)
	}
	return Stored{Event: ev, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
