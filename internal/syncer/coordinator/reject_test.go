package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/ratelog"
	"github.com/regsync/regsync/internal/testsupport"
)

// A flood of malformed triggers writes a bounded number of log lines and is
// counted in full by the metrics.
func TestMalformedTriggerFloodLogsBounded(t *testing.T) {
	h := newHarness(t)
	var logs testsupport.Buffer
	m := NewMetrics(prometheus.NewRegistry())
	h.startWith(nil, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: m})
	const flood = 500
	for i := range flood {
		if _, err := h.js.Publish(context.Background(), events.TriggerSubject("local"), []byte(fmt.Sprintf("garbage %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.Eventually(t, "every malformed trigger rejected", func() bool {
		var pb dto.Metric
		return m.rejects.Write(&pb) == nil && pb.GetCounter().GetValue() == flood
	})
	if n := logs.Count("rejecting malformed trigger"); n < 1 || n > ratelog.DefaultBurst {
		t.Errorf("%d log lines for %d malformed triggers, want 1 to %d", n, flood, ratelog.DefaultBurst)
	}
}
