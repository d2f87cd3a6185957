package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	thv "github.com/stacklok/toolhive-core/registry/types"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
)

// Fetcher fetches a source's raw bytes.
type Fetcher interface {
	Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error)
}

// Snapshots stores the last good filtered registry per source, with its
// digest index and metadata (writer.Snapshots).
type Snapshots interface {
	Store(ctx context.Context, source string, s writer.Snapshot) (writer.Info, error)
	Load(ctx context.Context, source string) ([]byte, error)
	Index(ctx context.Context, source, digest string) ([]byte, error)
	Info(ctx context.Context, source string) (writer.Info, error)
}

// Recorder records the entries of a snapshot, so that every replica can
// follow them one by one (entries.Store): Prepare compares them with what
// is recorded, before the snapshot is stored; WriteRecords records them
// while it is stored; Commit makes them the source's data once the sync's outcome is
// recorded (a nil batch: the records stored and not committed); Forget
// drops what it remembers of a source no longer configured.
type Recorder interface {
	Prepare(ctx context.Context, source string, lists registry.Lists) (*entries.Batch, error)
	WriteRecords(ctx context.Context, b *entries.Batch) error
	Commit(ctx context.Context, source string, b *entries.Batch, sy entries.Sync) (entries.Written, error)
	Forget(source string)
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
	FilterHash string
	// SnapshotDigest, SnapshotNUID and SnapshotSize describe the stored
	// snapshot object.
	SnapshotDigest string
	SnapshotNUID   string
	SnapshotSize   uint64
	Diff           registry.Diff

	// batch holds the entries the sync recorded, committed by Commit.
	batch *entries.Batch
	// resultID is the id the sync's result is given.
	resultID string
}

// Manager decides and performs syncs.
type Manager struct {
	fetcher   Fetcher
	snapshots Snapshots
	logger    *slog.Logger
	now       func() time.Time
	// revisionWait is how often a read fetches, and the pauses between
	// fetches, while it waits for an announced commit.
	revisionWait retry.Backoff
	// CallTimeout bounds each request to the snapshot store (storing gets
	// more time for more bytes), so that a store that does not answer
	// fails the sync in seconds; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// ReturnMemory, when set, is called once a sync has dropped a large
	// fetched document (see Release): main's one memory policy.
	ReturnMemory func()
	// Entries, when set, records each snapshot's entries: a snapshot whose
	// entries cannot be recorded is not stored, and a sync whose entries
	// are not recorded with its snapshot fails, so the next
	// one records them.
	Entries Recorder
	// Accepted, when set, names a source's entries that earlier syncs
	// checked and stored (entries.Store.Accepted): a sync does not check
	// them again, also when another replica ran the syncs before.
	Accepted func(source string) registry.Accepted

	mu sync.Mutex
	// memory is what the Manager remembers of each source between syncs.
	memory map[string]*kept
	// sources, once SetSources was called, are the sources kept for;
	// nil keeps every source synced.
	sources map[string]bool
}

// kept is what a Manager remembers of a source: the entries of the last
// registry built, so a sync of an edit checks only the entries that
// changed, and the digest index of the snapshot it stored last, so the
// next sync diffs against it without reading it back while that snapshot
// is still the one stored.
type kept struct {
	builder registry.Builder

	// Guarded by Manager.mu.
	stored string // the snapshot's digest; "" before the first store
	index  registry.Index
}

// DefaultCallTimeout bounds a snapshot store request when the Manager's
// CallTimeout is not set.
const DefaultCallTimeout = 5 * time.Second

// storeRate is the slowest write rate a snapshot store is given time for.
const storeRate = 8 << 20 // bytes per second

// call bounds one snapshot store request that carries size bytes.
func (m *Manager) call(ctx context.Context, size int) (context.Context, context.CancelFunc) {
	d := m.CallTimeout
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return context.WithTimeout(ctx, d+time.Duration(size)*time.Second/storeRate)
}

