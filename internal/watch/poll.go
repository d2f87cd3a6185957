package watch

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/sources"
)

// RevisionLister asks a git remote which commit a source's ref points at:
// one ref listing, no fetch.
type RevisionLister interface {
	Revision(ctx context.Context, src config.Source) (string, error)
}

// ChangeChecker asks an api or file.url source whether it changed, as
// cheaply as it can: a conditional GET, or one narrow API query.
// sources.Fetcher implements it.
type ChangeChecker interface {
	Changed(ctx context.Context, src config.Source) (changed bool, revision string, err error)
}

// Bounds of the pollers' checks and backoff.
const (
	maxPollBackoff   = 10 * time.Minute
	gitPollTimeout   = 30 * time.Second
	httpCheckTimeout = 5 * time.Minute // the fetcher's per-request timeout is usually shorter
)

// check is what a poller asks a source: whether it changed (when the
// source can say so, as an api query does) and its current revision.
type check func(ctx context.Context, src config.Source) (changed bool, revision string, err error)

// Poller checks sources on an interval and publishes a source.changed
// trigger when one changed. One loop runs per source: it checks once at
// start (a change made while regsync was down is seen), then every
// interval, jittered so that many sources do not poll together; after a
// failure it publishes one trigger without a revision, so a worker records
// why the source is unavailable, and backs off until the source answers.
//
// NewGitPoller lists the watched ref of git sources; NewHTTPPoller checks
// api and file.url sources with a conditional GET or one narrow API query.
type Poller struct {
	what     string // what a check is, for logs: "git ref listing"
	interval time.Duration
	timeout  time.Duration
	polls    func(config.Source) bool
	check    check
	// failureWait is the wait after a failed check.
	failureWait func(every time.Duration, failures int, err error) time.Duration
	logger      *slog.Logger
	triggers    *triggers

	mu      sync.Mutex
	sources map[string]config.Source
	wake    chan struct{}
}

// NewGitPoller polls the ref of every git source every interval
// (watch.gitPollInterval) unless a source sets its own git.pollInterval,
// and publishes the commit when it moves (trigger git-poll). Sources
// pinned to a commit are never polled.
func NewGitPoller(pub TriggerSender, status Synced, lister RevisionLister, interval time.Duration, logger *slog.Logger) *Poller {
	return newPoller(pub, status, "git ref listing", events.TriggerGitPoll, events.ProducerGitPoller, "gp",
		orDefault(interval, time.Duration(config.Default().Watch.GitPollInterval)), gitPollTimeout, logger,
		func(s config.Source) bool { return s.Git != nil && s.Git.Commit == "" },
		func(ctx context.Context, src config.Source) (bool, string, error) {
			rev, err := lister.Revision(ctx, src)
			return false, rev, err
		},
		func(every time.Duration, failures int, err error) time.Duration {
			return pollBackoff(every, failures, errors.Is(err, sources.ErrAuth))
		})
}

// NewHTTPPoller checks every api and file.url source every interval
// (watch.httpPollInterval) unless a source sets its own api.pollInterval
// or file.pollInterval, and publishes when one changed (trigger
// http-poll): with the document's digest for file.url, without a revision
// for api.
func NewHTTPPoller(pub TriggerSender, status Synced, checker ChangeChecker, interval time.Duration, logger *slog.Logger) *Poller {
	return newPoller(pub, status, "http source check", events.TriggerHTTPPoll, events.ProducerHTTPPoller, "hp",
		orDefault(interval, time.Duration(config.Default().Watch.HTTPPollInterval)), httpCheckTimeout, logger,
		func(s config.Source) bool { return s.API != nil || (s.File != nil && s.File.URL != "") },
		checker.Changed, httpBackoff)
}

