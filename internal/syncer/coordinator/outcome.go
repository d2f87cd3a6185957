package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// How an outcome reaches downstream consumers, so that no recorded sync
// goes unannounced and no result id is ever published with two contents:
//
//  1. The status record and the result event are written together, in one
//     compare-and-swap of regsync_status: the event, with its id fixed,
//     waits in the record's pendingResult.
//  2. A completed sync's per-entry records, written before step 1, are
//     committed under the event's id: no commit names a result that is
//     not recorded, so no registry lists a cause that is never published.
//  3. The event is published to REGSYNC_RESULTS, tried again a few times.
//  4. The batch's triggers are acknowledged, and pendingResult is cleared.
//
// If step 2, 3 or 4 does not happen (NATS elects a leader, the replica
// dies), the triggers come back and whoever next holds the lease commits
// what the pending sync recorded (unless its commit is written) and
// publishes the pending event, unchanged, before deciding anything. A result id is
// "r-<source>-<epoch>-<n>" where n is the status revision the outcome was
// written over and epoch the record's (see state.Status.Epoch): at most one
// write succeeds over each revision, and the epoch changes whenever the
// revisions start over, so an id is never given to two outcomes. The
// outcome of a sync that stores data is named by its start instead (n is
// the revision the start was written over, see perform), so the id is
// known before anything is stored and the per-entry commit can carry it;
// a start is followed by one outcome at most, so no id repeats either.
//
// The steps that do not depend on what an outcome answers (record it with
// its event in one write, publish the event, clear it once published, drop
// one that can never be published) are ledger's (ledger.go); what a sync
// adds (the triggers answered, their acks, the span, the log) is here. The
// closure of a record only changes the record and builds the event, as it
// may run more than once; everything else happens after the write.

// outcome carries one batch's decision to the step that records it.
type outcome struct {
	src config.Source
	// b is the batch answered; conclude adds to it the triggers the
	// read answers too.
	b *batch
	// readAt is where the trigger stream stood before the source was
	// read for the decision; zero when it was not read.
	readAt       mark
	reason       syncer.Reason
	log          *slog.Logger
	start        time.Time
	previousHash string
	// resultID is the id of the outcome when fixed before it is written
	// (a started sync's); empty, it is named by the revision it is
	// written over.
	resultID string
}

func (o outcome) initial() *state.Status { return syncer.Initial(o.src)() }

// skip answers a batch that needs no sync.
func (c *Coordinator) skip(ctx context.Context, o outcome) error {
	next := nextSlot(o.src, time.Now())
	e, err := c.conclude(ctx, o, func(s *state.Status) events.Data {
		syncer.RecordSkip(s, o.reason, next)
		return o.skipped(s)
	})
	if err != nil {
		return err
	}
	return c.answer(ctx, o, e)
}

// fail records a failed sync and answers the batch with it. The last good
// snapshot and hash stay.
func (c *Coordinator) fail(ctx context.Context, o outcome, serr *syncer.Error) error {
	if err := cutOff(ctx); err != nil {
		return err
	}
	took := time.Since(o.start)
	end := time.Now().UTC()
	c.opts.Metrics.observe(o.src.Name, events.OutcomeFailed, took)
	c.opts.Metrics.failed(serr.ConditionType, serr.ConditionReason)
	hasSnapshot := c.mgr.HasSnapshot(ctx, o.src.Name)
	slot := nextSlot(o.src, end)
	e, err := c.conclude(ctx, o, func(s *state.Status) events.Data {
		syncer.RecordFailure(s, serr, o.reason, end, hasSnapshot)
		// The interval fallback retries at this time (see Interval).
		next := end.Add(syncer.RetryBackoff(s.AttemptCount))
		if slot != nil && slot.Before(next) {
			next = *slot
		}
		s.NextSyncTime = &next
		return o.failed(serr, s, took)
	})
	if err != nil {
		return err
	}
	o.log.Warn("sync failed", "condition", serr.ConditionType, "condition_reason", serr.ConditionReason,
		"attempt", e.status.AttemptCount, "err", serr.Message)
	return c.answer(ctx, o, e)
}