// NewManager returns a Manager.
func NewManager(f Fetcher, s Snapshots, logger *slog.Logger) *Manager {
	return &Manager{fetcher: f, snapshots: s, logger: logger, now: time.Now, revisionWait: defaultRevisionWait}
}

// Trigger is what a batch of coalesced triggers asks of ShouldSync.
type Trigger struct {
	// Manual is set when a manual request is among the triggers.
	Manual bool
	// Changed is set when a trigger reports a change or asks to look at
	// the data (a watcher, poller or webhook; a start or a reload).
	Changed bool
	// Revision is the revision named by the newest trigger (by stream
	// sequence) that names one: the latest observation of the source.
	Revision string
	// OnlyRevision is set when every trigger of the batch is a change that
	// names this same revision. Only then can a revision equal to the
	// synced one be answered without reading the source: with any other
	// trigger in the batch, the data may be newer than the status.
	OnlyRevision string
	// Described is the stored snapshot's description as read ahead of the
	// decision under the same lease (Describe); nil: the decision reads it.
	Described *Described
}

// Decision is what ShouldSync decided.
type Decision struct {
	Reason Reason
	// Fetched is the data read while deciding, handed to PerformSync so
	// that the source is read once.
	Fetched *sources.Fetched
	// Err is set when no decision could be made (the source could not be
	// read, the schedule does not parse): the sync fails with it, without
	// reading the source again.
	Err *Error
	// Read says the source was read (or its read failed) for the
	// decision: what it says holds for every observation made before the
	// read began.
	Read bool
	// snapshot is the description of the stored snapshot that the
	// decision found intact, nil when it read none: the sync, under the
	// same lease, diffs against it without reading it again.
	snapshot *writer.Info
}

// Described is the description of a source's stored snapshot, or why it
// could not be read, read ahead of a decision (Describe).
type Described struct {
	info writer.Info
	err  error
}

// Describe reads the description of a source's stored snapshot for a
// decision made under the same lease (Trigger.Described): only the
// lease's holder stores a snapshot, so it can be read while the status is.
func (m *Manager) Describe(ctx context.Context, source string) *Described {
	call, cancel := m.call(ctx, 0)
	defer cancel()
	info, err := m.snapshots.Info(call, source)
	return &Described{info: info, err: err}
}

// ShouldSync decides whether a source is synced for a batch of triggers,
// given its status: the seed's decision table, with the triggers' own
// knowledge first (cheap checks first).
func (m *Manager) ShouldSync(ctx context.Context, src config.Source, st *state.Status, t Trigger) Decision {
	if st == nil {
		st = Initial(src)()
	}
	log := m.logger.With("source", src.Name)
	now := m.now()

	// ShouldSync runs only under the source's lease, so no other sync of
	// it is running: a Syncing status was left by a holder that died.
	// The reference waits out a grace period and answers
	// sync-already-in-progress meanwhile; the lease makes that needless.
	if st.Phase == state.PhaseSyncing {
		log.Warn("detected stale Syncing status, treating as failed", "last_attempt", st.LastAttempt)
	}

	intervalDue, _, err := IsIntervalSyncNeeded(src.Name, st, now)
	if err != nil {
		return Decision{Reason: ReasonErrorParsingInterval, Err: newError("cannot decide whether to sync "+src.Name, err,
			ConditionSyncSuccessful, ConditionReasonConfigInvalid)}
	}

	filterChanged := st.LastAppliedFilterHash != "" && registry.FilterHash(src.Filter) != st.LastAppliedFilterHash
	upToDate := ReasonUpToDateNoPolicy
	if st.SyncSchedule != "" {
		upToDate = ReasonUpToDateWithPolicy
	}
	// Whether the source is read whatever the snapshot: then the snapshot
	// is checked while the source is read, not before.
	readAnyway := (t.Manual || filterChanged || intervalDue || t.Changed) &&
		(t.OnlyRevision == "" || t.OnlyRevision != st.Revision || filterChanged || t.Manual)
	var (
		fetched *sources.Fetched
		serr    *Error
		wg      sync.WaitGroup
	)
	if readAnyway {
		wg.Go(func() { fetched, serr = m.read(ctx, src, st, t.Revision) })
	}
	snapshot, stateNeeded := m.snapshotState(ctx, src.Name, st, t.Manual, t.Described)
	wg.Wait()

	if !readAnyway {
		if !stateNeeded && !t.Manual && !filterChanged && !intervalDue && !t.Changed {
			return Decision{Reason: upToDate}
		}
		// Cheap check first: every trigger already saw the synced revision.
		if t.OnlyRevision != "" && t.OnlyRevision == st.Revision && !stateNeeded && !filterChanged && !t.Manual {
			return Decision{Reason: upToDate}
		}
		fetched, serr = m.read(ctx, src, st, t.Revision)
	}
	if serr != nil {
		return Decision{Reason: ReasonErrorCheckingChanges, Err: serr, Read: true}
	}
	changed := st.LastSyncHash == "" || fetched.Hash != st.LastSyncHash
	reason := upToDate
	switch {
	case changed && stateNeeded:
		reason = ReasonRegistryNotReady
	case changed && t.Manual:
		reason = ReasonManualWithChanges
	case changed && filterChanged:
		reason = ReasonFilterChanged
	case changed:
		reason = ReasonSourceDataChanged
	case filterChanged:
		reason = ReasonFilterChanged
	case stateNeeded:
		// The data is what was last synced but the status is not Complete
		// or the snapshot is gone: sync again rather than stay not ready.
		reason = ReasonRegistryNotReady
	case t.Manual:
		reason = ReasonManualNoChanges
	}
	if !reason.ShouldSync() {
		return Decision{Reason: reason, Read: true}
	}
	return Decision{Reason: reason, Fetched: fetched, Read: true, snapshot: snapshot}
}

