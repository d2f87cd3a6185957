package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/coordinator"
	"github.com/regsync/regsync/internal/testsupport"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it keeps every span sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(req.Body)
	var export coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &export)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// syncUnderPublish finds a sync span whose parent is a trigger's publish
// span in the same trace.
func (r *otlpReceiver) syncUnderPublish(publishName string) (*tracepb.Span, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byID := map[string]*tracepb.Span{}
	for _, s := range r.spans {
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	for _, s := range r.spans {
		if s.Name != coordinator.SpanName {
			continue
		}
		if p := byID[hex.EncodeToString(s.ParentSpanId)]; p != nil && p.Name == publishName && string(p.TraceId) == string(s.TraceId) {
			return s, true
		}
	}
	return nil, false
}

func TestServeExportsOneTracePerChangeOverOTLP(t *testing.T) {
	receiver := &otlpReceiver{}
	srv := httptest.NewServer(receiver)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	svc := startServe(t)
	if err := os.WriteFile(svc.regPath, []byte(registryWith("edited")), 0o644); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "a file change traced from its trigger to its sync", func() bool {
		_, ok := receiver.syncUnderPublish("publish " + events.TypeSourceChanged)
		return ok
	})
	span, _ := receiver.syncUnderPublish("publish " + events.TypeSourceChanged)
	attrs := map[string]string{}
	for _, kv := range span.Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	if attrs["registry.name"] == "" || attrs["registry.type"] == "" {
		t.Errorf("sync span attributes %v, want registry.name and registry.type", attrs)
	}
}
