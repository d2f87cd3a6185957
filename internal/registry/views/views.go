// Package views keeps, on every replica, the merged view of each registry
// current from the per-entry records that source syncs write
// (events.BucketEntries). It watches the bucket once, holds each source's
// records back until the source's commit marker arrives, so a sync is
// seen whole or not at all, and then merges only the names that commit
// changed (merge.Apply) into a new view of every registry that uses the
// source, and patches those names into its API view (api.Patch); the new
// view is swapped in whole. Commits that wait on the watch together are
// applied together: one new view per registry, not one per commit. Start-up reads every stored record before it
// reports the views loaded.
package views

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry/merge"
	"github.com/regsync/regsync/internal/syncer/entries"
)

// Swapper serves the views it is given (api.Handler).
type Swapper interface {
	Swap(registry string, v *api.View) error
}

// Keeper is told of the records of a source as each commit the follower
// applies leaves them (entries.Store.Follow): all of them when base is
// zero, else those that changed since the commit marker at bucket
// revision base. It is called from Run and must copy what it keeps.
type Keeper interface {
	Follow(source string, base, rev uint64, c entries.Commit, records map[string]*entries.Record)
}

// Registry is one registry's current view: its merge and what the read
// API serves of it. Both are immutable. A merge told before its API view
// is built (OnMerged, Merged) has no API.
type Registry struct {
	Merged *merge.View
	API    *api.View
	// Sources are the registry's sources in its order, each with the
	// commit of the data in the view (zero before its first sync).
	Sources []Source
}

// Source is a source of a registry's view and the commit it was built
// from.
type Source struct {
	Name   string
	Commit entries.Commit
	// Commits are the source's recent commits, oldest first, up to and
	// including Commit: those its marker names (entries.Commit.Earlier)
	// and Commit itself.
	Commits []entries.Commit
	// Partial is set while the view lacks part of the source's committed
	// data: the follower started after a sync of the source had replaced
	// committed records with records it had not committed yet (it was
	// stopped before its commit), so what those keys held is unknown
	// until the source's next commit covers them.
	Partial bool
}

// Follower keeps the views of a set of registries.
type Follower struct {
	kv         jetstream.KeyValue
	registries []config.Registry
	// usedBy holds, for each source, the indexes in registries of the
	// registries that use it.
	usedBy map[string][]int
	serve  Swapper
	log    *slog.Logger
	loaded chan struct{}
	// reconfigure carries SetRegistries to Run.
	reconfigure chan reconfiguration
	// applied, when set, is called after each change is applied (tests).
	applied func(source string)
	// changed, when set, is told of every registry view made current
	// (OnChange).
	changed func(registry string, r *Registry)
	// onMerged, when set, is told of every registry merge as soon as it
	// is made, before its API view is built (OnMerged).
	onMerged func(registry string, r *Registry)
	// metrics, when set, measures how long commits take to be served.
	metrics *Metrics
	// keep, when set, is told of every source's records as committed (Keep).
	keep Keeper

	mu    sync.RWMutex
	views map[string]*Registry
	// merges holds each registry's newest merge, with its sources and
	// without its API view: the view in views once that is built.
	merges map[string]*Registry

	// Owned by Run.
	sources map[string]*source
	// pending holds, per source, the records received and not yet
	// committed, by key; nil marks a key removed.
	pending map[string]map[string]*entries.Record
}

// source is what a follower holds of one source: its committed records.
type source struct {
	generation uint64
	// commit is the last commit applied, and commitRev the bucket
	// revision of its marker.
	commit    entries.Commit
	commitRev uint64
	// recent holds the commit's earlier commits and the commit, oldest
	// first. It is never changed in place, as views share it.
	recent  []entries.Commit
	records map[string]*entries.Record // by key
	// byName holds the records of each entry, by version.
	byName map[merge.Key]map[string]*entries.Record
	// merged is the source's live entries, as merge reads them.
	merged merge.Source
	// tombstones holds the keys of its deleted records.
	tombstones map[string]bool
	// partial is set from start-up until a commit covers the records
	// not committed that start-up found (Source.Partial).
	partial bool
}

func newSource(name string) *source {
	return &source{records: map[string]*entries.Record{}, byName: map[merge.Key]map[string]*entries.Record{},
		merged: merge.Source{Name: name, Entries: map[merge.Key][]merge.Entry{}}, tombstones: map[string]bool{}}
}