func newPoller(pub TriggerSender, status Synced, what, trigger, producer, idPrefix string, interval, timeout time.Duration, logger *slog.Logger,
	polls func(config.Source) bool, c check, failureWait func(time.Duration, int, error) time.Duration) *Poller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := newTriggers(pub, status, producer, trigger, idPrefix, "unknown", logger)
	t.quietStart = true
	return &Poller{
		what: what, interval: interval, timeout: timeout, polls: polls, check: c, failureWait: failureWait,
		logger:   logger,
		triggers: t,
		sources:  map[string]config.Source{},
		wake:     make(chan struct{}, 1),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// SetSources sets the sources to poll, keeping those of the poller's kind
// that regsync syncs; it may be called while Run runs: a loop starts for
// a new source, stops for a removed one, and restarts when a source's
// configuration changes.
func (p *Poller) SetSources(srcs []config.Source) {
	m := map[string]config.Source{}
	for _, s := range srcs {
		if p.polls(s) && s.Synced() {
			m[s.Name] = s
		}
	}
	p.mu.Lock()
	p.sources = m
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run polls until ctx is done, then stops every loop and waits for them.
func (p *Poller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var pub sync.WaitGroup
	pub.Go(func() { p.triggers.run(ctx) })
	defer func() {
		cancel()
		pub.Wait()
	}()
	type running struct {
		src    config.Source
		cancel context.CancelFunc
	}
	loops := map[string]running{}
	var wg sync.WaitGroup
	defer func() {
		for _, l := range loops {
			l.cancel()
		}
		wg.Wait()
	}()
	for {
		p.mu.Lock()
		want := p.sources
		p.mu.Unlock()
		names := make(map[string]bool, len(want))
		for name := range want {
			names[name] = true
		}
		p.triggers.keep(names)
		for name, l := range loops {
			if s, ok := want[name]; !ok || !reflect.DeepEqual(s, l.src) {
				l.cancel()
				delete(loops, name)
			}
		}
		for name, src := range want {
			if _, ok := loops[name]; ok {
				continue
			}
			lctx, cancel := context.WithCancel(ctx)
			loops[name] = running{src: src, cancel: cancel}
			wg.Go(func() { p.poll(lctx, src) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
	}
}

// poll checks one source until ctx is done.
func (p *Poller) poll(ctx context.Context, src config.Source) {
	log := p.logger.With("source", src.Name)
	every := orDefault(src.PollInterval(), p.interval)
	failures := 0
	var wait time.Duration // check once at start
	for {
		if retry.Wait(ctx, wait) != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		changed, rev, err := p.check(cctx, src)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if failures == 1 {
				p.triggers.offer(src.Name, "", true)
			}
			wait = p.failureWait(every, failures, err)
			log.Warn(p.what+" failed", "failures", failures, "retry_in", wait, "err", err)
			continue
		}
		if failures > 0 {
			log.Info(p.what+" succeeds again", "after_failures", failures)
		}
		failures = 0
		wait = every + jitter(src.Name, every/10)
		p.triggers.offer(src.Name, rev, changed)
	}
}

// pollBackoff is the doubling backoff from the interval up to
// maxPollBackoff; an authentication failure waits the longest at once.
func pollBackoff(every time.Duration, failures int, auth bool) time.Duration {
	if auth {
		return maxPollBackoff
	}
	return retry.Backoff{First: every, Limit: maxPollBackoff}.Delay(failures)
}

// httpBackoff is the wait after a failed http check: the doubling
// backoff, the longest at once when the server refused the credentials,
// and never less than a Retry-After the server asked for.
func httpBackoff(every time.Duration, failures int, err error) time.Duration {
	var he *sources.HTTPError
	auth := errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden)
	d := pollBackoff(every, failures, auth)
	if ra, ok := sources.RetryAfter(err); ok && ra > d {
		d = ra
	}
	return d
}

// jitter is a stable share of d for a source, so many sources do not poll
// together.
func jitter(source string, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(source))
	return time.Duration(uint64(h.Sum32()) % uint64(d))
}