// perform runs a sync and answers the batch with its outcome. The data
// the decision fetched is released once the sync has stored and recorded
// it, before its outcome is recorded and its entries committed: the
// commit sets the registries' views and merger to work, which should not
// find a large source's document still held (and its garbage not yet
// collected).
//
// The start is recorded while the sync prepares (builds what it stores and
// reads what it compares with), which writes nothing: every write of the
// sync still follows the start, and the start's round trip is off the way
// to the result.
func (c *Coordinator) perform(ctx context.Context, o outcome, d *syncer.Decision) error {
	startedAt := time.Now().UTC()
	var err error
	var wg sync.WaitGroup
	wg.Go(func() {
		call, cancel := c.call(ctx)
		defer cancel()
		_, err = c.status.Update(call, o.src.Name, o.initial, func(s *state.Status, base uint64) error {
			syncer.RecordStart(s, o.reason, startedAt)
			// The write of the start names its outcome: the entries the sync
			// stores are committed under the id of the result that reports them.
			o.resultID = resultID(o.src.Name, s, base)
			return nil
		})
	})
	p, serr := c.mgr.Prepare(ctx, o.src, *d)
	wg.Wait()
	if err != nil {
		return err
	}
	var res *syncer.Result
	if serr == nil {
		res, serr = c.mgr.Store(ctx, p, o.resultID)
	}
	took := time.Since(o.start)
	c.mgr.Release(d)
	if serr != nil {
		return c.fail(ctx, o, serr)
	}
	c.opts.Metrics.observe(o.src.Name, events.OutcomeCompleted, took)
	end := time.Now().UTC()
	next := nextSlot(o.src, end)
	e, err := c.conclude(ctx, o, func(s *state.Status) events.Data {
		syncer.RecordSuccess(s, res, o.reason, end)
		s.NextSyncTime = next
		return o.completed(res, took)
	})
	if err != nil {
		return err
	}
	// The entries are committed once the outcome is recorded, so that no
	// commit names a result that is not; a commit that fails leaves the
	// result pending, and whoever next holds the lease commits and
	// publishes it (flushPending).
	if err := c.mgr.Commit(ctx, o.src.Name, res); err != nil {
		return fmt.Errorf("commit entries of result %s (kept pending in the status): %w", e.event.ID(), err)
	}
	o.log.Info("sync completed", "servers", res.ServerCount, "added", len(res.Diff.Added),
		"updated", len(res.Diff.Updated), "removed", len(res.Diff.Removed), "took", took)
	return c.answer(ctx, o, e)
}

// cutOff returns why the work under ctx was cut off, if it was cut off
// rather than timed out: then nothing is recorded and the triggers go back.
func cutOff(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, errShutdown) || errors.Is(cause, errLeaseLost) {
		return cause
	}
	return nil
}

// nextSlot is when the interval fallback next looks at a source, or nil.
func nextSlot(src config.Source, after time.Time) *time.Time {
	if _, at := syncer.Slot(src.Name, src.Interval(), after); !at.IsZero() {
		return &at
	}
	return nil
}

// conclude records an outcome and its result event in one status write
// (see the top of this file) and notes the outcome on the sync's span.
// mutate applies the outcome to the status and returns the result's
// data; it may run more than once, so it only changes the status.
func (c *Coordinator) conclude(ctx context.Context, o outcome, mutate func(*state.Status) events.Data) (entry[*state.Status], error) {
	// Triggers queued meanwhile but stored before the source was read saw
	// nothing the read did not: they share this outcome rather than make
	// another attempt (at start-up the start-up trigger and the watcher's
	// first look would count one failure twice).
	if extra := c.queues.take(o.src.Name, func(d triggerMsg) bool { return o.readAt.before(d) && o.b.answersAlso(d) }); len(extra) > 0 {
		*o.b = newBatch(append(o.b.deliveries, extra...), o.b.covered.StartedAt)
		o.log.Debug("triggers stored before the read answered with it", "taken", len(extra))
	}
	e, err := c.ledger.record(ctx, o.src.Name, o.initial, func(s *state.Status, base uint64) (string, events.Data, error) {
		s.SyncSchedule = syncer.ScheduleOf(o.src)
		syncer.RecordTriggers(s, o.b.lastID, o.b.lastRequestID)
		id := o.resultID
		if id == "" {
			id = resultID(o.src.Name, s, base)
		}
		return id, mutate(s), nil
	})
	if err != nil {
		return entry[*state.Status]{}, err
	}
	endSyncSpan(ctx, e.data, time.Since(o.start).Seconds())
	e.report(o.log)
	return e, nil
}

// answer announces a recorded outcome, or, when its result could not be
// recorded, acknowledges the triggers it answers.
func (c *Coordinator) answer(ctx context.Context, o outcome, e entry[*state.Status]) error {
	if e.event.ID() == "" {
		c.ack(ctx, o.log, o.b.deliveries)
		return nil
	}
	return c.announce(ctx, o.log, o.src.Name, e.event, o.b.deliveries)
}

// resultID names the outcome written over the status s at revision base.
func resultID(source string, s *state.Status, base uint64) string {
	return "r-" + source + "-" + s.Version(base)
}

// announce publishes a recorded result, acknowledges the deliveries it
// answers and clears it from the status record.
func (c *Coordinator) announce(ctx context.Context, log *slog.Logger, source string, ev event.Event, ds []triggerMsg) error {
	if err := c.ledger.announce(ctx, events.ResultSubject(source, events.OutcomeOf(ev.Type())), ev); err != nil {
		return fmt.Errorf("publish result %s (kept pending in the status): %w", ev.ID(), err)
	}
	c.opts.Metrics.answered(source, events.OutcomeOf(ev.Type()), resultReason(ev), ds, time.Now())
	c.ack(ctx, log, ds)
	if err := c.ledger.settle(ctx, source, ev.ID()); err != nil {
		log.Warn("published result not cleared from the status; it will be published again with the same id", "result", ev.ID(), "err", err)
	}
	return nil
}

