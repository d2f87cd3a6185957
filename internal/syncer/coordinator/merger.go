package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/registry/merge"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
)

// registryLeasePrefix starts the lease key of a registry in regsync_locks:
// "registry.<name>". Source names are DNS labels, without dots, so the
// key of a registry's lease never names a source's.
const registryLeasePrefix = "registry."

// Merger writes, for each registry whose view changed, the merged object
// to regsync_registries, the registry's status record and exactly one
// RegistryChanged event per generation. It runs on every replica beside
// its views.Follower, which tells it of every view it replaces, and the
// StatusWatch, which tells it of every source status; only the replica
// that holds a registry's lease (key "registry.<name>" in regsync_locks)
// writes. The others keep the registry to look at again, so a lease left
// by a replica that died is taken over once it expires, and the new
// holder first publishes the event its predecessor left pending.
type Merger struct {
	h       *bus.Handles
	leases  *Leases
	views   func(registry string) *views.Registry
	objects jetstream.ObjectStore
	ledger  *ledger[*events.RegistryStatus]
	status  *registryStatuses
	log     *slog.Logger
	// clock tells when a registry that waits is looked at again.
	clock clock
	// heldWait is how long a registry whose lease another replica holds
	// waits before it is looked at again: the holder may die.
	heldWait time.Duration

	mu         sync.Mutex
	registries []config.Registry
	// sources holds each registry's sources, by registry name.
	sources map[string][]string
	dirty   map[string]bool
	// waiting holds the registries not written yet for a while.
	waiting map[string]mergeWait
	// held holds the changed registries that wait for a sync of one of
	// their sources to end, and since when (see syncHold).
	held map[string]time.Time
	// busy says whether a source has a trigger pending or syncing here.
	busy func(source string) bool
	// lastBusy holds, per registry, the source found busy when it was
	// last looked at: asked about first, it is likely busy still.
	lastBusy map[string]string
	// reconfigured holds the registries whose sources or their order
	// changed, until the view of the new configuration is stored.
	reconfigured map[string]bool
	// phases is the last phase of each source's status record.
	phases map[string]events.Phase
	// seen holds, per registry, the views seen last, so the diff of a
	// generation is taken against the view its predecessor stored.
	seen map[string][]*views.Registry
	wake chan struct{}
}

// MergerOptions are what a Merger needs.
type MergerOptions struct {
	Leases *Leases
	// Views returns a registry's newest merge (views.Follower.Merged):
	// only its Merged and Sources are read.
	Views func(registry string) *views.Registry
	// Busy, when set, reports whether a trigger of a source is pending or
	// syncing on this replica (Coordinator.Busy); a registry changed
	// meanwhile waits for it (see due), and SourceIdle ends the wait.
	Busy     func(source string) bool
	LeaseTTL time.Duration
	Logger   *slog.Logger
}

// NewMerger returns a Merger of the registries (config.EffectiveRegistries).
// Its events are published by h.Publisher, their source the merger's URI.
func NewMerger(h *bus.Handles, opts MergerOptions, registries []config.Registry) *Merger {
	call := CallTimeout(opts.LeaseTTL)
	st := &registryStatuses{kv: h.RegistryStatus}
	l := &ledger[*events.RegistryStatus]{status: st, mode: h.Publisher.Mode,
		source: h.Publisher.Source(events.ProducerMerger), callTimeout: call,
		pending: func(s *events.RegistryStatus) *json.RawMessage { return &s.PendingEvent },
		unpend:  func(s *events.RegistryStatus) { s.PendingChanges = nil },
		shrink:  shrinkRegistryStatus, spare: spareRegistryStatus,
		publish: func(ctx context.Context, subject string, ev event.Event) error {
			_, err := h.Publisher.Publish(ctx, subject, ev)
			return err
		}}
	return &Merger{h: h, leases: opts.Leases, views: opts.Views, objects: h.Registries, ledger: l, status: st,
		busy: opts.Busy, lastBusy: map[string]string{}, log: opts.Logger, clock: wallClock{}, heldWait: max(opts.LeaseTTL/3, 50*time.Millisecond), registries: registries,
		sources: sourcesByRegistry(registries), dirty: map[string]bool{}, waiting: map[string]mergeWait{}, held: map[string]time.Time{},
		reconfigured: map[string]bool{}, phases: map[string]events.Phase{}, seen: map[string][]*views.Registry{},
		wake: make(chan struct{}, 1)}
}

// sourcesByRegistry is each registry's sources, by registry name.
func sourcesByRegistry(registries []config.Registry) map[string][]string {
	out := make(map[string][]string, len(registries))
	for _, r := range registries {
		out[r.Name] = r.Sources
	}
	return out
}

// SetRegistries replaces the registries merged (a reloaded configuration);
// every one is looked at again.
func (m *Merger) SetRegistries(registries []config.Registry) {
	m.mu.Lock()
	for _, r := range registries {
		i := slices.IndexFunc(m.registries, func(o config.Registry) bool { return o.Name == r.Name })
		if i < 0 || !slices.Equal(m.registries[i].Sources, r.Sources) {
			// The next generation of its view is the configuration's.
			m.reconfigured[r.Name] = true
		}
		m.dirty[r.Name] = true
	}
	m.registries = registries
	m.sources = sourcesByRegistry(registries)
	m.lastBusy = map[string]string{}
	m.mu.Unlock()
	m.poke()
}

// Changed is told of a registry's new merge (views.Follower.OnMerged).
func (m *Merger) Changed(registry string, v *views.Registry) {
	m.mu.Lock()
	// Any recent view may be the one another replica stored.
	seen := append(m.seen[registry], v)
	m.seen[registry] = seen[max(0, len(seen)-maxSeenViews):]
	m.dirty[registry] = true
	m.mu.Unlock()
	m.poke()
}

