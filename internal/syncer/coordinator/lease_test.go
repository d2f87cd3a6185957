package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestLeases(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := NewLeases(h.h.Locks, "a", h.leaseTTL)
	b := NewLeases(h.h.Locks, "b", h.leaseTTL)

	t.Run("a held lease blocks others until released", func(t *testing.T) {
		la, err := a.Acquire(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := b.Acquire(short, "src"); err == nil {
			t.Fatal("two holders at once")
		}
		if err := la.Release(ctx); err != nil {
			t.Fatal(err)
		}
		lb, err := b.Acquire(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		_ = lb.Release(ctx)
	})

	t.Run("a renewed lease outlives its TTL", func(t *testing.T) {
		la, err := a.Acquire(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		keep, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			la.KeepAlive(keep, func(err error) { t.Errorf("lease lost: %v", err) })
		}()
		short, cancel := context.WithTimeout(ctx, 2*h.leaseTTL)
		defer cancel()
		if _, err := b.Acquire(short, "kept"); err == nil {
			t.Error("renewed lease was taken over")
		}
		stop()
		<-done
		if err := la.Release(ctx); err != nil {
			t.Error(err)
		}
	})

	t.Run("an abandoned lease expires", func(t *testing.T) {
		if _, err := a.Acquire(ctx, "dead"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		lb, err := b.Acquire(ctx, "dead")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("taken over after %v (TTL %v)", time.Since(start).Round(time.Millisecond), h.leaseTTL)
		// The old holder can no longer renew or release it.
		stale := &Lease{leases: a, source: "dead", rev: 1}
		if err := stale.Renew(ctx); err == nil {
			t.Error("stale holder renewed a lease it lost")
		}
		_ = lb.Release(ctx)
	})
}

func TestReplicaIDIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first, err := ReplicaID(dir)
	if err != nil || first == "" {
		t.Fatalf("ReplicaID = %q, %v", first, err)
	}
	again, err := ReplicaID(dir)
	if err != nil || again != first {
		t.Errorf("restart got %q (%v), want %q", again, err, first)
	}
	if other, _ := ReplicaID(t.TempDir()); other == first {
		t.Errorf("two data directories share the identity %q", other)
	}
}

// silentKV is a bucket whose updates get no answer, as during a leader
// election; it notes the deadline of every update.
type silentKV struct {
	jetstream.KeyValue
	mu        sync.Mutex
	deadlines []time.Time
}

func (kv *silentKV) Update(ctx context.Context, _ string, _ []byte, _ uint64) (uint64, error) {
	d, _ := ctx.Deadline()
	kv.mu.Lock()
	kv.deadlines = append(kv.deadlines, d)
	kv.mu.Unlock()
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestKeepAliveGivesUpBeforeTheLeaseExpires(t *testing.T) {
	h := newHarness(t)
	kv := &silentKV{KeyValue: h.h.Locks}
	leases := NewLeases(kv, "replica", h.leaseTTL)
	lease, err := leases.TryAcquire(context.Background(), "src")
	if err != nil {
		t.Fatal(err)
	}
	expires := lease.renewed.Add(h.leaseTTL)
	lost := make(chan error, 1)
	lease.KeepAlive(context.Background(), func(err error) { lost <- err })
	select {
	case <-lost:
	default:
		t.Fatal("KeepAlive returned without calling lost")
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if len(kv.deadlines) == 0 {
		t.Fatal("no renewal was tried")
	}
	for i, d := range kv.deadlines {
		if d.IsZero() || !d.Before(expires) {
			t.Errorf("renewal %d could wait until %v, past the lease's expiry %v: the sync would go on after another replica took over", i, d, expires)
		}
	}
}

// Acquire waits until it holds the source's lease or ctx is done: a test's
// stand-in for another replica that holds a source. Workers use
// TryAcquire, which never waits.
func (l *Leases) Acquire(ctx context.Context, source string) (*Lease, error) {
	for {
		lease, err := l.TryAcquire(ctx, source)
		var held *HeldError
		if !errors.As(err, &held) {
			return lease, err
		}
		wait := min(max(time.Until(held.Until), 50*time.Millisecond), l.pollInterval())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("acquire lease on %s: %w", source, ctx.Err())
		case <-time.After(wait):
		}
	}
}
