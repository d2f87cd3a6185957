package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/jserr"
)

// Store reads and writes status records in a key-value bucket. It keeps
// the last record it read or wrote of each source, with its revision, and
// Update writes over that one directly: compare-and-swap refuses the write
// if the record moved on, and Update then reads it again. A sync writes
// its source's status three times while it holds the lease, so this saves
// three reads and decodes per sync.
type Store struct {
	kv     jetstream.KeyValue
	logger *slog.Logger

	mu   sync.Mutex
	last map[string]known
	// undecodable is the revision of each source's record last reported
	// as undecodable, so that each one is logged once.
	undecodable map[string]uint64
	// epochs holds the sources whose record this Store gave an epoch of
	// its own (see Update).
	epochs map[string]bool
}

// known is a record as last read or written, and its revision.
type known struct {
	st  *Status
	rev uint64
}

// NewStore returns a Store on the given bucket; a nil logger discards.
func NewStore(kv jetstream.KeyValue, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{kv: kv, logger: logger, last: map[string]known{}, undecodable: map[string]uint64{}, epochs: map[string]bool{}}
}

// remember keeps a copy of a record read or written at rev; a nil st
// forgets the source.
func (s *Store) remember(source string, st *Status, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == nil {
		delete(s.last, source)
		return
	}
	s.last[source] = known{st: clone(st), rev: rev}
}

// recall returns a copy of the record last read or written, if any.
func (s *Store) recall(source string) (*Status, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.last[source]
	if !ok {
		return nil, 0, false
	}
	return clone(k.st), k.rev, true
}

// maxCASRetries bounds how often Update re-reads after losing a race.
const maxCASRetries = 10

// Get returns a source's status and its key revision; a source without a
// record gives (nil, 0, nil). A record that does not decode counts as
// missing, so that it cannot wedge its source: Get gives (nil, its
// revision, nil), and Update writes the initial record over it by
// compare-and-swap. Each such record is logged once.
func (s *Store) Get(ctx context.Context, source string) (*Status, uint64, error) {
	entry, err := s.kv.Get(ctx, source)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		s.remember(source, nil, 0)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read status of %s: %w", source, err)
	}
	var st Status
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		s.remember(source, nil, 0)
		s.reportUndecodable(source, entry.Revision(), err)
		return nil, entry.Revision(), nil
	}
	s.remember(source, &st, entry.Revision())
	return &st, entry.Revision(), nil
}

// reportUndecodable logs, once per record, a status record that does not
// decode.
func (s *Store) reportUndecodable(source string, rev uint64, err error) {
	s.mu.Lock()
	seen := s.undecodable[source] == rev
	s.undecodable[source] = rev
	s.mu.Unlock()
	if !seen {
		s.logger.Warn("status record does not decode, treating it as missing: the next write replaces it with the initial record",
			"source", source, "revision", rev, "err", err)
	}
}

// ownEpoch reports whether the Store gave the source's record its epoch.
func (s *Store) ownEpoch(source string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epochs[source]
}

// Update applies mutate to the current status (or to init() when there is
// none; a nil init() writes nothing and returns nil) and writes it back
// with compare-and-swap, re-reading and applying again when another writer
// got there first. mutate may therefore run several times, each on a fresh
// copy, and only the last run is written: it must only change the status
// and compute from it, with no side effects (no logging, tracing, metrics
// or publishing); do those with the status Update returns. mutate is told
// the revision it writes over (0 for a new record): one write at most
// succeeds over each revision, so (source, st.Version(base)) names one
// write for good. A mutate that returns an error refuses the record it
// was given (one computed from an earlier revision must not be applied
// to a later one): nothing is written, and Update returns that error as
// it is.
//
// The first write of each record by a Store gives the record a new epoch,
// and so does every write of a record without one (created again):
// revisions start over when the record or its bucket is created again,
// and continue from a backup's when a copy of the data is restored and
// run (also beside the original), whereas an epoch never repeats. It
// returns the written status.
func (s *Store) Update(ctx context.Context, source string, init func() *Status, mutate func(st *Status, base uint64) error) (*Status, error) {
	return s.UpdateEncoded(ctx, source, init, func(st *Status, base uint64) ([]byte, error) { return nil, mutate(st, base) })
}

// UpdateEncoded is Update for a mutate that encodes the status it leaves
// (to check its size, say): the bytes it returns are written as they
// are, so the status is not encoded twice. They must be the JSON encoding
// of the status as mutate left it; nil bytes are the store's to encode.
func (s *Store) UpdateEncoded(ctx context.Context, source string, init func() *Status, mutate func(st *Status, base uint64) ([]byte, error)) (*Status, error) {
	st, rev, recalled := s.recall(source)
	for range maxCASRetries {
		if !recalled {
			var err error
			if st, rev, err = s.Get(ctx, source); err != nil {
				return nil, err
			}
		}
		recalled = false
		if st == nil {
			if st = init(); st == nil {
				return nil, nil
			}
		}
		if st != nil && (st.Epoch == "" || !s.ownEpoch(source)) {
			st.Epoch = newEpoch()
		}
		data, err := mutate(st, rev)
		if err != nil {
			return nil, err
		}
		if data == nil {
			if data, err = json.Marshal(st); err != nil {
				return nil, fmt.Errorf("encode status of %s: %w", source, err)
			}
		}
		var written uint64
		if rev == 0 {
			written, err = s.kv.Create(ctx, source, data)
		} else {
			written, err = s.kv.Update(ctx, source, data, rev)
		}
		if jserr.IsConflict(err) {
			continue
		}
		if err != nil {
			s.remember(source, nil, 0) // the write may have happened
			return nil, fmt.Errorf("write status of %s: %w", source, err)
		}
		s.remember(source, st, written)
		s.mu.Lock()
		s.epochs[source] = true
		s.mu.Unlock()
		return st, nil
	}
	return nil, fmt.Errorf("write status of %s: gave up after %d conflicting writes", source, maxCASRetries)
}

// List returns every status record by source name; a record that does
// not decode is left out (and logged, see Get).
func (s *Store) List(ctx context.Context) (map[string]*Status, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list status keys: %w", err)
	}
	out := map[string]*Status{}
	for key := range lister.Keys() {
		st, _, err := s.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if st != nil {
			out[key] = st
		}
	}
	return out, nil
}