// snapshotState returns the description of the stored snapshot of a
// source when it is intact, and whether the source must be synced again
// to have one: there is none intact, or a manual request (the one way to
// have a snapshot's content checked: reading it back costs its size, so
// other triggers check its description only) found it unreadable.
func (m *Manager) snapshotState(ctx context.Context, source string, st *state.Status, manual bool, described *Described) (*writer.Info, bool) {
	var snapshot *writer.Info
	if st.Phase == state.PhaseComplete {
		snapshot = m.intact(ctx, source, st, described)
	}
	return snapshot, snapshot == nil || manual && !m.SnapshotReadable(ctx, source, st)
}

// read fetches the source for a decision. When the triggers announced a
// git commit that the remote may not serve yet (awaitsRevision), it
// fetches again after growing pauses while the remote still serves the
// synced revision. When the remote never moves on, the branch still
// serves what was synced: the announced commit is not its head (a push
// replayed once the clone that had seen it was rebuilt, or a push the
// remote serves later, which the git poller then reports), and the read
// returns the synced revision, so that the decision finds the source up
// to date rather than failing a healthy source. A fetch that fails ends
// the read with its error.
func (m *Manager) read(ctx context.Context, src config.Source, st *state.Status, announced string) (*sources.Fetched, *Error) {
	await := m.awaitsRevision(ctx, src, st, announced)
	for i := 1; ; i++ {
		fetched, err := m.fetcher.Fetch(ctx, src)
		if err != nil {
			// Carried with the decision; the sync's failure logs it, once.
			return nil, fetchError(err)
		}
		if !await || fetched.Revision != st.Revision {
			return fetched, nil
		}
		if i >= m.revisionWait.Attempts {
			m.logger.Info("the announced commit is not what the branch serves; the synced commit still is",
				"source", src.Name, "announced", announced, "served", fetched.Revision, "tries", i)
			return fetched, nil
		}
		if err := retry.Wait(ctx, m.revisionWait.Delay(i)); err != nil {
			return nil, fetchError(err)
		}
	}
}

func fetchError(err error) *Error {
	return newError("Fetch failed", err, ConditionSourceAvailable, ConditionReasonFetchFailed)
}

