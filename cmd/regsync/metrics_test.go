package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWebhookRequestsAreCountedByProviderAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := instrumentWebhooks(reg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/webhooks/github":
			w.WriteHeader(http.StatusAccepted)
		case "/webhooks/gitlab":
			_, _ = w.Write([]byte("pong")) // an implicit 200
		default:
			http.NotFound(w, r)
		}
	}))
	for _, path := range []string{"/webhooks/github", "/webhooks/github", "/webhooks/gitlab", "/webhooks/../etc", "/webhooks/unknown"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "http://regsync"+path, strings.NewReader("{}")))
	}
	want := `
# HELP regsync_webhook_requests_total Webhook requests, by provider (github, gitlab, gitea, bitbucket, generic, other) and HTTP answer code.
# TYPE regsync_webhook_requests_total counter
regsync_webhook_requests_total{code="200",provider="gitlab"} 1
regsync_webhook_requests_total{code="202",provider="github"} 2
regsync_webhook_requests_total{code="404",provider="other"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
