package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// discard is a ResponseWriter that keeps the status and throws the body
// away, so a benchmark measures the handler alone.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// bench10k is a handler serving 10,000 servers with two versions each.
func bench10k(b *testing.B) *Handler {
	b.Helper()
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(b, manyServers(10000))); err != nil {
		b.Fatal(err)
	}
	return h
}

func serveBench(b *testing.B, h http.Handler, path string, header http.Header, want int) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header = header
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := &discard{h: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(w, req)
		if w.code != want {
			b.Fatalf("%s: %d", path, w.code)
		}
	}
}

// BenchmarkFullPage serves a full page of 30 entries from a 10,000-server
// registry.
func BenchmarkFullPage(b *testing.B) {
	h := bench10k(b)
	cursor := encodeCursor(position{"io.github.load/server-05000", "1.0.0"})
	serveBench(b, h, "/registry/default/v0.1/servers?cursor="+cursor, http.Header{}, http.StatusOK)
}

// BenchmarkNotModified answers a full page's If-None-Match with 304.
func BenchmarkNotModified(b *testing.B) {
	h := bench10k(b)
	path := "/registry/default/v0.1/servers?cursor=" + encodeCursor(position{"io.github.load/server-05000", "1.0.0"})
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	serveBench(b, h, path, http.Header{"If-None-Match": {w.h.Get("ETag")}}, http.StatusNotModified)
}

// BenchmarkSearch searches every entry of a 10,000-server registry.
func BenchmarkSearch(b *testing.B) {
	h := bench10k(b)
	serveBench(b, h, "/registry/default/v0.1/servers?search=SERVER-0999&version=latest", http.Header{}, http.StatusOK)
}

// BenchmarkToolHiveWalk is thv's check of a registry: one entry per
// request (limit=1&version=latest), following cursors over 10,000
// servers, end to end over loopback HTTP from one sequential client. One
// operation is one request; ns/op is the time per request.
func BenchmarkToolHiveWalk(b *testing.B) {
	srv := httptest.NewServer(bench10k(b))
	defer srv.Close()
	base := srv.URL + "/registry/default/v0.1/servers?limit=1&version=latest"
	next := ""
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		u := base
		if next != "" {
			u += "&cursor=" + url.QueryEscape(next)
		}
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		var l struct {
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		err = json.NewDecoder(resp.Body).Decode(&l)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s %v", u, resp.Status, err)
		}
		next = l.Metadata.NextCursor
	}
}

// BenchmarkBuild10k prepares a view of 10,000 servers, two versions each.
func BenchmarkBuild10k(b *testing.B) {
	c := manyServers(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestToolHiveWalkCoversEveryServer checks what the walk benchmark relies
// on: one entry per page and a cursor until the last.
func TestToolHiveWalkCoversEveryServer(t *testing.T) {
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(t, manyServers(50))); err != nil {
		t.Fatal(err)
	}
	next, seen := "", 0
	for {
		path := "/registry/default/v0.1/servers?limit=1&version=latest"
		if next != "" {
			path += "&cursor=" + next
		}
		rec := httptestGet(h, path)
		var l list
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || len(l.Servers) != 1 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		seen++
		if next = l.Metadata.NextCursor; next == "" {
			break
		}
	}
	if seen != 50 {
		t.Fatalf("walked %d servers, want %d", seen, 50)
	}
}
