package watch

import (
	"context"
	"reflect"
	"sync"

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
