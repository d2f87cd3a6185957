// Package entries keeps the per-entry records of every source in the
// regsync_entries bucket (events.BucketEntries): one record per version
// of each server, skill and plugin a source's snapshot holds, written by
// the source's sync while its snapshot is stored, and then, once the
// sync's outcome is recorded, a commit marker naming the sync. A sync writes only the records that changed, so
// a one-entry edit of a 10,000-server source writes one record and the
// marker; an unchanged resync writes nothing. A version a source no
// longer has becomes a tombstone, kept for the configured time.
package entries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/registry"
)

// The kinds of entries, as record keys spell them.
const (
	KindServer = "server"
	KindSkill  = "skill"
	KindPlugin = "plugin"
)

// ErrConflict means a snapshot holds two different entries under one
// name and version, which no record can hold both of.
var ErrConflict = errors.New("the snapshot holds two different entries of this name and version")

// CommitToken is the last token of a source's commit marker key.
const CommitToken = "_commit"

// Record is one version of one entry of a source, the value of its key.
type Record struct {
	Kind string `json:"kind"`
	// Namespace is set for skills and plugins only.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	// Digest is the hex SHA-256 of Data.
	Digest string `json:"digest"`
	// PublishedAt is when the entry was first stored; UpdatedAt when its
	// content last changed, or when it was removed.
	PublishedAt time.Time `json:"publishedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Deleted marks a version the source no longer has; Data is then
	// registry.Tombstone of its last content, and Digest that of it.
	Deleted bool `json:"deleted,omitempty"`
	// Generation is the generation of the sync that wrote the record: it
	// is part of the source's data once a commit of that generation or a
	// later one is stored.
	Generation uint64 `json:"generation"`
	// Data is the entry as the snapshot holds it, compacted.
	Data json.RawMessage `json:"data"`
}

// EntryName is the name a record is merged by: the name of a server,
// "namespace/name" for a skill or a plugin.
func (r *Record) EntryName() string {
	if r.Kind == KindServer {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// Commit is a source's commit marker: the generation of its last
// complete sync and what that sync stored.
type Commit struct {
	Generation     uint64    `json:"generation"`
	Revision       string    `json:"revision,omitempty"`
	LastSyncHash   string    `json:"lastSyncHash,omitempty"`
	SnapshotDigest string    `json:"snapshotDigest,omitempty"`
	CommittedAt    time.Time `json:"committedAt"`
	// ResultID is the event id of the result of the sync that wrote the
	// commit (its SyncCompleted), so a registry can name the results
	// that changed it.
	ResultID string `json:"resultId,omitempty"`
	// Changed counts the records the sync wrote.
	Changed int `json:"changed"`
	// Checks names the checks the sync applied to every entry it
	// committed (registry.Checks); empty when the committer did not check
	// them itself (it committed a stopped sync's records).
	Checks string `json:"checks,omitempty"`
	// Earlier are the source's commits before this one, oldest first, at
	// most MaxEarlierCommits, each with its generation, revision,
	// committedAt and resultId only: a reader that missed some (a watch
	// that caught up after the marker was replaced, or a restart) still
	// knows every recent sync.
	Earlier []Commit `json:"earlier,omitempty"`
}

// MaxEarlierCommits is how many earlier commits a commit marker carries.
const MaxEarlierCommits = 99

// earlierOf is the Earlier of the commit that follows prev: prev's
// earlier commits and prev, the last MaxEarlierCommits of them.
func earlierOf(prev Commit) []Commit {
	if prev.CommittedAt.IsZero() {
		return nil // the source's first commit
	}
	earlier := prev.Earlier[max(0, len(prev.Earlier)-MaxEarlierCommits+1):]
	return append(slices.Clip(earlier), Commit{Generation: prev.Generation, Revision: prev.Revision,
		CommittedAt: prev.CommittedAt, ResultID: prev.ResultID, Changed: prev.Changed})
}

// Key is the record key of one version of an entry of a source.
func Key(source, kind, name, version string) string {
	return source + "." + kind + "." + token(name) + "." + token(version)
}

// CommitKey is the key of a source's commit marker.
func CommitKey(source string) string { return source + "." + CommitToken }

// ParseKey splits a key into its source and, for a record key, the kind,
// name and version; commit is set for a commit marker key.
func ParseKey(key string) (source, kind, name, version string, commit bool, err error) {
	parts := strings.Split(key, ".")
	switch {
	case len(parts) == 2 && parts[1] == CommitToken:
		return parts[0], "", "", "", true, nil
	case len(parts) != 4:
		return "", "", "", "", false, fmt.Errorf("entry key %q: want <source>.<kind>.<name>.<version>", key)
	}
	if name, err = untoken(parts[2]); err == nil {
		version, err = untoken(parts[3])
	}
	if err != nil {
		return "", "", "", "", false, fmt.Errorf("entry key %q: %w", key, err)
	}
	return parts[0], parts[1], name, version, false, nil
}

// token encodes s as a key token: unpadded base64url, "_" for "" (which
// no base64url encoding is).
func token(s string) string {
	if s == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func untoken(t string) (string, error) {
	if t == "_" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return "", fmt.Errorf("token %q is not base64url: %w", t, err)
	}
	return string(b), nil
}

// Store writes the records of sources. Safe for concurrent use; syncs of
// one source must not run at once (the source's lease sees to that).
type Store struct {
	js        jetstream.JetStream
	kv        jetstream.KeyValue
	tombstone time.Duration
	now       func() time.Time

	mu      sync.Mutex
	sources map[string]*stored
	// stream is the bucket's stream once described: a request names it,
	// so it is described once, not at every sync.
	stream jetstream.Stream
}

// stored is what a Store remembers of a source's records, valid while
// the source's commit marker is at revision commitRev.
type stored struct {
	commitRev uint64
	commit    Commit
	records   map[string]meta // by key
	// seen maps the SHA-256 of an entry's snapshot bytes to what was read
	// from it, so an entry met again is hashed, not decoded.
	seen map[[sha256.Size]byte]identity
}

// meta is what a Store keeps of a stored record: enough to decide what
// changed without reading it back.
type meta struct {
	digest      string
	publishedAt time.Time
	updatedAt   time.Time
	deleted     bool
	generation  uint64
}

// identity is what an entry's bytes say it is.
type identity struct {
	kind, namespace, name, version string
	digest                         string
	key                            string
}

// New returns a Store on the regsync_entries bucket kv; tombstones are
// kept for tombstoneTTL (nats.results.maxAge; at least a second, zero
// keeps them, as results are then kept).
func New(js jetstream.JetStream, kv jetstream.KeyValue, tombstoneTTL time.Duration) *Store {
	if tombstoneTTL > 0 {
		tombstoneTTL = max(tombstoneTTL, time.Second)
	}
	return &Store{js: js, kv: kv, tombstone: tombstoneTTL, now: time.Now, sources: map[string]*stored{}}
}

// Sync describes the sync whose snapshot Write records.
type Sync struct {
	// ResultID is the event id the sync's result is given.
	ResultID       string
	Revision       string
	LastSyncHash   string
	SnapshotDigest string
}

// Written is what Write did.
type Written struct {
	// Changed counts the records written: new or changed entries and new
	// tombstones.
	Changed int
	// Committed is set when a commit marker was written, with its
	// generation.
	Committed  bool
	Generation uint64
}

// Batch is what a sync would write of a source: the records that differ
// from those stored. Prepare computes it, reading only; Write writes it.
type Batch struct {
	source string
	st     *stored
	seen   map[[sha256.Size]byte]identity
	puts   []put
	// dirty is set when stored records are not committed yet.
	dirty bool
	// changed counts the records of the sync its commit stands for.
	changed int
	gen     uint64
	now     time.Time
}

// Changed counts the records the batch writes.
func (b *Batch) Changed() int { return len(b.puts) }

// Prepare compares the entries of a source's snapshot (registry.Built's
// Entries, or registry.SnapshotLists of a stored one) with the records
// stored and returns what differs, writing nothing, so a sync can refuse
// a snapshot before storing it: ErrConflict for two different entries of
// one name and version.
func (s *Store) Prepare(ctx context.Context, source string, lists registry.Lists) (*Batch, error) {
	st, err := s.load(ctx, source)
	if err != nil {
		return nil, err
	}
	b := &Batch{source: source, st: st, gen: st.commit.Generation + 1, now: s.now().UTC(),
		seen: make(map[[sha256.Size]byte]identity, len(lists.Servers)+len(lists.Skills)+len(lists.Plugins))}
	live := make(map[string]string, len(b.seen)) // key → digest
	for _, l := range []struct {
		kind string
		list [][]byte
	}{{KindServer, lists.Servers}, {KindSkill, lists.Skills}, {KindPlugin, lists.Plugins}} {
		for _, raw := range l.list {
			sum := sha256.Sum256(raw)
			id, ok := st.seen[sum]
			if !ok {
				if id, err = identify(source, l.kind, raw); err != nil {
					return nil, fmt.Errorf("record entries of %s: %w", source, err)
				}
			}
			b.seen[sum] = id
			if d, ok := live[id.key]; ok {
				if d == id.digest {
					continue // the same entry twice: one record
				}
				return nil, fmt.Errorf("record entries of %s: %s %s version %q: %w", source, l.kind, id.entryName(), id.version, ErrConflict)
			}
			live[id.key] = id.digest
			old, had := st.records[id.key]
			if had && !old.deleted && old.digest == id.digest {
				b.dirty = b.dirty || old.generation > st.commit.Generation
				continue
			}
			rec := Record{Kind: l.kind, Namespace: id.namespace, Name: id.name, Version: id.version, Digest: id.digest,
				PublishedAt: b.now, UpdatedAt: b.now, Generation: b.gen, Data: raw} // compacted when encoded
			if had {
				rec.PublishedAt = old.publishedAt
			}
			b.puts = append(b.puts, put{key: id.key, rec: rec})
		}
	}
	for key, old := range st.records {
		if _, ok := live[key]; ok {
			continue
		}
		if old.deleted {
			b.dirty = b.dirty || old.generation > st.commit.Generation
			continue
		}
		rec, err := s.get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("record removal of %s: %w", key, err)
		}
		if rec.Data, err = registry.Tombstone(rec.Data); err != nil {
			return nil, fmt.Errorf("record removal of %s: %w", key, err)
		}
		sum := sha256.Sum256(rec.Data)
		rec.Digest = hex.EncodeToString(sum[:])
		rec.Deleted, rec.UpdatedAt, rec.Generation = true, b.now, b.gen
		b.puts = append(b.puts, put{key: key, rec: rec, ttl: s.tombstone})
	}
	b.changed = len(b.puts)
	return b, nil
}

// Write writes a batch: its records, then its commit marker (WriteRecords,
// then Commit).
func (s *Store) Write(ctx context.Context, b *Batch, sy Sync) (Written, error) {
	if err := s.WriteRecords(ctx, b); err != nil {
		return Written{}, err
	}
	return s.Commit(ctx, b.source, b, sy)
}

// commits reports whether a batch ends with a commit marker: when
// something differs, when stored records are not committed yet, and on
// the source's first sync (which commits also when empty: its source is
// synced).
func (b *Batch) commits() bool {
	return len(b.puts) > 0 || b.dirty || b.st.commit.Generation == 0
}

// WriteRecords writes the records of a batch, not its commit: they are
// not part of the source's data until Commit writes the marker. A sync
// writes its records, records its outcome, then commits, so that no
// marker names a result that is not recorded.
func (s *Store) WriteRecords(ctx context.Context, b *Batch) error {
	if !b.commits() {
		return nil
	}
	// Forget what is remembered until the commit is written: a write
	// that fails part way, or a sync that stops before its commit, leaves
	// the stored records unknown.
	s.Forget(b.source)
	if err := s.publish(ctx, b.puts); err != nil {
		return fmt.Errorf("record entries of %s: %w", b.source, err)
	}
	// The records are stored: the commit needs what each one is, not its
	// bytes, which are the snapshot's (the whole document of a large
	// source), so the sync does not keep it alive until it commits.
	for i := range b.puts {
		b.puts[i].rec.Data = nil
	}
	return nil
}

// Commit writes the commit marker of source for the sync sy: of batch b,
// whose records WriteRecords wrote, or, with a nil b, of the records
// stored and not committed, which a sync that stopped after recording its
// outcome and before its commit left. Nothing is written when the marker
// names sy's result already (the sync committed before it stopped) or the
// batch has nothing to commit. After a sync that stopped between its
// records and its commit without recording an outcome, the next sync's
// batch is computed against what is stored (those records included) and
// commits them, so the source converges.
func (s *Store) Commit(ctx context.Context, source string, b *Batch, sy Sync) (Written, error) {
	checks := registry.Checks()
	if b == nil {
		checks = "" // the stopped sync's checks are not known

		var err error
		if b, err = s.uncommitted(ctx, source); err != nil {
			return Written{}, err
		}
	}
	st := b.st
	if !b.commits() || sy.ResultID != "" && st.commit.ResultID == sy.ResultID {
		s.remember(source, st, b.seen)
		return Written{Generation: st.commit.Generation}, nil
	}
	c := Commit{Generation: b.gen, Revision: sy.Revision, LastSyncHash: sy.LastSyncHash,
		SnapshotDigest: sy.SnapshotDigest, CommittedAt: b.now, ResultID: sy.ResultID, Changed: b.changed,
		Checks: checks, Earlier: earlierOf(st.commit)}
	raw, err := json.Marshal(c)
	if err != nil {
		return Written{}, fmt.Errorf("encode commit of %s: %w", source, err)
	}
	rev, err := s.kv.Put(ctx, CommitKey(source), raw)
	if err != nil {
		return Written{}, fmt.Errorf("commit entries of %s: %w", source, err)
	}
	// Under the lock: Follow may be copying what st holds.
	s.mu.Lock()
	for _, p := range b.puts {
		st.records[p.key] = metaOf(&p.rec)
	}
	st.commitRev, st.commit = rev, c
	s.mu.Unlock()
	s.remember(source, st, b.seen)
	return Written{Changed: b.changed, Committed: true, Generation: b.gen}, nil
}

// uncommitted returns the batch of the records of source stored after its
// commit: written, not committed.
func (s *Store) uncommitted(ctx context.Context, source string) (*Batch, error) {
	st, err := s.load(ctx, source)
	if err != nil {
		return nil, err
	}
	b := &Batch{source: source, st: st, gen: st.commit.Generation + 1, now: s.now().UTC(), seen: st.seen}
	for _, m := range st.records {
		if m.generation > st.commit.Generation {
			b.dirty = true
			b.changed++
		}
	}
	return b, nil
}

// remember keeps st for the next Write of source.
func (s *Store) remember(source string, st *stored, seen map[[sha256.Size]byte]identity) {
	s.mu.Lock()
	st.seen = seen
	s.sources[source] = st
	s.mu.Unlock()
}

// Follow keeps what the store knows of a source current from a follower
// of the bucket (views.Follower), so that the sync after another
// replica's reads none of the source's records back: records are the
// source's records as the commit marker c, at bucket revision rev,
// commits them; all of them when base is zero, else those that changed
// since the marker at revision base (nil: a record removed; base equal to
// rev: records removed under the same marker, an expired tombstone).
// Changes are taken only onto what the store holds of the marker at
// base, and never over what it holds of a later one; the records are
// copied, not kept. What Follow gives is still checked as what the store
// wrote itself is (load): used only while the marker is at rev and no
// record was written after it.
func (s *Store) Follow(source string, base, rev uint64, c Commit, records map[string]*Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.sources[source]
	var st *stored
	switch {
	case base == rev && (kept == nil || kept.commitRev != base):
		return
	case base != rev && kept != nil && kept.commitRev >= rev:
		return // as current already: its own commit, or a later one
	case base == 0:
		st = &stored{records: make(map[string]meta, len(records))}
	case kept == nil || kept.commitRev != base:
		return // not what the changes apply to: the next sync reads the records
	default:
		st = &stored{records: maps.Clone(kept.records)}
	}
	if kept != nil {
		st.seen = kept.seen
	}
	for key, r := range records {
		if r == nil {
			delete(st.records, key)
			continue
		}
		st.records[key] = metaOf(r)
	}
	st.commitRev, st.commit = rev, c
	s.sources[source] = st
}

// metaOf is what a Store keeps of a record.
func metaOf(r *Record) meta {
	return meta{digest: r.Digest, publishedAt: r.PublishedAt, updatedAt: r.UpdatedAt, deleted: r.Deleted, generation: r.Generation}
}

// Accepted reports the server entries of a source that syncs stored, by
// their registry.EntryDigest, from what the store keeps of the source
// (its own syncs', or Follow's): each committed one passed the checks of
// the sync that committed it, so the next sync of the source need not
// check it again (registry.Builder.BuildAccepting). Only records the
// source's commit marker covers count, and only when that marker names
// this regsync's registry.Checks: after an upgrade whose checks accept
// less, or a commit of records its committer did not check, every entry
// is checked again once. The digests are gathered when first asked for;
// nothing is read from the bucket, and a source the store keeps nothing
// of accepts nothing.
func (s *Store) Accepted(source string) registry.Accepted {
	digests := sync.OnceValue(func() map[[sha256.Size]byte]bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.sources[source]
		if st == nil || st.commit.Checks != registry.Checks() {
			return nil
		}
		servers := source + "." + KindServer + "."
		out := make(map[[sha256.Size]byte]bool, len(st.records))
		for key, m := range st.records {
			var d [sha256.Size]byte
			if m.deleted || m.generation > st.commit.Generation || !strings.HasPrefix(key, servers) || hex.DecodedLen(len(m.digest)) != len(d) {
				continue
			}
			if _, err := hex.Decode(d[:], []byte(m.digest)); err == nil {
				out[d] = true
			}
		}
		return out
	})
	return func(d [sha256.Size]byte) bool { return digests()[d] }
}

// Forget drops what is remembered of a source (a removed one).
func (s *Store) Forget(source string) {
	s.mu.Lock()
	delete(s.sources, source)
	s.mu.Unlock()
}

type put struct {
	key string
	rec Record
	ttl time.Duration
}

// Records are written in windows of at most window messages or
// windowBytes bytes, each waited for before the next: a first sync of a
// large source holds one window's encodings at a time, not all of them.
const (
	window      = 1000
	windowBytes = 8 << 20
)

// publish writes records, a window at a time, and waits for every one to
// be stored.
func (s *Store) publish(ctx context.Context, puts []put) error {
	var futures []jetstream.PubAckFuture
	var keys []string
	size := 0
	wait := func() error {
		for i, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("write record %s: %w", keys[i], err)
			case <-ctx.Done():
				return fmt.Errorf("write record %s: %w", keys[i], ctx.Err())
			}
		}
		futures, keys, size = futures[:0], keys[:0], 0
		return nil
	}
	for _, p := range puts {
		raw, err := encode(p.rec)
		if err != nil {
			return fmt.Errorf("encode record %s: %w", p.key, err)
		}
		var opts []jetstream.PublishOpt
		if p.ttl > 0 {
			opts = append(opts, jetstream.WithMsgTTL(p.ttl))
		}
		f, err := s.js.PublishAsync("$KV."+s.kv.Bucket()+"."+p.key, raw, opts...)
		if err != nil {
			return fmt.Errorf("write record %s: %w", p.key, err)
		}
		futures, keys, size = append(futures, f), append(keys, p.key), size+len(raw)
		if len(futures) == window || size >= windowBytes {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// encode is a record's JSON: its data compacted and otherwise as the
// snapshot holds it (no HTML escaping), so the digest is that of the
// stored data.
func encode(rec Record) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// load returns what is stored of a source: what this Store remembers
// while the source's commit marker is still the one it wrote, else every
// record read from the bucket.
func (s *Store) load(ctx context.Context, source string) (*stored, error) {
	st := &stored{records: map[string]meta{}}
	s.mu.Lock()
	kept := s.sources[source]
	s.mu.Unlock()
	// Where the source's last record stands is asked at the same time as
	// its marker: it is needed whenever what is kept is still current.
	var last uint64
	var lastErr error
	var wg sync.WaitGroup
	if kept != nil {
		wg.Go(func() { last, lastErr = s.lastRecord(ctx, source) })
	}
	e, err := s.kv.Get(ctx, CommitKey(source))
	wg.Wait()
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("read commit of %s: %w", source, err)
	default:
		if err := json.Unmarshal(e.Value(), &st.commit); err != nil {
			return nil, fmt.Errorf("read commit of %s: %w", source, err)
		}
		st.commitRev = e.Revision()
	}
	// What is kept now: a follower may have brought it up to date meanwhile.
	s.mu.Lock()
	now := s.sources[source]
	current := now != nil && now.commitRev == st.commitRev
	s.mu.Unlock()
	if current {
		// Still the commit this Store wrote or followed; the records too,
		// unless a sync elsewhere wrote some and stopped before its commit.
		if kept == nil {
			last, lastErr = s.lastRecord(ctx, source)
		}
		if lastErr != nil {
			return nil, lastErr
		}
		if last <= st.commitRev {
			return now, nil
		}
	}
	w, err := s.kv.Watch(ctx, source+".*.*.*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read records of %s: %w", source, err)
	}
	defer w.Stop()
	for {
		var e jetstream.KeyValueEntry
		var open bool
		select {
		case e, open = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("read records of %s: %w", source, ctx.Err())
		}
		if !open {
			return nil, fmt.Errorf("read records of %s: the watch ended", source)
		}
		if e == nil {
			return st, nil
		}
		var r Record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return nil, fmt.Errorf("read record %s: %w", e.Key(), err)
		}
		st.records[e.Key()] = metaOf(&r)
	}
}

// lastRecord returns the bucket sequence of the last record written of a
// source (an expired tombstone's marker included), 0 without one.
func (s *Store) lastRecord(ctx context.Context, source string) (uint64, error) {
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	if stream == nil {
		var err error
		if stream, err = s.js.Stream(ctx, "KV_"+s.kv.Bucket()); err != nil {
			return 0, fmt.Errorf("read records of %s: %w", source, err)
		}
		s.mu.Lock()
		s.stream = stream
		s.mu.Unlock()
	}
	m, err := stream.GetLastMsgForSubject(ctx, "$KV."+s.kv.Bucket()+"."+source+".*.*.*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read records of %s: %w", source, err)
	}
	return m.Sequence, nil
}

func (s *Store) get(ctx context.Context, key string) (Record, error) {
	var r Record
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, fmt.Errorf("decode record %s: %w", key, err)
	}
	return r, nil
}

// identify reads what an entry's bytes say it is.
func identify(source, kind string, raw []byte) (identity, error) {
	var f struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Version   string `json:"version"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return identity{}, fmt.Errorf("%s entry: %w", kind, err)
	}
	if kind == KindServer {
		f.Namespace = ""
	}
	id := identity{kind: kind, namespace: f.Namespace, name: f.Name, version: f.Version}
	switch {
	case f.Name == "":
		return id, fmt.Errorf("%s entry without a name", kind)
	case kind != KindServer && f.Namespace == "":
		return id, fmt.Errorf("%s %s without a namespace", kind, f.Name)
	}
	sum := registry.EntryDigest(raw)
	id.digest = hex.EncodeToString(sum[:])
	id.key = Key(source, kind, id.entryName(), f.Version)
	return id, nil
}

func (id identity) entryName() string {
	if id.kind == KindServer {
		return id.name
	}
	return id.namespace + "/" + id.name
}
