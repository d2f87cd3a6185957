package sources

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The kinds of source check a Fetcher counts.
const (
	CheckFile        = "file"          // a local file read and hashed
	CheckHTTP        = "http"          // an HTTP GET of a file.url or api source
	CheckGitLsRemote = "git-ls-remote" // one listing of a remote's refs
	CheckGitFetch    = "git-fetch"     // a fetch of a moved ref into the kept clone
)

// The outcomes of a check.
const (
	OutcomeOK          = "ok"
	OutcomeNotModified = "not-modified" // an HTTP 304: nothing downloaded
	OutcomeError       = "error"
)

// NewCheckMetrics registers the counter a Fetcher's Checks field takes.
func NewCheckMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regsync_source_checks_total",
		Help: "Requests made to sources, by kind (file, http, git-ls-remote, git-fetch) and outcome (ok, not-modified, error).",
	}, []string{"kind", "outcome"})
	reg.MustRegister(c)
	// Every series from the start, at zero; only HTTP answers 304.
	for _, kind := range []string{CheckFile, CheckHTTP, CheckGitLsRemote, CheckGitFetch} {
		c.WithLabelValues(kind, OutcomeOK)
		c.WithLabelValues(kind, OutcomeError)
	}
	c.WithLabelValues(CheckHTTP, OutcomeNotModified)
	return c
}

// check counts one check of the given kind that ended with err.
func (f *Fetcher) check(kind string, err error) {
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeError
	}
	f.count(kind, outcome)
}

func (f *Fetcher) count(kind, outcome string) {
	if f.Checks != nil {
		f.Checks.WithLabelValues(kind, outcome).Inc()
	}
}