// maxSeenViews is how many recent views of a registry a merger keeps to
// take the diff of a generation against the view stored before it.
const maxSeenViews = 64

// restartStatus implements statusFollower.
func (m *Merger) restartStatus() {}

// noteStatus implements statusFollower: a source whose phase changed
// changes the conditions of the registries that use it.
func (m *Merger) noteStatus(source string, st *state.Status) {
	var phase events.Phase
	if st != nil {
		phase = st.Phase
	}
	m.mu.Lock()
	changed := m.phases[source] != phase
	m.phases[source] = phase
	if changed {
		for _, r := range m.registries {
			if slices.Contains(r.Sources, source) {
				m.dirty[r.Name] = true
			}
		}
	}
	m.mu.Unlock()
	if changed {
		m.poke()
	}
}

func (m *Merger) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run writes registries as they change until ctx ends. A registry whose
// lease another replica holds, or whose write failed, waits a while before
// it is looked at again (merged).
func (m *Merger) Run(ctx context.Context) error {
	limit, err := bus.ValueLimit(ctx, m.h.RegistryStatus, m.h.JS.Conn())
	if err != nil {
		m.log.Warn("registry status records are fitted to the server's message limit alone", "err", err)
	}
	m.ledger.recordLimit = limit
	for {
		for _, name := range m.due(m.clock.Now()) {
			if ctx.Err() != nil {
				return nil
			}
			m.merged(name, m.merge(ctx, name), m.clock.Now())
		}
		stop := func() bool { return false }
		if d, ok := m.nextDue(m.clock.Now()); ok {
			stop = m.clock.AfterFunc(d, m.poke)
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-m.wake:
		}
		stop()
	}
}

// mergeWait is a registry not written yet for a while.
type mergeWait struct {
	failures int       // its writes in a row that failed
	at       time.Time // when it is looked at again
}

// mergeRetry is the pause before a registry whose write failed is written
// again: a second, doubling with each further failure in a row, up to half
// a minute.
var mergeRetry = retry.Backoff{First: time.Second, Limit: 30 * time.Second}

// syncHold is how long a changed registry waits at most for the syncs of
// its sources on this replica (see due): the bound for a registry whose
// sources are synced one after another without end.
const syncHold = time.Second

// due takes, sorted, the changed registries that do not wait past now. A
// registry changed while it is written is written again. A registry one
// of whose sources has a trigger pending or syncing on this replica
// (busy) waits until none has, or syncHold after it first waited: a
// burst of triggers for its sources, each sync of which makes a view, is
// merged as one generation after the burst rather than one for each view
// the merger can keep up with, taking the CPU the syncs need. The merger
// is told when a source's triggers are all answered (SourceIdle).
func (m *Merger) due(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name := range m.dirty {
		if w, ok := m.waiting[name]; ok && w.at.After(now) {
			continue
		}
		if m.syncing(name) {
			since, ok := m.held[name]
			if !ok {
				since = now
				m.held[name] = now
			}
			if now.Sub(since) < syncHold {
				continue
			}
		}
		delete(m.held, name)
		names = append(names, name)
		delete(m.dirty, name)
	}
	slices.Sort(names)
	return names
}

// syncing reports whether a source of the registry has a trigger pending
// or syncing on this replica; m.mu is held. It asks first about the
// source it found busy last: the merger is woken each time one of a
// burst's sources goes idle, and looking at every source of a registry
// each time would cost O(sources) a sync.
func (m *Merger) syncing(registry string) bool {
	if m.busy == nil {
		return false
	}
	if s, ok := m.lastBusy[registry]; ok && m.busy(s) {
		return true
	}
	delete(m.lastBusy, registry)
	for _, s := range m.sources[registry] {
		if m.busy(s) {
			m.lastBusy[registry] = s
			return true
		}
	}
	return false
}

// SourceIdle is told that this replica answered every trigger of a source
// (Coordinator.OnIdle): the registries that wait for it are looked at.
func (m *Merger) SourceIdle(string) { m.poke() }

// merged notes how the write of a registry went: a write ends its
// failures; a registry whose lease is held elsewhere waits heldWait, and
// one whose write failed mergeRetry's pause for its failures in a row.
func (m *Merger) merged(name string, err error, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.waiting, name)
		return
	}
	m.dirty[name] = true
	if errors.Is(err, errRecordMoved) {
		// Another holder wrote the record meanwhile: merge again from
		// its write at once, which also stores its object again if
		// this merge's write replaced it.
		delete(m.waiting, name)
		m.log.Info("registry record changed during the merge; merging again", "registry", name, "err", err)
		m.poke()
		return
	}
	w := m.waiting[name]
	var held *HeldError
	if errors.As(err, &held) {
		w.at = now.Add(m.heldWait)
		m.log.Debug("registry written by another replica", "registry", name, "err", err)
	} else {
		w.failures++
		wait := mergeRetry.Delay(w.failures)
		w.at = now.Add(wait)
		m.log.Warn("registry not written; trying again", "registry", name, "retry_in", wait, "err", err)
	}
	m.waiting[name] = w
}

