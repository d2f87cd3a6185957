package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// Interval is the safety net: it requests a sync of every source at each of
// its interval slots, and retries failed sources at the time their status
// names. ShouldSync still decides; an unchanged source is skipped.
type Interval struct {
	producer bus.Producer
	logger   *slog.Logger
	// clock tells the time the schedule is read at and wakes the loop
	// when its next slot or retry comes.
	clock clock

	mu sync.Mutex
	// intervals are the sources' syncPolicy intervals, parsed once: the
	// schedule is computed for every source whenever the loop wakes.
	intervals map[string]time.Duration
	retries   map[string]nextRetry
	// slots holds the latest slot seen per source; a source's first slot
	// is only noted (its startup trigger covers it).
	slots map[string]int64
	wake  chan struct{}
}

// nextRetry is a failed source's next attempt.
type nextRetry struct {
	id string
	at time.Time
}

// retryID names the retry of the failure a status records:
// rt-<source>-<attempt>-<failure time in unix nanoseconds>. Attempts start
// again at 1 after every success, so the attempt alone would repeat within
// the duplicate window; the failure's time is unique to it and read alike
// by every replica, whose retries of it collapse.
func retryID(source string, st *state.Status) string {
	return fmt.Sprintf("rt-%s-%d-%d", source, st.AttemptCount, st.LastSyncTime.UnixNano())
}

// NewInterval returns an Interval for the given sources. A StatusWatch
// tells it the failed sources to retry.
func NewInterval(pub bus.Publisher, srcs []config.Source, logger *slog.Logger) *Interval {
	iv := &Interval{producer: pub.Producer(events.ProducerInterval, logger), logger: logger, clock: wallClock{},
		retries: map[string]nextRetry{}, slots: map[string]int64{}, wake: make(chan struct{}, 1)}
	iv.SetSources(srcs)
	return iv
}

// SetSources replaces the sources on the schedule.
func (iv *Interval) SetSources(srcs []config.Source) {
	m := map[string]time.Duration{}
	for _, s := range srcs {
		if d := s.Interval(); s.Synced() && d > 0 {
			m[s.Name] = d
		}
	}
	iv.mu.Lock()
	iv.intervals = m
	iv.mu.Unlock()
	iv.poke()
}

func (iv *Interval) poke() {
	select {
	case iv.wake <- struct{}{}:
	default:
	}
}

// Run publishes triggers until ctx is done. Each round reads the schedule
// at one time and sleeps until the next slot or retry after that same
// time: a slot that starts while a round publishes is published by the
// next round at once, not skipped for the slot after it.
func (iv *Interval) Run(ctx context.Context) error {
	for {
		now := iv.clock.Now()
		for _, d := range iv.due(now) {
			if err := iv.publish(ctx, d); err != nil && ctx.Err() == nil {
				iv.logger.Warn("interval trigger not published, next slot will try again", "source", d.source, "err", err)
			}
		}
		stop := iv.clock.AfterFunc(max(iv.next(now).Sub(iv.clock.Now()), 10*time.Millisecond), iv.poke)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-iv.wake:
		}
		stop()
	}
}

// restartStatus: the records replay, so no failure is missed.
func (iv *Interval) restartStatus() {}

// noteStatus keeps the retry time of a failed source. Only a failure
// wakes the loop (its retry may come before the next wake-up): every sync
// writes the status, and a thousand sources synced at once must not
// recompute the schedule thousands of times.
func (iv *Interval) noteStatus(source string, st *state.Status) {
	failed := st != nil && st.Phase == state.PhaseFailed && st.AttemptCount > 0 && st.NextSyncTime != nil && st.LastSyncTime != nil
	iv.mu.Lock()
	if failed {
		iv.retries[source] = nextRetry{id: retryID(source, st), at: *st.NextSyncTime}
	} else {
		delete(iv.retries, source)
	}
	iv.mu.Unlock()
	if failed {
		iv.poke()
	}
}

// dueTrigger is one trigger to publish now.
type dueTrigger struct {
	source string
	id     string
}

func (iv *Interval) due(now time.Time) []dueTrigger {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	var out []dueTrigger
	for name, interval := range iv.intervals {
		next, _ := syncer.Slot(name, interval, now)
		current := next - 1 // the slot that started most recently
		last, seen := iv.slots[name]
		iv.slots[name] = current
		if seen && current > last {
			out = append(out, dueTrigger{source: name, id: fmt.Sprintf("iv-%s-%d", name, current)})
		}
	}
	for name := range iv.slots {
		if _, ok := iv.intervals[name]; !ok {
			delete(iv.slots, name)
		}
	}
	for name, r := range iv.retries {
		if _, ok := iv.intervals[name]; !ok || r.at.After(now) {
			continue
		}
		out = append(out, dueTrigger{source: name, id: r.id})
		delete(iv.retries, name)
	}
	return out
}

// next is when the next slot or retry starts.
func (iv *Interval) next(now time.Time) time.Time {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	next := now.Add(time.Hour)
	for name, interval := range iv.intervals {
		if _, at := syncer.Slot(name, interval, now); at.Before(next) {
			next = at
		}
	}
	for name, r := range iv.retries {
		if _, ok := iv.intervals[name]; ok && r.at.Before(next) {
			next = r.at
		}
	}
	return next
}

func (iv *Interval) publish(ctx context.Context, d dueTrigger) error {
	_, err := iv.producer.Publish(ctx, d.id, &events.SyncRequested{Source: d.source, Trigger: events.TriggerInterval, RequestID: d.id})
	return err
}
