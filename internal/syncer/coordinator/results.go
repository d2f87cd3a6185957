package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// completed is the result of a sync that stored r, taking took.
func (o outcome) completed(r *syncer.Result, took time.Duration) *events.SyncCompleted {
	return &events.SyncCompleted{
		Source:         o.src.Name,
		Reason:         o.reason.String(),
		Covered:        o.b.covered,
		PreviousHash:   o.previousHash,
		Hash:           r.Hash,
		Revision:       r.Revision,
		ServerCount:    r.ServerCount,
		SkillCount:     r.SkillCount,
		PluginCount:    r.PluginCount,
		Diff:           events.DiffOf(r.Diff.Added, r.Diff.Updated, r.Diff.Removed),
		DurationMs:     took.Milliseconds(),
		SnapshotDigest: r.SnapshotDigest,
		FilterHash:     r.FilterHash,
	}
}

// failed is the result of a sync that failed with e, recorded in s (its
// attempt count and next retry), taking took.
func (o outcome) failed(e *syncer.Error, s *state.Status, took time.Duration) *events.SyncFailed {
	r := refusal(o.src.Name, *o.b, o.reason.String(), e)
	r.AttemptCount = s.AttemptCount
	r.NextRetryTime = s.NextSyncTime
	r.DurationMs = took.Milliseconds()
	return r
}

// skipped is the result of a batch that needed no sync, over the status s.
func (o outcome) skipped(s *state.Status) *events.SyncSkipped {
	return &events.SyncSkipped{
		Source:   o.src.Name,
		Reason:   o.reason.String(),
		Covered:  o.b.covered,
		Revision: s.Revision,
		Hash:     s.LastSyncHash,
	}
}

// refusal is the failed result that answers the triggers of b for source
// name without looking at the source (an unknown source, a malformed
// trigger): nothing is recorded and nothing retried.
func refusal(name string, b batch, reason string, e *syncer.Error) *events.SyncFailed {
	return &events.SyncFailed{
		Source:          name,
		Reason:          reason,
		Covered:         b.covered,
		ConditionType:   e.ConditionType,
		ConditionReason: e.ConditionReason,
		Message:         e.Message,
	}
}

// refusalBatch is the batch a refusal answers, started when its newest
// trigger was stored: a refusal reads nothing, so it is dated by what it
// answers, alike on every replica.
func refusalBatch(ds []triggerMsg) batch {
	var newest time.Time
	for _, d := range ds {
		if d.published.After(newest) {
			newest = d.published
		}
	}
	return newBatch(ds, newest.UTC())
}

// refuse publishes the refusal of b (see refusal) with the id
// <prefix>-<source>-<ref of its newest trigger>, counts it under label and
// acknowledges its triggers. It reports false when the result could not be
// stored: the triggers are then tried again after a pause (queueRetry).
func (c *Coordinator) refuse(ctx context.Context, log *slog.Logger, name, prefix, label string, b batch, data *events.SyncFailed) bool {
	ev, err := events.New(prefix+"-"+name+"-"+b.deliveries[len(b.deliveries)-1].ref(), c.opts.Source, data)
	if err != nil {
		log.Error("refusal does not validate", "reason", data.Reason, "err", err)
		c.ack(ctx, log, b.deliveries)
		return true
	}
	ev.SetTime(b.covered.StartedAt)
	call, cancel := c.call(ctx)
	err = c.ledger.publish(call, events.ResultSubject(name, events.OutcomeFailed), ev)
	cancel()
	if err != nil {
		c.retry(log, name, b.deliveries, fmt.Errorf("publish result: %w", err))
		return false
	}
	c.opts.Metrics.answered(label, events.OutcomeFailed, data.Reason, b.deliveries, time.Now())
	c.ack(ctx, log, b.deliveries)
	return true
}