// nextDue is how long after now the first changed registry that waits is
// due; false when none waits.
func (m *Merger) nextDue(now time.Time) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for name := range m.dirty {
		var at time.Time
		if w, ok := m.waiting[name]; ok {
			at = w.at
		}
		if since, ok := m.held[name]; ok && since.Add(syncHold).After(at) {
			at = since.Add(syncHold)
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return max(next.Sub(now), 0), !next.IsZero()
}

// merge writes what changed of one registry under its lease.
func (m *Merger) merge(ctx context.Context, name string) error {
	m.mu.Lock()
	i := slices.IndexFunc(m.registries, func(r config.Registry) bool { return r.Name == name })
	var order []string
	if i >= 0 {
		order = m.registries[i].Sources
	}
	m.mu.Unlock()
	if i < 0 {
		return nil // removed from the configuration
	}
	v := m.views(name)
	if v == nil {
		return nil // not loaded yet: the follower tells when it is
	}
	// A view of the configuration before a reload is not written: the
	// follower tells of the new one.
	current := slices.EqualFunc(v.Sources, order, func(s views.Source, name string) bool { return s.Name == name })
	if !current {
		return nil
	}
	m.mu.Lock()
	reason := events.RegistryReasonSourceChanged
	if m.reconfigured[name] {
		reason = events.RegistryReasonConfigChanged
	}
	m.mu.Unlock()
	lease, err := m.leases.TryAcquire(ctx, registryLeasePrefix+name)
	if err != nil {
		return err
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			m.log.Debug("registry lease not released", "registry", name, "err", err)
		}
	}()
	// Everything written below is computed from the record at revision
	// rev, and is written only over that revision (see moved): a holder
	// whose lease expired while it merged must not record a generation
	// over one recorded meanwhile.
	prev, rev, err := m.status.read(ctx, name)
	if err != nil {
		return err
	}
	// pending is the record of a generation left pending, kept for its
	// changed entries (see rebuiltView) once announcing it cleared them.
	var pending *events.RegistryStatus
	if prev != nil && prev.PendingEvent != nil {
		pending = prev
		// The holder that recorded the generation may have stopped
		// before storing its object: it is stored before it is announced.
		if err := m.storePending(ctx, name, v, prev); err != nil {
			return err
		}
		if err := m.flush(ctx, name, prev.PendingEvent); err != nil {
			return err
		}
		// Clearing the event wrote the record: start from that write.
		if prev, rev, err = m.status.read(ctx, name); err != nil {
			return err
		}
		if prev != nil && prev.PendingEvent != nil {
			return fmt.Errorf("registry %s: another holder recorded an event: %w", name, errRecordMoved)
		}
	}
	// A view that lacks part of a source's committed data (this replica
	// started after a sync of it was stopped before its commit) is not
	// written: it would announce the entries it lacks as removed, then as
	// added again. The follower tells when the commit makes it whole.
	if i := slices.IndexFunc(v.Sources, func(s views.Source) bool { return s.Partial }); i >= 0 {
		m.log.Debug("registry view partial until its source commits", "registry", name, "source", v.Sources[i].Name)
		return nil
	}
	digest := v.Merged.Digest().String()
	var generation uint64
	var prevDigest string
	if prev != nil {
		generation, prevDigest = prev.Generation, prev.ViewDigest
	}
	sources := m.sourcesOf(v)
	if prev != nil {
		// A view older than the one stored is not written: the registry
		// would go back. The follower tells when it has caught up.
		if s := behind(sources, prev); s != "" {
			m.log.Debug("registry view behind the one stored", "registry", name, "source", s)
			return nil
		}
	}
	if generation == 0 && v.Merged.Count(merge.Server)+v.Merged.Count(merge.Skill)+v.Merged.Count(merge.Plugin) == 0 &&
		slices.ContainsFunc(sources, func(s events.RegistrySource) bool { return !synced(s) }) {
		// No data yet, and a source may bring some: the record says the
		// registry waits, and the first generation is the first with data
		// (or the empty view of sources that all synced empty).
		if prev != nil && slices.Equal(prev.Sources, sources) {
			return nil
		}
		_, err := m.status.Update(ctx, name, func() *events.RegistryStatus { return &events.RegistryStatus{} },
			func(s *events.RegistryStatus, base uint64) error {
				if err := moved(name, rev, base); err != nil {
					return err
				}
				now := time.Now().UTC()
				s.Sources = sources
				setRegistryConditions(s, now)
				s.SetCondition(events.ConditionAPIReady, state.ConditionFalse, events.ConditionReasonSourceNotSynced,
					"no generation is stored yet", now)
				return nil
			})
		return err
	}
	if digest == prevDigest {
		m.doneReconfiguring(name)
		// The view is recorded. A holder that stored the object of
		// another view after its lease expired, or one that died after
		// recording the view and before storing its object, left another
		// object: the recorded view's is stored (again).
		restored, err := m.restore(ctx, name, v, prev)
		if err != nil {
			return err
		}
		// Only the sources' phases may have changed.
		if slices.EqualFunc(prev.Sources, sources, sameSource) {
			if !restored {
				return nil
			}
			// The object restored is the record's only while the
			// record is the one read: a generation recorded meanwhile
			// is merged again, and its object stored again.
			_, now, err := m.status.read(ctx, name)
			if err != nil {
				return err
			}
			return moved(name, rev, now)
		}
		_, err = m.status.update(ctx, name, func(s *events.RegistryStatus, base uint64) error {
			if err := moved(name, rev, base); err != nil {
				return err
			}
			s.Sources = sources
			setRegistryConditions(s, time.Now())
			return nil
		})
		return err
	}
	// The diff is taken against the recorded view, before the object of
	// this one replaces it; a record of no generation (none, or one that
	// waits for data) has none, so every entry is added.
	before := m.seenView(name, prevDigest)
	if before == nil && generation > 0 {
		// Recorded before this replica followed the registry: the diff
		// is taken against the recorded generation's object.
		if before, err = m.storedView(ctx, name, v, prev.Generation, prev.ViewDigest); err != nil {
			return err
		}
		if before == nil && pending != nil && pending.Generation == prev.Generation && pending.ViewDigest == prev.ViewDigest {
			// Its holder died before storing its object, and the view
			// is gone: rebuilt from the object before and the entries
			// the generation changed.
			if before, err = m.rebuiltView(ctx, name, v, pending); err != nil {
				return err
			}
		}
		if before == nil {
			m.log.Warn("the recorded generation's view is gone; the diff names every entry as added",
				"registry", name, "generation", prev.Generation)
		}
	}
	generation++
	now := time.Now().UTC()
	data := changeOf(name, before, v, generation)
	data.Reason = reason
	var stored []events.RegistrySource
	if prev != nil && prev.Generation > 0 { // a record waiting for data names no generation
		stored = prev.Sources
	}
	data.Causes, data.CauseCount = causesOf(stored, v.Sources)
	changes := changesOf(before, prevDigest, v, data.Diff)
	e, err := m.ledger.record(ctx, name, func() *events.RegistryStatus { return &events.RegistryStatus{} },
		func(s *events.RegistryStatus, base uint64) (string, events.Data, error) {
			// Recorded over a later record, the generation would
			// follow one its diff was not taken against, and its view
			// could be older than the one recorded.
			if err := moved(name, rev, base); err != nil {
				return "", nil, err
			}
			data.PreviousGeneration = s.Generation
			data.Generation = s.Generation + 1
			s.Generation, s.ViewDigest = data.Generation, digest
			s.ServerCount, s.SkillCount, s.PluginCount = data.ServerCount, data.SkillCount, data.PluginCount
			s.Sources = sources
			s.LastChange = &now
			s.PendingChanges = changes
			setRegistryConditions(s, now)
			s.SetCondition(events.ConditionAPIReady, state.ConditionTrue, events.ConditionReasonViewStored,
				"generation "+strconv.FormatUint(data.Generation, 10)+" is stored in "+events.ObjectStoreRegistries, now)
			return "g-" + name + "-" + s.Epoch + "-" + strconv.FormatUint(data.Generation, 10), data, nil
		})
	if err != nil {
		return err
	}
	m.doneReconfiguring(name)
	e.report(m.log)
	// The object is stored once its generation is recorded: the object of
	// the generation before, which a holder that starts again diffs
	// against, stays until then. A holder that stops before storing it
	// leaves the event pending, and the next one stores the object first
	// (storePending).
	if err := m.store(ctx, name, v, e.status.Generation, now); err != nil {
		return err
	}
	if e.err != nil {
		return nil
	}
	m.log.Info("registry changed", "registry", name, "generation", e.status.Generation, "event_id", e.event.ID(),
		"servers", e.status.ServerCount)
	return m.flush(ctx, name, e.status.PendingEvent)
}

