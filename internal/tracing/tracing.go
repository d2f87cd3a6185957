// Package tracing carries one OpenTelemetry trace from the cause of a sync
// to its answer. A producer's publish of a trigger is a span (continuing an
// incoming trace, such as a webhook delivery's traceparent); the W3C trace
// context travels in the NATS message headers (traceparent, tracestate) and
// in the CloudEvents distributed-tracing extension of the event; the sync
// worker's span is its child, and the result event carries the same trace.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and off (a no-op that costs
// nothing) otherwise. The exporter is OTLP over HTTP/protobuf and honours
// the standard OTEL_* variables (headers, timeout, sampler, resource
// attributes, service name).
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regsync/regsync/internal/ratelog"
)

// Scope is the instrumentation scope of every regsync span.
const Scope = "github.com/regsync/regsync"

// Tracer returns regsync's tracer from the global provider: a no-op until
// Setup installs an exporting one.
func Tracer() trace.Tracer { return otel.Tracer(Scope) }

// propagator is the W3C trace context, used for NATS headers, CloudEvents
// extensions and HTTP alike.
var propagator = propagation.TraceContext{}

// Enabled reports whether the environment asks for traces to be exported.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs an exporting tracer provider when the environment asks
// for one (see Enabled), with OpenTelemetry's errors (a failed export)
// logged through logger. The returned function flushes and stops it; it
// is never nil.
func Setup(ctx context.Context, version string, logger *slog.Logger) (func(context.Context) error, error) {
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=%s is not supported; regsync exports OTLP over http/protobuf", p)
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") == "" {
		return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; regsync exports OTLP over http/protobuf", p)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceVersion(version)))
	if err != nil {
		// A schema clash between the default and ours: keep the default.
		res = resource.Default()
	}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName("regsync")))
	}
	// Export errors go through regsync's logger, in its format, not
	// through OpenTelemetry's own plain-text one; a collector that stays
	// down fails every batch, so the lines are bounded.
	errLog := ratelog.New(logger, 0, 0)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		errLog.Warn("tracing failed", "err", err.Error())
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	logger.Info("tracing on: exporting spans over OTLP")
	return tp.Shutdown, nil
}

// Install makes tp the provider of regsync's spans, with the W3C trace
// context as the propagator (tests install an in-memory one).
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
}

// eventCarrier reads and writes the CloudEvents distributed-tracing
// extension (traceparent, tracestate) of an event.
type eventCarrier struct{ ev *event.Event }

func (c eventCarrier) Get(key string) string {
	if v, ok := c.ev.Extensions()[key]; ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
}

func (c eventCarrier) Set(key, value string) { c.ev.SetExtension(key, value) }

func (c eventCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// InjectEvent puts ctx's trace into the event's distributed-tracing
// extension, unless the event already carries one: an event published
// again keeps the trace it was made in (and so its content).
func InjectEvent(ctx context.Context, ev *event.Event) {
	if (eventCarrier{ev}).Get("traceparent") != "" || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, eventCarrier{ev})
}

// InjectHeader copies the event's trace into NATS message headers.
func InjectHeader(ev event.Event, h nats.Header) {
	c := eventCarrier{&ev}
	for _, key := range c.Keys() {
		if v := c.Get(key); v != "" {
			h.Set(key, v)
		}
	}
}

// headerCarrier reads NATS message headers, whose names are kept as
// written (traceparent, not Traceparent).
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx continuing the trace a message carries: its NATS
// headers first, then the event's distributed-tracing extension.
func Extract(ctx context.Context, h nats.Header, ev event.Event) context.Context {
	if h.Get("traceparent") != "" {
		return propagator.Extract(ctx, headerCarrier(h))
	}
	return propagator.Extract(ctx, eventCarrier{&ev})
}

// ExtractHTTP returns ctx continuing the trace of an incoming request.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}
