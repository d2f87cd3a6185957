package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
)

// report prints a scenario's progress and checks and remembers what failed.
type report struct {
	out      io.Writer
	start    time.Time
	failures []string
}

func newReport(out io.Writer, title string) *report {
	fmt.Fprintf(out, "\n== %s\n", title)
	return &report{out: out, start: time.Now()}
}

// logf prints a step, with the time since the scenario started.
func (r *report) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "  [%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// infof prints a measurement.
func (r *report) infof(format string, args ...any) {
	fmt.Fprintf(r.out, "  %s\n", fmt.Sprintf(format, args...))
}

// check prints a verdict and, when it failed, its examples.
func (r *report) check(ok bool, examples []string, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if ok {
		fmt.Fprintf(r.out, "  ok    %s\n", line)
		return
	}
	fmt.Fprintf(r.out, "  FAIL  %s\n", line)
	for i, ex := range examples {
		if i == maxExamples {
			fmt.Fprintf(r.out, "          … and %d more\n", len(examples)-maxExamples)
			break
		}
		fmt.Fprintf(r.out, "          %s\n", ex)
	}
	r.failures = append(r.failures, line)
}

// errorf records a scenario that could not run to its end.
func (r *report) errorf(format string, args ...any) {
	r.check(false, nil, "scenario error: %s", fmt.Sprintf(format, args...))
}

const maxExamples = 5

// request is one `regsync sync --wait` run.
type request struct {
	source, id string
	at         time.Time
	took       time.Duration
	accepted   bool   // the request was stored in REGSYNC_TRIGGERS
	outcome    string // the type of the result the CLI printed; "" if none
	complaint  string // the CLI's last stderr line when it printed none
}

// evidence is everything a scenario observed, for the checks.
type evidence struct {
	sources      []string
	writes       map[string][]write
	last         map[string][]byte // last valid content, per source
	results      []result
	conflicts    []string
	undecoded    int
	statusHashes map[string]map[string]bool
	digests      map[string]map[string]bool
	finals       map[string]final
	requests     []*request
	// registries, changes and genConflicts are the registries' end
	// states, the registry.changed events stored, and the generations
	// seen on the wire with two contents.
	registries   []registryEvidence
	changes      []change
	genConflicts []string
	end          time.Time
	// maxWait is the longest a write may wait for its result in this
	// scenario; 0 reports the waits without a target.
	maxWait time.Duration
}

// analyze runs the checks every scenario shares.
func analyze(r *report, ev evidence) {
	var valid, invalid int
	for _, ws := range ev.writes {
		for _, w := range ws {
			if w.valid {
				valid++
			} else {
				invalid++
			}
		}
	}
	count := map[string]int{}
	for _, res := range ev.results {
		count[events.OutcomeOf(res.typ)]++
	}
	r.infof("%d sources, %d writes (%d valid, %d invalid), %d manual requests; %d results stored (%d completed, %d failed, %d skipped)",
		len(ev.sources), valid+invalid, valid, invalid, len(ev.requests), len(ev.results),
		count[events.OutcomeCompleted], count[events.OutcomeFailed], count[events.OutcomeSkipped])
	if len(ev.registries) > 0 {
		r.infof("%d registries, %d registry.changed stored", len(ev.registries), len(ev.changes))
	}
	if ev.undecoded > 0 {
		r.check(false, nil, "%d result messages did not decode", ev.undecoded)
	}
	checkLost(r, ev)
	checkInvalid(r, ev)
	checkOverlaps(r, ev)
	checkAnnounced(r, ev)
	checkIDs(r, ev)
	checkRequests(r, ev)
	checkWaits(r, ev)
	checkRegistries(r, ev)
}