// defaultRevisionWait waits about 10 s in all for an announced commit:
// seven fetches, 250ms doubling up to 3s apart.
var defaultRevisionWait = retry.Backoff{First: 250 * time.Millisecond, Limit: 3 * time.Second, Attempts: 7}

// seenRevisions is the optional side of a Fetcher that knows which
// commits a git source's remote served before (sources.Fetcher does).
type seenRevisions interface {
	Seen(ctx context.Context, src config.Source, revision string) bool
}

// awaitsRevision reports whether a read must wait for an announced
// commit. A forge may announce a commit before its git remote serves it,
// so a commit other than the synced one is waited for, unless the remote
// served it before: that is a push replayed after the source moved on, and
// the source is synced as it is (a replay must not knock a healthy source
// to Failed).
func (m *Manager) awaitsRevision(ctx context.Context, src config.Source, st *state.Status, revision string) bool {
	if src.Git == nil || revision == "" || st == nil || st.Revision == "" || revision == st.Revision {
		return false
	}
	seen, ok := m.fetcher.(seenRevisions)
	return !ok || !seen.Seen(ctx, src, revision)
}

// HasSnapshot reports whether a snapshot of the source is stored.
func (m *Manager) HasSnapshot(ctx context.Context, source string) bool {
	call, cancel := m.call(ctx, 0)
	defer cancel()
	_, err := m.snapshots.Info(call, source)
	if err != nil && !errors.Is(err, writer.ErrNoSnapshot) {
		m.logger.Warn("cannot check snapshot, treating it as missing", "source", source, "err", err)
	}
	return err == nil
}

// SnapshotIntact reports whether the stored snapshot of a source is the one
// its status describes: stored, with the digest, NUID and size the status
// recorded (when it recorded them) and the lastSyncHash of what was synced
// in its metadata. Anything else (no snapshot, one replaced behind
// regsync's back, one written before snapshots carried metadata) counts as
// missing, so the next sync of any kind stores it again. It reads the
// object's description only, which whoever may write the bucket can
// republish over other content: SnapshotReadable reads the content.
func (m *Manager) SnapshotIntact(ctx context.Context, source string, st *state.Status) bool {
	return m.intact(ctx, source, st, nil) != nil
}

// intact returns the description of the stored snapshot of a source if
// it is intact (SnapshotIntact), else nil. It reads the description
// unless described gives it.
func (m *Manager) intact(ctx context.Context, source string, st *state.Status, described *Described) *writer.Info {
	if described == nil {
		described = m.Describe(ctx, source)
	}
	info, err := described.info, described.err
	if err != nil {
		if !errors.Is(err, writer.ErrNoSnapshot) {
			m.logger.Warn("cannot check snapshot, treating it as missing", "source", source, "err", err)
		}
		return nil
	}
	switch {
	case st.SnapshotDigest != "" && info.Digest != st.SnapshotDigest,
		st.SnapshotNUID != "" && (info.NUID != st.SnapshotNUID || info.Size != st.SnapshotSize):
		m.logger.Warn("stored snapshot is not the one synced, treating it as missing", "source", source,
			"digest", info.Digest, "synced_digest", st.SnapshotDigest, "nuid", info.NUID, "synced_nuid", st.SnapshotNUID,
			"size", info.Size, "synced_size", st.SnapshotSize)
		return nil
	case info.Meta.LastSyncHash != st.LastSyncHash:
		m.logger.Warn("stored snapshot does not describe the synced data, treating it as missing", "source", source,
			"snapshot_hash", info.Meta.LastSyncHash, "synced_hash", st.LastSyncHash)
		return nil
	}
	return &info
}

// SnapshotReadable reports whether the stored snapshot of a source reads
// back whole: its content is read and checked against the digest its
// description gives. A snapshot that does not (content replaced behind
// regsync's back, chunks lost) counts as missing.
func (m *Manager) SnapshotReadable(ctx context.Context, source string, st *state.Status) bool {
	call, cancel := m.call(ctx, int(min(st.SnapshotSize, math.MaxInt32)))
	defer cancel()
	if _, err := m.snapshots.Load(call, source); err != nil {
		m.logger.Warn("stored snapshot does not read back, treating it as missing", "source", source, "err", err)
		return false
	}
	return true
}

