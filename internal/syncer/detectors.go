package syncer

import (
	"fmt"
	"time"

	"github.com/regsync/regsync/internal/syncer/state"
)

// IsIntervalSyncNeeded reports whether the status's schedule is due, and
// when the next sync is due. No schedule is never due; a schedule that
// does not parse is an error.
func IsIntervalSyncNeeded(st *state.Status, now time.Time) (bool, time.Time, error) {
	if st == nil || st.SyncSchedule == "" {
		return false, time.Time{}, nil
	}
	interval, err := time.ParseDuration(st.SyncSchedule)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("parse sync schedule %q: %w", st.SyncSchedule, err)
	}
	if interval <= 0 {
		return false, time.Time{}, fmt.Errorf("sync schedule %q is not positive", st.SyncSchedule)
	}
	if st.LastAttempt == nil {
		return true, now.Add(interval), nil
	}
	next := st.LastAttempt.Add(interval)
	if !now.Before(next) {
		return true, now.Add(interval), nil
	}
	return false, next, nil
}
