package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/config"
)

func TestWebhookRequestsAreCountedByProviderAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := newServeMetrics(reg, nil, nil, nil, nil).webhooks
	h := instrumentWebhooks(requests, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/webhooks/github":
			w.WriteHeader(http.StatusAccepted)
		case "/webhooks/gitlab":
			_, _ = w.Write([]byte("pong")) // an implicit 200
		default:
			http.NotFound(w, r)
		}
	}))
	for _, path := range []string{"/webhooks/github", "/webhooks/github", "/webhooks/gitlab", "/webhooks/../etc", "/webhooks/unknown"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "http://regsync"+path, strings.NewReader("{}")))
	}
	for _, c := range []struct {
		provider, code string
		want           float64
	}{{"gitlab", "200", 1}, {"github", "202", 2}, {"other", "404", 2}, {"github", "401", 0}} {
		if got := testutil.ToFloat64(requests.WithLabelValues(c.provider, c.code)); got != c.want {
			t.Errorf("regsync_webhook_requests_total{provider=%q,code=%q} = %v, want %v", c.provider, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(requests); n != 5*7+1 {
		t.Errorf("%d series, want the 7 answers of each of the 5 providers and other's 404", n)
	}
}

// descNames is a Registerer that notes the name of every metric a
// collector describes.
type descNames map[string]bool

var fqName = regexp.MustCompile(`fqName: "([a-z_:]+)"`)

func (d descNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d[m[1]] = true
		}
	}
	return nil
}

func (d descNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d descNames) Unregister(prometheus.Collector) bool { return false }

func TestMetricsDocumentedOneByOne(t *testing.T) {
	registered := descNames{}
	newServeMetrics(registered, nil, nil, nil, nil)
	if !registered["regsync_sync_results_total"] {
		t.Fatalf("metric names not read from their descriptions: %v", registered)
	}
	documented := documentedMetrics(t)
	for name := range registered {
		if strings.HasPrefix(name, "regsync_") && !documented[name] {
			t.Errorf("%s is exported but not described in docs/metrics.md", name)
		}
	}
	for name := range documented {
		if !registered[name] {
			t.Errorf("docs/metrics.md describes %s, which regsync does not export", name)
		}
	}
	alerts, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(alerts, &rules); err != nil || len(rules.Groups) == 0 || len(rules.Groups[0].Rules) < 3 {
		t.Fatalf("alerts.yaml: %v (%+v)", err, rules)
	}
	for _, m := range regexp.MustCompile(`regsync_[a-z_]+`).FindAllString(string(alerts), -1) {
		name := strings.TrimSuffix(m, "_bucket")
		if !registered[name] {
			t.Errorf("deploy/prometheus/alerts.yaml uses %s, which regsync does not export", m)
		}
	}
}