// errRecordMoved says that a registry's status record changed after a
// merge read it: what the merge computed from it is not written, and the
// registry is merged again at once.
var errRecordMoved = errors.New("status record written by another holder since the merge read it")

// moved refuses a write over a registry's record at revision base when
// the merge read it at revision read.
func moved(name string, read, base uint64) error {
	if base == read {
		return nil
	}
	return fmt.Errorf("registry %s: read at revision %d, now at %d: %w", name, read, base, errRecordMoved)
}

// doneReconfiguring says the view of a registry's configuration is stored.
func (m *Merger) doneReconfiguring(name string) {
	m.mu.Lock()
	delete(m.reconfigured, name)
	m.mu.Unlock()
}

// flush publishes a pending event and clears it from the record.
func (m *Merger) flush(ctx context.Context, name string, pending json.RawMessage) error {
	var ev event.Event
	if err := ev.UnmarshalJSON(pending); err != nil {
		_, derr := m.ledger.drop(ctx, name, func() *events.RegistryStatus { return nil }, pending)
		return errors.Join(fmt.Errorf("decode pending event of registry %s: %w", name, err), derr)
	}
	if err := m.ledger.announce(ctx, events.RegistrySubject(name), ev); err != nil {
		return fmt.Errorf("publish %s: %w", ev.ID(), err)
	}
	return m.ledger.settle(ctx, name, ev.ID())
}

// sourcesOf is what the status record shows of a view's sources.
func (m *Merger) sourcesOf(v *views.Registry) []events.RegistrySource {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]events.RegistrySource, 0, len(v.Sources))
	for _, s := range v.Sources {
		out = append(out, events.RegistrySource{Name: s.Name, Phase: m.phases[s.Name],
			Revision: s.Commit.Revision, LastSyncHash: s.Commit.LastSyncHash, ResultID: s.Commit.ResultID,
			CommitGeneration: s.Commit.Generation, CommittedAt: s.Commit.CommittedAt})
	}
	return out
}

