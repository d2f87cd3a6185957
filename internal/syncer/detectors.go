package syncer

import (
	"fmt"
	"time"

	"github.com/regsync/regsync/internal/syncer/state"
)

// IsIntervalSyncNeeded reports whether the status's schedule is due, and
// when its next slot starts. The schedule is the source's slots (Slot), the
// same ones the interval producer fires on and nextSyncTime names: it is
// due when a slot started after the source was last looked at (its last
// attempt, or a failure that ended before an attempt started), so the
// trigger of every slot reads the source unless something else read it
// since that slot began. No schedule is never due; a schedule that does
// not parse is an error.
func IsIntervalSyncNeeded(source string, st *state.Status, now time.Time) (bool, time.Time, error) {
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
	_, next := Slot(source, interval, now)
	started := next.Add(-interval) // the slot that started last
	last := st.LastAttempt
	if st.LastSyncTime != nil && (last == nil || st.LastSyncTime.After(*last)) {
		last = st.LastSyncTime
	}
	return last == nil || last.Before(started), next, nil
}
