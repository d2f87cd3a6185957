package watch

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
)

// RevisionLister asks a git remote which commit a source's ref points at:
// one ref listing, no fetch.
type RevisionLister interface {
	Revision(ctx context.Context, src config.Source) (string, error)
}

// Bounds of the poller's backoff after failures.
const (
	maxPollBackoff = 10 * time.Minute
	pollTimeout    = 30 * time.Second
)

// GitPoller polls the ref of every git source and publishes a
// source.changed trigger (trigger git-poll) with the commit when it moves.
// Sources pinned to a commit are never polled.
type GitPoller struct {
	pub      Publisher
	lister   RevisionLister
	interval time.Duration
	logger   *slog.Logger
	retry    retry

	loops *perSource
}

// NewGitPoller polls every interval (watch.gitPollInterval) unless a
// source sets its own git.pollInterval.
func NewGitPoller(pub Publisher, lister RevisionLister, interval time.Duration, logger *slog.Logger) *GitPoller {
	if interval <= 0 {
		interval = config.DefaultGitPollInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &GitPoller{pub: pub, lister: lister, interval: interval, logger: logger, retry: defaultRetry,
		loops: newPerSource()}
}

// SetSources sets the git sources to poll; it may be called while Run runs.
func (p *GitPoller) SetSources(srcs []config.Source) {
	m := map[string]config.Source{}
	for _, s := range srcs {
		if s.Git != nil && s.Git.Commit == "" && s.Synced() {
			m[s.Name] = s
		}
	}
	p.loops.set(m)
}

// Run polls until ctx is done, one loop per source, restarted when a
// source's configuration changes.
func (p *GitPoller) Run(ctx context.Context) error {
	return p.loops.run(ctx, p.poll)
}

// poll lists one source's ref every interval until ctx is done.
func (p *GitPoller) poll(ctx context.Context, src config.Source) {
	every := src.PollInterval()
	if every <= 0 {
		every = p.interval
	}
	pollLoop{
		what:    "git ref listing",
		timeout: pollTimeout,
		check: func(ctx context.Context, src config.Source) (bool, string, error) {
			rev, err := p.lister.Revision(ctx, src)
			return false, rev, err
		},
		failureWait: func(every time.Duration, failures int, err error) time.Duration {
			return backoff(every, failures, errors.Is(err, sources.ErrAuth))
		},
		publish: p.publish,
	}.run(ctx, src, every, p.logger)
}

func (p *GitPoller) publish(ctx context.Context, log *slog.Logger, source, rev string) bool {
	c := pollChange{producer: events.ProducerGitPoller, trigger: events.TriggerGitPoll, idPrefix: "gp", source: source, revision: rev}
	if err := p.retry.publishChange(ctx, p.pub, c, log); err != nil {
		if ctx.Err() == nil {
			log.Error("git poll trigger not published; the next poll tries again", "revision", rev, "err", err)
		}
		return false
	}
	log.Debug("git ref moved", "revision", rev)
	return true
}

// backoff doubles the wait after each failure, from the interval up to
// maxPollBackoff; an authentication failure waits the longest at once.
func backoff(every time.Duration, failures int, auth bool) time.Duration {
	if auth {
		return maxPollBackoff
	}
	d := every
	for i := 1; i < failures && d < maxPollBackoff; i++ {
		d *= 2
	}
	return min(d, maxPollBackoff)
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
