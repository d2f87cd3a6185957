package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/syncer/state"
)

// Synced reads a source's status record (state.Store), which every
// replica reads alike; a source without one gives (nil, 0, nil).
type Synced interface {
	Get(ctx context.Context, source string) (*state.Status, uint64, error)
}

// TriggerSender stores trigger events and names this deployment's
// producers: bus.Publisher, or a fake in tests. Source names a producer of
// this deployment (events.ProducerSource).
type TriggerSender interface {
	bus.Sender
	Source(producer string) string
}

// defaultWorkers is how many triggers a producer stores at once: enough
// that a thousand sources changed together are all stored within the
// time of a few dozen round trips, few enough to stay far below
// JetStream's limits of pending acknowledgements.
const defaultWorkers = 64

// triggers publishes one producer's source.changed triggers, the same way
// for every producer: the newest observation of a source wins over one not
// yet stored, an observation the workers already have (or will have) is
// not published again, one source's triggers are stored one at a time and
// in order, and up to workers sources are published at once. Only a stored
// observation counts as published: after a failure the next observation
// of the source is published even if it is the same.
type triggers struct {
	producer bus.Producer
	status   Synced
	trigger  string // events.TriggerFile, TriggerGitPoll, TriggerHTTPPoll
	idPrefix string // file, gp, hp
	unknown  string // what an id says for an empty revision
	// quietStart makes a source's empty revision old news until a first
	// trigger was stored: a poller's api source has no revision to tell,
	// whereas a watched file that is missing at start is news.
	quietStart bool
	workers    int
	logger     *slog.Logger

	wake chan struct{}

	mu      sync.Mutex
	sources map[string]*sourceTriggers // by source name
	queue   []*sourceTriggers          // sources with a pending observation, oldest first
	lastID  int64                      // time part of the last replica-own event id
}

// sourceTriggers is what the triggers know of one source. Guarded by
// triggers.mu.
type sourceTriggers struct {
	name      string
	known     bool         // published holds a stored revision
	published string       // the last revision stored ("" = unavailable)
	pending   *observation // the newest observation, not yet taken
	inflight  *observation // the observation being published
	// after names the sync the ids in used follow (see identify); used
	// counts how often each of them was given since that sync, and
	// announced is the last revision given an id since then.
	after     string
	used      map[string]int
	announced string
}

type observation struct {
	revision string
}

func newTriggers(pub TriggerSender, status Synced, producer, trigger, idPrefix, unknown string, logger *slog.Logger) *triggers {
	return &triggers{
		producer: bus.Producer{Name: pub.Source(producer), Sender: pub, Retry: bus.DefaultRetry, Logger: logger},
		status:   status,
		trigger:  trigger,
		idPrefix: idPrefix,
		unknown:  unknown,
		workers:  defaultWorkers,
		logger:   logger,
		wake:     make(chan struct{}, 1),
		sources:  make(map[string]*sourceTriggers),
	}
}

// latest returns the revision the workers will have heard of once every
// trigger in hand is stored, and whether there is one.
func (s *sourceTriggers) latest() (string, bool) {
	switch {
	case s.pending != nil:
		return s.pending.revision, true
	case s.inflight != nil:
		return s.inflight.revision, true
	}
	return s.published, s.known
}

// offer hands an observation of a source to the publisher. It is dropped
// when it is what the workers already have or will have, unless changed
// says the source changed whatever its revision (an api source reports a
// change without one).
func (t *triggers) offer(source, revision string, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[source]
	if s == nil {
		s = &sourceTriggers{name: source, known: t.quietStart}
		t.sources[source] = s
	}
	if !changed {
		if s.pending != nil && s.inflight != nil && s.inflight.revision == revision {
			// Back to what is being published: the newer observation is moot.
			s.pending = nil
			return
		}
		if rev, known := s.latest(); known && rev == revision {
			return
		}
	}
	if s.pending == nil && s.inflight == nil {
		t.queue = append(t.queue, s)
	}
	s.pending = &observation{revision: revision}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// wouldPublish reports whether revision is news for a source.
func (t *triggers) wouldPublish(source, revision string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sources[source]
	if s == nil {
		return true
	}
	rev, known := s.latest()
	return !known || rev != revision
}

// keep forgets every source not in names: nothing more is published for
// them, and a source that comes back starts over.
func (t *triggers) keep(names map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.sources {
		if !names[name] {
			delete(t.sources, name)
		}
	}
}

// reset forgets every source.
func (t *triggers) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sources, t.queue = make(map[string]*sourceTriggers), nil
}

