package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	thv "github.com/stacklok/toolhive-core/registry/types"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
)

// Fetcher fetches a source's raw bytes.
type Fetcher interface {
	Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error)
}

// Snapshots stores the last good filtered registry per source.
type Snapshots interface {
	Store(ctx context.Context, source string, data []byte) (string, error)
	Load(ctx context.Context, source string) ([]byte, error)
	Digest(ctx context.Context, source string) (string, error)
}

// Result is a completed sync.
type Result struct {
	// Hash is the source hash (before filtering).
	Hash     string
	Revision string
	// Counts after filtering.
	ServerCount int
	SkillCount  int
	PluginCount int
	// FilterHash is the hash of the filter that was applied.
	FilterHash     string
	SnapshotDigest string
	Diff           registry.Diff
}

// Manager decides and performs syncs.
type Manager struct {
	fetcher   Fetcher
	snapshots Snapshots
	logger    *slog.Logger
	now       func() time.Time
	// revisionWaits are the pauses AwaitRevision makes between fetches.
	revisionWaits []time.Duration
	// inProgressGrace is how long a Syncing status counts as a sync that is
	// still running. The coordinator calls the Manager only while it holds
	// the source's lease, so for it any Syncing status is left over from a
	// holder that died, and the grace is zero.
	inProgressGrace time.Duration
}

// NewManager returns a Manager. inProgressGrace is how long a status in
// phase Syncing keeps counting as running (see Manager).
func NewManager(f Fetcher, s Snapshots, logger *slog.Logger, inProgressGrace time.Duration) *Manager {
	return &Manager{fetcher: f, snapshots: s, logger: logger, now: time.Now, inProgressGrace: inProgressGrace,
		revisionWaits: defaultRevisionWaits}
}

// trigger says what asked for the decision.
type trigger struct {
	manual bool
	// changed is true when a watcher or webhook saw the source change;
	// revision is what it saw, if it knows.
	changed  bool
	revision string
}

// ShouldSync decides for a manual request or a routine check (startup,
// interval). It returns the reason and, when it had to fetch and the data
// is to be synced, the fetched data for PerformSync.
func (m *Manager) ShouldSync(ctx context.Context, src config.Source, st *state.Status, manual bool) (Reason, *sources.Fetched) {
	return m.decide(ctx, src, st, trigger{manual: manual})
}

// ShouldSyncChange decides for a trigger that reports a change, with the
// revision it saw ("" if unknown). A revision equal to the synced one is
// answered without fetching.
func (m *Manager) ShouldSyncChange(ctx context.Context, src config.Source, st *state.Status, revision string) (Reason, *sources.Fetched) {
	return m.decide(ctx, src, st, trigger{changed: true, revision: revision})
}

func (m *Manager) decide(ctx context.Context, src config.Source, st *state.Status, t trigger) (Reason, *sources.Fetched) {
	if st == nil {
		st = state.Initial(schedule(src))
	}
	log := m.logger.With("source", src.Name)
	now := m.now()

	if st.Phase == state.PhaseSyncing {
		if st.LastAttempt != nil && now.Sub(*st.LastAttempt) <= m.inProgressGrace {
			return ReasonAlreadyInProgress, nil
		}
		log.Warn("detected stale Syncing status, treating as failed", "last_attempt", st.LastAttempt)
	}

	intervalDue, _, err := IsIntervalSyncNeeded(st, now)
	if err != nil {
		log.Error("cannot check sync interval", "err", err)
		return ReasonErrorParsingInterval, nil
	}

	stateNeeded := st.Phase != state.PhaseComplete || !m.HasSnapshot(ctx, src.Name)
	filterChanged := st.LastAppliedFilterHash != "" && registry.FilterHash(src.Filter) != st.LastAppliedFilterHash
	upToDate := ReasonUpToDateNoPolicy
	if st.SyncSchedule != "" {
		upToDate = ReasonUpToDateWithPolicy
	}

	if !stateNeeded && !t.manual && !filterChanged && !intervalDue && !t.changed {
		return upToDate, nil
	}
	// Cheap check first: the trigger already knows the revision.
	if t.changed && t.revision != "" && t.revision == st.Revision && !stateNeeded && !filterChanged {
		return upToDate, nil
	}

	changed, fetched, err := m.isDataChanged(ctx, src, st)
	if err != nil {
		log.Warn("cannot check source for changes", "err", err)
		return ReasonErrorCheckingChanges, nil
	}
	switch {
	case changed && stateNeeded:
		return ReasonRegistryNotReady, fetched
	case changed && t.manual:
		return ReasonManualWithChanges, fetched
	case changed && filterChanged:
		return ReasonFilterChanged, fetched
	case changed:
		return ReasonSourceDataChanged, fetched
	case filterChanged:
		return ReasonFilterChanged, fetched
	case stateNeeded:
		// The data is what was last synced but the status is not Complete
		// or the snapshot is gone: sync again rather than stay not ready.
		return ReasonRegistryNotReady, fetched
	case t.manual:
		return ReasonManualNoChanges, nil
	default:
		return upToDate, nil
	}
}