// New returns a Follower of the registries (config.EffectiveRegistries)
// over the regsync_entries bucket kv; serve, if not nil, is given every
// new API view.
func New(kv jetstream.KeyValue, registries []config.Registry, serve Swapper, log *slog.Logger) *Follower {
	return &Follower{kv: kv, registries: registries, usedBy: usedBy(registries), serve: serve, log: log, loaded: make(chan struct{}),
		reconfigure: make(chan reconfiguration),
		views:       map[string]*Registry{}, merges: map[string]*Registry{}, sources: map[string]*source{}, pending: map[string]map[string]*entries.Record{}}
}

// OnChange sets fn to be told, from Run, of every view of a registry it
// makes current, in order: once loaded, after a commit, on
// reconfiguration. It must be set before Run and must not block for long.
func (f *Follower) OnChange(fn func(registry string, r *Registry)) { f.changed = fn }

// OnMerged sets fn to be told, from Run, of every merge of a registry as
// soon as it is made, before its API view is built: its Merged and
// Sources, API nil. The registry's merger writes it meanwhile (the read
// API keeps answering from the previous whole view until OnChange tells
// of the new one). It must be set before Run and must not block for long.
func (f *Follower) OnMerged(fn func(registry string, r *Registry)) { f.onMerged = fn }

// Keep makes the follower tell k of every source's committed records, so
// that a replica's syncs need not read back what another replica's wrote.
// It must be called before Run.
func (f *Follower) Keep(k Keeper) { f.keep = k }

// SetMetrics makes the follower measure with m. It must be called
// before Run.
func (f *Follower) SetMetrics(m *Metrics) { f.metrics = m }

// Loaded is closed once every stored record was read and every view built.
func (f *Follower) Loaded() <-chan struct{} { return f.loaded }

// Registry returns the current view of a registry, nil before it is
// loaded or for a registry the follower does not keep.
func (f *Follower) Registry(name string) *Registry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.views[name]
}

// Merged returns the newest merge of a registry with its sources, API
// nil: the merge of Registry(name), or a newer one whose API view is being
// built. It is nil before the registry is loaded or for a registry the
// follower does not keep.
func (f *Follower) Merged(name string) *Registry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.merges[name]
}

type reconfiguration struct {
	registries []config.Registry
	done       chan struct{}
}

// SetRegistries replaces the registries kept (a reloaded configuration):
// a registry added, or whose sources or their order changed, is merged
// anew from the records held, at once; one removed is dropped. It returns
// once the views are replaced, or when ctx ends first.
func (f *Follower) SetRegistries(ctx context.Context, registries []config.Registry) error {
	r := reconfiguration{registries: registries, done: make(chan struct{})}
	select {
	case f.reconfigure <- r:
	case <-ctx.Done():
		return fmt.Errorf("set registries: %w", ctx.Err())
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("set registries: %w", ctx.Err())
	}
}

// setRegistries applies a reconfiguration, in Run.
func (f *Follower) setRegistries(registries []config.Registry, loaded bool) {
	old := f.registries
	f.registries, f.usedBy = registries, usedBy(registries)
	if !loaded {
		return // load builds every view
	}
	for _, reg := range registries {
		i := slices.IndexFunc(old, func(o config.Registry) bool { return o.Name == reg.Name })
		if i >= 0 && slices.Equal(old[i].Sources, reg.Sources) && f.Merged(reg.Name) != nil {
			continue
		}
		f.swap(reg.Name, merge.Merge(f.sourcesOf(reg)), nil, nil)
	}
	f.mu.Lock()
	for name := range f.merges {
		if !slices.ContainsFunc(registries, func(r config.Registry) bool { return r.Name == name }) {
			delete(f.views, name)
			delete(f.merges, name)
		}
	}
	f.mu.Unlock()
}

// usedBy indexes, for each source, the registries that use it.
func usedBy(registries []config.Registry) map[string][]int {
	out := map[string][]int{}
	for i, reg := range registries {
		for _, name := range reg.Sources {
			if !slices.Contains(out[name], i) {
				out[name] = append(out[name], i)
			}
		}
	}
	return out
}

