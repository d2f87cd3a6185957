package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"
)

func TestWebhookRequestsAreCountedByProviderAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := newServeMetrics(reg, nil, nil, nil).webhooks
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
	want := `
# HELP regsync_webhook_requests_total Webhook requests, by provider (github, gitlab, gitea, bitbucket, generic, other) and HTTP answer code.
# TYPE regsync_webhook_requests_total counter
regsync_webhook_requests_total{code="200",provider="gitlab"} 1
regsync_webhook_requests_total{code="202",provider="github"} 2
regsync_webhook_requests_total{code="404",provider="other"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "regsync_webhook_requests_total"); err != nil {
		t.Error(err)
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
	newServeMetrics(registered, nil, nil, nil)
	if !registered["regsync_sync_results_total"] {
		t.Fatalf("metric names not read from their descriptions: %v", registered)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(regsync_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
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
		newServeMetrics(reg, nil, nil, nil)
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
