package coordinator

import (
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

func (c *Coordinator) completedEvent(name string, b batch, reason syncer.Reason, previousHash string, r *syncer.Result, took time.Duration) *events.SyncCompleted {
	return &events.SyncCompleted{
		Source:         name,
		Reason:         reason.String(),
		Covered:        b.covered,
		PreviousHash:   previousHash,
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

func (c *Coordinator) failedEvent(name string, b batch, e *syncer.Error, reason string, next *time.Time, attempts int, took time.Duration) *events.SyncFailed {
	return &events.SyncFailed{
		Source:          name,
		Reason:          reason,
		Covered:         b.covered,
		ConditionType:   e.ConditionType,
		ConditionReason: e.ConditionReason,
		Message:         e.Message,
		AttemptCount:    attempts,
		NextRetryTime:   next,
		DurationMs:      took.Milliseconds(),
	}
}

func (c *Coordinator) skippedEvent(name string, b batch, reason syncer.Reason, st *state.Status) *events.SyncSkipped {
	return &events.SyncSkipped{
		Source:   name,
		Reason:   reason.String(),
		Covered:  b.covered,
		Revision: st.Revision,
		Hash:     st.LastSyncHash,
	}
}