// sameSource reports whether a and b show a source alike (times compared
// as instants).
func sameSource(a, b events.RegistrySource) bool {
	at, bt := a.CommittedAt, b.CommittedAt
	a.CommittedAt, b.CommittedAt = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

// behind returns the first source whose commit in sources is older than
// the one the record's view was built from, or "".
func behind(sources []events.RegistrySource, rec *events.RegistryStatus) string {
	for _, s := range sources {
		for _, r := range rec.Sources {
			if r.Name == s.Name && s.Behind(r) {
				return s.Name
			}
		}
	}
	return ""
}

// setRegistryConditions sets Ready and Degraded from the sources' phases.
func setRegistryConditions(s *events.RegistryStatus, now time.Time) {
	var failing, unsynced []string
	for _, src := range s.Sources {
		switch {
		case !synced(src):
			unsynced = append(unsynced, src.Name)
		case src.Phase == events.PhaseFailed:
			failing = append(failing, src.Name)
		}
	}
	switch {
	case len(failing) > 0:
		s.SetCondition(events.ConditionDegraded, state.ConditionTrue, events.ConditionReasonSourceFailing,
			fmt.Sprintf("source %s fails; its last good entries are kept", joinNames(failing)), now)
	default:
		s.SetCondition(events.ConditionDegraded, state.ConditionFalse, events.ConditionReasonSourcesSynced, "", now)
	}
	switch {
	case len(unsynced) > 0:
		s.SetCondition(events.ConditionReady, state.ConditionFalse, events.ConditionReasonSourceNotSynced,
			"waits for the first sync of "+joinNames(unsynced), now)
	case len(failing) > 0:
		s.SetCondition(events.ConditionReady, state.ConditionTrue, events.ConditionReasonSourceFailing,
			"every source is in the view; "+joinNames(failing)+" from its last good sync", now)
	default:
		s.SetCondition(events.ConditionReady, state.ConditionTrue, events.ConditionReasonSourcesSynced,
			"every source is synced", now)
	}
}

// synced reports whether a source's data is in the view: it shows what
// the source last stored.
func synced(src events.RegistrySource) bool {
	return src.Revision != "" || src.LastSyncHash != ""
}

func joinNames(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// store writes the merged upstream-format JSON of a view as object
// <registry>, with its generation, view digest and counts.
func (m *Merger) store(ctx context.Context, name string, v *views.Registry, generation uint64, now time.Time) error {
	body, err := upstreamOf(v.Merged, now)
	if err != nil {
		return err
	}
	meta := map[string]string{
		events.MetaGeneration:  strconv.FormatUint(generation, 10),
		events.MetaViewDigest:  v.Merged.Digest().String(),
		events.MetaServerCount: strconv.Itoa(v.Merged.Count(merge.Server)),
		events.MetaSkillCount:  strconv.Itoa(v.Merged.Count(merge.Skill)),
		events.MetaPluginCount: strconv.Itoa(v.Merged.Count(merge.Plugin)),
	}
	call, cancel := m.ledger.call(ctx)
	defer cancel()
	// One put: the body and its metadata are never seen apart.
	obj := jetstream.ObjectMeta{Name: name, Metadata: meta, Opts: &jetstream.ObjectMetaOptions{ChunkSize: bus.ObjectChunkSize}}
	if _, err := m.objects.Put(call, obj, body); err != nil {
		return fmt.Errorf("store registry %s: %w", name, err)
	}
	return nil
}

// seenView returns the view of a registry with the given digest among
// the views this merger was told of lately, or nil.
func (m *Merger) seenView(name, digest string) *views.Registry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found *views.Registry
	for _, r := range m.seen[name] {
		if r.Merged.Digest().String() == digest {
			found = r
		}
	}
	return found
}

// storePending stores the object of the generation that rec records and
// has not announced, when it is not stored: the holder that recorded it
// may have stopped before storing it. The object is the view of that
// generation, the current view v or one seen lately; when neither is (the
// sources moved on meanwhile), the object stays the one before, and the
// next generation's diff is taken against it with the entries the record
// keeps of the pending generation in place (rebuiltView).
func (m *Merger) storePending(ctx context.Context, name string, v *views.Registry, rec *events.RegistryStatus) error {
	view := v
	if v.Merged.Digest().String() != rec.ViewDigest {
		view = m.seenView(name, rec.ViewDigest)
	}
	if view == nil {
		m.log.Warn("the view of the pending generation is gone; its object is not stored", "registry", name, "generation", rec.Generation)
		return nil
	}
	_, err := m.restore(ctx, name, view, rec)
	return err
}

// restore stores the object of the view a status record holds again when
// the object stored is not of that generation and view, and says whether
// it did.
func (m *Merger) restore(ctx context.Context, name string, v *views.Registry, rec *events.RegistryStatus) (bool, error) {
	call, cancel := m.ledger.call(ctx)
	info, err := m.objects.GetInfo(call, name)
	cancel()
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, fmt.Errorf("read stored registry %s: %w", name, err)
	}
	generation := strconv.FormatUint(rec.Generation, 10)
	if info != nil && info.Metadata[events.MetaGeneration] == generation && info.Metadata[events.MetaViewDigest] == rec.ViewDigest {
		return false, nil
	}
	at := time.Now().UTC()
	if rec.LastChange != nil {
		at = *rec.LastChange
	}
	if err := m.store(ctx, name, v, rec.Generation, at); err != nil {
		return false, err
	}
	m.log.Info("registry object stored again: it was not the recorded generation's", "registry", name, "generation", rec.Generation)
	return true, nil
}

// upstreamOf is the upstream registry JSON of a merged view: every version
// of every winning entry, byte for byte as stored. The entries are written
// as they are, not through an encoder: they are valid JSON (a record does
// not decode otherwise), and an encoder would scan all of them again for
// every generation, tens of MB for a large registry. Nor are they copied
// into one body first: the object store reads them a chunk at a time.
func upstreamOf(v *merge.View, now time.Time) (io.Reader, error) {
	r := &upstreamReader{}
	r.queue = append(r.buf[:0], []byte(`{"version":"1.0.0","meta":{"last_updated":`+strconv.Quote(now.Format(time.RFC3339))+`},"data":{`))
	for _, l := range []struct {
		kind      merge.Kind
		key       string
		omitEmpty bool
	}{{merge.Server, "servers", false}, {merge.Skill, "skills", true}, {merge.Plugin, "plugins", true}} {
		// The items are sorted by kind: those of one kind are together.
		all := v.Items()
		lo := slices.IndexFunc(all, func(it *merge.Item) bool { return it.Key.Kind == l.kind })
		hi := lo
		for lo >= 0 && hi < len(all) && all[hi].Key.Kind == l.kind {
			hi++
		}
		var items []*merge.Item
		if lo >= 0 {
			items = all[lo:hi]
		}
		for _, it := range items {
			for _, e := range it.Versions {
				if len(e.Data) == 0 {
					return nil, fmt.Errorf("encode merged registry: %s %s %s has no data", l.kind, it.Key.Name, e.Version)
				}
			}
		}
		if len(items) == 0 && l.omitEmpty {
			continue
		}
		open := `"` + l.key + `":[`
		if l.kind != merge.Server {
			open = "," + open
		}
		r.lists = append(r.lists, upstreamList{open: []byte(open), items: items})
	}
	return r, nil
}