// Run follows the bucket until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	w, err := f.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", f.kv.Bucket(), err)
	}
	defer w.Stop()
	commits := map[string]sourceCommit{}
	loading := true
	// batch holds the commits read and not applied yet: those waiting on
	// the watch together are applied as one change of each registry.
	var batch []sourceCommit
	for {
		var e jetstream.KeyValueEntry
		var open bool
		if len(batch) > 0 {
			select {
			case e, open = <-w.Updates():
			default:
				f.commit(batch)
				batch = batch[:0]
				continue
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case r := <-f.reconfigure:
				f.setRegistries(r.registries, !loading)
				close(r.done)
				continue
			case e, open = <-w.Updates():
			}
		}
		if !open {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %s: the watch ended", f.kv.Bucket())
		}
		if e == nil {
			if loading {
				f.load(commits)
				loading = false
			}
			continue
		}
		src, commit, err := f.receive(e)
		if err != nil {
			// A record regsync did not write: skip it, say which.
			f.log.Warn("skipping a record of the entries bucket", "key", e.Key(), "err", err)
			continue
		}
		switch {
		case commit != nil && loading:
			commits[src] = sourceCommit{src, *commit, e.Revision()}
		case commit != nil:
			batch = append(batch, sourceCommit{src, *commit, e.Revision()})
		case !loading && e.Operation() != jetstream.KeyValuePut:
			// A tombstone expired (or was purged): not part of a sync.
			batch = append(batch, sourceCommit{src, entries.Commit{Generation: f.sourceOf(src).generation}, 0})
		}
	}
}

// receive files a bucket update: a record or a removal is held in
// pending; a commit marker is returned.
func (f *Follower) receive(e jetstream.KeyValueEntry) (string, *entries.Commit, error) {
	src, _, _, _, isCommit, err := entries.ParseKey(e.Key())
	if err != nil {
		return "", nil, err
	}
	if isCommit {
		if e.Operation() != jetstream.KeyValuePut {
			return src, nil, nil
		}
		var c entries.Commit
		if err := json.Unmarshal(e.Value(), &c); err != nil {
			return "", nil, fmt.Errorf("decode commit: %w", err)
		}
		return src, &c, nil
	}
	var rec *entries.Record
	if e.Operation() == jetstream.KeyValuePut {
		rec = new(entries.Record)
		if err := json.Unmarshal(e.Value(), rec); err != nil {
			return "", nil, fmt.Errorf("decode record: %w", err)
		}
		if _, ok := kindOf(rec.Kind); !ok {
			return "", nil, fmt.Errorf("record of unknown kind %q", rec.Kind)
		}
	}
	if f.pending[src] == nil {
		f.pending[src] = map[string]*entries.Record{}
	}
	f.pending[src][e.Key()] = rec
	return src, nil, nil
}

func (f *Follower) sourceOf(name string) *source {
	s := f.sources[name]
	if s == nil {
		s = newSource(name)
		f.sources[name] = s
	}
	return s
}

// load applies what start-up read, committed records only, and builds
// every view.
func (f *Follower) load(commits map[string]sourceCommit) {
	for name, sc := range commits {
		f.take(sc)
		// Records not committed that replaced committed ones leave the
		// view without what they replaced (the bucket keeps one version):
		// the source is partial until a commit covers them. Records of new
		// entries leave the committed view whole.
		f.sourceOf(name).partial = f.replacing(name)
		f.tell(name, 0, nil)
	}
	for _, reg := range f.registries {
		f.swap(reg.Name, merge.Merge(f.sourcesOf(reg)), nil, nil)
	}
	close(f.loaded)
}

// sourceCommit is a commit of a source's records, and the bucket
// revision of its marker.
type sourceCommit struct {
	source string
	commit entries.Commit
	rev    uint64
}

