package views

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/testsupport"
)

// recorder notes what a Changes tells it.
type recorder struct {
	mu       sync.Mutex
	recorded []string // "registry generation"
	loadedAt int      // how many were recorded when Loaded was first called; -1 before
}

func (r *recorder) Record(c events.RegistryChanged) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recorded = append(r.recorded, fmt.Sprintf("%s %d", c.Registry, c.Generation))
}

func (r *recorder) Loaded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadedAt < 0 {
		r.loadedAt = len(r.recorded)
	}
}

func (r *recorder) state() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recorded), r.loadedAt
}

func publishChange(t *testing.T, p bus.Producer, registry string, generation uint64) {
	t.Helper()
	d := events.RegistryChanged{Registry: registry, Reason: events.RegistryReasonSourceChanged, Generation: generation,
		PreviousGeneration: generation - 1, ViewDigest: fmt.Sprintf("d%d", generation)}
	if _, err := p.Publish(context.Background(), fmt.Sprintf("g-%s-e-%d", registry, generation), d); err != nil {
		t.Fatal(err)
	}
}

func runChanges(t *testing.T, srv *bustest.Server) *recorder {
	t.Helper()
	rec := &recorder{loadedAt: -1}
	c := NewChanges(srv.JS, rec, testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return rec
}

func TestChangesRecordsTheStoredHistoryThenLiveEvents(t *testing.T) {
	srv := bustest.Start(t, 0)
	p := srv.Handles.Publisher.Producer(events.ProducerMerger, testsupport.Logger(t))
	publishChange(t, p, "a", 1)
	publishChange(t, p, "b", 1)
	publishChange(t, p, "a", 2)
	// Not a registry change: skipped, with a warning.
	if err := srv.Conn.Publish(events.RegistrySubject("a"), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	rec := runChanges(t, srv)
	testsupport.Eventually(t, "the stored history recorded and loaded", func() bool {
		_, loaded := rec.state()
		return loaded >= 0
	})
	got, loaded := rec.state()
	if want := []string{"a 1", "b 1", "a 2"}; !slices.Equal(got, want) || loaded != len(want) {
		t.Fatalf("recorded %v, loaded after %d; want %v, loaded after all of them", got, loaded, want)
	}
	publishChange(t, p, "a", 3)
	testsupport.Eventually(t, "a live event recorded", func() bool {
		got, _ := rec.state()
		return slices.Equal(got, []string{"a 1", "b 1", "a 2", "a 3"})
	})
}

func TestChangesIsLoadedAtOnceWithNoHistory(t *testing.T) {
	srv := bustest.Start(t, 0)
	rec := runChanges(t, srv)
	testsupport.Eventually(t, "loaded", func() bool {
		_, loaded := rec.state()
		return loaded == 0
	})
}
