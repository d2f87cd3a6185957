package coordinator

import (
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
