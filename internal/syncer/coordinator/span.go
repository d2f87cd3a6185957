package coordinator

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/tracing"
)

// SpanName is the name of the span of one batch's decision and sync, as
// the reference names its sync span.
const SpanName = "sync.performRegistrySync"

// startSyncSpan starts the span of a batch: a child of the newest trigger
// that carries a trace, linked to the others, so the trace of every cause
// leads to the answer.
func startSyncSpan(ctx context.Context, src config.Source, b batch) (context.Context, trace.Span) {
	var parent trace.SpanContext
	var links []trace.Link
	for _, d := range b.deliveries {
		if !d.trace.IsValid() {
			continue
		}
		if parent.IsValid() {
			links = append(links, trace.Link{SpanContext: parent})
		}
		parent = d.trace
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return tracing.Tracer().Start(ctx, SpanName, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("registry.name", src.Name),
			attribute.String("registry.type", src.Type()),
			attribute.Int("sync.trigger_count", b.covered.TriggerCount),
		))
}

// endSyncSpan records a batch's answer on its span, with the reference's
// attributes.
func endSyncSpan(ctx context.Context, data events.Data, seconds float64) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("sync.outcome", events.OutcomeOf(data.EventType())), attribute.Float64("sync.duration_seconds", seconds))
	switch r := data.(type) {
	case *events.SyncCompleted:
		span.SetAttributes(attribute.Bool("sync.success", true), attribute.String("sync.reason", r.Reason),
			attribute.Int("sync.server_count", r.ServerCount), attribute.Int("sync.skill_count", r.SkillCount),
			attribute.Int("sync.plugin_count", r.PluginCount))
	case *events.SyncSkipped:
		span.SetAttributes(attribute.Bool("sync.success", true), attribute.String("sync.reason", r.Reason))
	case *events.SyncFailed:
		span.SetAttributes(attribute.Bool("sync.success", false), attribute.String("sync.reason", r.Reason))
		span.SetStatus(codes.Error, "operation failed")
		span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message", r.Message),
			attribute.String("condition.reason", r.ConditionReason)))
	}
}
