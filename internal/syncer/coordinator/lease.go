package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Leases hands out per-source leases stored in a key-value bucket whose
// TTL is the lease time: a lease that is not renewed disappears on the
// server, whoever held it.
type Leases struct {
	kv     jetstream.KeyValue
	holder string
	ttl    time.Duration
}

// NewLeases returns Leases for holder on a bucket created with TTL ttl.
func NewLeases(kv jetstream.KeyValue, holder string, ttl time.Duration) *Leases {
	return &Leases{kv: kv, holder: holder, ttl: ttl}
}

// Lease is a held lease.
type Lease struct {
	leases *Leases
	source string
	rev    uint64
}

type leaseRecord struct {
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
}

// pollInterval is how often a waiting Acquire tries again.
func (l *Leases) pollInterval() time.Duration {
	return min(max(l.ttl/20, 50*time.Millisecond), time.Second)
}

// Acquire waits until it holds the source's lease or ctx is done.
func (l *Leases) Acquire(ctx context.Context, source string) (*Lease, error) {
	value, err := json.Marshal(leaseRecord{Holder: l.holder, Acquired: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	ticker := time.NewTicker(l.pollInterval())
	defer ticker.Stop()
	for {
		rev, err := l.kv.Create(ctx, source, value)
		if err == nil {
			return &Lease{leases: l, source: source, rev: rev}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("acquire lease on %s: %w", source, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire lease on %s: %w", source, ctx.Err())
		case <-ticker.C:
		}
	}
}

// Renew extends the lease; an error means it was lost.
func (l *Lease) Renew(ctx context.Context) error {
	value, err := json.Marshal(leaseRecord{Holder: l.leases.holder, Acquired: time.Now().UTC()})
	if err != nil {
		return err
	}
	rev, err := l.leases.kv.Update(ctx, l.source, value, l.rev)
	if err != nil {
		return fmt.Errorf("renew lease on %s: %w", l.source, err)
	}
	l.rev = rev
	return nil
}

// KeepAlive renews the lease every third of its TTL until ctx is done. If
// a renewal fails it calls lost and returns.
func (l *Lease) KeepAlive(ctx context.Context, lost func(error)) {
	ticker := time.NewTicker(l.leases.ttl / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := l.Renew(ctx); err != nil {
				if ctx.Err() == nil {
					lost(err)
				}
				return
			}
		}
	}
}

// Release gives the lease up, if it is still ours. A renewal cut off by
// cancellation may have been stored without us learning its revision, so
// on a revision mismatch the current holder is checked before deleting.
func (l *Lease) Release(ctx context.Context) error {
	err := l.leases.kv.Delete(ctx, l.source, jetstream.LastRevision(l.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		entry, gerr := l.leases.kv.Get(ctx, l.source)
		if gerr != nil {
			return fmt.Errorf("release lease on %s: %w", l.source, gerr)
		}
		var rec leaseRecord
		if json.Unmarshal(entry.Value(), &rec) != nil || rec.Holder != l.leases.holder {
			return fmt.Errorf("release lease on %s: it was taken over by %q", l.source, rec.Holder)
		}
		err = l.leases.kv.Delete(ctx, l.source, jetstream.LastRevision(entry.Revision()))
	}
	if err != nil {
		return fmt.Errorf("release lease on %s: %w", l.source, err)
	}
	return nil
}
