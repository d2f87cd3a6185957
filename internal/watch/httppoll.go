package watch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
)

// ChangeChecker asks an api or file.url source whether it changed, as
// cheaply as it can: a conditional GET, or one narrow API query.
// sources.Fetcher implements it.
type ChangeChecker interface {
	Changed(ctx context.Context, src config.Source) (changed bool, revision string, err error)
}

// httpCheckTimeout bounds one check; the fetcher's per-request timeout
// (api.timeout, file.timeout) is usually shorter.
const httpCheckTimeout = 5 * time.Minute

// HTTPPoller checks every api and file.url source and publishes a
// source.changed trigger (trigger http-poll) when one changed: with the
// document's digest for file.url, without a revision for api.
type HTTPPoller struct {
	pub      Publisher
	checker  ChangeChecker
	interval time.Duration
	logger   *slog.Logger
	retry    retry

	loops *perSource
}

// NewHTTPPoller checks every interval (watch.httpPollInterval) unless a
// source sets its own api.pollInterval or file.pollInterval.
func NewHTTPPoller(pub Publisher, checker ChangeChecker, interval time.Duration, logger *slog.Logger) *HTTPPoller {
	if interval <= 0 {
		interval = config.DefaultHTTPPollInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &HTTPPoller{pub: pub, checker: checker, interval: interval, logger: logger, retry: defaultRetry,
		loops: newPerSource()}
}

// SetSources sets the sources to check, keeping the api and file.url
// ones; it may be called while Run runs.
func (p *HTTPPoller) SetSources(srcs []config.Source) {
	m := map[string]config.Source{}
	for _, s := range srcs {
		if (s.API != nil || (s.File != nil && s.File.URL != "")) && s.Synced() {
			m[s.Name] = s
		}
	}
	p.loops.set(m)
}

// Run checks until ctx is done, one loop per source, restarted when a
// source's configuration changes.
func (p *HTTPPoller) Run(ctx context.Context) error {
	return p.loops.run(ctx, p.poll)
}

// poll checks one source every interval until ctx is done. An api check
// reports a change once, so a change whose trigger could not be stored
// is kept until it is (see pollLoop).
func (p *HTTPPoller) poll(ctx context.Context, src config.Source) {
	every := src.PollInterval()
	if every <= 0 {
		every = p.interval
	}
	pollLoop{
		what:        "http source check",
		timeout:     httpCheckTimeout,
		check:       p.checker.Changed,
		failureWait: httpBackoff,
		publish:     p.publish,
	}.run(ctx, src, every, p.logger)
}

// httpBackoff is the wait after a failed check: the doubling backoff,
// the longest at once when the server refused the credentials, and never
// less than a Retry-After the server asked for.
func httpBackoff(every time.Duration, failures int, err error) time.Duration {
	var he *sources.HTTPError
	auth := errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden)
	d := backoff(every, failures, auth)
	if ra, ok := sources.RetryAfter(err); ok && ra > d {
		d = ra
	}
	return d
}

func (p *HTTPPoller) publish(ctx context.Context, log *slog.Logger, source, rev string) bool {
	c := pollChange{producer: events.ProducerHTTPPoller, trigger: events.TriggerHTTPPoll, idPrefix: "hp", source: source, revision: rev}
	if err := p.retry.publishChange(ctx, p.pub, c, log); err != nil {
		if ctx.Err() == nil {
			log.Error("http poll trigger not published; the next check tries again", "revision", rev, "err", err)
		}
		return false
	}
	log.Debug("http source changed", "revision", rev)
	return true
}
