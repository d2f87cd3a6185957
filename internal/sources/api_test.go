package sources

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

func apiSrc(endpoint string) config.Source {
	return config.Source{Name: "upstream", API: &config.API{Endpoint: endpoint}}
}

// referenceAPIHash computes the ToolHive Registry Server's api hash on
// its own: SHA-256 over the Go encoding of {"servers":[...]}.
func referenceAPIHash(t *testing.T, servers []json.RawMessage) string {
	t.Helper()
	data := struct {
		Servers []upstreamv0.ServerJSON `json:"servers"`
	}{}
	for _, s := range servers {
		var sj upstreamv0.ServerJSON
		if err := json.Unmarshal(s, &sj); err != nil {
			t.Fatal(err)
		}
		data.Servers = append(data.Servers, sj)
	}
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestAPIFetchRealData(t *testing.T) {
	servers := upstreamServers(t)
	updated := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	api := &fakeAPI{servers: servers, pageSize: 100, updated: updated}
	srv := httptest.NewServer(api)
	defer srv.Close()

	f := &Fetcher{}
	got, err := f.Fetch(context.Background(), apiSrc(srv.URL+"/"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Parse(got.Raw)
	if err != nil {
		t.Fatalf("registry.Parse: %v", err)
	}
	if n := len(reg.Data.Servers); n != 12 {
		t.Fatalf("%d servers, want 12", n)
	}
	if want := referenceAPIHash(t, servers); got.Hash != want || got.Revision != want {
		t.Errorf("hash %s revision %s, want %s", got.Hash, got.Revision, want)
	}
	if got.Hash == registry.Hash(got.Raw) {
		t.Error("the api hash is the hash of Raw; it must be the hash of the data alone")
	}
	if reg.Meta.LastUpdated != updated.Format(time.RFC3339) {
		t.Errorf("meta.last_updated %s, want the newest updatedAt %s", reg.Meta.LastUpdated, updated.Format(time.RFC3339))
	}
	again, err := f.Fetch(context.Background(), apiSrc(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Raw, got.Raw) || again.Hash != got.Hash {
		t.Error("unchanged data gave different bytes or hash")
	}
}

func TestAPIPagination(t *testing.T) {
	servers := upstreamServers(t)
	for _, tt := range []struct {
		name     string
		pageSize int
		want     []string
	}{
		{"one page", 100, []string{""}},
		{"two pages", 6, []string{"", "c6"}},
		{"many pages", 1, []string{"", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{servers: servers, pageSize: tt.pageSize}
			srv := httptest.NewServer(api)
			defer srv.Close()
			got, err := (&Fetcher{}).Fetch(context.Background(), apiSrc(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			if c := api.seenCursors(); !slices.Equal(c, tt.want) {
				t.Errorf("cursors %q, want %q", c, tt.want)
			}
			reg, err := registry.Parse(got.Raw)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range reg.Data.Servers {
				names = append(names, s.Name)
			}
			var want []string
			for _, s := range servers {
				var sj upstreamv0.ServerJSON
				_ = json.Unmarshal(s, &sj)
				want = append(want, sj.Name)
			}
			if !slices.Equal(names, want) {
				t.Errorf("servers %v, want in order %v", names, want)
			}
			if got.Hash != referenceAPIHash(t, servers) {
				t.Error("the hash depends on the page size")
			}
		})
	}
}

func TestAPIListingFailures(t *testing.T) {
	servers := upstreamServers(t)
	tests := []struct {
		name    string
		page    func(w http.ResponseWriter, r *http.Request, n int) bool
		setup   func(f *Fetcher, src *config.Source)
		want    string
		checkFn func(t *testing.T, err error)
	}{
		{
			name: "a cursor loop",
			page: func(w http.ResponseWriter, r *http.Request, n int) bool {
				writePage(w, servers[:1], "same", time.Time{})
				return true
			},
			want: `failed to fetch servers: page 2 returned cursor "same" again (first returned by page 1)`,
		},
		{
			name: "too many pages",
			page: func(w http.ResponseWriter, r *http.Request, n int) bool {
				writePage(w, servers[:1], fmt.Sprintf("p%d", n), time.Time{})
				return true
			},
			setup: func(f *Fetcher, _ *config.Source) { f.maxAPIPages = 3 },
			want:  "failed to fetch servers: pagination exceeded maximum pages (3), possible infinite loop or malicious upstream",
		},
		{
			name: "malformed JSON on page 3",
			page: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 3 {
					fmt.Fprint(w, `{"servers":[{"server":`)
					return true
				}
				return false
			},
			want: "failed to fetch servers: failed to parse response page 3: unexpected end of JSON input",
		},
		{
			name: "an oversized listing",
			setup: func(f *Fetcher, _ *config.Source) {
				f.MaxSize = 4000
			},
			want: "exceeds maximum allowed size of 4000 bytes",
		},
		{
			name: "HTTP 500 on a page",
			page: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 2 {
					w.WriteHeader(http.StatusInternalServerError)
					return true
				}
				return false
			},
			want: "failed to fetch servers: failed to fetch page 2: HTTP 500 for URL ",
		},
		{
			name: "429 with Retry-After",
			page: func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			},
			want: ": Too Many Requests (retry after 7s)",
			checkFn: func(t *testing.T, err error) {
				if d, ok := RetryAfter(err); !ok || d != 7*time.Second {
					t.Errorf("RetryAfter = %s, %v; want 7s", d, ok)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{servers: servers, pageSize: 2, page: tt.page}
			srv := httptest.NewServer(api)
			defer srv.Close()
			f := &Fetcher{}
			src := apiSrc(srv.URL)
			if tt.setup != nil {
				tt.setup(f, &src)
			}
			_, err := f.Fetch(context.Background(), src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if tt.checkFn != nil {
				tt.checkFn(t, err)
			}
		})
	}
}

func TestAPITooManyServers(t *testing.T) {
	servers := upstreamServers(t)
	api := &fakeAPI{servers: servers, pageSize: 5}
	srv := httptest.NewServer(api)
	defer srv.Close()
	f := &Fetcher{}
	caps := apiLimits{pages: 10, servers: 8}
	_, _, err := f.listServersWith(context.Background(), srv.URL, httpOptions{timeout: time.Second}, f.maxSize(), caps)
	if want := "total servers (10) would exceed maximum (8), could cause out of service"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestAPIHangingServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	src := apiSrc(srv.URL)
	src.API.Timeout = config.Duration(100 * time.Millisecond)
	start := time.Now()
	_, err := (&Fetcher{}).Fetch(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the fetch took %s with a 100ms timeout", d)
	}
}

func TestAPIFormatProbe(t *testing.T) {
	tests := []struct {
		name, yaml string
		status     int
		want       string
	}{
		{"missing", "", http.StatusNotFound, "upstream format validation failed: failed to fetch /openapi.yaml: HTTP 404 for URL "},
		{"not YAML", "info: [unclosed", 200, "upstream format validation failed: failed to parse /openapi.yaml: yaml:"},
		{"no info", "openapi: 3.1.0\n", 200, "/openapi.yaml: missing 'info' section"},
		{"no version", "info:\n  description: https://github.com/modelcontextprotocol/registry\n", 200, "/openapi.yaml: missing 'version' field"},
		{"version as a float", "info:\n  version: 1.0\n  description: https://github.com/modelcontextprotocol/registry\n", 200, "missing 'version' field: info.version is 1 (float64)"},
		{"another version", "info:\n  version: \"2.0.0\"\n  description: https://github.com/modelcontextprotocol/registry\n", 200, "/openapi.yaml: version is 2.0.0, expected 1.0.0"},
		{"no description", "info:\n  version: \"1.0.0\"\n", 200, "/openapi.yaml: missing 'description' field"},
		{"another project", "info:\n  version: \"1.0.0\"\n  description: some registry\n", 200, "description does not contain expected GitHub URL https://github.com/modelcontextprotocol/registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listed := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/openapi.yaml" {
					w.WriteHeader(tt.status)
					fmt.Fprint(w, tt.yaml)
					return
				}
				listed = true
				writePage(w, nil, "", time.Time{})
			}))
			defer srv.Close()
			_, err := (&Fetcher{}).Fetch(context.Background(), apiSrc(srv.URL))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if listed {
				t.Error("servers were listed after a failed probe")
			}
		})
	}
}

func TestAPIRequestHeadersAndToken(t *testing.T) {
	servers := upstreamServers(t)
	const token = "s3cr3t-token-value"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api := &fakeAPI{servers: servers, pageSize: 100}
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ua, acc := r.Header.Get("User-Agent"), r.Header.Get("Accept"); ua != "regsync/1.2.3" || acc != "application/json" {
			bad = append(bad, ua+" "+acc)
		}
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f := &Fetcher{Version: "1.2.3"}
	src := apiSrc(srv.URL)
	src.API.BearerTokenFile = tokenFile
	if _, err := f.Fetch(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("headers %q", bad)
	}

	if err := os.WriteFile(tokenFile, []byte("wrong-"+token), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.Fetch(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v, want HTTP 401 with a token read again", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q contains the token", err)
	}
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "failed to read bearer token file "+tokenFile) {
		t.Fatalf("err = %v, want the token file named", err)
	}
}

