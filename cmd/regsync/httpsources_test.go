package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// registryHost serves one registry two ways: as a file with an ETag, and
// as an MCP registry API v0.1 listing.
type registryHost struct {
	mu          sync.Mutex
	description string
	updated     time.Time
	notModified int
}

func (h *registryHost) set(description string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.description, h.updated = description, time.Now().UTC().Truncate(time.Second)
}

func (h *registryHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch r.URL.Path {
	case "/registry.json":
		body := registryWith(h.description)
		sum := sha256.Sum256([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		if r.Header.Get("If-None-Match") == etag {
			h.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		fmt.Fprint(w, body)
	case "/openapi.yaml":
		fmt.Fprint(w, "openapi: 3.1.0\ninfo:\n  title: test\n  version: \"1.0.0\"\n  description: see https://github.com/modelcontextprotocol/registry\n")
	case "/v0.1/servers":
		since, _ := time.Parse(time.RFC3339, r.URL.Query().Get("updated_since"))
		type entry struct {
			Server map[string]any `json:"server"`
			Meta   map[string]any `json:"_meta"`
		}
		var list []entry
		for _, s := range []struct{ name, desc string }{{"io.example/alpha", h.description}, {"io.example/beta", "Beta"}} {
			if !since.IsZero() && !h.updated.After(since) {
				continue
			}
			list = append(list, entry{
				Server: map[string]any{"name": s.name, "description": s.desc, "version": "1.0.0"},
				Meta: map[string]any{"io.modelcontextprotocol.registry/official": map[string]any{
					"status": "active", "publishedAt": "2026-01-01T00:00:00Z", "updatedAt": h.updated.Format(time.RFC3339), "isLatest": true}},
			})
		}
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		_ = json.NewEncoder(w).Encode(map[string]any{"servers": list, "metadata": map[string]any{"count": len(list)}})
	default:
		http.NotFound(w, r)
	}
}

func TestHTTPSourcesEndToEnd(t *testing.T) {
	host := &registryHost{}
	host.set("Alpha")
	srv := httptest.NewServer(host)
	t.Cleanup(srv.Close)
	svc := serveSources(t, "web", fmt.Sprintf(`
  - name: web
    file: {url: %[1]s/registry.json, pollInterval: 200ms}
    syncPolicy: {interval: 1h}
  - name: mcp
    api: {endpoint: %[1]s, pollInterval: 200ms}
    syncPolicy: {interval: 1h}
`, srv.URL))
	for _, name := range []string{"web", "mcp"} {
		// Recorded and published: a recorded outcome is published after
		// its entries are committed, and cleared from the status then.
		testsupport.Eventually(t, name+" synced with two servers", func() bool {
			out, _, err := cli(t, "status", name, "-o", "json", "--nats-url", svc.natsURL)
			return err == nil && strings.Contains(out, `"phase": "Complete"`) && strings.Contains(out, `"serverCount": 2`) &&
				!strings.Contains(out, `"pendingResult"`)
		})
	}
	res := followResults(t, svc)
	res.noCompleted(600 * time.Millisecond)

	t.Run("unchanged servers answer 304", func(t *testing.T) {
		host.mu.Lock()
		n := host.notModified
		host.mu.Unlock()
		if n == 0 {
			t.Error("no conditional request was answered 304")
		}
	})

	t.Run("a change on the server syncs both sources", func(t *testing.T) {
		host.set("Alpha, served anew")
		for name, c := range res.completedBy("web", "mcp") {
			if !slices.Equal(c.Diff.Updated, []string{"io.example/alpha"}) {
				t.Errorf("%s: diff %+v", name, c.Diff)
			}
		}
	})
}

// TestValidateSharedConfigs: every example configuration of the reference
// system passes `regsync validate` unchanged.
func TestValidateSharedConfigs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "testdata", "toolhive-configs", "config-*.yaml"))
	if len(files) == 0 {
		t.Skip("shared ToolHive configs not available: run from a checkout with ../shared beside it")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, errOut, err := cli(t, "validate", "--config", f)
			if err != nil {
				t.Errorf("validate: %v\n%s%s", err, out, errOut)
			}
		})
	}
}