// The webhook receiver interrupts a stalled body through the connection's
// read deadline and flushes its answer early: the counting and tracing
// wrappers must let it reach the connection.
func TestWebhookWrappersReachTheConnection(t *testing.T) {
	requests := newServeMetrics(prometheus.NewRegistry(), nil, nil, nil, nil).webhooks
	srv := httptest.NewServer(traced(instrumentWebhooks(requests, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			http.Error(w, "read deadline: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if err := rc.Flush(); err != nil {
			http.Error(w, "flush: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}))))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/webhooks/github", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}

// TestBuildInfoCarriesVCSRevision: a binary built with `go build` in a
// checkout has no -ldflags commit, but Go stamps the revision into it.
func TestBuildInfoCarriesVCSRevision(t *testing.T) {
	saved, savedCommit := readBuildInfo, commit
	t.Cleanup(func() { readBuildInfo, commit = saved, savedCommit })
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"}}}, true
	}
	for _, tc := range []struct{ ldflags, want string }{{"", "0123abcd"}, {"feedface", "feedface"}} {
		commit = tc.ldflags
		reg := prometheus.NewRegistry()
		newServeMetrics(reg, nil, nil, nil, nil)
		want := fmt.Sprintf(`
# HELP regsync_build_info Always 1; the labels name the running build.
# TYPE regsync_build_info gauge
regsync_build_info{commit=%q,go_version=%q,version=%q} 1
`, tc.want, runtime.Version(), version)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "regsync_build_info"); err != nil {
			t.Errorf("commit %q from -ldflags: %v", tc.ldflags, err)
		}
	}
}

// documentedMetrics returns the metrics docs/metrics.md describes.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(regsync_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	return documented
}

// TestEveryDocumentedSeriesExistsFromStart: a scrape right after start
// shows every documented metric with its known label values at zero, so
// that rate() and alerts see the first event; and no label value comes
// from anything but the configuration and the code.
func TestEveryDocumentedSeriesExistsFromStart(t *testing.T) {
	srcs := []config.Source{
		{Name: "alpha", File: &config.File{Path: "/data/alpha.json"}},
		{Name: "beta", File: &config.File{Path: "/data/beta.json"}},
		{Name: "elsewhere", Managed: &config.Managed{}},
	}
	reg := prometheus.NewPedanticRegistry()
	newServeMetrics(reg, nil, srcs, []string{"alpha", "merged"}, nil)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// series[metric][label] is the set of values the label takes.
	series := map[string]map[string]map[string]bool{}
	for _, f := range families {
		labels := map[string]map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] == nil {
					labels[l.GetName()] = map[string]bool{}
				}
				labels[l.GetName()][l.GetValue()] = true
			}
		}
		if len(f.GetMetric()) > 0 {
			series[f.GetName()] = labels
		}
	}
	for name := range documentedMetrics(t) {
		if series[name] == nil {
			t.Errorf("%s has no series at start", name)
		}
	}
	set := func(values ...string) map[string]bool {
		m := map[string]bool{}
		for _, v := range values {
			m[v] = true
		}
		return m
	}
	kinds := set("file", "git-poll", "http-poll", "webhook", "manual", "interval", "startup")
	want := map[string]map[string]map[string]bool{
		"regsync_sync_results_total":                    {"source": set("alpha", "beta", "unknown"), "outcome": set("completed", "failed", "skipped")},
		"regsync_sync_duration_seconds":                 {"source": set("alpha", "beta"), "outcome": set("completed", "failed")},
		"regsync_source_servers":                        {"source": set("alpha", "beta")},
		"regsync_source_last_success_timestamp_seconds": {"source": set("alpha", "beta")},
		"regsync_source_consecutive_failures":           {"source": set("alpha", "beta")},
		"regsync_source_phase":                          {"source": set("alpha", "beta"), "phase": set("Syncing", "Complete", "Failed")},
		"regsync_triggers_received_total":               {"trigger": kinds},
		"regsync_trigger_to_result_seconds":             {"trigger": kinds},
		"regsync_sync_errors_total":                     {"reason": set("ConfigInvalid", "FetchFailed", "ValidationFailed", "FilterRemovedEverything", "StorageFailed")},
		"regsync_webhook_requests_total":                {"provider": set("github", "gitlab", "gitea", "bitbucket", "generic", "other")},
		"regsync_source_checks_total":                   {"kind": set("file", "http", "git-ls-remote", "git-fetch"), "outcome": set("ok", "not-modified", "error")},
		"regsync_config_reloads_total":                  {"result": set("applied", "partial", "rejected")},
		"regsync_registry_view_generation":              {"registry": set("alpha", "merged")},
		"regsync_registry_view_apply_seconds":           {"registry": set("alpha", "merged")},
		"regsync_api_requests_total": {"route": set("/openapi.yaml", "/v0.1/servers", "/v0.1/servers/{serverName}/versions", "/v0.1/servers/{serverName}/versions/{version}",
			"/v0.1/x/dev.regsync/changes",
			"/v0.1/x/dev.toolhive/skills", "/v0.1/x/dev.toolhive/skills/{namespace}/{name}", "/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions", "/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions/{version}",
			"/v0.1/x/dev.toolhive/plugins", "/v0.1/x/dev.toolhive/plugins/{namespace}/{name}", "/v0.1/x/dev.toolhive/plugins/{namespace}/{name}/versions", "/v0.1/x/dev.toolhive/plugins/{namespace}/{name}/versions/{version}",
			"other"), "code": set("200", "304", "400", "404", "405", "503")},
	}
	for name, labels := range want {
		for label, values := range labels {
			if got := series[name][label]; !maps.Equal(got, values) {
				t.Errorf("%s{%s} takes %v at start, want %v", name, label, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(values)))
			}
		}
	}
}
