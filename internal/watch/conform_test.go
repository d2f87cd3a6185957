package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
	"github.com/regsync/regsync/internal/watch/watchtest"
)

// Every producer of this package passes the producer conformance suite.
func TestProducersConform(t *testing.T) {
	t.Run("file watcher", func(t *testing.T) {
		watchtest.TestProducer(t, newFileConformance)
	})
	t.Run("git poller", func(t *testing.T) {
		watchtest.TestProducer(t, func(t *testing.T) watchtest.Harness {
			remote := newFakeRemote()
			pub := &fakePublisher{trigger: events.TriggerGitPoll}
			p := NewGitPoller(pub, &statuses{}, remote, time.Hour, testsupport.Logger(t))
			h := &pollerConformance{pub: pub, p: p, count: remote.count,
				set: func(rev string) { remote.set(conformSource, rev, nil) }}
			h.Set(t, 0)
			p.SetSources([]config.Source{gitSource(conformSource, 5*time.Millisecond)})
			return h
		})
	})
	t.Run("http poller", func(t *testing.T) {
		watchtest.TestProducer(t, func(t *testing.T) watchtest.Harness {
			c := newFakeChecker()
			pub := &fakePublisher{trigger: events.TriggerHTTPPoll}
			p := NewHTTPPoller(pub, &statuses{}, c, time.Hour, testsupport.Logger(t))
			h := &pollerConformance{pub: pub, p: p, count: c.count,
				set: func(rev string) { c.set(conformSource, rev, true, nil) }}
			h.Set(t, 0)
			p.SetSources([]config.Source{urlSource(conformSource, "https://x.example/r.json", 5*time.Millisecond)})
			return h
		})
	})
	t.Run("http poller of an api source", func(t *testing.T) {
		// An api query tells that the source changed, not a revision.
		watchtest.TestProducer(t, func(t *testing.T) watchtest.Harness {
			c := newFakeChecker()
			pub := &fakePublisher{trigger: events.TriggerHTTPPoll}
			p := NewHTTPPoller(pub, &statuses{}, c, time.Hour, testsupport.Logger(t))
			h := &pollerConformance{pub: pub, p: p, count: c.count,
				set: func(string) { c.set(conformSource, "", true, nil) }, unknown: true}
			h.Set(t, 0)
			p.SetSources([]config.Source{apiSource(conformSource, 5*time.Millisecond)})
			return h
		})
	})
}

// conformSource is the source every harness of the suite watches.
const conformSource = "conform"

func conformStored(pub *fakePublisher) []watchtest.Trigger {
	var out []watchtest.Trigger
	for _, c := range pub.stored(conformSource) {
		out = append(out, watchtest.Trigger{ID: c.id, Revision: c.revision})
	}
	return out
}

// fileConformance is the file watcher over one file; Settle is the
// harness's probe barrier.
type fileConformance struct {
	*harness
	file string
}

func newFileConformance(t *testing.T) watchtest.Harness {
	h := &fileConformance{harness: newHarness(t)}
	h.file = h.path("registry.json")
	h.Set(t, 0)
	h.setSources(source(conformSource, h.file))
	return h
}

func (h *fileConformance) Run(ctx context.Context) error { return h.w.Run(ctx) }

func (h *fileConformance) Set(t *testing.T, version int) string {
	content := fmt.Sprintf(`{"n":%d}`, version)
	mustWrite(t, h.file, content)
	return digest(content)
}

// Settle waits for the probe's trigger, which the watcher reads after
// every change made before it, and then until what the watcher offered
// for the source is stored: triggers of different sources are stored
// concurrently, so the probe's may be stored first.
func (h *fileConformance) Settle(t *testing.T) {
	h.t = t
	h.settle()
	testsupport.Eventually(t, "the source's triggers stored", func() bool {
		tr := h.w.triggers
		tr.mu.Lock()
		defer tr.mu.Unlock()
		s := tr.sources[conformSource]
		return s == nil || (s.pending == nil && s.inflight == nil)
	})
}

func (h *fileConformance) Stored() []watchtest.Trigger { return conformStored(h.pub) }

// pollerConformance is a poller over one source whose fake remote answers
// the revision set last.
type pollerConformance struct {
	pub   *fakePublisher
	p     *Poller
	count func(source string) int
	set   func(rev string)
	// unknown is set when the source tells no revision.
	unknown bool
}

func (h *pollerConformance) Run(ctx context.Context) error { return h.p.Run(ctx) }

func (h *pollerConformance) Set(_ *testing.T, version int) string {
	rev := digest(fmt.Sprintf("commit %d", version))
	h.set(rev)
	if h.unknown {
		return ""
	}
	return rev
}

// Settle waits for two more checks: the first of them saw every change
// made so far (a check counts itself and reads the fake at once), and the
// poller offered what it saw before it made the second; then it waits
// until the offered trigger is stored.
func (h *pollerConformance) Settle(t *testing.T) {
	t.Helper()
	checks := h.count(conformSource)
	testsupport.Eventually(t, "two more checks", func() bool { return h.count(conformSource) >= checks+2 })
	testsupport.Eventually(t, "the triggers stored", func() bool {
		tr := h.p.triggers
		tr.mu.Lock()
		defer tr.mu.Unlock()
		s := tr.sources[conformSource]
		return s != nil && s.pending == nil && s.inflight == nil
	})
}

func (h *pollerConformance) Stored() []watchtest.Trigger { return conformStored(h.pub) }
