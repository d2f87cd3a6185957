package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/internal/bus/bustest"
)

func TestReadyzSaysWhyNotReady(t *testing.T) {
	srv := bustest.Start(t, 0)
	consumerGone := errors.New("trigger consumer regsync-sync on REGSYNC_TRIGGERS lost, making it again")
	loaded := make(chan struct{})
	close(loaded)
	tests := []struct {
		name     string
		prepare  func(r *readiness)
		consumer error
		want     string
	}{
		{"starting", func(*readiness) {}, nil, "not ready: starting"},
		{"registry views not loaded", func(r *readiness) { r.started.Store(true); r.views = make(chan struct{}) }, nil, "not ready: registry views not loaded"},
		{"ready", func(r *readiness) { r.started.Store(true) }, nil, "ready"},
		{"consumer lost", func(r *readiness) { r.started.Store(true) }, consumerGone, "not ready: " + consumerGone.Error()},
		// Shutdown can begin while the startup triggers are still being
		// published: their end must not make the replica ready again.
		{"startup ends after shutdown began", func(r *readiness) { r.stopping.Store(true); r.started.Store(true) }, nil, "not ready: shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &readiness{views: loaded, consuming: func() error { return tt.consumer }}
			tt.prepare(r)
			rec := httptest.NewRecorder()
			httpHandler(srv.Conn, r, prometheus.NewRegistry(), http.NotFoundHandler(), nil).
				ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			body, _ := io.ReadAll(rec.Body)
			wantCode := http.StatusServiceUnavailable
			if tt.want == "ready" {
				wantCode = http.StatusOK
			}
			if rec.Code != wantCode || strings.TrimSpace(string(body)) != tt.want {
				t.Errorf("GET /readyz: %d %q, want %d %q", rec.Code, body, wantCode, tt.want)
			}
		})
	}
}
