package views

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are what a Follower measures.
type Metrics struct {
	apply *prometheus.HistogramVec
}

// NewMetrics registers a Follower's metrics with reg, with a series for
// each of the registries named from the start.
func NewMetrics(reg prometheus.Registerer, registries []string) *Metrics {
	m := &Metrics{apply: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regsync_registry_view_apply_seconds",
		Help:    "Seconds from a source sync's commit of its per-entry records to the new view of a registry that uses the source being served by this replica, by registry.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5},
	}, []string{"registry"})}
	reg.MustRegister(m.apply)
	for _, name := range registries {
		m.apply.WithLabelValues(name)
	}
	return m
}

// applied observes a view of registry swapped in for a commit made at
// committed (zero: not a sync's commit, not observed).
func (m *Metrics) applied(registry string, committed time.Time) {
	if m == nil || committed.IsZero() {
		return
	}
	m.apply.WithLabelValues(registry).Observe(time.Since(committed).Seconds())
}