// ack acknowledges answered deliveries. An answered trigger is
// acknowledged also when ctx is cut off (each ack bounded by call).
func (c *Coordinator) ack(ctx context.Context, log *slog.Logger, ds []triggerMsg) {
	for _, d := range ds {
		call, cancel := c.call(ctx)
		err := d.msg.DoubleAck(call)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			log.Warn("trigger ack not confirmed, it may be redelivered and answered again", "trigger", d.id, "err", err)
		}
	}
}

// flushPending publishes the result a status record still holds and
// acknowledges the deliveries it answers. It returns the status as it is
// now and the deliveries that still need an answer.
func (c *Coordinator) flushPending(ctx context.Context, log *slog.Logger, src config.Source, st *state.Status, ds []triggerMsg) (*state.Status, []triggerMsg, error) {
	var ev event.Event
	var data events.Data
	err := ev.UnmarshalJSON(st.PendingResult)
	if err == nil {
		data, err = c.pendingProblem(src.Name, ev)
	}
	if err != nil {
		// A pending result that can never be published would be tried
		// ahead of every later batch for good: it is dropped from the
		// record, the outcome it announced stays, and the triggers are
		// answered anew.
		log.Error("pending result in the status cannot be published, dropping it", "result", ev.ID(), "err", err)
		st, err = c.ledger.drop(ctx, src.Name, syncer.Initial(src), st.PendingResult)
		return st, ds, err
	}
	// A sync that stopped after recording its outcome may not have
	// committed its entries: they are committed before the result that
	// names them is published.
	if d, ok := data.(events.SyncCompleted); ok {
		if err := c.mgr.CommitRecorded(ctx, src.Name, ev.ID(), d, st.SnapshotSize); err != nil {
			return st, ds, fmt.Errorf("commit entries of result %s (kept pending in the status): %w", ev.ID(), err)
		}
	}
	covered, _ := coveredBy(ev)
	var answered, rest []triggerMsg
	for _, d := range ds {
		if covered.Covers(d.id, d.seq) {
			answered = append(answered, d)
		} else {
			rest = append(rest, d)
		}
	}
	log.Info("publishing a result recorded earlier", "result", ev.ID())
	if err := c.announce(ctx, log, src.Name, ev, answered); err != nil {
		return st, ds, err
	}
	st.PendingResult = nil
	return st, rest, nil
}

// pendingProblem returns the data of a pending result, and says why it
// cannot be published as the result of source, or nil when it can.
func (c *Coordinator) pendingProblem(source string, ev event.Event) (events.Data, error) {
	d, err := events.DataOf(ev)
	if err != nil {
		return nil, err
	}
	if _, _, err := resultOf(ev); err != nil {
		return nil, err
	}
	if d.SourceName() != source || ev.Subject() != source {
		return nil, fmt.Errorf("event %s is a result of %q, not of %q", ev.ID(), d.SourceName(), source)
	}
	return d, publishable(c.ledger.mode, ev)
}

// coveredBy returns the triggers a result event answers.
func coveredBy(ev event.Event) (events.Covered, error) {
	covered, _, err := resultOf(ev)
	return covered, err
}

// resultReason is the reason a result event gives, or "".
func resultReason(ev event.Event) string {
	_, reason, _ := resultOf(ev)
	return reason
}

func resultOf(ev event.Event) (events.Covered, string, error) {
	d, err := events.DataOf(ev)
	if err != nil {
		return events.Covered{}, "", err
	}
	c, reason, ok := events.ResultOf(d)
	if !ok {
		return events.Covered{}, "", fmt.Errorf("event %s is not a result", ev.ID())
	}
	return c, reason, nil
}

// answerUnknown answers the triggers of a source that regsync does not
// sync. Nothing is recorded, so the answer is made the same every time it
// is given: its id and start time come from the triggers themselves. Any
// name can be triggered, so a name is answered at most once per
// unknownPeriod (later triggers are acknowledged and counted), and the
// results for names not in the configuration are counted under source
// "unknown".
func (c *Coordinator) answerUnknown(ctx context.Context, log *slog.Logger, name string, src config.Source, known bool, ds []triggerMsg) {
	if !c.unknown.answer(name) {
		c.rejectLog.Info("trigger for a source regsync does not sync, answered within the last minute: acknowledged without a result",
			"source", name, "triggers", len(ds), "period", unknownPeriod)
		c.opts.Metrics.suppress(len(ds))
		c.ack(ctx, log, ds)
		return
	}
	b := refusalBatch(ds)
	msg := fmt.Sprintf("unknown source %q: it is not in regsync's configuration", name)
	if known {
		msg = fmt.Sprintf("source %q (%s) is not synced by regsync", name, src.Type())
	}
	data := refusal(name, b, unknownSourceReason, &syncer.Error{
		Message: msg, ConditionType: syncer.ConditionSourceAvailable, ConditionReason: syncer.ConditionReasonUnknownSource,
	})
	label := UnknownSourceLabel
	if known {
		label = name // a configured name: the series are bounded by the configuration
	}
	if !c.refuse(ctx, log, name, "u", label, b, data) {
		c.unknown.forget(name)
	}
}
