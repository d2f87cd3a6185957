package coordinator

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/entries"
)

// trackedFetcher reads a source for real and keeps only a weak pointer to
// the last document it read.
type trackedFetcher struct {
	sources.Fetcher
	mu   sync.Mutex
	last weak.Pointer[byte]
}

func (f *trackedFetcher) Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error) {
	fetched, err := f.Fetcher.Fetch(ctx, src)
	if err == nil && len(fetched.Raw) > 0 {
		f.mu.Lock()
		f.last = weak.Make(&fetched.Raw[0])
		f.mu.Unlock()
	}
	return fetched, err
}

func (f *trackedFetcher) reachable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last.Value() != nil
}

// commitWatch is a real entries store that, at each commit, collects
// garbage and notes whether the fetched document was still reachable.
type commitWatch struct {
	*entries.Store
	fetcher *trackedFetcher
	mu      sync.Mutex
	held    []bool
}

func (w *commitWatch) Commit(ctx context.Context, source string, b *entries.Batch, sy entries.Sync) (entries.Written, error) {
	runtime.GC()
	w.mu.Lock()
	w.held = append(w.held, w.fetcher.reachable())
	w.mu.Unlock()
	return w.Store.Commit(ctx, source, b, sy)
}

// A sync's commit sets every replica's views and the registry's merger to
// work (the merger writes the whole merged registry): the document the
// sync read (35 MB for 10,000 servers) is let go before it, once it is
// stored and its entries recorded, and not only once the sync's result
// is published.
func TestTheFetchedDocumentIsLetGoBeforeTheCommit(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	f := &trackedFetcher{}
	w := &commitWatch{Store: entries.New(h.js, h.h.Entries, time.Hour), fetcher: f}
	res := h.results("local")
	h.runPrepared(srcs, f, h.snapshots, Options{}, func(c *Coordinator) { c.mgr.Entries = w })
	h.request("local")
	res.completed()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) != 1 {
		t.Fatalf("%d commits, want 1", len(w.held))
	}
	if w.held[0] {
		t.Error("the fetched document was still reachable when the sync committed its entries")
	}
}

var _ syncer.Recorder = (*commitWatch)(nil)
