package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/regsync/regsync/events"
)

// scenarioS: one change, one result, for any number of replicas. With 1,
// 2 and 3 replicas (on a 3-node cluster) that all watch the same files,
// each source's file is changed once, each change waited for until it is
// synced; then every result stored since the first change is counted per
// change. A change that every replica sees must collapse into one trigger
// and get one result, not one per replica.
func scenarioS(ctx context.Context, e *env, o *options) *report {
	r := newReport(e.out, fmt.Sprintf("scenario s: results per change with 1, 2 and 3 replicas, %d changes each", o.sChanges))
	for n := 1; n <= 3 && ctx.Err() == nil; n++ {
		if !scaleRound(ctx, e, r, o, n) {
			break
		}
	}
	return r
}

// scaleRound runs one deployment of n replicas and checks its results per
// change. It reports whether the next round may run.
func scaleRound(ctx context.Context, e *env, r *report, o *options, n int) bool {
	so := *o
	so.sources = o.sChanges
	d, err := e.startClustered(ctx, r, fmt.Sprintf("s%d", n), &so, n)
	if d != nil {
		defer func() {
			d.stop()
			e.procs.KillAll()
		}()
	}
	if err != nil {
		r.errorf("%d replicas: %v", n, err)
		return false
	}
	if took, behind := d.converge(ctx, time.Now(), o.converge); len(behind) > 0 {
		r.errorf("%d replicas: first sync of %d sources not done after %.1fs", n, len(behind), took.Seconds())
		return false
	}
	// The start-up results are not the changes': wait until they stop.
	since, err := d.quiet(ctx)
	if err != nil {
		r.errorf("%d replicas: %v", n, err)
		return false
	}
	for _, s := range d.sources {
		if _, err := d.files.write(s, true); err != nil {
			r.errorf("%v", err)
			return false
		}
		if took, behind := d.converge(ctx, time.Now(), o.converge); len(behind) > 0 {
			r.errorf("%d replicas: change of %s not synced after %.1fs", n, s, took.Seconds())
			return false
		}
	}
	// A replica that saw a change late would publish its trigger about
	// now: give such stray results the time to be stored before counting.
	if _, err := d.quiet(ctx); err != nil {
		r.errorf("%d replicas: %v", n, err)
		return false
	}
	st, err := settled(ctx, func() (stored, error) { return d.obs.readResults(ctx) })
	if err != nil {
		r.errorf("%d replicas: %v", n, err)
		return false
	}
	answers, slots, extra := answersPerChange(st.results, since, d.sources)
	r.infof("%d replicas: %d changes, %d results answering them, %d answering interval slots alone", n, len(d.sources), answers, slots)
	r.check(len(extra) == 0, extra, "%d replicas: changes not answered by exactly one result: %d of %d", n, len(extra), len(d.sources))
	d.checkRegistries(ctx, o)
	return true
}

// checkRegistries waits for the registries to hold the last syncs, then
// runs the registry checks on what REGSYNC_RESULTS holds and the sources'
// snapshots.
func (d *deployment) checkRegistries(ctx context.Context, o *options) {
	d.waitRegistries(ctx, o)
	st, err := settled(ctx, func() (stored, error) { return d.obs.readResults(ctx) })
	if err != nil {
		d.r.errorf("%v", err)
		return
	}
	ev := evidence{results: st.results, changes: st.changes, finals: map[string]final{}}
	for _, s := range d.sources {
		ev.finals[s], _ = settled(ctx, func() (final, error) {
			f := d.obs.finalState(ctx, s)
			return f, f.err
		})
	}
	d.addRegistries(ctx, &ev)
	d.r.infof("%d registries, %d registry.changed stored", len(ev.registries), len(ev.changes))
	checkRegistries(d.r, ev)
}

// quiet waits until REGSYNC_RESULTS stores nothing new for quietFor, and
// returns the time it did: results stored after it came later.
func (d *deployment) quiet(ctx context.Context) (time.Time, error) {
	deadline := time.Now().Add(quietLimit)
	last, lastSeq := time.Now(), uint64(0)
	for {
		s, err := d.obs.js.Stream(ctx, events.StreamResults)
		if err != nil {
			return time.Time{}, fmt.Errorf("stream %s: %w", events.StreamResults, err)
		}
		if seq := s.CachedInfo().State.LastSeq; seq != lastSeq {
			last, lastSeq = time.Now(), seq
		}
		switch {
		case time.Since(last) >= quietFor:
			return time.Now(), nil
		case time.Now().After(deadline):
			return time.Time{}, fmt.Errorf("results still arriving after %s", quietLimit)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// quietFor is how long no result may be stored for a deployment to count
// as quiet: longer than a replica takes to see a file change. quietLimit
// bounds the wait.
const (
	quietFor   = 3 * time.Second
	quietLimit = time.Minute
)

// answersPerChange counts the results stored after since, when each of
// sources had been changed once: the answers to the changes, and the
// results that answer interval slots alone. It returns the sources whose
// change is not answered by exactly one result, with what answered it.
//
// The interval safety net fires on every source's own schedule
// (iv-<source>-<slot>, see docs/events.md), whether or not the source just
// changed: a slot that starts after the change's sync read the source is a
// trigger of its own, which the contract answers with a result of its own
// (skipped: up to date). Such a result answers the slot, not the change.
func answersPerChange(results []result, since time.Time, sources []string) (answers, slots int, extra []string) {
	per := map[string][]string{}
	for _, res := range results {
		if !res.stored.After(since) {
			continue
		}
		if slotOnly(res) {
			slots++
			continue
		}
		answers++
		per[res.source] = append(per[res.source], fmt.Sprintf("%s %v", events.OutcomeOf(res.typ), res.covered.TriggerIDs))
	}
	for _, s := range sources {
		if len(per[s]) != 1 {
			extra = append(extra, fmt.Sprintf("%s: %v", s, per[s]))
		}
	}
	return answers, slots, extra
}

// slotOnly reports whether every trigger a result answers is an interval
// slot of its source. A result that covers more triggers than it lists may
// answer others, so it is not.
func slotOnly(res result) bool {
	c := res.covered
	if c.TriggerCount == 0 || c.TriggerCount != len(c.TriggerIDs) {
		return false
	}
	for _, id := range c.TriggerIDs {
		if !strings.HasPrefix(id, "iv-"+res.source+"-") {
			return false
		}
	}
	return true
}
