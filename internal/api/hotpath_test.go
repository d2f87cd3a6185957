package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
)

// TestQueryReadsAsURLValues reads parameters from raw queries as
// r.URL.Query().Get does: the first value, unescaped, with the pairs
// url.ParseQuery refuses skipped.
func TestQueryReadsAsURLValues(t *testing.T) {
	for _, raw := range []string{
		"", "limit=5", "limit=5&limit=6", "search=a+b%20c", "search=%zz&search=ok", "a;b=1&search=x",
		"search", "search=", "=x&search=y", "&&search=z&", "se%61rch=escaped-key", "cursor=%25",
		"search=x;y&search=after", "limit=%", "version=latest&include_deleted=true&updated_since=2025-06-01T14:30:00%2B01:00",
	} {
		fuzzQuery(t, raw)
	}
}

// FuzzQuery compares every parameter of any query with url.ParseQuery.
func FuzzQuery(f *testing.F) {
	for _, raw := range []string{"limit=5&cursor=abc", "search=%41b;c&search=d", "a=1&&a=2&b"} {
		f.Add(raw)
	}
	f.Fuzz(fuzzQuery)
}

func fuzzQuery(t *testing.T, raw string) {
	want, _ := url.ParseQuery(raw)
	names := []string{"limit", "cursor", "search", "version", "updated_since", "include_deleted", "status", ""}
	for name := range want {
		names = append(names, name)
	}
	for _, name := range names {
		if got := queryOf(raw).Get(name); got != want.Get(name) {
			t.Errorf("?%s: Get(%q) = %q, url.Values say %q", raw, name, got, want.Get(name))
		}
	}
}

// TestETagsArePinned pins the ETags of answers of every kind: replicas of
// two builds serving side by side (a rolling upgrade) answer the same tag
// for the same content only while the tag's form stays, so a change of
// these values is deliberate and said under Upgrades in
// docs/operations.md.
func TestETagsArePinned(t *testing.T) {
	c := routeContent()
	c.Skills = []ArtifactRecord{artifactRecord("io.github.acme", "lint", "1.0.0", true)}
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(t, c)); err != nil {
		t.Fatal(err)
	}
	cursor := encodeCursor(position{"io.github.acme/weather", "1.0.0"})
	for path, want := range map[string]string{
		"/v0.1/servers":                                                  `W/"91d12b3045b93bbfcda0a71bf9be88a3"`,
		"/v0.1/servers?limit=2&cursor=" + cursor:                         `W/"cf674ea0518d417347079e6ca7857f2c"`,
		"/v0.1/servers?search=Weather&version=latest":                    `W/"20a5e3681b4d0c5206ff50576e495828"`,
		"/v0.1/servers?updated_since=2025-06-01T14:30:00Z&version=1.0.0": `W/"4aae3a668003ce8792c10b1e4ac05867"`,
		"/v0.1/servers?include_deleted=true&cursor=" + encodeCursor(position{"a\xe2\x82", "1\x00"}): `W/"8cc1316dfc31d2a4e4f0daf6da0c3fd4"`,
		"/v0.1/servers/io.github.acme%2Fweather/versions":                                           `W/"0d38c59fa587af4d8e8a348d1fe069ff"`,
		"/v0.1/servers/io.github.acme%2Fweather/versions/latest?include_deleted=false":              `W/"4a4da127737f06176cf2f3ba626dd5d4"`,
		"/v0.1/x/dev.toolhive/skills?status=active,deprecated&limit=3&cursor=" + cursor:             `W/"831d04e6f4facb753d7d33300e215f49"`,
		"/v0.1/x/dev.toolhive/skills/io.github.acme/lint/versions":                                  `W/"7cc08889cdd7ca8c660d6da78520deb6"`,
		"/v0.1/x/dev.toolhive/skills/io.github.acme/lint":                                           `W/"c7cf6ea65a7af3ad1cd57975de8fbd17"`,
	} {
		rec := httptestGet(h, "/registry/default"+path)
		if got := rec.Header().Get("ETag"); rec.Code != http.StatusOK || got != want {
			t.Errorf("%s: %d, ETag %s, want %s", path, rec.Code, got, want)
		}
	}
}

// Answers a client already has, and full pages, cost few allocations
// and few bytes (a page's body is built in a reused buffer): 64 clients
// on two cores spend what the collector does on them.
func TestAnswersAllocateLittle(t *testing.T) {
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(t, manyServers(100))); err != nil {
		t.Fatal(err)
	}
	path := "/registry/default/v0.1/servers?cursor=" + encodeCursor(position{"io.github.load/server-00050", "1.0.0"})
	tag := httptestGet(h, path).Header().Get("ETag")
	for _, c := range []struct {
		name      string
		header    http.Header
		code      int
		allocs    float64
		bytesEach uint64
	}{
		{"304", http.Header{"If-None-Match": {tag}}, http.StatusNotModified, 7, 1 << 10},
		{"full page", http.Header{}, http.StatusOK, 14, 4 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header = c.header
			w := &discard{h: make(http.Header, 8)}
			serve := func() {
				clear(w.h)
				w.code = http.StatusOK
				h.ServeHTTP(w, req)
			}
			const runs = 200
			allocs := testing.AllocsPerRun(runs, serve)
			if w.code != c.code {
				t.Fatalf("%d, want %d", w.code, c.code)
			}
			if allocs > c.allocs {
				t.Errorf("%.0f allocations an answer, want at most %.0f", allocs, c.allocs)
			}
			if raceEnabled {
				return
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				serve()
			}
			runtime.ReadMemStats(&after)
			if each := (after.TotalAlloc - before.TotalAlloc) / runs; each > c.bytesEach {
				t.Errorf("%d bytes allocated an answer, want at most %d", each, c.bytesEach)
			}
		})
	}
}
