package coordinator

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/regsync/regsync/events"
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
	status := NewStatusMetrics(srcs)
	reg.MustRegister(status)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewStatusWatch(h.h, testsupport.Logger(t), status).Run(ctx) }()
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
		return samples(t, metrics.latency, events.TriggerManual) == 1
	})
	if got := testutil.CollectAndCount(reg, "regsync_source_last_success_timestamp_seconds"); got != 1 {
		t.Errorf("%d last-success series, want 1", got)
	}

	// The source leaves the configuration: its series go with it.
	c.SetSources(nil)
	status.SetSources(nil)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == "local" {
					t.Errorf("%s has a series of local after the source was removed", f.GetName())
				}
			}
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestStatusWatchStopsQuietly: the watcher closes its updates when ctx is
// done, and Run may see that before ctx.Done; a stop is not an error.
func TestStatusWatchStopsQuietly(t *testing.T) {
	h := newHarness(t)
	for range 50 {
		w := NewStatusWatch(h.h, testsupport.Logger(t), NewStatusMetrics(nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() after cancel = %v", err)
		}
	}
}

// TestUnknownSourcesAddNoSeries: trigger content must not add series, and
// a flood of triggers for one unknown name is answered once per period.
func TestUnknownSourcesAddNoSeries(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewPedanticRegistry()
	metrics := NewMetrics(reg)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	h.runPrepared(nil, &sources.Fetcher{}, h.snapshots, Options{Metrics: metrics}, func(c *Coordinator) {
		c.unknown.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	})
	stored := func(name string) uint64 {
		stream, err := h.js.Stream(context.Background(), events.StreamResults)
		if err != nil {
			t.Fatal(err)
		}
		info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(events.ResultSubject(name, events.OutcomeFailed)))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[events.ResultSubject(name, events.OutcomeFailed)]
	}
	unknown := func() float64 {
		return testutil.ToFloat64(metrics.results.WithLabelValues("unknown", events.OutcomeFailed, "unknown-source"))
	}

	for i, name := range []string{"nosuch-a", "nosuch-b", "nosuch-c"} {
		h.request(name)
		testsupport.Eventually(t, "the unknown source answered", func() bool { return unknown() == float64(i+1) })
	}
	if n := testutil.CollectAndCount(metrics.results, "regsync_sync_results_total"); n != 1 {
		t.Errorf("%d result series for three unknown names, want the one source=\"unknown\" series", n)
	}

	// The same name again within the period: acknowledged and counted, no
	// second result stored.
	for range 3 {
		h.request("nosuch-a")
	}
	testsupport.Eventually(t, "the repeated triggers counted", func() bool {
		return testutil.ToFloat64(metrics.suppressed) == 3
	})
	if n := stored("nosuch-a"); n != 1 {
		t.Errorf("%d results stored for nosuch-a within one period, want 1", n)
	}
	testsupport.Eventually(t, "the repeated triggers acknowledged", func() bool {
		info, err := h.js.Stream(context.Background(), events.StreamTriggers)
		return err == nil && info.CachedInfo().State.Msgs == 0
	})

	// A period later the name is answered again.
	clock.Lock()
	now = now.Add(unknownPeriod)
	clock.Unlock()
	h.request("nosuch-a")
	testsupport.Eventually(t, "the unknown source answered again after the period", func() bool { return unknown() == 4 })
	if n := stored("nosuch-a"); n != 2 {
		t.Errorf("%d results stored for nosuch-a over two periods, want 2", n)
	}
}

func TestAnsweredNamesIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newAnsweredNames(2, time.Minute)
	a.now = func() time.Time { return now }
	for _, name := range []string{"a", "b"} {
		if !a.answer(name) {
			t.Fatalf("first answer to %s refused", name)
		}
	}
	if a.answer("a") {
		t.Error("a answered twice within the period")
	}
	if !a.answer("c") {
		t.Fatal("first answer to c refused")
	}
	if len(a.names) != 2 || a.order.Len() != 2 {
		t.Errorf("memory holds %d names (%d in order), want 2", len(a.names), a.order.Len())
	}
	// a was the least recently answered and left the memory for c.
	if !a.answer("a") {
		t.Error("a, forgotten for c, not answered again")
	}
	if a.answer("c") {
		t.Error("c answered twice within the period")
	}
	now = now.Add(time.Minute)
	if !a.answer("c") {
		t.Error("c not answered again a period later")
	}
	a.forget("c")
	if !a.answer("c") {
		t.Error("c not answered again after its answer was forgotten")
	}
}

func TestFailedFetchIsObservedInSyncDuration(t *testing.T) {
	h := newHarness(t)
	srcs := []config.Source{fileSource("local", filepath.Join(h.dir, "missing.json"), nil)}
	metrics := NewMetrics(prometheus.NewPedanticRegistry())
	h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{Metrics: metrics}, nil)
	res := h.results("local")
	h.request("local")
	f := res.failed()
	if f.ConditionReason != "FetchFailed" {
		t.Fatalf("failed with %s, want FetchFailed", f.ConditionReason)
	}
	// Counted once the result is stored, which may be just after it is seen.
	testsupport.Eventually(t, "the failed result counted", func() bool {
		return testutil.ToFloat64(metrics.results.WithLabelValues("local", events.OutcomeFailed, f.Reason)) == 1
	})
	if got := samples(t, metrics.duration, "local", events.OutcomeFailed); got != 1 {
		t.Errorf("regsync_sync_duration_seconds{outcome=\"failed\"} observed %d syncs, want the failed fetch", got)
	}
}

func TestTriggerKindLabelIsBounded(t *testing.T) {
	metrics := NewMetrics(prometheus.NewPedanticRegistry())
	metrics.received(events.TriggerWebhook)
	metrics.received("made-up-by-a-publisher")
	if got := testutil.ToFloat64(metrics.triggers.WithLabelValues(otherKind)); got != 1 {
		t.Errorf("an unknown trigger kind counted %v times under %q, want 1", got, otherKind)
	}
	if n := testutil.CollectAndCount(metrics.triggers); n != len(triggerKinds)+1 {
		t.Errorf("%d trigger kind series, want the %d kinds and %q", n, len(triggerKinds), otherKind)
	}
}

// samples returns how many observations a histogram series holds.
func samples(t *testing.T, h *prometheus.HistogramVec, labels ...string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.WithLabelValues(labels...).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