// commit applies, in order, the pending records of each source up to its
// commit and then updates each registry that uses a source whose records
// or commit changed, once for all of them: a burst of syncs costs one new
// view per registry, not one per sync. A commit without records (a
// source's empty first sync) counts, as the views show each source's
// commit.
func (f *Follower) commit(batch []sourceCommit) {
	changed := map[string][]merge.Key{}
	var applied []sourceCommit
	for _, sc := range batch {
		s := f.sourceOf(sc.source)
		before, base := s.commit, s.commitRev
		keys, records := f.take(sc)
		f.tell(sc.source, base, records)
		if now := f.sourceOf(sc.source).commit; len(keys) == 0 && now.Generation == before.Generation &&
			now.CommittedAt.Equal(before.CommittedAt) && now.ResultID == before.ResultID {
			continue
		}
		changed[sc.source] = append(changed[sc.source], keys...)
		applied = append(applied, sc)
	}
	// The keys each registry that uses a changed source has to merge again.
	keysOf := map[int][]merge.Key{}
	for src, keys := range changed {
		for _, i := range f.usedBy[src] {
			keysOf[i] = append(keysOf[i], keys...)
		}
	}
	for i, reg := range f.registries {
		keys, touched := keysOf[i]
		if !touched {
			continue
		}
		prev := f.Merged(reg.Name)
		if prev == nil {
			continue
		}
		slices.SortFunc(keys, compareKeys)
		keys = slices.CompactFunc(keys, func(a, b merge.Key) bool { return a == b })
		f.swap(reg.Name, merge.Apply(prev.Merged, f.sourcesOf(reg), keys), prev.Merged, keys)
		for _, sc := range applied {
			if slices.Contains(f.usedBy[sc.source], i) {
				f.metrics.applied(reg.Name, sc.commit.CommittedAt)
			}
		}
	}
	if f.applied != nil {
		for _, sc := range applied {
			f.applied(sc.source)
		}
	}
}

// tell tells the keeper, if any, of a source's records once a commit is
// taken: of those that changed since the marker at revision base, or of
// all of them when base is zero. A source whose view lacks part of its
// committed data (partial) is not told of.
func (f *Follower) tell(name string, base uint64, changed map[string]*entries.Record) {
	s := f.sourceOf(name)
	if f.keep == nil || s.partial || s.commitRev == 0 {
		return
	}
	if base == 0 {
		changed = s.records
	}
	f.keep.Follow(name, base, s.commitRev, s.commit, changed)
}

// take moves the pending records of a source that the commit covers into
// its committed records and returns the names whose records changed, and
// those records by key (nil: removed).
func (f *Follower) take(sc sourceCommit) ([]merge.Key, map[string]*entries.Record) {
	name, c := sc.source, sc.commit
	s := f.sourceOf(name)
	if c.Generation >= s.generation && !c.CommittedAt.IsZero() {
		s.commit, s.commitRev = c, max(s.commitRev, sc.rev)
		// Appended to a clipped copy: the commit keeps its Earlier.
		s.recent = append(slices.Clip(c.Earlier), c)
	}
	s.generation = max(s.generation, c.Generation)
	touched := map[merge.Key]bool{}
	records := map[string]*entries.Record{}
	for key, rec := range f.pending[name] {
		if rec != nil && rec.Generation > s.generation {
			continue // written by a sync not committed yet
		}
		delete(f.pending[name], key)
		records[key] = rec
		if old := s.records[key]; old != nil {
			k, _ := keyOf(old)
			touched[k] = true
			delete(s.byName[k], old.Version)
			delete(s.records, key)
			delete(s.tombstones, key)
		}
		if rec == nil {
			continue
		}
		k, _ := keyOf(rec)
		touched[k] = true
		s.records[key] = rec
		if s.byName[k] == nil {
			s.byName[k] = map[string]*entries.Record{}
		}
		s.byName[k][rec.Version] = rec
		if rec.Deleted {
			s.tombstones[key] = true
		}
	}
	if s.partial && !f.uncommitted(name) {
		s.partial = false
	}
	changed := make([]merge.Key, 0, len(touched))
	for k := range touched {
		var live []merge.Entry
		for _, rec := range s.byName[k] {
			if !rec.Deleted {
				live = append(live, entryOf(rec))
			}
		}
		if len(s.byName[k]) == 0 {
			delete(s.byName, k)
		}
		if len(live) == 0 {
			delete(s.merged.Entries, k)
		} else {
			s.merged.Entries[k] = live
		}
		changed = append(changed, k)
	}
	slices.SortFunc(changed, compareKeys)
	return changed, records
}

// uncommitted reports whether the follower holds records of a source
// written by a sync not committed yet.
func (f *Follower) uncommitted(name string) bool {
	s := f.sourceOf(name)
	for _, rec := range f.pending[name] {
		if rec != nil && rec.Generation > s.generation {
			return true
		}
	}
	return false
}

// replacing reports whether the follower holds records of a source,
// written by a sync not committed yet, that replaced a record: a
// tombstone, or an entry first stored before it last changed (a new
// entry is first stored when it changes).
func (f *Follower) replacing(name string) bool {
	s := f.sourceOf(name)
	for _, rec := range f.pending[name] {
		if rec != nil && rec.Generation > s.generation && (rec.Deleted || !rec.PublishedAt.Equal(rec.UpdatedAt)) {
			return true
		}
	}
	return false
}

