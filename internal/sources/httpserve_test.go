package sources

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
)

// sharedUpstream is the ToolHive Registry Server's example registry, read
// in place from the shared test data.
const sharedUpstream = "../../../shared/testdata/registry/upstream-registry.json"

const probeYAML = `openapi: 3.1.0
info:
  title: Official MCP Registry
  version: "1.0.0"
  description: |
    A community driven registry service for MCP servers.
    https://github.com/modelcontextprotocol/registry
`

// upstreamServers returns the servers of the shared example registry as
// raw JSON, skipping the test when the file is not there.
func upstreamServers(t testing.TB) []json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(sharedUpstream)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent: the shared test data is not laid out beside this checkout", sharedUpstream)
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct {
			Servers []json.RawMessage `json:"servers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Data.Servers
}

// fakeAPI serves an MCP registry API v0.1: openapi.yaml and pages of
// pageSize servers, the cursor of page n+1 being "c<offset>".
type fakeAPI struct {
	servers  []json.RawMessage
	pageSize int
	updated  time.Time // each entry's updatedAt

	mu        sync.Mutex
	cursors   []string // cursor of every listing, "" for the first page
	queries   []string // raw query of every listing
	bodyBytes int64    // response body bytes written
	// page, when set, replaces the answer to a listing page (1-based).
	page func(w http.ResponseWriter, r *http.Request, n int) bool
	// since answers a request with updated_since.
	since func(w http.ResponseWriter, r *http.Request)
}

type bodyCounter struct {
	http.ResponseWriter
	n *int64
}

func (c bodyCounter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w = bodyCounter{w, &a.bodyBytes}
	switch r.URL.Path {
	case "/openapi.yaml":
		fmt.Fprint(w, probeYAML)
		return
	case "/v0.1/servers":
	default:
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	a.queries = append(a.queries, r.URL.RawQuery)
	if q.Has("updated_since") && a.since != nil {
		a.since(w, r)
		return
	}
	cursor := q.Get("cursor")
	a.cursors = append(a.cursors, cursor)
	if a.page != nil && a.page(w, r, len(a.cursors)) {
		return
	}
	start := 0
	if cursor != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(cursor, "c"))
	}
	size := a.pageSize
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l < size {
		size = l
	}
	end := min(start+size, len(a.servers))
	next := ""
	if end < len(a.servers) {
		next = fmt.Sprintf("c%d", end)
	}
	writePage(w, a.servers[start:end], next, a.updated)
}

func writePage(w http.ResponseWriter, servers []json.RawMessage, next string, updated time.Time) {
	type entry struct {
		Server json.RawMessage `json:"server"`
		Meta   map[string]any  `json:"_meta"`
	}
	page := struct {
		Servers  []entry             `json:"servers"`
		Metadata upstreamv0.Metadata `json:"metadata"`
	}{Servers: []entry{}, Metadata: upstreamv0.Metadata{NextCursor: next, Count: len(servers)}}
	for _, s := range servers {
		page.Servers = append(page.Servers, entry{Server: s, Meta: map[string]any{
			"io.modelcontextprotocol.registry/official": map[string]any{
				"status": "active", "publishedAt": updated.Add(-time.Hour).Format(time.RFC3339),
				"updatedAt": updated.Format(time.RFC3339), "isLatest": true,
			},
		}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

func (a *fakeAPI) seenCursors() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.cursors...)
}

// wireCounter counts the bytes a server's connections read and write:
// what one exchange really costs on the network.
type wireCounter struct {
	net.Listener
	in, out atomic.Int64
}

func (l *wireCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

func (l *wireCounter) reset() { l.in.Store(0); l.out.Store(0) }

type countedConn struct {
	net.Conn
	l *wireCounter
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.l.in.Add(int64(n))
	return n, err
}

// Write counts the bytes before they leave: the client may have read them
// (and the test moved on to reset the counter) before Write returns.
func (c *countedConn) Write(b []byte) (int, error) {
	c.l.out.Add(int64(len(b)))
	n, err := c.Conn.Write(b)
	c.l.out.Add(int64(n - len(b)))
	return n, err
}

// countedServer starts h on loopback, counting the bytes on the wire.
func countedServer(t testing.TB, h http.Handler) (*httptest.Server, *wireCounter) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	wc := &wireCounter{Listener: srv.Listener}
	srv.Listener = wc
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, wc
}

// newTestLogger logs text into w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
