package syncer

import (
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer/state"
)

// The status changes of a sync, applied by the coordinator inside a
// compare-and-swap update of the status record.

// RecordStart marks a sync as running.
func RecordStart(st *state.Status, reason Reason, now time.Time) {
	st.Phase = state.PhaseSyncing
	st.Message = "Sync in progress: " + reason.String()
	st.LastAttempt = &now
	st.LastReason = reason.String()
}

// RecordSuccess records a completed sync: hash, filter hash, counts and
// revision, and every condition true.
func RecordSuccess(st *state.Status, r *Result, reason Reason, now time.Time) {
	st.Phase = state.PhaseComplete
	st.Message = "Sync completed successfully"
	st.LastSyncTime = &now
	st.LastSuccessTime = &now
	st.AttemptCount = 0
	st.LastSyncHash = r.Hash
	st.LastAppliedFilterHash = r.FilterHash
	st.ServerCount, st.SkillCount, st.PluginCount = r.ServerCount, r.SkillCount, r.PluginCount
	st.Revision = r.Revision
	st.SnapshotDigest, st.SnapshotNUID, st.SnapshotSize = r.SnapshotDigest, r.SnapshotNUID, r.SnapshotSize
	st.LastReason = reason.String()
	st.SetCondition(ConditionSourceAvailable, state.ConditionTrue, events.ConditionReasonFetchSucceeded, "source fetched", now)
	st.SetCondition(ConditionDataValid, state.ConditionTrue, events.ConditionReasonValidationSucceeded, "data is a valid upstream registry", now)
	st.SetCondition(ConditionSyncSuccessful, state.ConditionTrue, events.ConditionReasonSyncSucceeded, "Sync completed successfully", now)
	st.SetCondition(ConditionAPIReady, state.ConditionTrue, events.ConditionReasonSnapshotStored, "snapshot available in regsync_data", now)
}

// RecordFailure records a failed sync. The last good hash, counts, filter
// hash and revision stay: they describe the snapshot that is still served.
// AttemptCount counts consecutive failures.
func RecordFailure(st *state.Status, e *Error, reason Reason, now time.Time, hasSnapshot bool) {
	st.Phase = state.PhaseFailed
	st.Message = e.Message
	st.LastSyncTime = &now
	st.AttemptCount++
	st.LastReason = reason.String()
	switch e.ConditionType {
	case ConditionSourceAvailable:
		st.SetCondition(ConditionSourceAvailable, state.ConditionFalse, e.ConditionReason, e.Message, now)
	case ConditionDataValid:
		st.SetCondition(ConditionSourceAvailable, state.ConditionTrue, events.ConditionReasonFetchSucceeded, "source fetched", now)
		st.SetCondition(ConditionDataValid, state.ConditionFalse, e.ConditionReason, e.Message, now)
	}
	st.SetCondition(ConditionSyncSuccessful, state.ConditionFalse, e.ConditionReason, e.Message, now)
	if hasSnapshot {
		st.SetCondition(ConditionAPIReady, state.ConditionTrue, events.ConditionReasonLastGoodSnapshot, "serving the last good snapshot", now)
	} else {
		st.SetCondition(ConditionAPIReady, state.ConditionFalse, events.ConditionReasonNoSnapshot, "no snapshot has been stored yet", now)
	}
}

// RecordSkip records a decision that needed no sync, and when the interval
// fallback looks at the source next (nil: never).
func RecordSkip(st *state.Status, reason Reason, next *time.Time) {
	st.LastReason = reason.String()
	st.NextSyncTime = next
}

// RecordTriggers records the newest trigger a decision answered, and the
// newest manual request among them ("" if none: the last one stays).
func RecordTriggers(st *state.Status, lastID, lastRequestID string) {
	st.LastTriggerID = lastID
	if lastRequestID != "" {
		st.LastManualRequestID = lastRequestID
	}
}

// ConditionReasonSourceRemoved marks the status of a source that left the
// configuration; its snapshot is kept.
const ConditionReasonSourceRemoved = events.ConditionReasonSourceRemoved

// RecordRemoved marks a source that left the configuration. Its last
// snapshot and the record of it stay; no sync is scheduled.
func RecordRemoved(st *state.Status, now time.Time) {
	msg := "Source removed from the configuration; its last snapshot is kept"
	st.Message = msg
	st.NextSyncTime = nil
	st.SetCondition(ConditionSyncSuccessful, state.ConditionUnknown, ConditionReasonSourceRemoved, msg, now)
}

// Removed reports whether a status marks a source removed from the
// configuration.
func Removed(st *state.Status) bool {
	c, ok := st.Condition(ConditionSyncSuccessful)
	return ok && c.Reason == ConditionReasonSourceRemoved
}

// failedSyncRetry is how a failed sync is retried: 5s doubling up to 5m.
var failedSyncRetry = retry.Backoff{First: 5 * time.Second, Limit: 5 * time.Minute}

// RetryBackoff is how long to wait before retrying after the given number
// of consecutive failures.
func RetryBackoff(attempts int) time.Duration {
	return failedSyncRetry.Delay(attempts)
}
