package main

import (
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/reload"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/coordinator"
	"github.com/regsync/regsync/internal/webhook"
)

// serveMetrics are the metrics `regsync serve` exports, all registered
// here (docs/metrics.md describes each; a test keeps the two in step).
type serveMetrics struct {
	coord    *coordinator.Metrics
	status   *coordinator.StatusMetrics
	checks   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	// apiRequests counts the read API's requests by route and code.
	apiRequests *apiCounters
	// views measures how long a commit takes to be served.
	views *views.Metrics
}

// newServeMetrics registers every metric, with a series at zero for each
// of the registries named; feed, the read API's change feed, may be nil
// (its metrics stay at zero then).
func newServeMetrics(reg prometheus.Registerer, nc *nats.Conn, srcs []config.Source, registries []string, feed *api.Feed) *serveMetrics {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regsync_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "commit", "go_version"})
	info.WithLabelValues(version, buildCommit(), runtime.Version()).Set(1)
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "regsync_nats_connected",
		Help: "1 while the connection to NATS is up, 0 while it is down or reconnecting.",
	}, func() float64 {
		if nc != nil && nc.IsConnected() {
			return 1
		}
		return 0
	})
	webhooks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regsync_webhook_requests_total",
		Help: "Webhook requests, by provider (github, gitlab, gitea, bitbucket, generic, other) and HTTP answer code.",
	}, []string{"provider", "code"})
	apiRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regsync_api_requests_total",
		Help: "Read API requests, by route (the pattern after /registry/{registry}, or other) and HTTP answer code; code 304 counts the answers the client's ETag made unnecessary.",
	}, []string{"route", "code"})
	m := &serveMetrics{
		coord:    coordinator.NewMetrics(reg),
		status:   coordinator.NewStatusMetrics(srcs),
		checks:   sources.NewCheckMetrics(reg),
		reloads:  reload.NewMetrics(reg),
		webhooks: webhooks,

		apiRequests: newAPICounters(apiRequests),
		views:       views.NewMetrics(reg, registries),
	}
	reg.MustRegister(info, connected, webhooks, apiRequests, m.status, newFeedCollector(feed, registries))
	m.coord.SetSources(srcs)
	for _, provider := range webhook.Providers() {
		for _, code := range webhookCodes {
			webhooks.WithLabelValues(provider, strconv.Itoa(code)) // from the start, at zero
		}
	}
	webhooks.WithLabelValues("other", strconv.Itoa(http.StatusNotFound))
	return m
}

// webhookCodes are the answers of a webhook receiver (docs/webhooks.md)
// whose series exist from the start.
var webhookCodes = []int{
	http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized,
	http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusServiceUnavailable,
}

// apiCodes are the answers of the read API (docs/api.md) whose series
// exist from the start.
var apiCodes = []int{
	http.StatusOK, http.StatusNotModified, http.StatusBadRequest, http.StatusNotFound,
	http.StatusMethodNotAllowed, http.StatusServiceUnavailable,
}

// apiCounters are the read API's request counters, bound to their labels
// once: a request finds its counter without hashing its labels or taking
// the vector's lock, which 64 clients on two cores would contend for.
type apiCounters struct {
	vec     *prometheus.CounterVec
	byRoute map[string]map[int]prometheus.Counter
}

// newAPICounters binds the series of every route and each code of
// apiCodes, which so exist from the start, at zero.
func newAPICounters(vec *prometheus.CounterVec) *apiCounters {
	c := &apiCounters{vec: vec, byRoute: map[string]map[int]prometheus.Counter{}}
	for _, route := range api.Routes() {
		c.byRoute[route] = map[int]prometheus.Counter{}
		for _, code := range apiCodes {
			c.byRoute[route][code] = vec.WithLabelValues(route, strconv.Itoa(code))
		}
	}
	return c
}

// inc counts one answer of route with code.
func (c *apiCounters) inc(route string, code int) {
	if ctr, ok := c.byRoute[route][code]; ok {
		ctr.Inc()
		return
	}
	c.vec.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// instrumentAPI counts read API requests by route and answer code. The
// route is the fixed name of the pattern that answered (api.Route), never
// a part of the request.
func instrumentAPI(requests *apiCounters, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		requests.inc(api.Route(r), rec.code)
	})
}

// instrumentWebhooks counts webhook requests by provider and answer code.
func instrumentWebhooks(requests *prometheus.CounterVec, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		provider := strings.TrimPrefix(r.URL.Path, webhook.PathPrefix)
		if !slices.Contains(webhook.Providers(), provider) {
			provider = "other"
		}
		requests.WithLabelValues(provider, strconv.Itoa(rec.code)).Inc()
	})
}

// statusRecorder remembers the answer code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection: the receiver
// sets read deadlines and flushes through it.
func (r *statusRecorder) Unwrap() http.ResponseWriter {
	return r.ResponseWriter
}

// feedCollector exports the change feed's state when scraped: the clients
// connected, and the generation of each registry's view this replica
// serves (0 before the first, for the registries configured at start).
type feedCollector struct {
	feed                *api.Feed
	registries          []string
	clients, generation *prometheus.Desc
}

func newFeedCollector(feed *api.Feed, registries []string) *feedCollector {
	return &feedCollector{feed: feed, registries: registries,
		clients: prometheus.NewDesc("regsync_api_sse_clients",
			"Clients connected to the change feeds (Server-Sent Events) of this replica.", nil, nil),
		generation: prometheus.NewDesc("regsync_registry_view_generation",
			"Generation of each registry's view this replica serves: the last one its change feed has sent.", []string{"registry"}, nil),
	}
}

func (c *feedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.clients
	ch <- c.generation
}

func (c *feedCollector) Collect(ch chan<- prometheus.Metric) {
	var clients int
	generations := map[string]uint64{}
	if c.feed != nil {
		clients, generations = c.feed.Clients(), c.feed.Generations()
	}
	ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(clients))
	for _, name := range c.registries {
		if _, ok := generations[name]; !ok {
			generations[name] = 0
		}
	}
	for name, g := range generations {
		ch <- prometheus.MustNewConstMetric(c.generation, prometheus.GaugeValue, float64(g), name)
	}
}
