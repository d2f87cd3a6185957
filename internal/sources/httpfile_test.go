package sources

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

func urlSrc(u string) config.Source {
	return config.Source{Name: "remote", File: &config.File{URL: u}}
}

// sharedRegistry returns the shared example registry's bytes, skipping the
// test when the file is not there.
func sharedRegistry(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(sharedUpstream)
	if os.IsNotExist(err) {
		t.Skipf("%s is absent: the shared test data is not laid out beside this checkout", sharedUpstream)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// conditionalFile serves body with the given validator: "etag" answers
// If-None-Match, "last-modified" answers If-Modified-Since. It counts the
// full answers and the body bytes written.
type conditionalFile struct {
	validator string
	body      atomic.Pointer[[]byte]
	modified  time.Time
	full      atomic.Int64
	bodyBytes int64
}

func (c *conditionalFile) set(b []byte) {
	c.body.Store(&b)
	c.modified = c.modified.Add(time.Minute)
}

func (c *conditionalFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := *c.body.Load()
	switch c.validator {
	case "etag":
		tag := fmt.Sprintf(`"%s"`, registry.Hash(body)[:16])
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case "last-modified":
		w.Header().Set("Last-Modified", c.modified.UTC().Format(http.TimeFormat))
		if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !c.modified.Truncate(time.Second).After(t) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	c.full.Add(1)
	_, _ = bodyCounter{w, &c.bodyBytes}.Write(body)
}

func TestFileURLConditional(t *testing.T) {
	data := sharedRegistry(t)
	for _, validator := range []string{"etag", "last-modified"} {
		t.Run(validator, func(t *testing.T) {
			h := &conditionalFile{validator: validator, modified: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
			h.set(data)
			srv, wire := countedServer(t, h)
			f := &Fetcher{}
			src := urlSrc(srv.URL + "/registry.json")
			ctx := context.Background()

			got, err := f.Fetch(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Raw, data) || got.Hash != registry.Hash(data) || got.Revision != got.Hash {
				t.Fatalf("fetched %d bytes hash %s", len(got.Raw), got.Hash)
			}
			if _, err := registry.Parse(got.Raw); err != nil {
				t.Fatal(err)
			}

			before := atomic.LoadInt64(&h.bodyBytes)
			wire.reset()
			again, err := f.Fetch(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Raw, data) || again.Hash != got.Hash {
				t.Error("the cached body differs")
			}
			if n := atomic.LoadInt64(&h.bodyBytes) - before; n != 0 {
				t.Errorf("an unchanged Fetch downloaded %d body bytes", n)
			}
			t.Logf("an unchanged %s Fetch moved %d bytes on the wire (request %d, response %d) instead of %d",
				validator, wire.in.Load()+wire.out.Load(), wire.in.Load(), wire.out.Load(), len(data))

			wire.reset()
			changed, rev, err := f.Changed(ctx, src)
			if err != nil || changed || rev != got.Hash {
				t.Fatalf("unchanged check = %v, %s, %v", changed, rev, err)
			}
			if n := atomic.LoadInt64(&h.bodyBytes) - before; n != 0 {
				t.Errorf("an unchanged check downloaded %d body bytes", n)
			}
			t.Logf("an unchanged %s check moved %d bytes on the wire", validator, wire.in.Load()+wire.out.Load())
			if n := wire.in.Load() + wire.out.Load(); n > 1024 {
				t.Errorf("an unchanged check moved %d bytes", n)
			}
			if full := h.full.Load(); full != 1 {
				t.Errorf("%d full answers, want 1", full)
			}

			changedData := bytes.Replace(data, []byte(`"last_updated": "`), []byte(`"last_updated":  "`), 1)
			h.set(changedData)
			changed, rev, err = f.Changed(ctx, src)
			if err != nil || !changed || rev != registry.Hash(changedData) {
				t.Fatalf("check after a change = %v, %s, %v", changed, rev, err)
			}
			full := h.full.Load()
			got, err = f.Fetch(ctx, src)
			if err != nil || !bytes.Equal(got.Raw, changedData) {
				t.Fatalf("fetch after the check: %v", err)
			}
			if h.full.Load() != full {
				t.Error("the Fetch after a check downloaded the body again")
			}
		})
	}
}

func TestFileURLFailures(t *testing.T) {
	t.Run("redirect loop", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next := "/a"
			if r.URL.Path == "/a" {
				next = "/b"
			}
			http.Redirect(w, r, next, http.StatusFound)
		}))
		defer srv.Close()
		_, err := (&Fetcher{}).Fetch(context.Background(), urlSrc(srv.URL+"/a"))
		want := fmt.Sprintf("failed to fetch URL %[1]s/a: failed to execute request to %[1]s/a: stopped after 5 redirects: %[1]s/a -> %[1]s/b -> %[1]s/a", srv.URL)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("err = %v, want %q...", err, want)
		}
	})
	t.Run("five redirects are followed", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var n int
			fmt.Sscanf(r.URL.Path, "/%d", &n)
			if n < 5 {
				http.Redirect(w, r, fmt.Sprintf("/%d", n+1), http.StatusFound)
				return
			}
			fmt.Fprint(w, "{}")
		}))
		defer srv.Close()
		if _, err := (&Fetcher{}).Fetch(context.Background(), urlSrc(srv.URL+"/0")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("HTTP 404", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		_, err := (&Fetcher{}).Fetch(context.Background(), urlSrc(srv.URL+"/r.json"))
		want := fmt.Sprintf("failed to fetch URL %[1]s/r.json: HTTP 404 for URL %[1]s/r.json: Not Found", srv.URL)
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})
	t.Run("oversized by Content-Length", func(t *testing.T) {
		var written atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5000")
			n, _ := w.Write(bytes.Repeat([]byte(" "), 5000))
			written.Add(int64(n))
		}))
		defer srv.Close()
		_, err := (&Fetcher{MaxSize: 1000}).Fetch(context.Background(), urlSrc(srv.URL))
		if err == nil || !strings.Contains(err.Error(), "response size 5000 bytes exceeds maximum allowed size of 1000 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("oversized without Content-Length", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range 10 {
				w.Write(bytes.Repeat([]byte(" "), 500))
				w.(http.Flusher).Flush()
			}
		}))
		defer srv.Close()
		_, err := (&Fetcher{MaxSize: 1000}).Fetch(context.Background(), urlSrc(srv.URL))
		if err == nil || !strings.Contains(err.Error(), "response size 1001 bytes exceeds maximum allowed size of 1000 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		src := urlSrc(srv.URL)
		src.File.Timeout = config.Duration(100 * time.Millisecond)
		start := time.Now()
		_, err := (&Fetcher{}).Fetch(context.Background(), src)
		// The server never answers: only a timeout ends the fetch, and
		// one that came before the default's could only be the one set.
		if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") || time.Since(start) >= config.DefaultFileTimeout {
			t.Fatalf("err = %v after %s", err, time.Since(start))
		}
	})
	t.Run("429 with an HTTP date", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		defer srv.Close()
		_, _, err := (&Fetcher{}).Changed(context.Background(), urlSrc(srv.URL))
		if d, ok := RetryAfter(err); !ok || d < time.Minute || d > 2*time.Minute {
			t.Fatalf("RetryAfter(%v) = %s, %v", err, d, ok)
		}
	})
	t.Run("other schemes", func(t *testing.T) {
		_, err := (&Fetcher{}).Fetch(context.Background(), urlSrc("ftp://example.com/r.json"))
		if err == nil || !strings.Contains(err.Error(), `failed to create request: unsupported scheme "ftp"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFileURLTokenNeverInErrors(t *testing.T) {
	const token = "file-token-7f3a"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	src := urlSrc(srv.URL)
	src.File.BearerTokenFile = tokenFile
	_, err := (&Fetcher{}).Fetch(context.Background(), src)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("err = %v", err)
	}
	if got.Load() != "Bearer "+token {
		t.Errorf("Authorization %q", got.Load())
	}
}

func TestHTTPSourcesTLS(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer tlsSrv.Close()

	t.Run("self-signed refused", func(t *testing.T) {
		_, err := (&Fetcher{}).Fetch(context.Background(), urlSrc(tlsSrv.URL))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
	t.Run("self-signed accepted with insecureSkipVerify", func(t *testing.T) {
		var logs bytes.Buffer
		f := &Fetcher{Logger: newTestLogger(&logs)}
		src := urlSrc(tlsSrv.URL)
		src.File.InsecureSkipVerify = true
		if _, err := f.Fetch(context.Background(), src); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "TLS certificate verification is OFF") {
			t.Errorf("no warning logged: %q", logs.String())
		}
	})
	t.Run("http to https redirect followed", func(t *testing.T) {
		plain := httptest.NewServer(http.RedirectHandler(tlsSrv.URL+"/r.json", http.StatusMovedPermanently))
		defer plain.Close()
		src := urlSrc(plain.URL)
		src.File.InsecureSkipVerify = true // the test server's certificate is self-signed
		if _, err := (&Fetcher{}).Fetch(context.Background(), src); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("https to http redirect refused", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{}`)
		}))
		defer plain.Close()
		down := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/r.json", http.StatusFound))
		defer down.Close()
		src := urlSrc(down.URL)
		src.File.InsecureSkipVerify = true
		_, err := (&Fetcher{}).Fetch(context.Background(), src)
		if err == nil || !strings.Contains(err.Error(), "downgrade from https to http refused") {
			t.Fatalf("err = %v", err)
		}
	})
}

// Credentials in a source URL (user information, a signed query) never
// reach an error, which ends up in logs, the status record and
// sync.failed events.
func TestURLCredentialsNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-sig-value"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cases := []struct {
		name string
		src  config.Source
	}{
		{"file.url answered with an error", urlSrc(srv.URL + "/r.json?sp=r&sig=" + secret)},
		{"file.url unreachable", urlSrc(closed.URL + "/r.json?token=" + secret)},
		{"file.url with user information", urlSrc("http://bot:" + secret + "@" + strings.TrimPrefix(closed.URL, "http://") + "/r.json")},
		{"api endpoint with a token", config.Source{Name: "api", API: &config.API{Endpoint: closed.URL + "/?token=" + secret}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Fetcher{}).Fetch(context.Background(), tc.src)
			if err == nil || strings.Contains(err.Error(), secret) {
				t.Fatalf("err = %v", err)
			}
			if tc.src.File != nil {
				_, _, err = (&Fetcher{}).Changed(context.Background(), tc.src)
				if err == nil || strings.Contains(err.Error(), secret) {
					t.Fatalf("Changed: err = %v", err)
				}
			}
		})
	}
}
