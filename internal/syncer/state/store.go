package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
)

// Store reads and writes status records in a key-value bucket.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore returns a Store on the given bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// maxCASRetries bounds how often Update re-reads after losing a race.
const maxCASRetries = 10

// Get returns a source's status and its key revision; a source without a
// record gives (nil, 0, nil).
func (s *Store) Get(ctx context.Context, source string) (*Status, uint64, error) {
	entry, err := s.kv.Get(ctx, source)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read status of %s: %w", source, err)
	}
	var st Status
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		return nil, 0, fmt.Errorf("decode status of %s (revision %d): %w", source, entry.Revision(), err)
	}
	return &st, entry.Revision(), nil
}

// Update applies mutate to the current status (or to init() when there is
// none) and writes it back with compare-and-swap, re-reading and applying
// again when another writer got there first. mutate is told the revision it
// writes over (0 for a new record): one write at most succeeds over each
// revision, so the pair (source, base) names one write for good. It returns
// the written status.
func (s *Store) Update(ctx context.Context, source string, init func() *Status, mutate func(st *Status, base uint64)) (*Status, error) {
	for range maxCASRetries {
		st, rev, err := s.Get(ctx, source)
		if err != nil {
			return nil, err
		}
		if st == nil {
			st = init()
		}
		mutate(st, rev)
		data, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("encode status of %s: %w", source, err)
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, source, data)
		} else {
			_, err = s.kv.Update(ctx, source, data, rev)
		}
		if bus.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write status of %s: %w", source, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("write status of %s: gave up after %d conflicting writes", source, maxCASRetries)
}

// List returns every status record by source name.
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
