package coordinator

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
)

// Metrics are the coordinator's Prometheus metrics. A nil *Metrics records
// nothing. Per-source series are deleted when a source leaves the
// configuration (see SetSources).
type Metrics struct {
	triggers *prometheus.CounterVec
	rejects  prometheus.Counter
	// suppressed counts triggers for unknown sources acknowledged
	// without a result (see answeredNames).
	suppressed prometheus.Counter
	results    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	held       prometheus.Counter
	pending    prometheus.Gauge

	mu      sync.Mutex
	sources map[string]bool // the configured sources, whose series may exist
}

// UnknownSourceLabel is the source label of the results that answer
// triggers for sources regsync does not sync: the names come from trigger
// content, so they never become label values.
const UnknownSourceLabel = "unknown"

// unknownSourceReason is the reason of the result that answers a trigger
// for a source regsync does not sync.
const unknownSourceReason = events.ReasonUnknownSource

// latencyBuckets span a file edit answered in milliseconds to a source
// retried for minutes.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewMetrics registers the coordinator's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regsync_triggers_received_total",
			Help: "Triggers received from REGSYNC_TRIGGERS, by trigger kind (file, git-poll, http-poll, webhook, manual, interval, startup).",
		}, []string{"trigger"}),
		rejects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "regsync_triggers_rejected_total",
			Help: "Malformed triggers: answered failed (malformed-trigger) without a sync, or terminated when no event id can be read.",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "regsync_triggers_suppressed_total",
			Help: "Triggers for a source regsync does not sync, acknowledged without a result because that name was answered within the last minute.",
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regsync_sync_results_total",
			Help: "Result events published, by source, outcome (completed, failed, skipped) and reason.",
		}, []string{"source", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "regsync_sync_duration_seconds",
			Help:    "Duration of sync attempts (fetch, validate, filter, store), failed fetches included, by source and outcome (completed, failed).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"source", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regsync_sync_errors_total",
			Help: "Failed syncs, by condition type and condition reason.",
		}, []string{"condition", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "regsync_trigger_to_result_seconds",
			Help:    "Time from a trigger's storage in REGSYNC_TRIGGERS to the storage of the result that answers it, by trigger kind.",
			Buckets: latencyBuckets,
		}, []string{"trigger"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "regsync_lease_waits_total",
			Help: "Batches put back because another replica held the source's lease.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regsync_triggers_pending",
			Help: "Triggers in REGSYNC_TRIGGERS not yet answered: waiting for delivery plus delivered and unacknowledged (the consumer lag).",
		}),
	}
	reg.MustRegister(m.triggers, m.rejects, m.suppressed, m.results, m.duration, m.errors, m.latency, m.held, m.pending)
	for _, kind := range triggerKinds {
		m.triggers.WithLabelValues(kind)
		m.latency.WithLabelValues(kind)
	}
	for _, f := range syncer.Failures {
		m.errors.WithLabelValues(f.ConditionType, f.ConditionReason)
	}
	m.results.WithLabelValues(UnknownSourceLabel, events.OutcomeFailed, unknownSourceReason)
	return m
}

func (m *Metrics) received(kind string) {
	if m != nil {
		m.triggers.WithLabelValues(kindLabel(kind)).Inc()
	}
}

func (m *Metrics) rejected() {
	if m != nil {
		m.rejects.Inc()
	}
}

// answered counts a published result and how long each trigger it
// answers waited for it.
func (m *Metrics) answered(source, outcome, reason string, ds []triggerMsg, at time.Time) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(source, outcome, reason).Inc()
	for _, d := range ds {
		if !d.published.IsZero() {
			m.latency.WithLabelValues(kindLabel(d.kind)).Observe(at.Sub(d.published).Seconds())
		}
	}
}

// suppress counts triggers for an unknown source acknowledged without a
// result.
func (m *Metrics) suppress(n int) {
	if m != nil {
		m.suppressed.Add(float64(n))
	}
}

func (m *Metrics) observe(source, outcome string, d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues(source, outcome).Observe(d.Seconds())
	}
}

func (m *Metrics) failed(condition, reason string) {
	if m != nil {
		m.errors.WithLabelValues(condition, reason).Inc()
	}
}

func (m *Metrics) leaseHeld() {
	if m != nil {
		m.held.Inc()
	}
}

func (m *Metrics) setPending(n uint64) {
	if m != nil {
		m.pending.Set(float64(n))
	}
}

// triggerKinds are the kinds of trigger a trigger event can name.
var triggerKinds = []string{
	events.TriggerFile, events.TriggerGitPoll, events.TriggerHTTPPoll, events.TriggerWebhook,
	events.TriggerManual, events.TriggerInterval, events.TriggerStartup,
}

// otherKind counts a trigger kind that is none of triggerKinds: label
// values never come from trigger content.
const otherKind = "other"

func kindLabel(kind string) string {
	if slices.Contains(triggerKinds, kind) {
		return kind
	}
	return otherKind
}

// SetSources makes the series of the configured sources exist, at zero
// until something happens, so that rates and alerts see the first event,
// and deletes those of sources no longer configured. The series that name
// no source exist from the start too.
func (m *Metrics) SetSources(srcs []config.Source) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	configured := map[string]bool{}
	for _, src := range srcs {
		configured[src.Name] = true
	}
	for name := range m.sources {
		if !configured[name] {
			m.results.DeletePartialMatch(prometheus.Labels{"source": name})
			m.duration.DeletePartialMatch(prometheus.Labels{"source": name})
		}
	}
	m.sources = configured
	for _, src := range srcs {
		if !src.Synced() {
			continue
		}
		name := src.Name
		for _, r := range syncer.Reasons() {
			if r.ShouldSync() {
				m.results.WithLabelValues(name, events.OutcomeCompleted, r.String())
			} else {
				m.results.WithLabelValues(name, events.OutcomeSkipped, r.String())
			}
			if r.ShouldSync() || r.IsError() {
				m.results.WithLabelValues(name, events.OutcomeFailed, r.String())
			}
		}
		m.duration.WithLabelValues(name, events.OutcomeCompleted)
		m.duration.WithLabelValues(name, events.OutcomeFailed)
	}
}