func short(hash string) string {
	h := strings.TrimPrefix(hash, "SHA-256=")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// writeOf names the write that produced a hash or digest.
func writeOf(ws []write, match func(write) bool) string {
	for i, w := range ws {
		if match(w) {
			kind := "valid"
			if !w.valid {
				kind = "INVALID"
			}
			return fmt.Sprintf("write %d of %d (%s)", i+1, len(ws), kind)
		}
	}
	return "content never written"
}

func checkLost(r *report, ev evidence) {
	var bad []string
	for _, s := range ev.sources {
		f := ev.finals[s]
		ws := ev.writes[s]
		lastHash := registry.Hash(ev.last[s])
		switch {
		case f.err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", s, f.err))
		case f.status.LastSyncHash != lastHash:
			bad = append(bad, fmt.Sprintf("%s: status (phase %s, lastReason %s) holds lastSyncHash %s, %s; the last valid write is %s",
				s, f.status.Phase, f.status.LastReason, short(f.status.LastSyncHash),
				writeOf(ws, func(w write) bool { return w.hash == f.status.LastSyncHash }), short(lastHash)))
		case string(f.snapshot) != string(ev.last[s]):
			d := objectDigest(f.snapshot)
			bad = append(bad, fmt.Sprintf("%s: snapshot %s is %s, not the last valid write", s, short(d),
				writeOf(ws, func(w write) bool { return w.digest == d })))
		}
	}
	r.check(len(bad) == 0, bad, "lost changes: %d of %d sources end on other data than their last valid write", len(bad), len(ev.sources))
}

func checkInvalid(r *report, ev evidence) {
	var bad []string
	validHash := func(s, h string) bool {
		return slices.ContainsFunc(ev.writes[s], func(w write) bool { return w.valid && w.hash == h })
	}
	validDigest := func(s, d string) bool {
		return slices.ContainsFunc(ev.writes[s], func(w write) bool { return w.valid && w.digest == d })
	}
	for _, s := range ev.sources {
		ws := ev.writes[s]
		for h := range ev.statusHashes[s] {
			if !validHash(s, h) {
				bad = append(bad, fmt.Sprintf("%s: status lastSyncHash %s is %s", s, short(h), writeOf(ws, func(w write) bool { return w.hash == h })))
			}
		}
		for d := range ev.digests[s] {
			if !validDigest(s, d) {
				bad = append(bad, fmt.Sprintf("%s: snapshot %s is %s", s, short(d), writeOf(ws, func(w write) bool { return w.digest == d })))
			}
		}
	}
	for _, res := range ev.results {
		if c := res.completed; c != nil && (!validHash(c.Source, c.Hash) || !validDigest(c.Source, c.SnapshotDigest)) {
			bad = append(bad, fmt.Sprintf("%s: completed result %s announces hash %s, snapshot %s: not a valid write", c.Source, res.id, short(c.Hash), short(c.SnapshotDigest)))
		}
	}
	seen := 0
	for _, set := range ev.digests {
		seen += len(set)
	}
	r.check(len(bad) == 0, bad, "invalid data: %d status hashes, snapshots or completed results that are not a valid write (%d snapshots seen)", len(bad), seen)
}

// span is the time a sync ran, as its result tells: from startedAt for
// durationMs. durationMs is counted from the decision, after startedAt, so
// the span is never longer than the sync really held its source.
type span struct {
	id         string
	start, end time.Time
}

func checkOverlaps(r *report, ev evidence) {
	bySource := map[string][]span{}
	seen := map[string]bool{}
	for _, res := range ev.results {
		if seen[res.id] {
			continue
		}
		seen[res.id] = true
		var ms int64
		switch {
		case res.completed != nil:
			ms = res.completed.DurationMs
		case res.failed != nil:
			ms = res.failed.DurationMs
		default:
			continue
		}
		start := res.covered.StartedAt
		bySource[res.source] = append(bySource[res.source], span{id: res.id, start: start, end: start.Add(time.Duration(ms) * time.Millisecond)})
	}
	var bad []string
	total := 0
	for s, spans := range bySource {
		total += len(spans)
		slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
		for i := 1; i < len(spans); i++ {
			prev := spans[i-1]
			if spans[i].start.Before(prev.end) {
				bad = append(bad, fmt.Sprintf("%s: %s ran %s–%s while %s ran %s–%s", s,
					spans[i].id, clock(spans[i].start), clock(spans[i].end), prev.id, clock(prev.start), clock(prev.end)))
			}
		}
	}
	slices.Sort(bad)
	r.check(len(bad) == 0, bad, "overlapping syncs: %d (of %d completed and failed syncs, by their startedAt and durationMs)", len(bad), total)
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }

func checkAnnounced(r *report, ev evidence) {
	completed := map[string]map[string]bool{}
	for _, res := range ev.results {
		if c := res.completed; c != nil {
			if completed[c.Source] == nil {
				completed[c.Source] = map[string]bool{}
			}
			completed[c.Source][c.Hash] = true
		}
	}
	var bad []string
	total := 0
	for _, s := range ev.sources {
		for h := range ev.statusHashes[s] {
			total++
			if !completed[s][h] {
				bad = append(bad, fmt.Sprintf("%s: status held lastSyncHash %s (%s), never announced completed", s, short(h),
					writeOf(ev.writes[s], func(w write) bool { return w.hash == h })))
			}
		}
	}
	slices.Sort(bad)
	r.check(len(bad) == 0, bad, "unannounced syncs: %d of %d distinct lastSyncHash values the status held have no completed result", len(bad), total)
}

func checkIDs(r *report, ev evidence) {
	bad := slices.Clone(ev.conflicts)
	first := map[string]string{}
	for _, res := range ev.results {
		if c, ok := first[res.id]; ok && c != res.content {
			bad = append(bad, fmt.Sprintf("%s stored twice with different contents", res.id))
		}
		first[res.id] = res.content
	}
	r.check(len(bad) == 0, bad, "result ids published with different contents: %d", len(bad))
}

func checkRequests(r *report, ev evidence) {
	if len(ev.requests) == 0 {
		return
	}
	covered := map[string]bool{}
	for _, res := range ev.results {
		for _, id := range res.covered.TriggerIDs {
			covered[id] = true
		}
	}
	var unanswered, missed, refused []string
	var took []time.Duration
	for _, q := range ev.requests {
		took = append(took, q.took)
		if q.outcome != "" {
			continue
		}
		line := fmt.Sprintf("%s: request %s at %s: %s", q.source, q.id, clock(q.at), q.complaint)
		switch {
		case !q.accepted:
			refused = append(refused, line)
		case covered[q.id]:
			missed = append(missed, line)
		default:
			unanswered = append(unanswered, line)
		}
	}
	accepted := len(ev.requests) - len(refused)
	r.infof("manual requests not accepted (the CLI could not store them and said so): %d", len(refused))
	for i, line := range refused {
		if i == maxExamples {
			break
		}
		r.infof("        %s", line)
	}
	r.check(len(unanswered) == 0, unanswered, "unanswered manual requests: %d of %d accepted (`regsync sync --wait` got no result and none in REGSYNC_RESULTS covers it)", len(unanswered), accepted)
	r.check(len(missed) == 0, missed, "manual requests answered in REGSYNC_RESULTS that `regsync sync --wait` did not print: %d", len(missed))
	r.infof("`regsync sync --wait`: %s", percentiles(took))
}

// checkWaits measures how long each valid write waited for its result: the
// first completed result with its content or a later write's, or the first
// failed result that found later invalid content (the write was replaced
// before anyone could sync it). A write with neither waited until the end.
func checkWaits(r *report, ev evidence) {
	var waits []time.Duration
	type worst struct {
		source string
		at     time.Time
		wait   time.Duration
		never  bool
	}
	var slow []worst
	for _, s := range ev.sources {
		ws := ev.writes[s]
		index := map[string]int{}
		for i, w := range ws {
			index[w.hash] = i
		}
		var results []result
		for _, res := range ev.results {
			if res.source == s {
				results = append(results, res)
			}
		}
		for i, w := range ws {
			if !w.valid {
				continue
			}
			wait, never := ev.end.Sub(w.at), true
			for _, res := range results {
				answered := false
				if c := res.completed; c != nil {
					j, ok := index[c.Hash]
					answered = ok && j >= i
				}
				if f := res.failed; f != nil && f.ConditionType == events.ConditionDataValid && !res.covered.StartedAt.Before(w.at) {
					answered = true
				}
				if answered {
					wait, never = res.stored.Sub(w.at), false
					break
				}
			}
			waits = append(waits, wait)
			if never || (ev.maxWait > 0 && wait > ev.maxWait) {
				slow = append(slow, worst{s, w.at, wait, never})
			}
		}
	}
	r.infof("write → result: %s", percentiles(waits))
	slices.SortFunc(slow, func(a, b worst) int { return int(b.wait - a.wait) })
	var bad []string
	nevers := 0
	for _, w := range slow {
		note := ""
		if w.never {
			note = " (never answered)"
			nevers++
		}
		bad = append(bad, fmt.Sprintf("%s: write at %s waited %.1fs%s", w.source, clock(w.at), w.wait.Seconds(), note))
	}
	if ev.maxWait > 0 {
		r.check(len(slow) == 0, bad, "writes waiting more than %s for their result: %d of %d", ev.maxWait, len(slow), len(waits))
		return
	}
	r.check(nevers == 0, bad, "writes never answered: %d of %d", nevers, len(waits))
}

// percentiles formats the median, p90, p99 and worst of ds.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(math.Ceil(q*float64(len(s))))-1] }
	return fmt.Sprintf("n=%d p50 %.2fs p90 %.2fs p99 %.2fs worst %.2fs", len(s),
		at(0.5).Seconds(), at(0.9).Seconds(), at(0.99).Seconds(), s[len(s)-1].Seconds())
}
