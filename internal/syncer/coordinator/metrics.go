package coordinator

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the coordinator's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	triggers *prometheus.CounterVec
	rejects  prometheus.Counter
	results  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	held     prometheus.Counter
}

// NewMetrics registers the coordinator's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regsync_triggers_received_total",
			Help: "Triggers received from REGSYNC_TRIGGERS, by trigger kind.",
		}, []string{"trigger"}),
		rejects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "regsync_triggers_rejected_total",
			Help: "Malformed triggers terminated without a sync.",
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regsync_sync_results_total",
			Help: "Result events published, by source and outcome.",
		}, []string{"source", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "regsync_sync_duration_seconds",
			Help:    "Duration of performed syncs, by source and success.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"source", "success"}),
	}
	m.held = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "regsync_lease_held_elsewhere_total",
		Help: "Batches put back because another replica held the source's lease.",
	})
	reg.MustRegister(m.triggers, m.rejects, m.results, m.duration, m.held)
	return m
}

func (m *Metrics) received(kind string) {
	if m != nil {
		m.triggers.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) rejected() {
	if m != nil {
		m.rejects.Inc()
	}
}

func (m *Metrics) answered(source, outcome string) {
	if m != nil {
		m.results.WithLabelValues(source, outcome).Inc()
	}
}

func (m *Metrics) observe(source string, success bool, d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues(source, strconv.FormatBool(success)).Observe(d.Seconds())
	}
}

func (m *Metrics) leaseHeld() {
	if m != nil {
		m.held.Inc()
	}
}
