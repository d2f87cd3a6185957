package coordinator

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// preparing is a real entries store that says when a sync began to
// prepare its entries (reading what is stored of the source).
type preparing struct {
	*entries.Store
	began chan struct{}
	once  sync.Once
}

func (p *preparing) Prepare(ctx context.Context, source string, lists registry.Lists) (*entries.Batch, error) {
	p.once.Do(func() { close(p.began) })
	return p.Store.Prepare(ctx, source, lists)
}

// startAfterPrepare is a status bucket whose write of a sync's start is
// stored only once the sync began to prepare its entries (or says it
// never did).
type startAfterPrepare struct {
	jetstream.KeyValue
	began <-chan struct{}
}

func (kv *startAfterPrepare) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if bytes.Contains(value, []byte(`"phase":"`+state.PhaseSyncing+`"`)) {
		select {
		case <-kv.began:
		case <-time.After(testsupport.Patience):
			return 0, errors.New("the sync's entries were not read while its start was written")
		}
	}
	return kv.KeyValue.Update(ctx, key, value, rev)
}

// A sync's start is written while what the sync compares with is read
// (the source's stored entries, the previous snapshot's index), not before:
// nothing is written before the start, so the order of the writes stays,
// and the start's round trip is off the way to the result.
func TestASyncsStartIsWrittenWhileItsEntriesAreRead(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	p := &preparing{Store: entries.New(h.js, h.h.Entries, time.Hour), began: make(chan struct{})}
	h.status = state.NewStore(&startAfterPrepare{KeyValue: h.h.Status, began: p.began}, testsupport.Logger(t))
	res := h.results("local")
	h.runPrepared(srcs, &sources.Fetcher{}, h.snapshots, Options{}, func(c *Coordinator) { c.mgr.Entries = p })
	h.request("local")
	if c := res.completed(); c.ServerCount != 2 {
		t.Errorf("completed with %d servers, want 2", c.ServerCount)
	}
	if st := h.getStatus("local"); st.Phase != state.PhaseComplete {
		t.Errorf("status %s, want %s", st.Phase, state.PhaseComplete)
	}
}
