package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"
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
	newServeMetrics(registered, nil, nil, nil, nil)
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
