package watch

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/regsync/regsync/internal/config"
)

// perSource runs one loop per source for a poller and follows its
// SetSources: a loop starts for a new source, stops for a removed one,
// and restarts when the source's configuration changes.
type perSource struct {
	mu      sync.Mutex
	sources map[string]config.Source
	wake    chan struct{}
}

func newPerSource() *perSource {
	return &perSource{sources: map[string]config.Source{}, wake: make(chan struct{}, 1)}
}

// set replaces the sources to run loops for; safe while run runs.
func (p *perSource) set(srcs map[string]config.Source) {
	p.mu.Lock()
	p.sources = srcs
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run keeps one loop(ctx, source) running per source until ctx is done,
// then stops them all and waits for them.
func (p *perSource) run(ctx context.Context, loop func(context.Context, config.Source)) error {
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
			wg.Go(func() { loop(lctx, src) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
	}
}

// check is what a poller asks a source: whether it changed (when the
// source can say so, as an api query does) and its current revision.
type check func(ctx context.Context, src config.Source) (changed bool, revision string, err error)

// pollLoop is one poller's loop for one source, the same for git and
// HTTP: check once at start, then every interval (jittered); publish when
// the check reports a change or a new revision, and keep a change whose
// trigger could not be stored until it is; after a failure publish one
// trigger without a revision, so a worker records why the source is
// unavailable, then wait as failureWait says until the source answers.
type pollLoop struct {
	what        string // what a check is, for logs: "git ref listing"
	timeout     time.Duration
	check       check
	failureWait func(every time.Duration, failures int, err error) time.Duration
	publish     func(ctx context.Context, log *slog.Logger, source, revision string) bool
}

func (l pollLoop) run(ctx context.Context, src config.Source, every time.Duration, logger *slog.Logger) {
	log := logger.With("source", src.Name)
	var last string // the revision last published
	pending := false
	failures := 0
	var wait time.Duration // check once at start: a change made while regsync was down is seen
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, l.timeout)
		changed, rev, err := l.check(cctx, src)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if failures == 1 {
				l.publish(ctx, log, src.Name, "")
				last = ""
			}
			wait = l.failureWait(every, failures, err)
			log.Warn(l.what+" failed", "failures", failures, "retry_in", wait, "err", err)
			continue
		}
		if failures > 0 {
			log.Info(l.what+" succeeds again", "after_failures", failures)
		}
		failures = 0
		wait = every + jitter(src.Name, every/10)
		if !changed && !pending && rev == last {
			continue
		}
		pending = !l.publish(ctx, log, src.Name, rev)
		if !pending {
			last = rev
		}
	}
}
