package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/events"
)

// steps are the times of the steps of one edit, from the file's write to
// the last replica that served it: which step takes the time is what a
// slow edit needs explained. Every process runs on this machine's clock.
type steps struct {
	write time.Time
	// stored is when the first trigger of the edit was published (seen on
	// its subject, as REGSYNC_TRIGGERS stores it).
	stored time.Time
	// started is the startedAt of the sync that answered it, completed when
	// its result arrived here.
	started, completed time.Time
	// changed is when the registry's registry.changed event arrived here.
	changed time.Time
	// replicas are when each replica first served the new ETag.
	replicas []time.Time
}

// last is when the last replica served the edit.
func (s steps) last() time.Time {
	return slices.MaxFunc(s.replicas, func(a, b time.Time) int { return a.Compare(b) })
}

// stepTimes follows the trigger stream and the registry.changed events of
// one source served as a registry of its own name.
type stepTimes struct {
	nc      *nats.Conn
	stored  chan time.Time
	changed chan time.Time
}

func (b *bench) followSteps(source string) (*stepTimes, error) {
	nc, err := nats.Connect(b.natsURL, nats.UserInfo(b.user, b.password))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	s := &stepTimes{nc: nc, stored: make(chan time.Time, 256), changed: make(chan time.Time, 256)}
	// REGSYNC_TRIGGERS is a work queue: its one consumer is the
	// replicas'. The trigger's publish is seen on its subject instead.
	if _, err := nc.Subscribe(events.TriggerSubject(source), func(*nats.Msg) { s.stored <- time.Now() }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to the triggers of %s: %w", source, err)
	}
	if _, err := nc.Subscribe(events.RegistrySubject(source), func(*nats.Msg) { s.changed <- time.Now() }); err != nil {
		s.close()
		return nil, fmt.Errorf("subscribe to the changes of registry %s: %w", source, err)
	}
	if err := nc.Flush(); err != nil {
		s.close()
		return nil, fmt.Errorf("subscribe to the changes of registry %s: %w", source, err)
	}
	return s, nil
}

func (s *stepTimes) close() { s.nc.Close() }

// drain forgets what arrived so far.
func (s *stepTimes) drain() {
	for {
		select {
		case <-s.stored:
		case <-s.changed:
		default:
			return
		}
	}
}

// fill sets the trigger and registry.changed times of st from what arrived
// since the last drain: the first of each, waiting a little for what may
// still be on its way (a registry.changed is published after the replicas
// may already serve the change).
func (s *stepTimes) fill(st *steps) {
	wait := time.NewTimer(2 * time.Second)
	defer wait.Stop()
	for st.stored.IsZero() || st.changed.IsZero() {
		select {
		case t := <-s.stored:
			if st.stored.IsZero() {
				st.stored = t
			}
		case t := <-s.changed:
			if st.changed.IsZero() {
				st.changed = t
			}
		case <-wait.C:
			return
		}
	}
}

// startedAt reads the startedAt of a completed result.
func startedAt(a arrival) time.Time {
	ev, err := events.Decode(nil, a.data)
	if err != nil {
		return time.Time{}
	}
	d, err := events.DecodeData[events.SyncCompleted](ev)
	if err != nil {
		return time.Time{}
	}
	return d.StartedAt
}

// since formats t - from, or "?" when either is unknown.
func since(from, t time.Time) string {
	if from.IsZero() || t.IsZero() {
		return "?"
	}
	return ms(t.Sub(from))
}

// report prints the steps of the median edit and of the slowest ones: the
// file's write → trigger stored → sync started → completed result →
// registry.changed, and each replica's first new ETag after completed.
func reportSteps(w io.Writer, all []steps) {
	if len(all) == 0 {
		return
	}
	byTotal := slices.Clone(all)
	total := func(s steps) time.Duration { return s.last().Sub(s.write) }
	slices.SortFunc(byTotal, func(a, b steps) int { return int(total(a) - total(b)) })
	fmt.Fprintln(w, "steps of an edit (write → trigger stored → sync started → completed → registry.changed; each replica's new ETag after completed):")
	line := func(label string, s steps) {
		fmt.Fprintf(w, "  %-8s total %s: stored %s, started %s, completed %s, changed %s; replicas", label, ms(total(s)),
			since(s.write, s.stored), since(s.stored, s.started), since(s.started, s.completed), since(s.completed, s.changed))
		for _, r := range s.replicas {
			fmt.Fprintf(w, " %s", since(s.completed, r))
		}
		fmt.Fprintln(w)
	}
	line("p50", byTotal[(len(byTotal)-1)/2])
	for i := len(byTotal) - 1; i >= max(0, len(byTotal)-5); i-- {
		line("slowest", byTotal[i])
	}
	med := func(f func(s steps) time.Duration) string {
		ds := make([]time.Duration, 0, len(all))
		for _, s := range all {
			ds = append(ds, f(s))
		}
		ds = sorted(ds)
		return ms(percentile(ds, 50)) + " / " + ms(percentile(ds, 99))
	}
	known := func(from, t time.Time) time.Duration {
		if from.IsZero() || t.IsZero() {
			return 0
		}
		return t.Sub(from)
	}
	fmt.Fprintf(w, "  p50 / p99 of each step: stored %s; started %s; completed %s; changed %s; last replica after completed %s\n",
		med(func(s steps) time.Duration { return known(s.write, s.stored) }),
		med(func(s steps) time.Duration { return known(s.stored, s.started) }),
		med(func(s steps) time.Duration { return known(s.started, s.completed) }),
		med(func(s steps) time.Duration { return known(s.completed, s.changed) }),
		med(func(s steps) time.Duration { return s.last().Sub(s.completed) }))
}
