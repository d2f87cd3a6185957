package coordinator

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
	"github.com/regsync/regsync/internal/tracing"
)

func TestOneTraceFromTriggerToResult(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
	t.Cleanup(func() { tracing.Install(noop.NewTracerProvider()) })

	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")

	// The cause: say a webhook delivery, whose span publishes the trigger.
	ctx, cause := tracing.Tracer().Start(context.Background(), "cause")
	ev, err := events.New("traced-1", "/test", &events.SyncRequested{Source: "local", Trigger: events.TriggerManual, RequestID: "traced-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.h.Publisher.Publish(ctx, events.TriggerSubject("local"), ev); err != nil {
		t.Fatal(err)
	}
	cause.End()
	traceID := cause.SpanContext().TraceID()

	result, _ := res.next()
	if tp, _ := result.Extensions()["traceparent"].(string); tp == "" || tp[3:35] != traceID.String() {
		t.Errorf("result traceparent %q, want the cause's trace %s", tp, traceID)
	}
	var sync, publish *tracetest.SpanStub
	testsupport.Eventually(t, "the sync span exported", func() bool {
		for _, s := range spans.GetSpans() {
			switch {
			case s.Name == SpanName:
				sync = &s
			case s.Name == "publish "+events.TypeSyncRequested:
				publish = &s
			}
		}
		return sync != nil && publish != nil
	})
	if sync.SpanContext.TraceID() != traceID || sync.Parent.SpanID() != publish.SpanContext.SpanID() {
		t.Errorf("sync span in trace %s under %s, want trace %s under the publish span %s",
			sync.SpanContext.TraceID(), sync.Parent.SpanID(), traceID, publish.SpanContext.SpanID())
	}
	if sync.SpanKind != trace.SpanKindConsumer {
		t.Errorf("sync span kind %v", sync.SpanKind)
	}
	want := map[attribute.Key]attribute.Value{
		"registry.name":     attribute.StringValue("local"),
		"registry.type":     attribute.StringValue("file"),
		"sync.success":      attribute.BoolValue(true),
		"sync.server_count": attribute.IntValue(2),
		"sync.outcome":      attribute.StringValue("completed"),
	}
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range sync.Attributes {
		got[kv.Key] = kv.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sync span %s = %v, want %v", k, got[k].String(), v.String())
		}
	}
}