// upstreamReader reads the upstream registry JSON of upstreamOf, one
// entry after the other.
type upstreamReader struct {
	// queue holds the pieces to read before the next entry's, in buf.
	queue [][]byte
	buf   [2][]byte
	// lists holds the lists not read yet, the first the one being read.
	lists []upstreamList
	// version is the next version of the first list's first item.
	version int
	done    bool
}

// upstreamList is a list of the document: its opening and the items
// whose versions it holds.
type upstreamList struct {
	open    []byte
	items   []*merge.Item
	opened  bool
	written bool // an entry is written: the next follows a comma
}

var (
	entrySeparator = []byte{','}
	listEnd        = []byte{']'}
	documentEnd    = []byte(`}}`)
)

func (r *upstreamReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.queue) == 0 && !r.fill() {
			break
		}
		c := copy(p[n:], r.queue[0])
		n += c
		if r.queue[0] = r.queue[0][c:]; len(r.queue[0]) == 0 {
			r.queue = r.queue[1:]
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fill queues the next pieces of the document; false at its end.
func (r *upstreamReader) fill() bool {
	r.queue = r.buf[:0]
	for len(r.lists) > 0 {
		l := &r.lists[0]
		if !l.opened {
			l.opened = true
			r.queue = append(r.queue, l.open)
			return true
		}
		for len(l.items) > 0 {
			versions := l.items[0].Versions
			if r.version == len(versions) {
				l.items, r.version = l.items[1:], 0
				continue
			}
			if l.written {
				r.queue = append(r.queue, entrySeparator)
			}
			l.written = true
			r.queue = append(r.queue, versions[r.version].Data)
			r.version++
			return true
		}
		r.lists = r.lists[1:]
		r.queue = append(r.queue, listEnd)
		return true
	}
	if r.done {
		return false
	}
	r.done = true
	r.queue = append(r.queue, documentEnd)
	return true
}

// storedView reads the view of a generation with the given view digest
// back from object <registry>, each entry credited to the source that
// wins it in next (the stored object does not say which source it came
// from). An object of another generation or view (the one before, when a
// holder died after recording a generation and before storing its
// object; another view, stored by a holder whose lease expired) is not
// that view: nil.
func (m *Merger) storedView(ctx context.Context, name string, next *views.Registry, generation uint64, digest string) (*views.Registry, error) {
	call, cancel := m.ledger.call(ctx)
	defer cancel()
	obj, err := m.objects.Get(call, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored registry %s: %w", name, err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return nil, fmt.Errorf("read stored registry %s: %w", name, err)
	}
	if gen := info.Metadata[events.MetaGeneration]; gen != strconv.FormatUint(generation, 10) ||
		info.Metadata[events.MetaViewDigest] != digest {
		m.log.Info("stored registry object is not the generation's", "registry", name, "generation", generation,
			"object_generation", gen)
		return nil, nil
	}
	body, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read stored registry %s: %w", name, err)
	}
	v, err := viewOfObject(body, next.Merged)
	if err != nil {
		return nil, fmt.Errorf("read stored registry %s: %w", name, err)
	}
	return &views.Registry{Merged: v}, nil
}

// rebuiltView is the view of the generation rec records, to diff the next
// one against, when its holder died before storing its object and the
// view is gone: the object of the generation before, with the entries
// rec's PendingChanges keeps in their place. nil when the record keeps
// none, or the object is not the generation before's.
func (m *Merger) rebuiltView(ctx context.Context, name string, next *views.Registry, rec *events.RegistryStatus) (*views.Registry, error) {
	c := rec.PendingChanges
	if c == nil || rec.Generation < 2 {
		return nil, nil
	}
	known := make([]merge.Known, 0, len(c.Entries))
	for _, e := range c.Entries {
		k := merge.Known{Key: merge.Key{Kind: merge.Kind(e.Kind), Name: e.Name}, Source: e.Source, Gone: e.Digest == ""}
		switch k.Key.Kind {
		case merge.Server, merge.Skill, merge.Plugin:
		default:
			m.log.Warn("registry record's pending changes hold an entry of an unknown kind; they are not used",
				"registry", name, "generation", rec.Generation, "kind", e.Kind, "entry", e.Name)
			return nil, nil
		}
		if !k.Gone {
			b, err := hex.DecodeString(e.Digest)
			if err != nil || len(b) != len(k.Digest) {
				m.log.Warn("registry record's pending changes hold a malformed digest; they are not used",
					"registry", name, "generation", rec.Generation, "kind", e.Kind, "entry", e.Name, "digest", e.Digest)
				return nil, nil
			}
			copy(k.Digest[:], b)
		}
		known = append(known, k)
	}
	base, err := m.storedView(ctx, name, next, rec.Generation-1, c.BaseViewDigest)
	if err != nil || base == nil {
		return nil, err
	}
	return &views.Registry{Merged: merge.Patch(base.Merged, known)}, nil
}

// changesOf is what a record keeps of the entries a generation changed
// (events.PendingChanges): every name of its diff d, taken against
// before (whose view digest is base), as after holds it. nil when before
// is unknown (every entry counts as added) or a list of d is cut.
func changesOf(before *views.Registry, base string, after *views.Registry, d events.RegistryDiff) *events.PendingChanges {
	if before == nil {
		return nil
	}
	c := &events.PendingChanges{BaseViewDigest: base, Entries: []events.ChangedEntry{}}
	for _, sub := range []struct {
		kind merge.Kind
		diff *events.ViewDiff
	}{{merge.Server, &d.ViewDiff}, {merge.Skill, d.Skills}, {merge.Plugin, d.Plugins}} {
		if sub.diff == nil {
			continue
		}
		a, u, r := sub.diff.Counts()
		if a != len(sub.diff.Added) || u != len(sub.diff.Updated) || r != len(sub.diff.Removed) {
			return nil
		}
		var entries []events.ChangedEntry
		for _, name := range slices.Concat(sub.diff.Added, sub.diff.Updated) {
			it := after.Merged.Get(merge.Key{Kind: sub.kind, Name: name})
			if it == nil {
				return nil
			}
			entries = append(entries, events.ChangedEntry{Kind: string(sub.kind), Name: name, Source: it.Source,
				Digest: it.Digest().String()})
		}
		for _, name := range sub.diff.Removed {
			entries = append(entries, events.ChangedEntry{Kind: string(sub.kind), Name: name})
		}
		slices.SortFunc(entries, func(x, y events.ChangedEntry) int { return strings.Compare(x.Name, y.Name) })
		c.Entries = append(c.Entries, entries...)
	}
	return c
}