// PerformSync fetches (unless the decision d fetched), validates, filters and stores a
// source, and records its entries without committing them: Commit does,
// once the sync's outcome is recorded. Nothing is stored unless every
// step before storing succeeded, so a failure leaves the last good
// snapshot in place. Data that fails validation is fetched again when it
// is stale (a file changed since it was read), up to maxRereads times.
// resultID is the id its result will be given; the commit of its
// per-entry records carries it. It is Prepare, then Store.
func (m *Manager) PerformSync(ctx context.Context, src config.Source, d Decision, resultID string) (*Result, *Error) {
	p, serr := m.Prepare(ctx, src, d)
	if serr != nil {
		return nil, serr
	}
	return m.Store(ctx, p, resultID)
}

// Prepared is a sync that read and built what it stores and read what it
// compares with, and has written nothing yet.
type Prepared struct {
	src   config.Source
	k     *kept
	built *registry.Built
	index []byte
	r     *Result
	batch *entries.Batch
}

// Prepare is the part of PerformSync that writes nothing: it fetches
// (unless the decision d fetched), validates, filters and builds the
// source, and reads what the sync compares with (the previous snapshot's
// index, the source's stored entries). A sync's start can be recorded
// while it runs.
func (m *Manager) Prepare(ctx context.Context, src config.Source, d Decision) (*Prepared, *Error) {
	fetched := d.Fetched
	if fetched == nil {
		var err error
		fetched, err = m.fetcher.Fetch(ctx, src)
		if err != nil {
			return nil, fetchError(err)
		}
	}
	k := m.kept(src.Name)
	var accepted registry.Accepted
	if m.Accepted != nil {
		accepted = m.Accepted(src.Name)
	}
	built, err := k.builder.BuildAccepting(fetched.Raw, src.Filter, accepted)
	// A file that a writer had cut short when it was read, and has
	// changed since, is read again rather than reported invalid.
	for i := 0; err != nil && i < maxRereads && fetched.Stale(); i++ {
		if fetched, err = m.fetcher.Fetch(ctx, src); err != nil {
			return nil, fetchError(err)
		}
		built, err = k.builder.BuildAccepting(fetched.Raw, src.Filter, accepted)
	}
	if err != nil {
		return nil, newError("Validation failed", err, ConditionDataValid, ConditionReasonValidationFailed)
	}
	if err := registry.CheckKept(built.Source, built.Kept()); err != nil {
		return nil, &Error{Err: err, Message: "Filtering failed: " + err.Error(),
			ConditionType: ConditionDataValid, ConditionReason: ConditionReasonFilterRemovedEverything}
	}
	index, err := json.Marshal(built.Index)
	if err != nil {
		return nil, newError("Indexing failed", err, ConditionSyncSuccessful, ConditionReasonStorageFailed)
	}
	// What the sync compares with, the previous snapshot's index and the
	// source's stored entries, is read at the same time.
	var previous registry.Index
	var wg sync.WaitGroup
	wg.Go(func() { previous = m.previous(ctx, src.Name, k, d.snapshot) })
	var batch *entries.Batch
	if m.Entries != nil {
		// Reading the records of a source costs about its snapshot's size.
		call, cancel := m.call(ctx, len(built.Data))
		batch, err = m.Entries.Prepare(call, src.Name, built.Entries)
		cancel()
	}
	wg.Wait()
	if errors.Is(err, entries.ErrConflict) {
		return nil, newError("Validation failed", err, ConditionDataValid, ConditionReasonValidationFailed)
	}
	if err != nil {
		return nil, newError("Storage failed", err, ConditionSyncSuccessful, ConditionReasonStorageFailed)
	}
	r := &Result{
		Hash:        fetched.Hash,
		Revision:    fetched.Revision,
		ServerCount: built.Servers,
		SkillCount:  built.Skills,
		PluginCount: built.Plugins,
		FilterHash:  registry.FilterHash(src.Filter),
		Diff:        registry.CompareIndex(previous, built.Index),
	}
	return &Prepared{src: src, k: k, built: built, index: index, r: r, batch: batch}, nil
}

