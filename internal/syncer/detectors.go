package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/state"
)

// isDataChanged fetches the source and compares its hash with the last
// synced one. The fetch result is returned so PerformSync need not fetch
// again.
func (m *Manager) isDataChanged(ctx context.Context, src config.Source, st *state.Status) (bool, *sources.Fetched, error) {
	fetched, err := m.fetcher.Fetch(ctx, src)
	if err != nil {
		return true, nil, err
	}
	return st.LastSyncHash == "" || fetched.Hash != st.LastSyncHash, fetched, nil
}

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