// viewOfObject is the merged view an object written by upstreamOf holds,
// each key credited to the source that wins it in next ("" if none).
func viewOfObject(body []byte, next *merge.View) (*merge.View, error) {
	lists, err := registry.SnapshotLists(body)
	if err != nil {
		return nil, err
	}
	bySource := map[string]map[merge.Key][]merge.Entry{}
	for _, kind := range []struct {
		kind  merge.Kind
		items [][]byte
	}{{merge.Server, lists.Servers}, {merge.Skill, lists.Skills}, {merge.Plugin, lists.Plugins}} {
		for _, raw := range kind.items {
			var id struct{ Namespace, Name, Version string }
			if err := json.Unmarshal(raw, &id); err != nil {
				return nil, fmt.Errorf("decode %s entry: %w", kind.kind, err)
			}
			k := merge.Key{Kind: kind.kind, Name: id.Name}
			if kind.kind != merge.Server {
				k.Name = id.Namespace + "/" + id.Name
			}
			var src string
			if it := next.Get(k); it != nil {
				src = it.Source
			}
			if bySource[src] == nil {
				bySource[src] = map[merge.Key][]merge.Entry{}
			}
			bySource[src][k] = append(bySource[src][k], merge.Entry{Version: id.Version, Digest: sha256.Sum256(raw), Data: raw})
		}
	}
	sources := make([]merge.Source, 0, len(bySource))
	for src, entries := range bySource {
		sources = append(sources, merge.Source{Name: src, Entries: entries})
	}
	return merge.Merge(sources), nil
}

// changeOf is the RegistryChanged of a view replacing before (nil when
// unknown: every entry counts as added), without its generations.
func changeOf(name string, before, after *views.Registry, generation uint64) events.RegistryChanged {
	var prev *merge.View
	if before != nil {
		prev = before.Merged
	}
	viewDiff := func(kind merge.Kind) events.ViewDiff {
		d := merge.Compare(prev, after.Merged, kind)
		return events.ViewDiff{Diff: d.Diff, SourceChanged: d.SourceChanged, SourceChangedCount: d.SourceChangedCount}
	}
	c := events.RegistryChanged{Registry: name, Reason: events.RegistryReasonSourceChanged, Generation: generation,
		Diff:        events.RegistryDiff{ViewDiff: viewDiff(merge.Server)},
		ServerCount: after.Merged.Count(merge.Server), SkillCount: after.Merged.Count(merge.Skill),
		PluginCount: after.Merged.Count(merge.Plugin), ViewDigest: after.Merged.Digest().String()}
	for _, sub := range []struct {
		kind merge.Kind
		dst  **events.ViewDiff
	}{{merge.Skill, &c.Diff.Skills}, {merge.Plugin, &c.Diff.Plugins}} {
		if d := viewDiff(sub.kind); d.AddedCount+d.UpdatedCount+d.RemovedCount+d.SourceChangedCount > 0 {
			*sub.dst = &d
		}
	}
	return c
}

// causesOf names the results that stored a source's data in the view and
// not in the one stored before (its record's sources): each source's
// commits after the one recorded, up to the view's, in the registry's
// order and each source's oldest first; at most events.MaxCauses of them,
// and how many there are. The view's commits are those the source's
// marker names (entries.Commit.Earlier).
func causesOf(stored []events.RegistrySource, sources []views.Source) ([]events.Cause, int) {
	var causes []events.Cause
	n := 0
	for _, s := range sources {
		var rec events.RegistrySource
		if i := slices.IndexFunc(stored, func(o events.RegistrySource) bool { return o.Name == s.Name }); i >= 0 {
			rec = stored[i]
		}
		commits := s.Commits
		if len(commits) == 0 || commits[len(commits)-1].Generation != s.Commit.Generation {
			commits = []entries.Commit{s.Commit} // a view built without them
		}
		first := len(commits)
		for first > 0 && after(commits[first-1], rec) {
			first--
		}
		for _, c := range commits[first:] {
			if c.ResultID == "" {
				continue // stored before results were named
			}
			n++
			if len(causes) < events.MaxCauses {
				causes = append(causes, events.Cause{Source: s.Name, ResultID: c.ResultID, Revision: c.Revision})
			}
		}
	}
	return causes, n
}

// after reports whether a source's commit came after the one recorded of
// it (none, for a zero rec): it is not the recorded one, and not older
// (see events.RegistrySource.Behind).
func after(c entries.Commit, rec events.RegistrySource) bool {
	if c.CommittedAt.IsZero() || c.ResultID != "" && c.ResultID == rec.ResultID {
		return false // not synced, or the one recorded
	}
	if rec.CommitGeneration == 0 && rec.ResultID == "" {
		return true
	}
	if c.Generation == rec.CommitGeneration {
		return false
	}
	return !(events.RegistrySource{CommitGeneration: c.Generation, CommittedAt: c.CommittedAt}).Behind(rec)
}

// spareRegistryStatus leaves out the pending changes of a registry's
// record: only a holder that finds the generation's view gone reads them.
func spareRegistryStatus(s *events.RegistryStatus) bool {
	if s.PendingChanges == nil {
		return false
	}
	s.PendingChanges = nil
	return true
}

