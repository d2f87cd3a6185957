package watch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/testsupport"
)

// fakeRemote answers ref listings from a map and counts them.
type fakeRemote struct {
	mu    sync.Mutex
	revs  map[string]string
	errs  map[string]error
	calls map[string]int
}

func newFakeRemote() *fakeRemote {
	return &fakeRemote{revs: map[string]string{}, errs: map[string]error{}, calls: map[string]int{}}
}

func (r *fakeRemote) Revision(_ context.Context, src config.Source) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[src.Name]++
	if err := r.errs[src.Name]; err != nil {
		return "", err
	}
	return r.revs[src.Name], nil
}

func (r *fakeRemote) set(source, rev string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs[source], r.errs[source] = rev, err
}

func (r *fakeRemote) count(source string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[source]
}

func gitSource(name string, poll time.Duration) config.Source {
	return config.Source{Name: name, Git: &config.Git{Repository: "https://git.example/r.git", Branch: "main", PollInterval: config.Duration(poll)},
		SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
}

func startPoller(t *testing.T, remote *fakeRemote, srcs ...config.Source) (*fakePublisher, *Poller) {
	t.Helper()
	pub := &fakePublisher{trigger: events.TriggerGitPoll}
	p := NewGitPoller(pub, &statuses{}, remote, time.Hour, testsupport.Logger(t))
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

func TestGitPollerFailingRemote(t *testing.T) {
	remote := newFakeRemote()
	remote.set("down", "", fmt.Errorf("connection refused"))
	pub, _ := startPoller(t, remote, gitSource("down", 20*time.Millisecond))

	// One trigger so a worker records why the source is unavailable, then quiet.
	testsupport.Eventually(t, "an unavailable trigger", func() bool { return slices.Equal(pub.revisions("down"), []string{""}) })
	testsupport.Eventually(t, "retries", func() bool { return remote.count("down") >= 3 })
	if got := pub.revisions("down"); len(got) != 1 {
		t.Errorf("a failing remote published %v", got)
	}

	remote.set("down", "cccc", nil)
	testsupport.Eventually(t, "recovery", func() bool { return slices.Equal(pub.revisions("down"), []string{"", "cccc"}) })
}

func TestGitPollerBacksOff(t *testing.T) {
	if got := pollBackoff(time.Second, 1, false); got != time.Second {
		t.Errorf("first failure waits %v", got)
	}
	if got := pollBackoff(time.Second, 4, false); got != 8*time.Second {
		t.Errorf("fourth failure waits %v", got)
	}
	if got := pollBackoff(time.Minute, 50, false); got != maxPollBackoff {
		t.Errorf("many failures wait %v", got)
	}
	if got := pollBackoff(time.Second, 1, true); got != maxPollBackoff {
		t.Errorf("an auth failure waits %v, want the longest wait at once", got)
	}
}

func TestGitPollerAuthFailureIsNotRetriedSoon(t *testing.T) {
	remote := newFakeRemote()
	remote.set("locked", "", fmt.Errorf("list refs: %w", sources.ErrAuth))
	pub, _ := startPoller(t, remote, gitSource("locked", 10*time.Millisecond))
	testsupport.Eventually(t, "an unavailable trigger", func() bool { return len(pub.revisions("locked")) == 1 })
	// Sleeping here is the assertion's point: nothing may happen for a while.
	time.Sleep(200 * time.Millisecond)
	if n := remote.count("locked"); n != 1 {
		t.Errorf("an auth failure was retried %d times within 200ms", n-1)
	}
}

func TestGitPollerSkipsPinnedCommitsAndFollowsReload(t *testing.T) {
	remote := newFakeRemote()
	remote.set("a", "1111", nil)
	remote.set("b", "2222", nil)
	pinned := gitSource("pinned", 10*time.Millisecond)
	pinned.Git.Branch, pinned.Git.Commit = "", "0123456789012345678901234567890123456789"
	pub, p := startPoller(t, remote, gitSource("a", 20*time.Millisecond), pinned)

	testsupport.Eventually(t, "source a", func() bool { return len(pub.revisions("a")) == 1 })
	p.SetSources([]config.Source{gitSource("b", 20*time.Millisecond), pinned})
	testsupport.Eventually(t, "source b", func() bool { return len(pub.revisions("b")) == 1 })
	after := remote.count("a")
	testsupport.Eventually(t, "b polled again", func() bool { return remote.count("b") >= 3 })
	if remote.count("a") > after+1 {
		t.Error("a removed source is still polled")
	}
	if remote.count("pinned") != 0 {
		t.Error("a pinned commit was polled")
	}
}

func TestGitPollerRetriesPublishing(t *testing.T) {
	remote := newFakeRemote()
	remote.set("flaky", "dddd", nil)
	pub := &fakePublisher{trigger: events.TriggerGitPoll}
	var failures sync.Mutex
	left := 2
	pub.setFail(func(string) bool {
		failures.Lock()
		defer failures.Unlock()
		left--
		return left >= 0
	})
	p := NewGitPoller(pub, &statuses{}, remote, time.Hour, testsupport.Logger(t))
	p.triggers.producer.Retry.First = time.Millisecond
	p.SetSources([]config.Source{gitSource("flaky", 20*time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testsupport.Eventually(t, "a stored trigger", func() bool { return slices.Equal(pub.revisions("flaky"), []string{"dddd"}) })
	if n := len(pub.attempts("flaky")); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}