// Store is the part of PerformSync that writes: it stores the snapshot
// prepared and records its entries, whose commit will name resultID.
func (m *Manager) Store(ctx context.Context, p *Prepared, resultID string) (*Result, *Error) {
	src, k, built, index, r, batch := p.src, p.k, p.built, p.index, p.r, p.batch
	r.resultID = resultID
	// The records are written while the snapshot is stored: they are not
	// the source's data until the commit, written once the outcome is
	// recorded, and a sync that fails or stops before it leaves them
	// uncommitted for the next sync to compare with and commit.
	var recorded error
	var wg sync.WaitGroup
	if batch != nil {
		wg.Go(func() {
			call, cancel := m.call(ctx, batch.Changed()*recordSize)
			defer cancel()
			recorded = m.Entries.WriteRecords(call, batch)
		})
	}
	call, cancel := m.call(ctx, len(built.Data)+len(index))
	stored, err := m.snapshots.Store(call, src.Name, writer.Snapshot{Data: built.Data, Index: index, Meta: writer.Meta{
		Revision: r.Revision, LastSyncHash: r.Hash, FilterHash: r.FilterHash,
		ServerCount: r.ServerCount, SkillCount: r.SkillCount, PluginCount: r.PluginCount,
	}})
	cancel()
	wg.Wait()
	if err != nil {
		return nil, newError("Storage failed", err, ConditionSyncSuccessful, ConditionReasonStorageFailed)
	}
	r.SnapshotDigest, r.SnapshotNUID, r.SnapshotSize = stored.Digest, stored.NUID, stored.Size
	m.mu.Lock()
	k.stored, k.index = r.SnapshotDigest, built.Index
	m.mu.Unlock()
	if recorded != nil {
		return nil, newError("Storage failed", recorded, ConditionSyncSuccessful, ConditionReasonStorageFailed)
	}
	r.batch = batch
	return r, nil
}

// Commit commits the entries the sync of r recorded, under its result id.
// It is called once the sync's outcome is recorded, and before that
// outcome is announced: a commit names only a result recorded as
// completed, and a registry that follows the commit names it as a cause.
func (m *Manager) Commit(ctx context.Context, source string, r *Result) error {
	if m.Entries == nil || r.batch == nil {
		return nil
	}
	return m.commit(ctx, source, r.batch, r.resultID, r, 0)
}

// CommitRecorded commits the entries of the sync whose completed result,
// with id, is recorded in the status and was not announced: a sync that
// stopped after recording its outcome may not have committed them. A
// commit that names the result already is left as it is. size is the
// size of the source's snapshot, which reading its records costs.
func (m *Manager) CommitRecorded(ctx context.Context, source, id string, c events.SyncCompleted, size uint64) error {
	if m.Entries == nil {
		return nil
	}
	r := &Result{Hash: c.Hash, Revision: c.Revision, SnapshotDigest: c.SnapshotDigest}
	return m.commit(ctx, source, nil, id, r, int(min(size, math.MaxInt32)))
}

func (m *Manager) commit(ctx context.Context, source string, b *entries.Batch, id string, r *Result, size int) error {
	call, cancel := m.call(ctx, size)
	defer cancel()
	_, err := m.Entries.Commit(call, source, b, entries.Sync{ResultID: id,
		Revision: r.Revision, LastSyncHash: r.Hash, SnapshotDigest: r.SnapshotDigest})
	return err
}

// recordSize is the size a per-entry record is given time for.
const recordSize = 4 << 10

// maxRereads bounds how many times PerformSync reads again a file that
// failed validation and changed since it was read.
const maxRereads = 3

// releaseSize is the size of fetched data past which Release calls
// ReturnMemory.
const releaseSize = 8 << 20