// shrinkRegistryStatus cuts the condition messages of a registry's record.
func shrinkRegistryStatus(s *events.RegistryStatus) bool {
	cut := false
	for i := range s.Conditions {
		cut = cutMessage(&s.Conditions[i].Message) || cut
	}
	return cut
}

// registryStatuses is regsync_registry_status, written with
// compare-and-swap (the ledger's record store for registries). It keeps
// the record it last read or wrote of each registry with its revision and
// bytes: a record is decoded only when its bytes changed, and a write
// starts from the kept record, its compare-and-swap finding out when
// another writer came between. Each generation reads a record once and
// writes it twice; each read and write decoded it before.
type registryStatuses struct {
	kv jetstream.KeyValue

	mu   sync.Mutex
	last map[string]keptRecord
}

// keptRecord is a registry's record as this merger last read or wrote it.
type keptRecord struct {
	status *events.RegistryStatus
	rev    uint64
	// value is the record as stored: a bucket made again counts its
	// revisions anew, so a revision alone does not say the record is
	// the one kept.
	value []byte
}

// kept returns a copy of the record kept of name, its revision and its
// stored bytes; false when none is kept.
func (r *registryStatuses) kept(name string) (*events.RegistryStatus, uint64, []byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.last[name]
	if !ok {
		return nil, 0, nil, false
	}
	return cloneRegistryStatus(k.status), k.rev, k.value, true
}

// keep remembers s (a copy of it) as the record of name at revision rev,
// stored as value; a nil s forgets the record kept.
func (r *registryStatuses) keep(name string, s *events.RegistryStatus, rev uint64, value []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s == nil {
		delete(r.last, name)
		return
	}
	if r.last == nil {
		r.last = map[string]keptRecord{}
	}
	r.last[name] = keptRecord{status: cloneRegistryStatus(s), rev: rev, value: value}
}

// cloneRegistryStatus is a copy of s that shares nothing a mutation of
// either changes.
func cloneRegistryStatus(s *events.RegistryStatus) *events.RegistryStatus {
	c := *s
	c.Sources = slices.Clone(s.Sources)
	c.Conditions = slices.Clone(s.Conditions)
	c.PendingEvent = slices.Clone(s.PendingEvent)
	if s.PendingChanges != nil {
		pc := *s.PendingChanges
		pc.Entries = slices.Clone(pc.Entries)
		c.PendingChanges = &pc
	}
	if s.LastChange != nil {
		at := *s.LastChange
		c.LastChange = &at
	}
	return &c
}

func (r *registryStatuses) read(ctx context.Context, name string) (*events.RegistryStatus, uint64, error) {
	e, err := r.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		r.keep(name, nil, 0, nil)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read status of registry %s: %w", name, err)
	}
	if s, rev, value, ok := r.kept(name); ok && rev == e.Revision() && bytes.Equal(value, e.Value()) {
		return s, rev, nil
	}
	var s events.RegistryStatus
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		r.keep(name, nil, 0, nil)
		return nil, 0, fmt.Errorf("decode status of registry %s: %w", name, err)
	}
	r.keep(name, &s, e.Revision(), e.Value())
	return &s, e.Revision(), nil
}

// update changes an existing record (none: nothing is written).
func (r *registryStatuses) update(ctx context.Context, name string, mutate func(*events.RegistryStatus, uint64) error) (*events.RegistryStatus, error) {
	return r.Update(ctx, name, func() *events.RegistryStatus { return nil }, mutate)
}

// Update implements records, as state.Store.Update does: mutate runs on a
// fresh copy each try, and an error from it writes nothing and is
// returned as it is; a record created gets a new epoch. The first try
// starts from the record kept, if any; a conflict reads the record again.
func (r *registryStatuses) Update(ctx context.Context, name string, init func() *events.RegistryStatus,
	mutate func(*events.RegistryStatus, uint64) error) (*events.RegistryStatus, error) {
	return r.UpdateEncoded(ctx, name, init, func(s *events.RegistryStatus, base uint64) ([]byte, error) { return nil, mutate(s, base) })
}

// UpdateEncoded implements records, as state.Store.UpdateEncoded does:
// the bytes mutate returns, the encoding of the record it left, are
// written as they are; nil bytes are encoded here.
func (r *registryStatuses) UpdateEncoded(ctx context.Context, name string, init func() *events.RegistryStatus,
	mutate func(*events.RegistryStatus, uint64) ([]byte, error)) (*events.RegistryStatus, error) {
	for range maxStatusTries {
		s, rev, _, ok := r.kept(name)
		if !ok {
			var err error
			if s, rev, err = r.read(ctx, name); err != nil {
				return nil, err
			}
		}
		if s == nil {
			if s = init(); s == nil {
				return nil, nil
			}
		}
		if s.Epoch == "" {
			s.Epoch = state.NewEpoch()
		}
		b, err := mutate(s, rev)
		if err != nil {
			return nil, err
		}
		if b == nil {
			if b, err = json.Marshal(s); err != nil {
				return nil, fmt.Errorf("encode status of registry %s: %w", name, err)
			}
		}
		var written uint64
		if rev == 0 {
			written, err = r.kv.Create(ctx, name, b)
		} else {
			written, err = r.kv.Update(ctx, name, b, rev)
		}
		if err != nil {
			// Written by another (a conflict) or in doubt: read again.
			r.keep(name, nil, 0, nil)
		}
		if jserr.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write status of registry %s: %w", name, err)
		}
		r.keep(name, s, written, b)
		return s, nil
	}
	return nil, fmt.Errorf("write status of registry %s: gave up after %d conflicting writes", name, maxStatusTries)
}

// maxStatusTries bounds the compare-and-swap tries of a registry's record.
const maxStatusTries = 10
