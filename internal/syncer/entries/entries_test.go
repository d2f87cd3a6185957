package entries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/registry"
)

// server is one server entry's JSON.
func server(name, version, description string) string {
	return fmt.Sprintf(`{"name":%q,"version":%q,"description":%q}`, name, version, description)
}

// snapshot is a registry snapshot holding servers and skills.
func snapshot(servers []string, skills ...string) []byte {
	return []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` +
		strings.Join(servers, ",") + `],"skills":[` + strings.Join(skills, ",") + `]}}`)
}

// servers is n servers named s0000… at version 1.0.0.
func servers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = server(fmt.Sprintf("io.example/s%04d", i), "1.0.0", "server")
	}
	return out
}

type fixture struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

func start(t testing.TB) fixture {
	srv := bustest.Start(t, 0)
	return fixture{js: srv.JS, kv: srv.Handles.Entries}
}

// store is a Store whose clock reads *at.
func (f fixture) store(at *time.Time) *Store {
	s := New(f.js, f.kv, time.Hour)
	s.now = func() time.Time { return *at }
	return s
}

// writes is how many messages the bucket has taken so far.
func (f fixture) writes(t testing.TB) uint64 {
	t.Helper()
	st, err := f.js.Stream(context.Background(), "KV_"+events.BucketEntries)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.LastSeq
}

func (f fixture) record(t testing.TB, key string) Record {
	t.Helper()
	e, err := f.kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (f fixture) commit(t testing.TB, source string) Commit {
	t.Helper()
	e, err := f.kv.Get(context.Background(), CommitKey(source))
	if err != nil {
		t.Fatalf("get commit: %v", err)
	}
	var c Commit
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t testing.TB, s *Store, source string, snap []byte, rev string) Written {
	t.Helper()
	w, err := prepareAndWrite(s, source, snap, Sync{Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// recordWithoutCommit is a sync of snap by s that writes its records and
// stops before its commit.
func recordWithoutCommit(t testing.TB, s *Store, source string, snap []byte) {
	t.Helper()
	lists, err := registry.SnapshotLists(snap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Prepare(context.Background(), source, lists)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRecords(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func prepareAndWrite(s *Store, source string, snap []byte, sy Sync) (Written, error) {
	lists, err := registry.SnapshotLists(snap)
	if err != nil {
		return Written{}, err
	}
	b, err := s.Prepare(context.Background(), source, lists)
	if err != nil {
		return Written{}, err
	}
	return s.Write(context.Background(), b, sy)
}

// The first sync of a source commits also when it has no entries, so a
// reader knows the source is synced, and empty.
func TestAnEmptyFirstSyncCommits(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	if w := write(t, s, "src", snapshot(nil), "rev-1"); w.Changed != 0 || !w.Committed || w.Generation != 1 {
		t.Fatalf("first sync: %+v, want no record and commit 1", w)
	}
	if c := f.commit(t, "src"); c.Generation != 1 || c.Revision != "rev-1" {
		t.Errorf("commit %+v", c)
	}
	if w := write(t, s, "src", snapshot(nil), "rev-1"); w.Committed || w.Generation != 1 {
		t.Fatalf("unchanged resync: %+v, want nothing written", w)
	}
}

func TestSyncWritesOnlyChangedRecordsThenACommit(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	list := servers(50)
	w := write(t, s, "src", snapshot(list, `{"namespace":"io.example","name":"sk","version":"1.0.0"}`), "rev-1")
	if w.Changed != 51 || !w.Committed || w.Generation != 1 {
		t.Fatalf("first sync: %+v, want 51 records and commit 1", w)
	}
	if c := f.commit(t, "src"); c.Generation != 1 || c.Revision != "rev-1" || c.Changed != 51 {
		t.Errorf("commit %+v", c)
	}
	sk := f.record(t, Key("src", KindSkill, "io.example/sk", "1.0.0"))
	if sk.Namespace != "io.example" || sk.Name != "sk" || sk.Generation != 1 {
		t.Errorf("skill record %+v", sk)
	}

	before := f.writes(t)
	at = at.Add(time.Minute)
	list[7] = server("io.example/s0007", "1.0.0", "edited")
	w = write(t, s, "src", snapshot(list, `{"namespace":"io.example","name":"sk","version":"1.0.0"}`), "rev-2")
	if w.Changed != 1 || w.Generation != 2 {
		t.Fatalf("one-entry edit: %+v, want one record and commit 2", w)
	}
	if n := f.writes(t) - before; n != 2 {
		t.Errorf("one-entry edit wrote %d messages, want the record and the commit", n)
	}
	r := f.record(t, Key("src", KindServer, "io.example/s0007", "1.0.0"))
	if !r.UpdatedAt.Equal(at) || !r.PublishedAt.Equal(at.Add(-time.Minute)) || r.Generation != 2 {
		t.Errorf("edited record: published %v updated %v generation %d", r.PublishedAt, r.UpdatedAt, r.Generation)
	}
	if string(r.Data) != server("io.example/s0007", "1.0.0", "edited") {
		t.Errorf("edited record holds %s", r.Data)
	}
}

func TestUnchangedResyncWritesNothingAndKeepsUpdatedAt(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := at
	snap := snapshot(servers(5))
	write(t, f.store(&at), "src", snap, "rev-1")
	before := f.writes(t)
	at = at.Add(time.Hour)
	// The same Store, and another replica's (which reads what is stored).
	for _, s := range []*Store{f.store(&at), f.store(&at)} {
		if w := write(t, s, "src", snap, "rev-1"); w.Changed != 0 || w.Committed || w.Generation != 1 {
			t.Errorf("unchanged resync: %+v, want nothing written", w)
		}
	}
	// Reformatted bytes are the same content.
	spaced := []byte(strings.ReplaceAll(string(snap), `","`, `", "`))
	if w := write(t, f.store(&at), "src", spaced, "rev-2"); w.Changed != 0 {
		t.Errorf("reformatted resync wrote %d records", w.Changed)
	}
	if n := f.writes(t) - before; n != 0 {
		t.Errorf("unchanged resyncs wrote %d messages", n)
	}
	if r := f.record(t, Key("src", KindServer, "io.example/s0003", "1.0.0")); !r.UpdatedAt.Equal(first) {
		t.Errorf("updatedAt moved to %v by an unchanged resync", r.UpdatedAt)
	}
}

func TestRemovedVersionBecomesATombstone(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	v1, v2 := server("io.example/a", "1.0.0", "one"), server("io.example/a", "2.0.0", "two")
	write(t, s, "src", snapshot([]string{v1, v2}), "rev-1")
	at = at.Add(time.Minute)
	if w := write(t, s, "src", snapshot([]string{v2}), "rev-2"); w.Changed != 1 || !w.Committed {
		t.Fatalf("removal: %+v", w)
	}
	key := Key("src", KindServer, "io.example/a", "1.0.0")
	r := f.record(t, key)
	if !r.Deleted || !r.UpdatedAt.Equal(at) || !r.PublishedAt.Equal(at.Add(-time.Minute)) ||
		string(r.Data) != `{"name":"io.example/a","description":"one","version":"1.0.0"}` {
		t.Errorf("tombstone %+v (data %s)", r, r.Data)
	}
	st, err := f.js.Stream(context.Background(), "KV_"+events.BucketEntries)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(context.Background(), "$KV."+events.BucketEntries+"."+key)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := msg.Header.Get("Nats-TTL"); ttl != "1h0m0s" && ttl != "3600" && ttl != "3600s" {
		t.Errorf("tombstone TTL header %q, want the store's 1h", ttl)
	}
	// Removing it again writes nothing; adding it back revives it.
	before := f.writes(t)
	if w := write(t, s, "src", snapshot([]string{v2}), "rev-2"); w.Changed != 0 || f.writes(t) != before {
		t.Errorf("a tombstone was written again: %+v", w)
	}
	at = at.Add(time.Minute)
	write(t, s, "src", snapshot([]string{v1, v2}), "rev-3")
	if r := f.record(t, key); r.Deleted || !r.UpdatedAt.Equal(at) || !r.PublishedAt.Equal(at.Add(-2*time.Minute)) {
		t.Errorf("revived record %+v", r)
	}
}

// A sync that stopped after some of its records and before its commit
// leaves them uncommitted; the next sync, on any replica (here the one
// that wrote the last commit, which must not trust what it remembers),
// writes what differs from what is stored and commits them all.
func TestSyncKilledBeforeItsCommitConverges(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	list := servers(4)
	s := f.store(&at)
	write(t, s, "src", snapshot(list), "rev-1")

	// The killed sync: two records of generation 2 and no commit.
	at = at.Add(time.Minute)
	for _, p := range []put{
		{key: Key("src", KindServer, "io.example/s0001", "1.0.0"), rec: Record{Kind: KindServer, Name: "io.example/s0001",
			Version: "1.0.0", Digest: "x", PublishedAt: at, UpdatedAt: at, Generation: 2,
			Data: json.RawMessage(server("io.example/s0001", "1.0.0", "half-written"))}},
		{key: Key("src", KindServer, "io.example/new", "1.0.0"), rec: Record{Kind: KindServer, Name: "io.example/new",
			Version: "1.0.0", Digest: "y", PublishedAt: at, UpdatedAt: at, Generation: 2,
			Data: json.RawMessage(server("io.example/new", "1.0.0", "new"))}},
	} {
		if err := f.store(&at).publish(context.Background(), []put{p}); err != nil {
			t.Fatal(err)
		}
	}
	if c := f.commit(t, "src"); c.Generation != 1 {
		t.Fatalf("commit moved to %d", c.Generation)
	}

	// The next sync brings the original data back.
	at = at.Add(time.Minute)
	w := write(t, s, "src", snapshot(list), "rev-1")
	if !w.Committed || w.Generation != 2 || w.Changed != 2 {
		t.Fatalf("converging sync: %+v, want the two records rewritten and commit 2", w)
	}
	if r := f.record(t, Key("src", KindServer, "io.example/s0001", "1.0.0")); string(r.Data) != list[1] || r.Deleted {
		t.Errorf("s0001 holds %s", r.Data)
	}
	if r := f.record(t, Key("src", KindServer, "io.example/new", "1.0.0")); !r.Deleted {
		t.Errorf("the killed sync's new entry is not removed: %+v", r)
	}

	// A killed sync whose records equal the next sync's data: only the
	// commit is written.
	next := append(servers(4), server("io.example/late", "1.0.0", "late"))
	late := Record{Kind: KindServer, Name: "io.example/late", Version: "1.0.0", PublishedAt: at, UpdatedAt: at, Generation: 3,
		Data: json.RawMessage(next[4])}
	id, err := identify("src", KindServer, []byte(next[4]))
	if err != nil {
		t.Fatal(err)
	}
	late.Digest = id.digest
	if err := f.store(&at).publish(context.Background(), []put{{key: id.key, rec: late}}); err != nil {
		t.Fatal(err)
	}
	before := f.writes(t)
	if w := write(t, s, "src", snapshot(next), "rev-2"); !w.Committed || w.Changed != 0 || w.Generation != 3 {
		t.Errorf("sync after a complete but uncommitted one: %+v, want a commit of generation 3 only", w)
	}
	if n := f.writes(t) - before; n != 1 {
		t.Errorf("%d messages written, want the commit", n)
	}
}

// A sync that wrote its records, recorded its outcome and stopped before
// its commit is committed by whoever publishes that outcome: Commit with
// no batch commits the records stored and not committed under the
// outcome's result, once; a marker that names that result already is
// left as it is.
func TestCommitOfAStoppedSyncCommitsWhatItRecordedOnce(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := prepareAndWrite(f.store(&at), "src", snapshot(servers(3)), Sync{Revision: "rev-1", ResultID: "r-src-1"}); err != nil {
		t.Fatal(err)
	}

	// The stopped sync, in a process of its own: records, no commit.
	at = at.Add(time.Minute)
	recordWithoutCommit(t, f.store(&at), "src", snapshot(servers(5)))
	if c := f.commit(t, "src"); c.Generation != 1 || c.ResultID != "r-src-1" {
		t.Fatalf("records alone moved the commit to %+v", c)
	}

	// The next holder of the lease, in another process.
	at = at.Add(time.Minute)
	next := f.store(&at)
	sy := Sync{Revision: "rev-2", LastSyncHash: "h2", SnapshotDigest: "d2", ResultID: "r-src-2"}
	w, err := next.Commit(context.Background(), "src", nil, sy)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Committed || w.Generation != 2 || w.Changed != 2 {
		t.Fatalf("commit of the stopped sync: %+v, want generation 2 of its 2 records", w)
	}
	c := f.commit(t, "src")
	if c.ResultID != "r-src-2" || c.Revision != "rev-2" || c.LastSyncHash != "h2" || c.SnapshotDigest != "d2" || c.Changed != 2 ||
		len(c.Earlier) != 1 || c.Earlier[0].ResultID != "r-src-1" {
		t.Errorf("commit %+v", c)
	}

	before := f.writes(t)
	if w, err := f.store(&at).Commit(context.Background(), "src", nil, sy); err != nil || w.Committed || w.Generation != 2 {
		t.Errorf("second commit of the same result: %+v, %v; want nothing written", w, err)
	}
	if n := f.writes(t) - before; n != 0 {
		t.Errorf("%d messages written, want none", n)
	}
	// The store that committed knows the records: the next sync of the
	// same data writes nothing.
	if w := write(t, next, "src", snapshot(servers(5)), "rev-2"); w.Committed || w.Generation != 2 {
		t.Errorf("unchanged resync after the commit: %+v, want nothing written", w)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	for _, c := range []struct{ kind, name, version string }{
		{KindServer, "io.github.x/y", "1.0.0+20130313144700"},
		{KindSkill, "ns/name.with.dots", ""},
		{KindPlugin, "ns/ünïcode *>", "v 1"},
	} {
		key := Key("src", c.kind, c.name, c.version)
		source, kind, name, version, commit, err := ParseKey(key)
		if err != nil || commit || source != "src" || kind != c.kind || name != c.name || version != c.version {
			t.Errorf("%q: %q %q %q %q %v %v", key, source, kind, name, version, commit, err)
		}
	}
	if source, _, _, _, commit, err := ParseKey(CommitKey("src")); err != nil || !commit || source != "src" {
		t.Errorf("commit key: %q %v %v", source, commit, err)
	}
	if _, _, _, _, _, err := ParseKey("src.server.!!.x"); err == nil || !strings.Contains(err.Error(), "src.server.!!.x") {
		t.Errorf("bad key: %v", err)
	}
}

// One name and version twice: the same entry is one record; two
// different entries are refused, naming them.
func TestWriteRefusesTwoEntriesOfOneNameAndVersion(t *testing.T) {
	f := start(t)
	at := time.Now()
	a := server("io.example/a", "1.0.0", "one")
	if w := write(t, f.store(&at), "src", snapshot([]string{a, a}), "r"); w.Changed != 1 {
		t.Errorf("the same entry twice: %+v, want one record", w)
	}
	other := server("io.example/a", "1.0.0", "other")
	before := f.writes(t)
	lists, err := registry.SnapshotLists(snapshot([]string{a, other}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store(&at).Prepare(context.Background(), "src", lists)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `server io.example/a version "1.0.0"`) {
		t.Errorf("err %v", err)
	}
	if f.writes(t) != before {
		t.Error("a refused snapshot wrote records")
	}
}

// A record holds its entry compacted and otherwise byte for byte (no
// HTML escaping), so its digest is the SHA-256 of its data; a first sync
// larger than one write window writes every record.
func TestRecordDataIsWhatItsDigestNames(t *testing.T) {
	f := start(t)
	at := time.Now()
	odd := "{\n  \"name\": \"io.example/odd\", \"version\": \"1.0.0\",\n  \"description\": \"a & <b> \\u00e9\"\n}"
	list := append(servers(window+window/2), odd)
	if w := write(t, f.store(&at), "src", snapshot(list), "r"); w.Changed != len(list) {
		t.Fatalf("wrote %d records, want %d", w.Changed, len(list))
	}
	r := f.record(t, Key("src", KindServer, "io.example/odd", "1.0.0"))
	want := `{"name":"io.example/odd","version":"1.0.0","description":"a & <b> \u00e9"}`
	sum := sha256.Sum256(r.Data)
	if string(r.Data) != want || hex.EncodeToString(sum[:]) != r.Digest {
		t.Errorf("data %s (digest %s, of the data %x)", r.Data, r.Digest, sum)
	}
	if r := f.record(t, Key("src", KindServer, fmt.Sprintf("io.example/s%04d", window+window/2-1), "1.0.0")); r.Generation != 1 {
		t.Errorf("last record of the second window: %+v", r)
	}
}

// A tombstone keeps only what a deleted answer needs (name, title,
// description, version), whatever the size of the entry it replaces:
// removed versions must not grow the bucket by their full content.
func TestTombstoneSizeIsBoundedWhateverTheEntrysSize(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	big := fmt.Sprintf(`{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json","name":"io.example/big","title":"Big","version":"1.0.0","description":%q,"packages":[{"registryType":"npm","identifier":%q}]}`,
		strings.Repeat("d", 5000), strings.Repeat("p", 200_000))
	write(t, s, "src", snapshot([]string{big}), "rev-1")
	at = at.Add(time.Minute)
	write(t, s, "src", snapshot(nil), "rev-2")
	key := Key("src", KindServer, "io.example/big", "1.0.0")
	e, err := f.kv.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Value()); n > 1024 {
		t.Errorf("tombstone record is %d bytes, want at most 1024", n)
	}
	r := f.record(t, key)
	want := `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json","name":"io.example/big","title":"Big","description":"` +
		strings.Repeat("d", 100) + `","version":"1.0.0"}`
	sum := sha256.Sum256(r.Data)
	if !r.Deleted || string(r.Data) != want || hex.EncodeToString(sum[:]) != r.Digest {
		t.Errorf("tombstone deleted=%v, %d bytes of data (digest %s, of the data %x), want %s", r.Deleted, len(r.Data), r.Digest, sum, want)
	}
}

