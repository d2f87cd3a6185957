package sources

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/internal/config"
)

func TestChecksAreCountedByKindAndOutcome(t *testing.T) {
	checks := NewCheckMetrics(prometheus.NewRegistry())
	f := &Fetcher{Checks: checks}
	ctx := context.Background()

	body := []byte(`{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[]}}`)
	h := &conditionalFile{validator: "etag", modified: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	h.set(body)
	srv := httptest.NewServer(h)
	defer srv.Close()
	src := urlSrc(srv.URL + "/registry.json")
	for range 2 {
		if _, err := f.Fetch(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Fetch(ctx, urlSrc(srv.URL+"/../../nowhere\x00")); err == nil {
		t.Fatal("a bad URL fetched")
	}

	path := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(ctx, config.Source{Name: "local", File: &config.File{Path: path}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		kind, outcome string
		want          float64
	}{
		{CheckHTTP, OutcomeOK, 1},
		{CheckHTTP, OutcomeNotModified, 1},
		{CheckHTTP, OutcomeError, 1},
		{CheckFile, OutcomeOK, 1},
	} {
		if got := testutil.ToFloat64(checks.WithLabelValues(tc.kind, tc.outcome)); got != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.kind, tc.outcome, got, tc.want)
		}
	}
}