// HasSnapshot reports whether a snapshot of the source is stored.
// defaultRevisionWaits wait about 10 s in all for an announced commit.
var defaultRevisionWaits = []time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second,
}

// ErrRevisionNotServed means a trigger announced a commit that the remote
// does not serve yet.
var ErrRevisionNotServed = errors.New("announced revision not served")

// AwaitRevision handles a webhook's race with its remote: a forge may
// announce a commit before its git remote serves it. When the remote still
// serves the synced revision, it fetches again after growing pauses until
// the remote has moved on. It returns nil once the remote serves another
// revision (the announced one or a later one), and an *Error wrapping
// ErrRevisionNotServed when it never did, so that the old commit is not
// synced and called done.
func (m *Manager) AwaitRevision(ctx context.Context, src config.Source, st *state.Status, revision string) *Error {
	if src.Git == nil || revision == "" || st == nil || st.Revision == "" || revision == st.Revision {
		return nil
	}
	served := st.Revision
	for i := 0; ; i++ {
		fetched, err := m.fetcher.Fetch(ctx, src)
		if err != nil {
			return nil // PerformSync fetches again and reports the failure
		}
		if served = fetched.Revision; served != st.Revision {
			return nil
		}
		if i == len(m.revisionWaits) {
			break
		}
		t := time.NewTimer(m.revisionWaits[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	err := fmt.Errorf("%w: the trigger announced commit %s but the remote still serves %s after %d tries",
		ErrRevisionNotServed, revision, served, len(m.revisionWaits)+1)
	return &Error{Err: err, Message: "Fetch failed: " + err.Error(),
		ConditionType: ConditionSourceAvailable, ConditionReason: ConditionReasonRevisionNotServed}
}

// HasSnapshot reports whether a snapshot of the source is stored.
func (m *Manager) HasSnapshot(ctx context.Context, source string) bool {
	_, err := m.snapshots.Digest(ctx, source)
	if err != nil && !errors.Is(err, writer.ErrNoSnapshot) {
		m.logger.Warn("cannot check snapshot, treating it as missing", "source", source, "err", err)
	}
	return err == nil
}

// PerformSync fetches (unless prefetched), validates, filters and stores a
// source. Nothing is stored unless every step before storing succeeded, so
// a failure leaves the last good snapshot in place.
func (m *Manager) PerformSync(ctx context.Context, src config.Source, prefetched *sources.Fetched) (*Result, *Error) {
	fetched := prefetched
	if fetched == nil {
		var err error
		fetched, err = m.fetcher.Fetch(ctx, src)
		if err != nil {
			return nil, &Error{Err: err, Message: "Fetch failed: " + err.Error(),
				ConditionType: ConditionSourceAvailable, ConditionReason: ConditionReasonFetchFailed}
		}
	}
	reg, err := registry.Parse(fetched.Raw)
	if err != nil {
		return nil, &Error{Err: err, Message: "Validation failed: " + err.Error(),
			ConditionType: ConditionDataValid, ConditionReason: ConditionReasonValidationFailed}
	}
	filtered, data, err := registry.Snapshot(fetched.Raw, reg, src.Filter)
	if err != nil {
		return nil, &Error{Err: err, Message: "Filtering failed: " + err.Error(),
			ConditionType: ConditionSyncSuccessful, ConditionReason: ConditionReasonFetchFailed}
	}
	previous := m.previous(ctx, src.Name)
	digest, err := m.snapshots.Store(ctx, src.Name, data)
	if err != nil {
		return nil, &Error{Err: err, Message: "Storage failed: " + err.Error(),
			ConditionType: ConditionSyncSuccessful, ConditionReason: ConditionReasonStorageFailed}
	}
	servers, skills, plugins := registry.Counts(filtered)
	return &Result{
		Hash:           fetched.Hash,
		Revision:       fetched.Revision,
		ServerCount:    servers,
		SkillCount:     skills,
		PluginCount:    plugins,
		FilterHash:     registry.FilterHash(src.Filter),
		SnapshotDigest: digest,
		Diff:           registry.Compare(previous, filtered),
	}, nil
}

// previous returns the stored snapshot to diff against, or nil.
func (m *Manager) previous(ctx context.Context, source string) *thv.UpstreamRegistry {
	data, err := m.snapshots.Load(ctx, source)
	if err != nil {
		if !errors.Is(err, writer.ErrNoSnapshot) {
			m.logger.Warn("cannot load previous snapshot, diffing against nothing", "source", source, "err", err)
		}
		return nil
	}
	var reg thv.UpstreamRegistry
	if err := json.Unmarshal(data, &reg); err != nil {
		m.logger.Warn("previous snapshot does not decode, diffing against nothing", "source", source, "err", err)
		return nil
	}
	return &reg
}

func schedule(src config.Source) string {
	if src.SyncPolicy == nil {
		return ""
	}
	return src.SyncPolicy.Interval
}

// ScheduleOf is the status's syncSchedule for a source: its interval in
// Go duration form, "" without one.
func ScheduleOf(src config.Source) string {
	s := schedule(src)
	if d, err := time.ParseDuration(s); err == nil {
		return d.String()
	}
	return s
}