// A commit marker names the source's earlier commits, so a reader that
// missed some markers (replaced while its watch was behind, or written
// before it started) still knows every recent sync; it names the last
// MaxEarlierCommits of them.
func TestACommitNamesTheEarlierCommits(t *testing.T) {
	f := start(t)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	var results []string
	for i := range MaxEarlierCommits + 3 {
		at = at.Add(time.Second)
		id := fmt.Sprintf("r-up-test-%d", i)
		if _, err := prepareAndWrite(s, "up", snapshot([]string{server("io.x/one", fmt.Sprintf("1.0.%d", i), "one")}),
			Sync{Revision: "rev", ResultID: id}); err != nil {
			t.Fatal(err)
		}
		results = append(results, id)
	}
	c := f.commit(t, "up")
	var got []string
	for _, e := range c.Earlier {
		got = append(got, e.ResultID)
		if len(e.Earlier) > 0 || e.Generation == 0 || e.CommittedAt.IsZero() {
			t.Fatalf("earlier commit %+v: want its generation, time and result, and no earlier commits of its own", e)
		}
	}
	if want := results[len(results)-1-MaxEarlierCommits : len(results)-1]; !slices.Equal(got, want) || c.ResultID != results[len(results)-1] {
		t.Fatalf("commit %s names earlier %v, want %v", c.ResultID, got, want)
	}
}

