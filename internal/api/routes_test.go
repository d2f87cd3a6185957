package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// routeContent is the registry the route table reads: a name with build
// metadata in a version, a name with two versions and a removed one, and
// names the search finds by title or description only.
func routeContent() Content {
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	return Content{
		Servers: []ServerRecord{
			server("io.github.acme/weather", "1.0.0", false),
			at(server("io.github.acme/weather", "1.1.0", false), t1, t1),
			at(server("io.github.acme/weather", "2.0.0", true), t2, t2),
			deleted(server("io.github.acme/weather", "0.9.0", false), t2),
			server("io.github.x/y", "1.0.0+20130313144700", true),
			server("com.example/files", "3.0.0", true, `"title":"FileSystem Access"`),
			server("org.gone/old", "1.0.0", true),
		},
	}
}

func TestServerRoutes(t *testing.T) {
	c := routeContent()
	c.Servers[len(c.Servers)-1] = deleted(c.Servers[len(c.Servers)-1], t0.Add(3*time.Hour))
	_, base := serveRegistry(t, c)
	since := url.QueryEscape(t0.Add(90 * time.Minute).Format(time.RFC3339))

	cases := []struct {
		name, path string
		want       []string // entries in order, for a 200
		code       int      // when not 200
		errHas     string
	}{
		{name: "every live version by name then version", path: "/v0.1/servers",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 1.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 2.0.0", "io.github.x/y 1.0.0+20130313144700"}},
		{name: "limit pages with a cursor", path: "/v0.1/servers?limit=2",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 1.0.0"}},
		{name: "limit above 1000 is capped", path: "/v0.1/servers?limit=5000",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 1.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 2.0.0", "io.github.x/y 1.0.0+20130313144700"}},
		{name: "limit zero", path: "/v0.1/servers?limit=0", code: 400, errHas: "invalid limit 0"},
		{name: "negative limit", path: "/v0.1/servers?limit=-1", code: 400, errHas: "invalid limit -1"},
		{name: "limit not a number", path: "/v0.1/servers?limit=abc", code: 400, errHas: `invalid limit "abc"`},
		{name: "cursor not base64", path: "/v0.1/servers?cursor=%25%25%25", code: 400, errHas: "invalid cursor"},
		{name: "cursor of no entry form", path: "/v0.1/servers?cursor=" + base64Of("no-separator"), code: 400, errHas: "invalid cursor"},
		{name: "updated_since not RFC 3339", path: "/v0.1/servers?updated_since=yesterday", code: 400, errHas: `invalid updated_since "yesterday"`},
		{name: "updated_since without time", path: "/v0.1/servers?updated_since=2025-06-01", code: 400, errHas: "invalid updated_since"},
		{name: "updated_since with an offset", path: "/v0.1/servers?updated_since=2025-06-01T14:30:00%2B01:00",
			want: []string{"io.github.acme/weather 0.9.0", "io.github.acme/weather 2.0.0", "org.gone/old 1.0.0"}},
		{name: "updated_since in the future", path: "/v0.1/servers?updated_since=2030-01-01T00:00:00Z", want: []string{}},
		{name: "updated_since long ago lists removals too", path: "/v0.1/servers?updated_since=1990-01-01T00:00:00Z",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 0.9.0", "io.github.acme/weather 1.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 2.0.0", "io.github.x/y 1.0.0+20130313144700", "org.gone/old 1.0.0"}},
		{name: "updated_since with include_deleted=false contradicts itself", path: "/v0.1/servers?updated_since=1990-01-01T00:00:00Z&include_deleted=false",
			code: 400, errHas: "include_deleted=false contradicts updated_since"},
		{name: "include_deleted=false", path: "/v0.1/servers?include_deleted=false&search=weather",
			want: []string{"io.github.acme/weather 1.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 2.0.0"}},
		{name: "updated_since is strictly after and includes removals", path: "/v0.1/servers?updated_since=" + since,
			want: []string{"io.github.acme/weather 0.9.0", "io.github.acme/weather 2.0.0", "org.gone/old 1.0.0"}},
		{name: "updated_since at an update excludes it", path: "/v0.1/servers?updated_since=" + url.QueryEscape(t0.Add(2*time.Hour).Format(time.RFC3339Nano)),
			want: []string{"org.gone/old 1.0.0"}},
		{name: "include_deleted", path: "/v0.1/servers?include_deleted=true&search=weather",
			want: []string{"io.github.acme/weather 0.9.0", "io.github.acme/weather 1.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 2.0.0"}},
		{name: "include_deleted not a boolean", path: "/v0.1/servers?include_deleted=maybe", code: 400, errHas: `invalid include_deleted "maybe"`},
		{name: "version latest", path: "/v0.1/servers?version=latest",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 2.0.0", "io.github.x/y 1.0.0+20130313144700"}},
		{name: "exact version", path: "/v0.1/servers?version=1.1.0", want: []string{"io.github.acme/weather 1.1.0"}},
		{name: "search is case-insensitive over the name", path: "/v0.1/servers?search=WEATHER&version=latest", want: []string{"io.github.acme/weather 2.0.0"}},
		{name: "search finds a title", path: "/v0.1/servers?search=filesystem", want: []string{"com.example/files 3.0.0"}},
		{name: "search finds a description", path: "/v0.1/servers?search=serves%20io.github.x", want: []string{"io.github.x/y 1.0.0+20130313144700"}},
		{name: "search finding nothing", path: "/v0.1/servers?search=nothing-like-it", want: []string{}},
		{name: "empty search", path: "/v0.1/servers?search=&version=latest",
			want: []string{"com.example/files 3.0.0", "io.github.acme/weather 2.0.0", "io.github.x/y 1.0.0+20130313144700"}},
		{name: "search with characters beyond ASCII", path: "/v0.1/servers?search=" + url.QueryEscape("测试名"), want: []string{}},
		{name: "search, limit and version together", path: "/v0.1/servers?search=IO.GITHUB&limit=1&version=latest",
			want: []string{"io.github.acme/weather 2.0.0"}},
		{name: "an exact version with build metadata", path: "/v0.1/servers?version=1.0.0%2B20130313144700",
			want: []string{"io.github.x/y 1.0.0+20130313144700"}},
		{name: "versions of a URL-encoded name", path: "/v0.1/servers/io.github.x%2Fy/versions",
			want: []string{"io.github.x/y 1.0.0+20130313144700"}},
		{name: "a name with an unencoded slash is no route", path: "/v0.1/servers/io.github.x/y/versions", code: 404, errHas: "no route GET"},
		{name: "versions newest first", path: "/v0.1/servers/io.github.acme%2Fweather/versions",
			want: []string{"io.github.acme/weather 2.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 1.0.0"}},
		{name: "versions with removals", path: "/v0.1/servers/io.github.acme%2Fweather/versions?include_deleted=true",
			want: []string{"io.github.acme/weather 2.0.0", "io.github.acme/weather 1.1.0", "io.github.acme/weather 1.0.0", "io.github.acme/weather 0.9.0"}},
		{name: "versions of an unknown name", path: "/v0.1/servers/io.github.acme%2Fnone/versions", code: 404, errHas: `server "io.github.acme/none" not found`},
		{name: "versions of a removed name", path: "/v0.1/servers/org.gone%2Fold/versions", code: 404, errHas: "not found"},
		{name: "unknown registry", path: "/../other/v0.1/servers", code: 404, errHas: `registry "other" not found`},
		{name: "unknown route", path: "/v0.1/nothing", code: 404, errHas: "no route GET"},
		{name: "query too long", path: "/v0.1/servers?search=" + strings.Repeat("a", maxQueryLen), code: 400, errHas: "query of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := base + tc.path
			if rest, ok := strings.CutPrefix(tc.path, "/../"); ok {
				u = strings.TrimSuffix(base, "default") + rest
			}
			if tc.code != 0 {
				wantError(t, u, tc.code, tc.errHas)
				return
			}
			l := getList(t, u)
			if got := l.keys(); !slices.Equal(got, tc.want) {
				t.Fatalf("GET %s:\n got  %q\n want %q", tc.path, got, tc.want)
			}
		})
	}
}

// wantError checks an error answer: its code, JSON and message.
func wantError(t *testing.T, u string, code int, has string) {
	t.Helper()
	resp, body := fetch(t, u)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %s, want %d: %s", u, resp.Status, code, body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("GET %s: error body %q is not {\"error\": ...}", u, body)
	}
	if !strings.Contains(e.Error, has) {
		t.Fatalf("GET %s: error %q does not say %q", u, e.Error, has)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", u, ct)
	}
}

func base64Of(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// httptestGet serves one GET through h without a listener.
func httptestGet(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// TestLimitAboveTheMaximumIsCapped asks for 1001 entries of a registry
// that has more than 1000: it gets 1000 and a cursor to the rest.
func TestLimitAboveTheMaximumIsCapped(t *testing.T) {
	_, base := serveRegistry(t, manyServers(501)) // 1002 entries
	first := getList(t, base+"/v0.1/servers?limit=1001")
	if len(first.Servers) != maxServerLimit || first.Metadata.NextCursor == "" {
		t.Fatalf("limit=1001: %d entries, next cursor %q; want %d and a cursor", len(first.Servers), first.Metadata.NextCursor, maxServerLimit)
	}
	rest := getList(t, base+"/v0.1/servers?limit=1001&cursor="+first.Metadata.NextCursor)
	if len(rest.Servers) != 2 || rest.Metadata.NextCursor != "" {
		t.Fatalf("the page after: %d entries, next cursor %q; want 2 and none", len(rest.Servers), rest.Metadata.NextCursor)
	}
}

func TestOneServerVersion(t *testing.T) {
	_, base := serveRegistry(t, routeContent())
	cases := []struct {
		name, path, want string
		code             int
		errHas           string
	}{
		{name: "an exact version", path: "/io.github.acme%2Fweather/versions/1.1.0", want: "io.github.acme/weather 1.1.0"},
		{name: "latest", path: "/io.github.acme%2Fweather/versions/latest", want: "io.github.acme/weather 2.0.0"},
		{name: "a URL-encoded version with build metadata", path: "/io.github.x%2Fy/versions/1.0.0%2B20130313144700", want: "io.github.x/y 1.0.0+20130313144700"},
		{name: "latest of a URL-encoded name", path: "/io.github.x%2Fy/versions/latest", want: "io.github.x/y 1.0.0+20130313144700"},
		{name: "a removed version", path: "/io.github.acme%2Fweather/versions/0.9.0", code: 404, errHas: `has no version "0.9.0"`},
		{name: "a removed version with include_deleted=false", path: "/io.github.acme%2Fweather/versions/0.9.0?include_deleted=false", code: 404, errHas: `has no version "0.9.0"`},
		{name: "an unencoded version with build metadata", path: "/io.github.x%2Fy/versions/1.0.0+20130313144700", want: "io.github.x/y 1.0.0+20130313144700"},
		{name: "a removed version asked with include_deleted", path: "/io.github.acme%2Fweather/versions/0.9.0?include_deleted=true", want: "io.github.acme/weather 0.9.0"},
		{name: "an unknown version", path: "/io.github.acme%2Fweather/versions/9.9.9", code: 404, errHas: `server "io.github.acme/weather" has no version "9.9.9"`},
		{name: "an unknown name", path: "/io.github.acme%2Fnone/versions/latest", code: 404, errHas: `server "io.github.acme/none" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := base + "/v0.1/servers" + tc.path
			if tc.code != 0 {
				wantError(t, u, tc.code, tc.errHas)
				return
			}
			resp, body := fetch(t, u)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s %s", u, resp.Status, body)
			}
			conforms(t, "ServerResponse", body)
			var l list
			if err := json.Unmarshal([]byte(`{"servers":[`+string(body)+`]}`), &l); err != nil {
				t.Fatal(err)
			}
			if got := l.keys()[0]; got != tc.want {
				t.Fatalf("GET %s: %q, want %q", u, got, tc.want)
			}
		})
	}
}

// TestEntriesServedAsStored checks that an entry's own bytes reach the
// client ($schema, icons, unknown fields) with the registry's metadata
// beside them.
func TestEntriesServedAsStored(t *testing.T) {
	_, base := serveRegistry(t, routeContent())
	_, body := fetch(t, base+"/v0.1/servers/io.github.acme%2Fweather/versions/latest")
	var got map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := routeContent().Servers[2].JSON
	if string(got["server"]) != string(want) {
		t.Fatalf("server is\n %s\nwant the stored bytes\n %s", got["server"], want)
	}
	var meta map[string]map[string]any
	if err := json.Unmarshal(got["_meta"], &meta); err != nil {
		t.Fatal(err)
	}
	official := meta[officialMetaKey]
	wantMeta := map[string]any{"status": "active", "publishedAt": "2025-06-01T14:00:00Z", "updatedAt": "2025-06-01T14:00:00Z", "isLatest": true}
	for k, v := range wantMeta {
		if official[k] != v {
			t.Errorf("_meta %s = %v, want %v", k, official[k], v)
		}
	}
}

func TestNotLoadedRegistryAnswers503(t *testing.T) {
	h := NewHandler([]string{"default"}, testsupport.Logger(t))
	for _, path := range []string{"/v0.1/servers", "/v0.1/servers/a.b%2Fc/versions", "/v0.1/x/dev.toolhive/skills"} {
		rec := httptestGet(h, "/registry/default"+path)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `registry \"default\" is not loaded yet`) {
			t.Errorf("GET %s before the first view: %d %s", path, rec.Code, rec.Body)
		}
	}
	if err := h.Swap("other", mustBuild(t, Content{})); err == nil || !strings.Contains(err.Error(), `registry "other" is not served`) {
		t.Errorf("Swap of an unknown registry: %v", err)
	}
}

func TestOnlyGETHEADAndOPTIONS(t *testing.T) {
	_, base := serveRegistry(t, routeContent())
	resp, body := fetch(t, base+"/v0.1/servers", "Method", http.MethodPost)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" ||
		!strings.Contains(string(body), `"error":"method POST not allowed: the read API answers GET, HEAD and OPTIONS"`) {
		t.Fatalf("POST: %s Allow %q %s", resp.Status, resp.Header.Get("Allow"), body)
	}
}

func TestSetRegistriesReplacesTheServedSet(t *testing.T) {
	h := NewHandler([]string{"kept", "dropped"}, testsupport.Logger(t))
	for _, name := range []string{"kept", "dropped"} {
		if err := h.Swap(name, mustBuild(t, Content{})); err != nil {
			t.Fatal(err)
		}
	}
	h.SetRegistries([]string{"kept", "added", "claimed"}, map[string]string{"claimed": "it has claims"})
	tests := []struct {
		registry string
		code     int
		body     string
	}{
		{"kept", http.StatusOK, `"servers":[]`},
		{"added", http.StatusServiceUnavailable, `registry \"added\" is not loaded yet`},
		{"dropped", http.StatusNotFound, `registry \"dropped\" not found`},
		{"claimed", http.StatusNotFound, `registry \"claimed\" is not served: it has claims`},
	}
	for _, tt := range tests {
		t.Run(tt.registry, func(t *testing.T) {
			rec := httptestGet(h, "/registry/"+tt.registry+"/v0.1/servers")
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("GET: %d %s, want %d with %s", rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
	// A refused registry still takes its views, so serving it later
	// needs no rebuild.
	if err := h.Swap("claimed", mustBuild(t, Content{})); err != nil {
		t.Fatalf("Swap of a refused registry: %v", err)
	}
	h.SetRegistries([]string{"claimed"}, nil)
	if rec := httptestGet(h, "/registry/claimed/v0.1/servers"); rec.Code != http.StatusOK {
		t.Errorf("GET once no longer refused: %d %s", rec.Code, rec.Body)
	}
	if err := h.Swap("dropped", mustBuild(t, Content{})); err == nil {
		t.Error("Swap of a dropped registry succeeded")
	}
}
