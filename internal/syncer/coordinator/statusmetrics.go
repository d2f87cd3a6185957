package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer/state"
)

// StatusMetrics exports each configured source's status record as gauges:
// what is served (servers, skills, plugins), when it last synced, whether
// it is failing. The values come from regsync_status as every replica
// writes it, so they never go stale on a replica that did not sync, and a
// source that leaves the configuration leaves the metrics with it.
type StatusMetrics struct {
	bucket statusBucket
	logger *slog.Logger

	mu       sync.Mutex
	statuses map[string]*state.Status
	sources  map[string]bool
}

var (
	serversDesc = prometheus.NewDesc("regsync_source_servers",
		"Servers in the source's last good snapshot.", []string{"source"}, nil)
	skillsDesc = prometheus.NewDesc("regsync_source_skills",
		"Skills in the source's last good snapshot.", []string{"source"}, nil)
	pluginsDesc = prometheus.NewDesc("regsync_source_plugins",
		"Plugins in the source's last good snapshot.", []string{"source"}, nil)
	lastSuccessDesc = prometheus.NewDesc("regsync_source_last_success_timestamp_seconds",
		"When the source's last successful sync ended (Unix time); 0 if it never succeeded.", []string{"source"}, nil)
	failuresDesc = prometheus.NewDesc("regsync_source_consecutive_failures",
		"Failed syncs of the source since its last success (the status attemptCount).", []string{"source"}, nil)
	phaseDesc = prometheus.NewDesc("regsync_source_phase",
		"1 for the source's current phase (Syncing, Complete, Failed), 0 for the others.", []string{"source", "phase"}, nil)
)

// statusBucket opens regsync_status, creating it when it is missing
// (bus.Handles).
type statusBucket interface {
	EnsureStatus(ctx context.Context) (jetstream.KeyValue, error)
}

// NewStatusMetrics returns StatusMetrics for the given sources.
func NewStatusMetrics(bucket statusBucket, srcs []config.Source, logger *slog.Logger) *StatusMetrics {
	m := &StatusMetrics{bucket: bucket, logger: logger, statuses: map[string]*state.Status{}}
	m.SetSources(srcs)
	return m
}

// SetSources replaces the sources exported.
func (m *StatusMetrics) SetSources(srcs []config.Source) {
	names := map[string]bool{}
	for _, s := range srcs {
		if s.Synced() {
			names[s.Name] = true
		}
	}
	m.mu.Lock()
	m.sources = names
	m.mu.Unlock()
}

// Run follows regsync_status until ctx is done. When its watch stops
// (the bucket was deleted, or its stream lost) it opens the bucket again,
// creating it if it is missing, and watches it from the start.
func (m *StatusMetrics) Run(ctx context.Context) error {
	for {
		err := m.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		m.logger.Warn("status watch stopped; watching again, creating the bucket if it was deleted", "bucket", events.BucketStatus)
		if retry.Wait(ctx, rewatchWait) != nil {
			return nil
		}
	}
}

// rewatchWait is the pause before a stopped status watch starts again.
const rewatchWait = time.Second

// follow watches regsync_status until ctx is done or the watch stops. Its
// error is one opening the bucket or its watch.
func (m *StatusMetrics) follow(ctx context.Context) error {
	kv, err := m.bucket.EnsureStatus(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", events.BucketStatus, err)
	}
	defer func() { _ = w.Stop() }()
	// A watch starts with every record: the records of a bucket created
	// again are all there is.
	m.mu.Lock()
	m.statuses = map[string]*state.Status{}
	m.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case entry, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if entry != nil {
				m.note(entry)
			}
		}
	}
}

func (m *StatusMetrics) note(entry jetstream.KeyValueEntry) {
	var st state.Status
	keep := entry.Operation() == jetstream.KeyValuePut && json.Unmarshal(entry.Value(), &st) == nil
	m.mu.Lock()
	defer m.mu.Unlock()
	if keep {
		m.statuses[entry.Key()] = &st
	} else {
		delete(m.statuses, entry.Key())
	}
}

// Describe implements prometheus.Collector.
func (m *StatusMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{serversDesc, skillsDesc, pluginsDesc, lastSuccessDesc, failuresDesc, phaseDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *StatusMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.sources {
		// A source without a status record yet has synced nothing: every
		// gauge is 0, the last success too (never), and no phase is set.
		st := m.statuses[name]
		if st == nil {
			st = &state.Status{}
		}
		ch <- prometheus.MustNewConstMetric(serversDesc, prometheus.GaugeValue, float64(st.ServerCount), name)
		ch <- prometheus.MustNewConstMetric(skillsDesc, prometheus.GaugeValue, float64(st.SkillCount), name)
		ch <- prometheus.MustNewConstMetric(pluginsDesc, prometheus.GaugeValue, float64(st.PluginCount), name)
		lastSuccess := 0.0
		if st.LastSuccessTime != nil {
			lastSuccess = float64(st.LastSuccessTime.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, lastSuccess, name)
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(st.AttemptCount), name)
		for _, p := range []state.Phase{state.PhaseSyncing, state.PhaseComplete, state.PhaseFailed} {
			v := 0.0
			if st.Phase == p {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, v, name, string(p))
		}
	}
}
