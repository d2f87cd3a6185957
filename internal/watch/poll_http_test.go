package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/testsupport"
)

// fakeChecker answers checks from per-source state and counts them.
type fakeChecker struct {
	mu      sync.Mutex
	rev     map[string]string
	changed map[string]bool // reported once, then cleared
	errs    map[string]error
	calls   map[string]int
}

func newFakeChecker() *fakeChecker {
	return &fakeChecker{rev: map[string]string{}, changed: map[string]bool{}, errs: map[string]error{}, calls: map[string]int{}}
}

func (c *fakeChecker) Changed(_ context.Context, src config.Source) (bool, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[src.Name]++
	if err := c.errs[src.Name]; err != nil {
		return false, "", err
	}
	ch := c.changed[src.Name]
	c.changed[src.Name] = false
	return ch, c.rev[src.Name], nil
}

func (c *fakeChecker) set(source, rev string, changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rev[source], c.changed[source], c.errs[source] = rev, changed, err
}

func (c *fakeChecker) count(source string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[source]
}

func urlSource(name, u string, poll time.Duration) config.Source {
	return config.Source{Name: name, File: &config.File{URL: u, PollInterval: config.Duration(poll)}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
}

func apiSource(name string, poll time.Duration) config.Source {
	return config.Source{Name: name, API: &config.API{Endpoint: "https://registry.example", PollInterval: config.Duration(poll)}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
}

func startHTTPPoller(t *testing.T, checker ChangeChecker, srcs ...config.Source) (*fakePublisher, *Poller) {
	t.Helper()
	pub := &fakePublisher{trigger: events.TriggerHTTPPoll}
	p := NewHTTPPoller(pub, &statuses{}, checker, time.Hour, testsupport.Logger(t))
	p.triggers.producer.Retry.First = time.Millisecond
	p.SetSources(srcs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if len(pub.bad) > 0 {
			t.Errorf("malformed triggers: %v", pub.bad)
		}
	})
	return pub, p
}

func TestHTTPPollerFailingSource(t *testing.T) {
	c := newFakeChecker()
	c.set("down", "", false, errors.New("connection refused"))
	pub, _ := startHTTPPoller(t, c, urlSource("down", "https://x.example/r.json", 10*time.Millisecond))
	testsupport.Eventually(t, "an unavailable trigger", func() bool { return slices.Equal(pub.revisions("down"), []string{""}) })
	testsupport.Eventually(t, "retries", func() bool { return c.count("down") >= 3 })
	if got := pub.revisions("down"); len(got) != 1 {
		t.Errorf("a failing source published %v", got)
	}
	c.set("down", "cccc", false, nil)
	testsupport.Eventually(t, "recovery", func() bool { return slices.Equal(pub.revisions("down"), []string{"", "cccc"}) })
}

func TestHTTPPollerRespectsRetryAfter(t *testing.T) {
	c := newFakeChecker()
	c.set("busy", "", false, fmt.Errorf("check: %w", &sources.HTTPError{URL: "https://x.example", StatusCode: http.StatusTooManyRequests, RetryAfter: time.Hour}))
	pub, _ := startHTTPPoller(t, c, apiSource("busy", 5*time.Millisecond))
	testsupport.Eventually(t, "an unavailable trigger", func() bool { return len(pub.revisions("busy")) == 1 })
	// Sleeping here is the assertion's point: nothing may happen for a while.
	time.Sleep(150 * time.Millisecond)
	if n := c.count("busy"); n != 1 {
		t.Errorf("checked %d times within 150ms of a Retry-After of an hour", n)
	}
}

func TestHTTPBackoff(t *testing.T) {
	plain := errors.New("connection refused")
	for _, tt := range []struct {
		name     string
		failures int
		err      error
		want     time.Duration
	}{
		{"first failure", 1, plain, time.Second},
		{"fourth failure doubles", 4, plain, 8 * time.Second},
		{"many failures", 50, plain, maxPollBackoff},
		{"refused credentials", 1, &sources.HTTPError{StatusCode: http.StatusUnauthorized}, maxPollBackoff},
		{"forbidden", 1, &sources.HTTPError{StatusCode: http.StatusForbidden}, maxPollBackoff},
		{"Retry-After longer than the backoff", 1, &sources.HTTPError{StatusCode: 503, RetryAfter: 42 * time.Second}, 42 * time.Second},
		{"Retry-After shorter than the backoff", 6, &sources.HTTPError{StatusCode: 429, RetryAfter: 2 * time.Second}, 32 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpBackoff(time.Second, tt.failures, tt.err); got != tt.want {
				t.Errorf("httpBackoff = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestHTTPPollerFollowsSetSources(t *testing.T) {
	c := newFakeChecker()
	c.set("a", "1111", true, nil)
	c.set("b", "2222", true, nil)
	path := config.Source{Name: "local", File: &config.File{Path: "r.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	git := config.Source{Name: "git", Git: &config.Git{Repository: "https://git.example/r.git"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	pub, p := startHTTPPoller(t, c, urlSource("a", "https://x.example/a.json", 20*time.Millisecond), path, git)

	testsupport.Eventually(t, "source a", func() bool { return len(pub.revisions("a")) == 1 })
	p.SetSources([]config.Source{apiSource("b", 20*time.Millisecond), path, git})
	testsupport.Eventually(t, "source b", func() bool { return len(pub.revisions("b")) == 1 })
	after := c.count("a")
	testsupport.Eventually(t, "b checked again", func() bool { return c.count("b") >= 3 })
	if c.count("a") > after+1 {
		t.Error("a removed source is still checked")
	}
	if c.count("local") != 0 || c.count("git") != 0 {
		t.Error("a file path or git source was checked")
	}
}

func TestHTTPPollerRetriesPublishing(t *testing.T) {
	c := newFakeChecker()
	c.set("flaky", "", true, nil)
	pub := &fakePublisher{trigger: events.TriggerHTTPPoll}
	var mu sync.Mutex
	left := 5 // the first publish gives up after its 5 attempts
	pub.setFail(func(string) bool {
		mu.Lock()
		defer mu.Unlock()
		left--
		return left >= 0
	})
	p := NewHTTPPoller(pub, &statuses{}, c, time.Hour, testsupport.Logger(t))
	p.triggers.producer.Retry.First = time.Millisecond
	p.SetSources([]config.Source{apiSource("flaky", 20*time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The api reports its change once; the poller keeps it until stored.
	testsupport.Eventually(t, "a stored trigger", func() bool { return slices.Equal(pub.revisions("flaky"), []string{""}) })
}

// TestHTTPPollerWithFetcher runs the poller against a real file.url
// server with ETags: the first check publishes the digest, unchanged
// checks download nothing and publish nothing, a change publishes the
// new digest.
func TestHTTPPollerWithFetcher(t *testing.T) {
	var body atomic.Value
	body.Store(`{"v":1}`)
	var full, unchanged atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body.Load().(string)
		tag := `"` + registry.Hash([]byte(b))[:12] + `"`
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			unchanged.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		fmt.Fprint(w, b)
	}))
	defer srv.Close()
	f := &sources.Fetcher{}
	pub, _ := startHTTPPoller(t, f, urlSource("remote", srv.URL+"/r.json", 20*time.Millisecond))
	first := registry.Hash([]byte(`{"v":1}`))
	testsupport.Eventually(t, "the first digest", func() bool { return slices.Equal(pub.revisions("remote"), []string{first}) })
	testsupport.Eventually(t, "three checks of the unchanged file", func() bool { return unchanged.Load() >= 3 })
	if got := pub.revisions("remote"); len(got) != 1 {
		t.Errorf("an unchanged file published %v", got)
	}
	if n := full.Load(); n != 1 {
		t.Errorf("%d full downloads while unchanged, want 1", n)
	}
	body.Store(`{"v":2}`)
	second := registry.Hash([]byte(`{"v":2}`))
	testsupport.Eventually(t, "the new digest", func() bool { return slices.Equal(pub.revisions("remote"), []string{first, second}) })
	// The worker's fetch re-uses the body the check downloaded.
	got, err := f.Fetch(context.Background(), urlSource("remote", srv.URL+"/r.json", 20*time.Millisecond))
	if err != nil || got.Hash != second {
		t.Fatalf("Fetch = %v, %v", got, err)
	}
	if n := full.Load(); n != 2 {
		t.Errorf("%d full downloads, want 2", n)
	}
}