// identify names an observation alike on every replica that makes it, so
// that their triggers collapse into one in JetStream's duplicate window:
// <prefix>-<source>-<first 12 characters of the revision>-<after>, where
// after names the sync the observation follows: the lastSyncTime of the
// source's status record (unix nanoseconds, 0 before any). A revision
// that comes back (A → B → A) after a sync follows another sync and gets
// another id; one that comes back before any sync ended is told apart by
// a count ("-2", "-3") of the ids this producer gave since that sync.
//
// It reports false when the status records the revision as synced and
// this producer announced no other revision since that sync: the workers
// would answer the trigger skipped, so it is no news. A revision announced
// since then may be what a sync under way has read (A → B → A while B's
// sync runs, the status still naming A), so A is news again. When the
// status cannot be read the id is this replica's own, so that nothing is
// lost: replicas then publish one trigger each.
func (t *triggers) identify(ctx context.Context, s *sourceTriggers, revision string) (string, bool) {
	seen := t.unknown
	if revision != "" {
		seen = revision[:min(12, len(revision))]
	}
	st, _, err := t.status.Get(ctx, s.name)
	if err != nil {
		t.logger.Warn("status not read, the trigger is named for this replica only", "source", s.name, "err", err)
		t.mu.Lock()
		defer t.mu.Unlock()
		// Strictly increasing, so two observations never share an id.
		at := max(time.Now().UnixNano(), t.lastID+1)
		t.lastID = at
		return fmt.Sprintf("%s-%s-%s-at%d", t.idPrefix, s.name, seen, at), true
	}
	after := "0"
	if st != nil && st.LastSyncTime != nil {
		after = strconv.FormatInt(st.LastSyncTime.UnixNano(), 10)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.after != after || s.used == nil {
		s.after, s.used, s.announced = after, map[string]int{}, ""
	}
	if st != nil && revision != "" && st.Phase == state.PhaseComplete && st.Revision == revision &&
		(s.announced == "" || s.announced == revision) {
		return "", false
	}
	id := fmt.Sprintf("%s-%s-%s-%s", t.idPrefix, s.name, seen, after)
	s.announced = revision
	s.used[id]++
	if n := s.used[id]; n > 1 {
		id += "-" + strconv.Itoa(n)
	}
	return id, true
}

// run stores offered triggers on t.workers goroutines until ctx is done,
// then waits for them. Triggers not yet stored are dropped.
func (t *triggers) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range max(1, t.workers) {
		wg.Go(func() {
			for {
				for ctx.Err() == nil {
					s, o := t.next()
					if o == nil {
						break
					}
					t.deliver(ctx, s, o)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.wake:
				}
			}
		})
	}
	wg.Wait()
}

// next takes the oldest pending observation of a source that has none in
// flight.
func (t *triggers) next() (*sourceTriggers, *observation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.queue) > 0 {
		s := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		if t.sources[s.name] != s || s.pending == nil || s.inflight != nil {
			continue
		}
		o := s.pending
		s.pending, s.inflight = nil, o
		if len(t.queue) > 0 {
			// More work: wake another worker.
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
		return s, o
	}
	return nil, nil
}

// deliver stores one observation with retries, given up when a newer one
// of the same source replaces it.
func (t *triggers) deliver(ctx context.Context, s *sourceTriggers, o *observation) {
	id, news := t.identify(ctx, s, o.revision)
	log := t.logger.With("source", s.name, "revision", o.revision, "event_id", id)
	stale := func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.sources[s.name] != s || s.pending != nil
	}
	var err error
	if news {
		_, err = t.producer.PublishUnlessStale(ctx, id,
			&events.SourceChanged{Source: s.name, Trigger: t.trigger, Revision: o.revision}, stale)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	s.inflight = nil
	if s.pending != nil {
		t.queue = append(t.queue, s)
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	switch {
	case err == nil && !news:
		s.published, s.known = o.revision, true
		log.Debug("revision already synced, no trigger published", "trigger", t.trigger)
	case err == nil:
		s.published, s.known = o.revision, true
		log.Info("published trigger", "trigger", t.trigger)
	case errors.Is(err, bus.ErrStale) || ctx.Err() != nil:
	default:
		s.known = false
		log.Error("trigger not published; the next observation tries again", "trigger", t.trigger, "err", err)
	}
}
