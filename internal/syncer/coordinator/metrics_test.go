package coordinator

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/testsupport"
)

func TestMetricsFollowSyncsAndStatus(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	reg := prometheus.NewPedanticRegistry()
	metrics := NewMetrics(reg)
	status := NewStatusMetrics(h.h, srcs, testsupport.Logger(t))
	reg.MustRegister(status)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- status.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c := h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{Metrics: metrics}, nil)
	res := h.results("local")
	h.request("local")
	res.completed()

	want := `
# HELP regsync_source_servers Servers in the source's last good snapshot.
# TYPE regsync_source_servers gauge
regsync_source_servers{source="local"} 2
# HELP regsync_source_consecutive_failures Failed syncs of the source since its last success (the status attemptCount).
# TYPE regsync_source_consecutive_failures gauge
regsync_source_consecutive_failures{source="local"} 0
`
	testsupport.Eventually(t, "the status gauges of the synced source", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(want), "regsync_source_servers", "regsync_source_consecutive_failures") == nil
	})
	// Counted once the result is stored, which may be just after it is seen.
	testsupport.Eventually(t, "the completed result counted", func() bool {
		return testutil.ToFloat64(metrics.results.WithLabelValues("local", "completed", "registry-not-ready")) == 1
	})
	testsupport.Eventually(t, "the manual trigger's wait for its answer observed", func() bool {
		return testutil.CollectAndCount(metrics.latency, "regsync_trigger_to_result_seconds") == 1
	})
	if got := testutil.CollectAndCount(reg, "regsync_source_last_success_timestamp_seconds"); got != 1 {
		t.Errorf("%d last-success series, want 1", got)
	}

	// The source leaves the configuration: its series go with it.
	c.SetSources(nil)
	status.SetSources(nil)
	for _, name := range []string{"regsync_sync_results_total", "regsync_sync_duration_seconds", "regsync_source_servers", "regsync_source_phase"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s has %d series after the source was removed", name, n)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestStatusMetricsStopQuietly: the watcher closes its updates when ctx is
// done, and Run may see that before ctx.Done; a stop is not an error.
func TestStatusMetricsStopQuietly(t *testing.T) {
	h := newHarness(t)
	for range 50 {
		m := NewStatusMetrics(h.h, nil, testsupport.Logger(t))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() after cancel = %v", err)
		}
	}
}