// Release drops the data a decision fetched, once its sync no longer
// needs it: stored and its entries recorded, before the outcome is
// recorded and the entries committed (the commit sets the registries to
// work). The document of a large registry is the bulk of the heap while
// it is synced and garbage after: past releaseSize, Release calls
// ReturnMemory, so that the memory policy main chose can give it back to
// the operating system and the work that follows is not sized on this
// sync's garbage (the collector lets the heap grow to twice what it found
// live at its last run). A second Release of the same decision does
// nothing.
func (m *Manager) Release(d *Decision) {
	large := d.Fetched != nil && len(d.Fetched.Raw) > releaseSize
	d.Fetched = nil
	if large && m.ReturnMemory != nil {
		m.ReturnMemory()
	}
}

// SetSources says which sources are configured: what the Manager keeps
// for any other source (a removed one) is dropped, and kept no more.
func (m *Manager) SetSources(srcs []config.Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = make(map[string]bool, len(srcs))
	for _, s := range srcs {
		m.sources[s.Name] = true
	}
	for name := range m.memory {
		if !m.sources[name] {
			delete(m.memory, name)
			if m.Entries != nil {
				m.Entries.Forget(name)
			}
		}
	}
}

// kept returns what is kept for a source; for a source that is not
// configured (a sync that started before its removal) a fresh one that
// is not kept.
func (m *Manager) kept(source string) *kept {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := m.memory[source]; k != nil {
		return k
	}
	k := new(kept)
	if m.sources != nil && !m.sources[source] {
		return k
	}
	if m.memory == nil {
		m.memory = make(map[string]*kept)
	}
	m.memory[source] = k
	return k
}

// previous returns the digest index of the stored snapshot to diff
// against: the one k holds while its snapshot is the one stored, else the
// one kept with the snapshot or, for a snapshot stored without one, the
// index of the snapshot decoded. Without a snapshot it is empty. described
// is the stored snapshot's description as the sync's decision read it
// (nil: it is read here).
func (m *Manager) previous(ctx context.Context, source string, k *kept, described *writer.Info) registry.Index {
	call, cancel := m.call(ctx, 0)
	defer cancel()
	m.mu.Lock()
	stored, index := k.stored, k.index
	m.mu.Unlock()
	if stored != "" {
		if described == nil {
			if info, err := m.snapshots.Info(call, source); err == nil {
				described = &info
			}
		}
		if described != nil && described.Digest == stored {
			return index
		}
	}
	digest := ""
	if described != nil {
		digest = described.Digest
	}
	raw, err := m.snapshots.Index(call, source, digest)
	if errors.Is(err, writer.ErrNoSnapshot) {
		return registry.Index{}
	}
	if err == nil {
		var ix registry.Index
		if err = json.Unmarshal(raw, &ix); err == nil {
			return ix
		}
	}
	m.logger.Info("no digest index for the previous snapshot, decoding it", "source", source, "err", err)
	data, err := m.snapshots.Load(call, source)
	if err != nil {
		if !errors.Is(err, writer.ErrNoSnapshot) {
			m.logger.Warn("cannot load previous snapshot, diffing against nothing", "source", source, "err", err)
		}
		return registry.Index{}
	}
	var reg thv.UpstreamRegistry
	if err := json.Unmarshal(data, &reg); err != nil {
		m.logger.Warn("previous snapshot does not decode, diffing against nothing", "source", source, "err", err)
		return registry.Index{}
	}
	return registry.IndexOf(&reg)
}

// Initial returns the maker of a source's first status record, as
// state.Store.Update takes it: the one place that record is made.
func Initial(src config.Source) func() *state.Status {
	return func() *state.Status { return state.Initial(ScheduleOf(src)) }
}

// ScheduleOf is the status's syncSchedule for a source: its interval in
// Go duration form, "" without one.
func ScheduleOf(src config.Source) string {
	if d := src.Interval(); d > 0 {
		return d.String()
	}
	return ""
}
