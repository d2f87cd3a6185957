package views

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/testsupport"
)

// heldWatch is a bucket whose watch hands over updates already received,
// all waiting at once, as a watch does when syncs commit faster than a
// follower applies them.
type heldWatch struct {
	jetstream.KeyValue
	updates chan jetstream.KeyValueEntry
}

func (h heldWatch) WatchAll(context.Context, ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return h, nil
}
func (h heldWatch) Updates() <-chan jetstream.KeyValueEntry { return h.updates }
func (h heldWatch) Stop() error                             { return nil }

// A burst of commits waiting on the watch is applied as one new view of
// each registry it touches, the same view as one built from the stored
// records.
func TestABurstOfCommitsMakesOneViewPerRegistry(t *testing.T) {
	f := start(t)
	w, err := f.kv.WatchAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a1")))
	f.write("b", snapshot(server("io.x/one", "0.9.0", "b1"), server("io.x/two", "1.0.0", "b1")))
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a2"), server("io.x/three", "1.0.0", "a2")))
	// Every update up to the third commit, after the empty bucket's marker.
	var burst []jetstream.KeyValueEntry
	for commits := 0; commits < 3; {
		e := <-w.Updates()
		burst = append(burst, e)
		if e == nil {
			continue
		}
		if _, _, _, _, isCommit, err := entries.ParseKey(e.Key()); err != nil {
			t.Fatal(err)
		} else if isCommit {
			commits++
		}
	}
	held := heldWatch{KeyValue: f.kv, updates: make(chan jetstream.KeyValueEntry, len(burst))}
	for _, e := range burst {
		held.updates <- e
	}

	var mu sync.Mutex
	views, applied := map[string]int{}, map[string]int{}
	fl := New(held, registries, api.NewHandler([]string{"both", "a", "b"}, testsupport.Logger(t)), testsupport.Logger(t))
	fl.OnChange(func(registry string, _ *Registry) {
		mu.Lock()
		views[registry]++
		mu.Unlock()
	})
	fl.applied = func(source string) {
		mu.Lock()
		applied[source]++
		mu.Unlock()
	}
	run(t, fl)
	testsupport.Eventually(t, "every commit applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return applied["a"] == 2 && applied["b"] == 1
	})
	mu.Lock()
	// One view when loaded (empty), one for the burst.
	if views["both"] != 2 || views["a"] != 2 || views["b"] != 2 {
		t.Errorf("views made: %v, want 2 of each registry", views)
	}
	mu.Unlock()

	stored := f.follow()
	for _, reg := range registries {
		got, want := fl.Registry(reg.Name), stored.Registry(reg.Name)
		if got.Merged.Digest() != want.Merged.Digest() || got.API.Digest() != want.API.Digest() {
			t.Errorf("%s: merge %s / %s, API %s / %s", reg.Name, got.Merged.Digest(), want.Merged.Digest(), got.API.Digest(), want.API.Digest())
		}
		for i, s := range got.Sources {
			if !reflect.DeepEqual(s.Commit, want.Sources[i].Commit) {
				t.Errorf("%s: source %s at commit %+v, stored %+v", reg.Name, s.Name, s.Commit, want.Sources[i].Commit)
			}
		}
	}
}

// BenchmarkBurstOf100Commits applies one sync of each of the 100 sources
// of a registry, all waiting on the watch at once, as when every source
// is written together.
func BenchmarkBurstOf100Commits(b *testing.B) {
	const n = 100
	srv := bustest.Start(b, 0)
	store := entries.New(srv.JS, srv.Handles.Entries, time.Hour)
	w, err := srv.Handles.Entries.WatchAll(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	reg := config.Registry{Name: "all"}
	for i := range n {
		name := fmt.Sprintf("s%03d", i)
		reg.Sources = append(reg.Sources, name)
		lists, err := registry.SnapshotLists(snapshot(server("io.x/"+name, "1.0.0", "round 1")))
		if err != nil {
			b.Fatal(err)
		}
		batch, err := store.Prepare(context.Background(), name, lists)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Write(context.Background(), batch, entries.Sync{Revision: "r"}); err != nil {
			b.Fatal(err)
		}
	}
	var burst []jetstream.KeyValueEntry
	for commits := 0; commits < n; {
		e := <-w.Updates()
		burst = append(burst, e)
		if e != nil && strings.HasSuffix(e.Key(), "."+entries.CommitToken) {
			commits++
		}
	}
	for b.Loop() {
		held := heldWatch{KeyValue: srv.Handles.Entries, updates: make(chan jetstream.KeyValueEntry, len(burst))}
		for _, e := range burst {
			held.updates <- e
		}
		applied := make(chan struct{}, n)
		fl := New(held, []config.Registry{reg}, nil, slog.New(slog.DiscardHandler))
		fl.applied = func(string) { applied <- struct{}{} }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- fl.Run(ctx) }()
		for range n {
			<-applied
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
