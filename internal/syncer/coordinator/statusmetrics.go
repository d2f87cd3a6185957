package coordinator

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer/state"
)

// StatusMetrics exports each configured source's status record as gauges:
// what is served (servers, skills, plugins), when it last synced, whether
// it is failing. The values come from regsync_status as every replica
// writes it, so they never go stale on a replica that did not sync, and a
// source that leaves the configuration leaves the metrics with it.
type StatusMetrics struct {
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

// NewStatusMetrics returns StatusMetrics for the given sources; a
// StatusWatch feeds them.
func NewStatusMetrics(srcs []config.Source) *StatusMetrics {
	m := &StatusMetrics{statuses: map[string]*state.Status{}}
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

// restartStatus forgets every record: those of a bucket created again
// are all there is.
func (m *StatusMetrics) restartStatus() {
	m.mu.Lock()
	m.statuses = map[string]*state.Status{}
	m.mu.Unlock()
}

func (m *StatusMetrics) noteStatus(source string, st *state.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st != nil {
		m.statuses[source] = st
	} else {
		delete(m.statuses, source)
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
