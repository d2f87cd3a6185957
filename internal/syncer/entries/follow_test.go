package entries

import (
	"context"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/registry"
)

// What a follower hands a store is taken only onto what the store holds
// of the commit it follows from, never over a later commit the store
// knows, and a sync prepared from it writes what a sync that read every
// record writes.
func TestFollowTakesChangesOnlyOntoTheCommitTheyFollow(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writerStore := f.store(&at)
	write(t, writerStore, "src", snapshot(servers(2)), "rev-1")
	first := f.commit(t, "src")
	firstRev := f.commitRev(t, "src")
	records := f.records(t, "src")

	s := f.store(&at)
	s.Follow("src", 0, firstRev, first, records) // start-up: every record
	if got := s.kept("src"); got == nil || got.commitRev != firstRev || len(got.records) != 2 {
		t.Fatalf("after start-up: %+v, want the 2 records at revision %d", got, firstRev)
	}

	edited := snapshot(append(servers(1), server("io.example/s0001", "1.0.0", "edited")))
	at = at.Add(time.Hour)
	write(t, writerStore, "src", edited, "rev-2")
	second, secondRev := f.commit(t, "src"), f.commitRev(t, "src")
	key := Key("src", KindServer, "io.example/s0001", "1.0.0")
	changed := map[string]*Record{key: ptr(f.record(t, key))}

	s.Follow("src", secondRev+1, secondRev+2, second, changed) // from a commit the store never held
	if got := s.kept("src"); got.commitRev != firstRev {
		t.Errorf("changes from another base taken: at revision %d", got.commitRev)
	}
	s.Follow("src", firstRev, secondRev, second, changed)
	if got := s.kept("src"); got.commitRev != secondRev || got.records[key].digest != changed[key].Digest {
		t.Fatalf("changes from the commit held not taken: %+v", got)
	}
	s.Follow("src", 0, firstRev, first, records) // an older start-up's
	if got := s.kept("src"); got.commitRev != secondRev {
		t.Errorf("an older commit replaced a later one: at revision %d", got.commitRev)
	}

	third := snapshot(servers(1))
	lists, err := registry.SnapshotLists(third)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Prepare(context.Background(), "src", lists)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.store(&at).Prepare(context.Background(), "src", lists)
	if err != nil {
		t.Fatal(err)
	}
	if b.Changed() != 1 || want.Changed() != 1 || b.puts[0].rec.PublishedAt != want.puts[0].rec.PublishedAt {
		t.Errorf("prepared from what was followed: %d records %+v, from every record: %d %+v", b.Changed(), b.puts, want.Changed(), want.puts)
	}
}

func ptr[T any](v T) *T { return &v }

func (s *Store) kept(source string) *stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sources[source]
}

func (f fixture) commitRev(t testing.TB, source string) uint64 {
	t.Helper()
	e, err := f.kv.Get(context.Background(), CommitKey(source))
	if err != nil {
		t.Fatal(err)
	}
	return e.Revision()
}

// records reads every record of a source.
func (f fixture) records(t testing.TB, source string) map[string]*Record {
	t.Helper()
	keys, err := f.kv.ListKeysFiltered(context.Background(), source+".*.*.*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Record{}
	for key := range keys.Keys() {
		out[key] = ptr(f.record(t, key))
	}
	return out
}