// A batch whose records are written keeps what its commit needs, not the
// entries' bytes: a sync commits after its outcome is recorded, and the
// snapshot it read (35 MB for 10,000 servers) must not stay reachable
// through the batch while the registries follow the commit.
func TestAWrittenBatchHoldsNoneOfTheSnapshot(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	snap := snapshot(servers(50))
	gone := weak.Make(&snap[0])
	lists, err := registry.SnapshotLists(snap)
	if err != nil {
		t.Fatal(err)
	}
	snap = nil
	b, err := s.Prepare(context.Background(), "src", lists)
	if err != nil {
		t.Fatal(err)
	}
	lists = registry.Lists{}
	if err := s.WriteRecords(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if gone.Value() != nil {
		t.Error("the snapshot is still reachable from the written batch")
	}
	w, err := s.Commit(context.Background(), "src", b, Sync{Revision: "rev-1"})
	if err != nil || !w.Committed || w.Changed != 50 {
		t.Fatalf("commit: %+v, %v; want the 50 records committed", w, err)
	}
	if r := f.record(t, Key("src", KindServer, "io.example/s0007", "1.0.0")); r.Generation != 1 || len(r.Data) == 0 {
		t.Errorf("record %+v", r)
	}
}

// A store accepts the server entries that syncs stored of a source, by
// the digest of their compacted bytes however they are spaced, and
// nothing else: not a removed version, not a skill, not another source.
func TestAcceptedNamesTheStoredServerEntries(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	v1, v2 := server("io.example/a", "1.0.0", "one"), server("io.example/a", "2.0.0", "two")
	skill := `{"namespace":"io.example","name":"sk","version":"1.0.0"}`
	if got := s.Accepted("src")(registry.EntryDigest([]byte(v2))); got {
		t.Fatal("an entry accepted before any sync")
	}
	write(t, s, "src", snapshot([]string{v1, v2}, skill), "rev-1")
	write(t, s, "src", snapshot([]string{v2}, skill), "rev-2")

	accepted := s.Accepted("src")
	spaced := strings.ReplaceAll(v2, ",", ",\n  ")
	for _, tc := range []struct {
		what  string
		entry string
		want  bool
	}{
		{"stored server", v2, true},
		{"stored server, spaced", spaced, true},
		{"removed version", v1, false},
		{"skill", skill, false},
		{"server never stored", server("io.example/b", "1.0.0", "b"), false},
	} {
		if got := accepted(registry.EntryDigest([]byte(tc.entry))); got != tc.want {
			t.Errorf("%s: accepted %v, want %v", tc.what, got, tc.want)
		}
	}
	if s.Accepted("other")(registry.EntryDigest([]byte(v2))) {
		t.Error("another source's entry accepted")
	}
}

// A sync trusts the entries a commit marker covers only when the marker
// names this regsync's checks: a marker written under other checks (an
// older regsync whose schemas accepted more), one written by a holder
// that committed a stopped sync's records without checking them, and
// records no marker covers yet accept nothing, so every such entry is
// checked again.
func TestAcceptedOnlyUnderTheCommitsChecks(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first, fourth := registry.EntryDigest([]byte(servers(3)[0])), registry.EntryDigest([]byte(servers(5)[3]))
	writer := f.store(&at)
	write(t, writer, "src", snapshot(servers(3)), "rev-1")
	c := f.commit(t, "src")
	if c.Checks != registry.Checks() {
		t.Fatalf("commit names checks %q, want this regsync's %q", c.Checks, registry.Checks())
	}
	if !writer.Accepted("src")(first) {
		t.Fatal("an entry the store committed under this regsync's checks is not accepted")
	}
	// followed is a store of another replica told of the bucket's records
	// of src under the marker c.
	followed := func(c Commit) *Store {
		t.Helper()
		keys, err := f.kv.ListKeysFiltered(context.Background(), "src.server.>")
		if err != nil {
			t.Fatal(err)
		}
		records := map[string]*Record{}
		for key := range keys.Keys() {
			r := f.record(t, key)
			records[key] = &r
		}
		s := f.store(&at)
		s.Follow("src", 0, 100, c, records)
		return s
	}
	if !followed(c).Accepted("src")(first) {
		t.Fatal("an entry another replica committed under this regsync's checks is not accepted")
	}
	other := c
	other.Checks = "checks-of-an-older-regsync"
	if followed(other).Accepted("src")(first) {
		t.Error("an entry committed under other checks is accepted")
	}

	// Records a stopped sync wrote and nobody committed yet.
	at = at.Add(time.Minute)
	recordWithoutCommit(t, f.store(&at), "src", snapshot(servers(5)))
	if s := followed(c); !s.Accepted("src")(first) || s.Accepted("src")(fourth) {
		t.Error("want the committed entry accepted and the one no marker covers not")
	}

	// The next holder commits them without having checked them.
	next := f.store(&at)
	if _, err := next.Commit(context.Background(), "src", nil, Sync{Revision: "rev-2", ResultID: "r-src-2"}); err != nil {
		t.Fatal(err)
	}
	leftover := f.commit(t, "src")
	if leftover.Checks != "" {
		t.Errorf("a commit of records its committer did not check names checks %q", leftover.Checks)
	}
	for name, s := range map[string]*Store{"the committer": next, "another replica": followed(leftover)} {
		if s.Accepted("src")(first) || s.Accepted("src")(fourth) {
			t.Errorf("%s accepts entries of a commit that checked none", name)
		}
	}
}