func TestAPIChanged(t *testing.T) {
	servers := upstreamServers(t)
	api := &fakeAPI{servers: servers, pageSize: 100}
	var changedNow bool
	var sinceSeen []string
	api.since = func(w http.ResponseWriter, r *http.Request) {
		sinceSeen = append(sinceSeen, r.URL.Query().Get("updated_since"))
		if changedNow {
			writePage(w, servers[:1], "c1", time.Now())
			return
		}
		writePage(w, nil, "", time.Time{})
	}
	srv, wire := countedServer(t, api)
	f := &Fetcher{}
	src := apiSrc(srv.URL)
	ctx := context.Background()

	changed, rev, err := f.Changed(ctx, src)
	if err != nil || !changed || rev != "" {
		t.Fatalf("first check = %v, %q, %v; want a change with no revision", changed, rev, err)
	}
	wire.reset()
	changed, _, err = f.Changed(ctx, src)
	if err != nil || changed {
		t.Fatalf("unchanged check = %v, %v", changed, err)
	}
	t.Logf("an unchanged api check moved %d bytes (request %d, response %d)", wire.in.Load()+wire.out.Load(), wire.in.Load(), wire.out.Load())
	if n := wire.in.Load() + wire.out.Load(); n > 1024 {
		t.Errorf("an unchanged check moved %d bytes", n)
	}
	changedNow = true
	changed, _, err = f.Changed(ctx, src)
	if err != nil || !changed {
		t.Fatalf("check after an update = %v, %v", changed, err)
	}
	if len(sinceSeen) != 2 {
		t.Fatalf("updated_since sent %d times, want 2", len(sinceSeen))
	}
	for _, s := range sinceSeen {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Errorf("updated_since %q: %v", s, err)
		}
	}
	for _, q := range api.queries {
		if !strings.Contains(q, "limit=1") {
			t.Errorf("check query %q does not ask for one server", q)
		}
	}

	api.since = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _, err = f.Changed(ctx, src)
	if d, ok := RetryAfter(err); !ok || d != 30*time.Second {
		t.Fatalf("RetryAfter(%v) = %s, %v; want 30s", err, d, ok)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("err = %v, want an *HTTPError 503", err)
	}
}

// TestAPIDefaultPageCap serves 1001 tiny pages against the real cap.
func TestAPIDefaultPageCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.yaml" {
			fmt.Fprint(w, probeYAML)
			return
		}
		var n int
		fmt.Sscanf(r.URL.Query().Get("cursor"), "p%d", &n)
		fmt.Fprintf(w, `{"servers":[],"metadata":{"nextCursor":"p%d","count":0}}`, n+1)
	}))
	defer srv.Close()
	_, err := (&Fetcher{}).Fetch(context.Background(), apiSrc(srv.URL))
	if want := "failed to fetch servers: pagination exceeded maximum pages (1000), possible infinite loop or malicious upstream"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
