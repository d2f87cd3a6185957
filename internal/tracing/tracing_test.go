package tracing

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// An export that fails is reported through regsync's logger, so a JSON
// log stays JSON, rather than by OpenTelemetry's own plain-text logger.
func TestExportErrorsAreLogged(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no traces here", http.StatusBadRequest) // not retried
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")

	var logs testsupport.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx := context.Background()
	stop, err := Setup(ctx, "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	_, span := Tracer().Start(ctx, "publish")
	span.End()
	// Shutdown flushes the batch: the failed export is handled before it
	// returns.
	if err := stop(ctx); err != nil {
		t.Logf("shutdown: %v", err)
	}

	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "tracing failed" && strings.Contains(rec["err"].(string), "400") {
			found = true
		}
	}
	if !found {
		t.Errorf("no JSON log line about the failed export in:\n%s", logs.String())
	}
}
