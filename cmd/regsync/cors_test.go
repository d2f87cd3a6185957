package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// headersOf sends a request with the given header pairs and returns the
// answer's code and headers.
func headersOf(t *testing.T, method, url string, headers ...string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header
}

// TestReadAPIAllowsBrowserClients runs serve as VS Code's MCP gallery
// meets it: a preflight, then a GET from another origin. The endpoints
// that are not the read API send no CORS headers, and api.cors: false
// turns them off for a proxy that adds its own.
func TestReadAPIAllowsBrowserClients(t *testing.T) {
	const origin = "vscode-file://vscode-app"
	t.Run("on by default", func(t *testing.T) {
		svc, _ := serveQuickStart(t, "")
		root := "http://" + svc.httpAddr
		base := root + "/registry/quickstart"
		testsupport.Eventually(t, "the quick-start registry served", func() bool {
			return apiGet(t, base+"/v0.1/servers").code == http.StatusOK
		})
		code, hd := headersOf(t, http.MethodOptions, base+"/v0.1/servers", "Origin", origin,
			"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
		if code != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != "*" ||
			hd.Get("Access-Control-Allow-Methods") != "GET, HEAD, OPTIONS" || hd.Get("Access-Control-Allow-Headers") == "" {
			t.Errorf("preflight: %d %v", code, hd)
		}
		code, hd = headersOf(t, http.MethodGet, base+"/v0.1/servers", "Origin", origin)
		if code != http.StatusOK || hd.Get("Access-Control-Allow-Origin") != "*" || hd.Get("Access-Control-Expose-Headers") != "ETag, Retry-After" {
			t.Errorf("GET: %d %v", code, hd)
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/webhooks/generic"} {
			code, hd := headersOf(t, http.MethodGet, root+path, "Origin", origin)
			if got := hd.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("GET %s: %d with Access-Control-Allow-Origin %q", path, code, got)
			}
		}
	})
	t.Run("off with api.cors false", func(t *testing.T) {
		svc, _ := serveQuickStart(t, "api: {cors: false}\n")
		base := "http://" + svc.httpAddr + "/registry/quickstart"
		testsupport.Eventually(t, "the quick-start registry served", func() bool {
			return apiGet(t, base+"/v0.1/servers").code == http.StatusOK
		})
		code, hd := headersOf(t, http.MethodGet, base+"/v0.1/servers", "Origin", origin)
		if code != http.StatusOK || hd.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET: %d with Access-Control-Allow-Origin %q", code, hd.Get("Access-Control-Allow-Origin"))
		}
	})
}