func compareKeys(a, b merge.Key) int {
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// sourcesOf returns the sources of a registry in its order; a source
// with nothing committed is empty.
func (f *Follower) sourcesOf(reg config.Registry) []merge.Source {
	out := make([]merge.Source, 0, len(reg.Sources))
	for _, name := range reg.Sources {
		out = append(out, f.sourceOf(name).merged)
	}
	return out
}

// swap tells of a registry's merge (OnMerged), then builds its API view
// and makes both current (OnChange). A merge made from base by changing
// the names keys (merge.Apply) patches those names into the API view of
// base (api.Patch); without base, or when the current API view is not of
// base, the API view is built from every name.
func (f *Follower) swap(name string, merged, base *merge.View, keys []merge.Key) {
	reg := f.registryConfig(name)
	srcs := make([]Source, 0, len(reg.Sources))
	for _, s := range reg.Sources {
		src := f.sourceOf(s)
		srcs = append(srcs, Source{Name: s, Commit: src.commit, Commits: src.recent, Partial: src.partial})
	}
	// The merge is told first: writing it does not wait for the API view.
	m := &Registry{Merged: merged, Sources: srcs}
	f.mu.Lock()
	f.merges[name] = m
	f.mu.Unlock()
	if f.onMerged != nil {
		f.onMerged(name, m)
	}
	var v *api.View
	var err error
	switch r := f.Registry(name); {
	case r != nil && base != nil && r.Merged == base:
		v, err = api.Patch(r.API, namesOf(keys), f.content(reg, merged, keys))
	case r != nil:
		v, err = api.Rebuild(r.API, f.content(reg, merged, f.names(reg)))
	default:
		v, err = api.Build(f.content(reg, merged, f.names(reg)))
	}
	if err != nil {
		// Records are checked when a sync writes them: this is data
		// written by something else. The previous view stays served.
		f.log.Error("cannot build the view of a registry, keeping the previous one", "registry", name, "err", err)
		return
	}
	r := &Registry{Merged: merged, API: v, Sources: srcs}
	f.mu.Lock()
	f.views[name] = r
	f.mu.Unlock()
	if slices.ContainsFunc(srcs, func(s Source) bool { return s.Partial }) {
		// The view lacks the entries that records written and not yet
		// committed replaced: it is not served (the registry answers 503,
		// as while loading) until the commit that covers them.
		f.log.Info("registry not served until a source's sync under way commits", "registry", name)
		return
	}
	if f.serve != nil {
		if err := f.serve.Swap(name, v); err != nil {
			f.log.Debug("view not served", "registry", name, "err", err)
		}
	}
	if f.changed != nil {
		f.changed(name, r)
	}
}

// namesOf lists keys as the API names them.
func namesOf(keys []merge.Key) api.Names {
	var n api.Names
	for _, k := range keys {
		switch k.Kind {
		case merge.Server:
			n.Servers = append(n.Servers, k.Name)
		case merge.Skill:
			n.Skills = append(n.Skills, k.Name)
		case merge.Plugin:
			n.Plugins = append(n.Plugins, k.Name)
		}
	}
	return n
}

func (f *Follower) registryConfig(name string) config.Registry {
	for _, r := range f.registries {
		if r.Name == name {
			return r
		}
	}
	return config.Registry{Name: name}
}

// content is what the API serves of the names keys of a merge: every
// version of every winning entry, and as tombstones the server versions
// the registry does not serve: those that no source of the registry has
// any more, and those of a later source that an earlier source's versions
// of the name hide (the first source's record of each, in the registry's
// order). What it serves of a name depends on the records of that name
// only, so a change of some names changes what they serve and nothing
// else (api.Patch).
//
// The times are the registry's, so the official incremental sync
// (updated_since, dropping deleted entries) ends equal to a full listing
// also when the source that wins a name changes: a version that wins
// because an earlier source dropped the name is updated no earlier than
// that drop (the earlier source's tombstones), and a version hidden
// because an earlier source took the name is removed no earlier than that
// source's versions of it appeared. Both are read from stored records
// only, so every replica serves the same times.
func (f *Follower) content(reg config.Registry, merged *merge.View, keys []merge.Key) api.Content {
	var c api.Content
	for _, k := range keys {
		f.contentOf(&c, reg, merged, k)
	}
	return c
}

// names lists every name the sources of a registry have records of.
func (f *Follower) names(reg config.Registry) []merge.Key {
	var keys []merge.Key
	seen := map[merge.Key]bool{}
	for _, name := range reg.Sources {
		if s := f.sources[name]; s != nil {
			for k := range s.byName {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

// contentOf adds to c what the registry serves of the name k.
func (f *Follower) contentOf(c *api.Content, reg config.Registry, merged *merge.View, k merge.Key) {
	// served holds the server versions of the name served so far.
	var served map[string]bool
	if k.Kind == merge.Server {
		served = map[string]bool{}
	}
	// took is when the winning source took the name: the earliest update
	// of its versions of it.
	var took time.Time
	it := merged.Get(k)
	if it != nil {
		latest := it.Latest().Version
		dropped := f.dropped(reg.Sources, it)
		for _, e := range it.Versions {
			rec := f.sources[it.Source].byName[k][e.Version]
			switch k.Kind {
			case merge.Server:
				served[rec.Version] = true
				r := serverRecord(rec, e.Version == latest)
				r.UpdatedAt = later(r.UpdatedAt, dropped)
				if took.IsZero() || r.UpdatedAt.Before(took) {
					took = r.UpdatedAt
				}
				c.Servers = append(c.Servers, r)
			case merge.Skill:
				c.Skills = append(c.Skills, artifactRecord(rec, e.Version == latest))
			case merge.Plugin:
				c.Plugins = append(c.Plugins, artifactRecord(rec, e.Version == latest))
			}
		}
	}
	if k.Kind != merge.Server {
		return
	}
	for i, name := range reg.Sources {
		s := f.sources[name]
		if s == nil {
			continue
		}
		for _, rec := range s.byName[k] {
			if served[rec.Version] {
				continue
			}
			switch {
			case rec.Deleted:
				served[rec.Version] = true
				c.Servers = append(c.Servers, serverRecord(rec, false))
			case i > 0 && it != nil && it.Source != name && len(reg.Sources) > 1:
				// Live here and not served: an earlier source wins the name.
				r := serverRecord(rec, false)
				r.Deleted, r.UpdatedAt = true, later(r.UpdatedAt, took)
				served[rec.Version] = true
				c.Servers = append(c.Servers, r)
			}
		}
	}
}

// dropped is, for an item whose winner has sources before it in the
// registry's order that have records of its name, the latest update of
// those records: none of them is live (else that source would win), so
// this is when the last of them dropped the name. It is zero when no
// earlier source has records of it.
func (f *Follower) dropped(sources []string, it *merge.Item) time.Time {
	var out time.Time
	for _, name := range sources {
		if name == it.Source {
			break
		}
		if s := f.sources[name]; s != nil {
			for _, rec := range s.byName[it.Key] {
				out = later(out, rec.UpdatedAt)
			}
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func serverRecord(rec *entries.Record, latest bool) api.ServerRecord {
	return api.ServerRecord{Name: rec.Name, Version: rec.Version, JSON: rec.Data, Digest: rec.Digest,
		PublishedAt: rec.PublishedAt, UpdatedAt: rec.UpdatedAt, Deleted: rec.Deleted, IsLatest: latest}
}

func artifactRecord(rec *entries.Record, latest bool) api.ArtifactRecord {
	return api.ArtifactRecord{Namespace: rec.Namespace, Name: rec.Name, Version: rec.Version, JSON: rec.Data,
		Digest: rec.Digest, IsLatest: latest}
}

func kindOf(kind string) (merge.Kind, bool) {
	switch kind {
	case entries.KindServer:
		return merge.Server, true
	case entries.KindSkill:
		return merge.Skill, true
	case entries.KindPlugin:
		return merge.Plugin, true
	}
	return "", false
}

func keyOf(rec *entries.Record) (merge.Key, bool) {
	k, ok := kindOf(rec.Kind)
	return merge.Key{Kind: k, Name: rec.EntryName()}, ok
}

// entryOf is a record as merge reads it. A digest that is not hex (not
// written by regsync) is taken as its bytes' digest, so it still
// compares.
func entryOf(rec *entries.Record) merge.Entry {
	var d merge.Digest
	if b, err := hex.DecodeString(rec.Digest); err == nil && len(b) == len(d) {
		copy(d[:], b)
	} else {
		d = sha256.Sum256(rec.Data)
	}
	return merge.Entry{Version: rec.Version, Digest: d, Data: rec.Data}
}
