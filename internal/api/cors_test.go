package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// routeSamples is a request path, under /registry/default, of every
// route of the table, answered 200 from corsContent.
var routeSamples = map[string]string{
	"/openapi.yaml":                                                      "/openapi.yaml",
	"/v0.1/servers":                                                      "/v0.1/servers",
	"/v0.1/servers/{serverName}/versions":                                "/v0.1/servers/io.github.acme%2Fweather/versions",
	"/v0.1/servers/{serverName}/versions/{version}":                      "/v0.1/servers/io.github.acme%2Fweather/versions/latest",
	"/v0.1/x/dev.regsync/changes":                                        "/v0.1/x/dev.regsync/changes",
	"/v0.1/x/dev.toolhive/skills":                                        "/v0.1/x/dev.toolhive/skills",
	"/v0.1/x/dev.toolhive/skills/{namespace}/{name}":                     "/v0.1/x/dev.toolhive/skills/io.github.acme/review",
	"/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions":            "/v0.1/x/dev.toolhive/skills/io.github.acme/review/versions",
	"/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions/{version}":  "/v0.1/x/dev.toolhive/skills/io.github.acme/review/versions/1.2.0",
	"/v0.1/x/dev.toolhive/plugins":                                       "/v0.1/x/dev.toolhive/plugins",
	"/v0.1/x/dev.toolhive/plugins/{namespace}/{name}":                    "/v0.1/x/dev.toolhive/plugins/io.github.acme/review",
	"/v0.1/x/dev.toolhive/plugins/{namespace}/{name}/versions":           "/v0.1/x/dev.toolhive/plugins/io.github.acme/review/versions",
	"/v0.1/x/dev.toolhive/plugins/{namespace}/{name}/versions/{version}": "/v0.1/x/dev.toolhive/plugins/io.github.acme/review/versions/1.2.0",
}

// corsRig serves routeContent and artifactContent as registry "default",
// with the change feed loaded, so every route answers 200.
func corsRig(t *testing.T) *feedRig {
	t.Helper()
	r := newFeedRig(t)
	c := routeContent()
	a := artifactContent()
	c.Skills, c.Plugins = a.Skills, a.Plugins
	v := mustBuild(t, c)
	if err := r.h.Swap("default", v); err != nil {
		t.Fatal(err)
	}
	r.h.Feed().Applied("default", "merged-1", v)
	r.h.Feed().Loaded()
	return r
}

// sampleOf is the sample path of a route, failing the test for a route
// that has none, so a new route is checked as soon as it exists.
func sampleOf(t *testing.T, route string) string {
	t.Helper()
	p, ok := routeSamples[route]
	if !ok {
		t.Fatalf("route %s has no sample path in routeSamples", route)
	}
	return p
}

// wantCORS checks the headers every read API answer carries.
func wantCORS(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "*" {
		t.Errorf("%s (%s): Access-Control-Allow-Origin %q, want one *", what, resp.Status, got)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "ETag") {
		t.Errorf("%s (%s): Access-Control-Expose-Headers %q does not name ETag", what, resp.Status, got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("%s (%s): Access-Control-Allow-Credentials %q is sent", what, resp.Status, got)
	}
}

func TestEveryAnswerAllowsAnyOrigin(t *testing.T) {
	r := corsRig(t)
	const origin = "vscode-file://vscode-app"
	for _, route := range Routes() {
		if route == OtherRoute {
			continue
		}
		path := sampleOf(t, route)
		t.Run(route, func(t *testing.T) {
			if route == "/v0.1/x/dev.regsync/changes" {
				s := r.connect(t, "-")
				wantCORS(t, "GET", s.resp)
			} else {
				resp, _ := fetch(t, r.base+path, "Origin", origin)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET: %s", resp.Status)
				}
				wantCORS(t, "GET", resp)
				resp, _ = fetch(t, r.base+path, "Origin", origin, "If-None-Match", resp.Header.Get("ETag"))
				if resp.StatusCode != http.StatusNotModified {
					t.Fatalf("GET with the ETag: %s", resp.Status)
				}
				wantCORS(t, "GET with the ETag", resp)
			}
			resp, _ := fetch(t, r.base+path, "Method", http.MethodHead, "Origin", origin)
			wantCORS(t, "HEAD", resp)
			resp, _ = fetch(t, r.srv.URL+"/registry/nope"+path, "Origin", origin)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET of an unknown registry: %s", resp.Status)
			}
			wantCORS(t, "GET of an unknown registry", resp)
			resp, _ = fetch(t, r.base+path, "Method", http.MethodPost, "Origin", origin)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("POST: %s", resp.Status)
			}
			wantCORS(t, "POST", resp)
		})
	}
	for name, path := range map[string]string{
		"bad parameter": "/v0.1/servers?limit=0",
		"no route":      "/v0.1/nothing",
	} {
		resp, _ := fetch(t, r.base+path, "Origin", origin)
		if resp.StatusCode < 400 {
			t.Fatalf("%s: %s", name, resp.Status)
		}
		wantCORS(t, name, resp)
	}
	h := NewHandler([]string{"default"}, testsupport.Logger(t))
	rec := httptestGet(h, "/registry/default/v0.1/servers")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET before the view is loaded: %d, Access-Control-Allow-Origin %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

func TestPreflightAnswers204(t *testing.T) {
	r := corsRig(t)
	for _, route := range Routes() {
		if route == OtherRoute {
			continue
		}
		path := sampleOf(t, route)
		t.Run(route, func(t *testing.T) {
			resp, body := fetch(t, r.base+path, "Method", http.MethodOptions, "Origin", "https://example.com",
				"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization,if-none-match")
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("preflight: %s %q", resp.Status, body)
			}
			wantCORS(t, "preflight", resp)
			for k, want := range map[string]string{
				"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
				"Access-Control-Allow-Headers": "Accept, Authorization, Content-Type, If-None-Match, Last-Event-ID",
				"Access-Control-Max-Age":       "86400",
				"Allow":                        "GET, HEAD, OPTIONS",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("preflight: %s %q, want %q", k, got, want)
				}
			}
		})
	}
	t.Run("a preflight is counted on its route", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodOptions, "/registry/default/v0.1/servers/a.b%2Fc/versions", nil)
		r.h.ServeHTTP(httptest.NewRecorder(), req)
		if got := Route(req); got != "/v0.1/servers/{serverName}/versions" {
			t.Fatalf("Route of a preflight: %q", got)
		}
	})
	t.Run("a plain OPTIONS names the methods", func(t *testing.T) {
		resp, _ := fetch(t, r.base+"/v0.1/servers", "Method", http.MethodOptions)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Fatalf("OPTIONS: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
		}
		if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "" {
			t.Fatalf("OPTIONS that is no preflight: Access-Control-Allow-Methods %q", got)
		}
	})
	t.Run("OPTIONS of no route", func(t *testing.T) {
		resp, body := fetch(t, r.base+"/v0.1/nothing", "Method", http.MethodOptions, "Origin", "https://example.com",
			"Access-Control-Request-Method", "GET")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no route OPTIONS") {
			t.Fatalf("OPTIONS: %s %s", resp.Status, body)
		}
		wantCORS(t, "OPTIONS of no route", resp)
	})
}

func TestCORSOff(t *testing.T) {
	h := NewHandler([]string{"default"}, testsupport.Logger(t))
	h.SetCORS(false)
	if err := h.Swap("default", mustBuild(t, routeContent())); err != nil {
		t.Fatal(err)
	}
	rec := httptestGet(h, "/registry/default/v0.1/servers")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d", rec.Code)
	}
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("GET with CORS off: %s %q", k, rec.Header().Get(k))
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, "/registry/default/v0.1/servers", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	pre := httptest.NewRecorder()
	h.ServeHTTP(pre, req)
	for k := range pre.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("preflight with CORS off: %s %q", k, pre.Header().Get(k))
		}
	}
}
