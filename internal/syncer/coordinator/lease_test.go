package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/testsupport"
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

// The replica-id file is read as every file is and must hold a short
// printable id; anything else is refused with what is wrong with it.
func TestReplicaIDRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{"too long", func(t *testing.T, path string) { writeFile(t, path, []byte(strings.Repeat("x", 129))) }, "129 bytes long, at most 128"},
		{"a terminal escape", func(t *testing.T, path string) { writeFile(t, path, []byte("host-\x1b[2J")) }, "byte 0x1b at offset 5"},
		{"two words", func(t *testing.T, path string) { writeFile(t, path, []byte("host one")) }, "byte 0x20 at offset 4"},
		{"a huge file", func(t *testing.T, path string) { writeFile(t, path, []byte(strings.Repeat("x", 1<<20))) }, "larger than 4096 bytes, not a replica id"},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, replicaIDFile)
			tc.prepare(t, path)
			if id, err := ReplicaID(dir); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("ReplicaID = %.40q, %v; want an error naming the file and saying %q", id, err, tc.want)
			}
		})
	}
	t.Run("a printable id with white space around it", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, replicaIDFile), []byte("  host-1.example_a:b  \n"))
		if id, err := ReplicaID(dir); err != nil || id != "host-1.example_a:b" {
			t.Errorf("ReplicaID = %q, %v", id, err)
		}
	})
}

// Two processes with the same replica id (a copied data directory) do not
// take over each other's leases: a lease under this replica's name is
// taken over at once only when this process wrote it (its release was
// lost) or it was written before this process started (a crashed earlier
// run); otherwise it is held, and the clash is logged as an error.
func TestLeasesOfATwinAreNotTakenOver(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	earlier := NewLeases(h.h.Locks, "same", h.leaseTTL)
	if _, err := earlier.TryAcquire(ctx, "crashed"); err != nil {
		t.Fatal(err)
	}
	restarted := NewLeases(h.h.Locks, "same", h.leaseTTL)
	twin := NewLeases(h.h.Locks, "same", h.leaseTTL)
	var log testsupport.Buffer
	restarted.logger = slog.New(slog.NewTextHandler(&log, nil))

	t.Run("a lease left by an earlier run is taken over", func(t *testing.T) {
		if _, err := restarted.TryAcquire(ctx, "crashed"); err != nil {
			t.Fatal(err)
		}
		// And one of this process whose release was lost, too.
		l, err := restarted.TryAcquire(ctx, "crashed")
		if err != nil {
			t.Fatalf("own lease: %v", err)
		}
		_ = l.Release(ctx)
	})
	t.Run("a twin's lease is held", func(t *testing.T) {
		held, err := twin.TryAcquire(ctx, "busy")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release(ctx)
		_, err = restarted.TryAcquire(ctx, "busy")
		if _, ok := errors.AsType[*HeldError](err); !ok {
			t.Fatalf("err %v, want the lease held", err)
		}
		if !log.Contains("level=ERROR") || !log.Contains("another process uses replica id") {
			t.Errorf("the clash is not logged as an error:\n%s", log.String())
		}
		// And the twin does not take it back from us either.
		mine, err := restarted.Acquire(ctx, "mine")
		if err != nil {
			t.Fatal(err)
		}
		defer mine.Release(ctx)
		if _, err := twin.TryAcquire(ctx, "mine"); err == nil {
			t.Error("the twin took over a lease of this process")
		}
	})
}

// A lease let go is taken again in one request by a replica that saw it
// let go on the bucket's watch (as every coordinator does): an update over
// the release, not a create that finds the release's marker and then a
// read and an update. A note of a release that is out of date costs that
// one request more, and the lease is still decided by the bucket.
func TestALeaseLetGoIsTakenInOneRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := NewLeases(h.h.Locks, "a", h.leaseTTL)
	b := NewLeases(h.h.Locks, "b", h.leaseTTL)
	w, err := h.h.Locks.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	// follow passes the bucket's changes to b up to the next release.
	follow := func() {
		t.Helper()
		for {
			select {
			case e := <-w.Updates():
				if e == nil {
					continue
				}
				b.Saw(e)
				if e.Operation() != jetstream.KeyValuePut {
					return
				}
			case <-time.After(testsupport.Patience):
				t.Fatal("no release seen on the watch")
			}
		}
	}
	locks := h.requests(t, func(subject string) bool { return strings.Contains(subject, "regsync_locks.src") })
	requests := func() int { return len(locks()) }

	la, err := a.TryAcquire(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	follow()
	before := requests()
	lb, err := b.TryAcquire(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if n := requests() - before; n != 1 {
		t.Errorf("taking a lease seen let go took %d requests, want 1", n)
	}

	t.Run("a release noted before another holder took it", func(t *testing.T) {
		if err := lb.Release(ctx); err != nil {
			t.Fatal(err)
		}
		follow()
		if _, err := a.TryAcquire(ctx, "src"); err != nil {
			t.Fatal(err)
		}
		// b has not seen a's take yet.
		_, err := b.TryAcquire(ctx, "src")
		var held *HeldError
		if !errors.As(err, &held) || held.Holder != "a" {
			t.Fatalf("b took a lease a holds: %v", err)
		}
	})
}

// A lease this replica let go is taken again in one request at once,
// before the bucket's watch tells of the release: the release's revision
// is known from its own acknowledgement.
func TestALeaseLetGoByThisReplicaIsTakenAgainInOneRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := NewLeases(h.h.Locks, "a", h.leaseTTL)
	a.js = h.js
	locks := h.requests(t, func(subject string) bool { return strings.Contains(subject, "regsync_locks.src") })
	for range 2 {
		lease, err := a.TryAcquire(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before := len(locks())
	lease, err := a.TryAcquire(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(locks()) - before; n != 1 {
		t.Errorf("taking a lease this replica let go took %d requests, want 1", n)
	}
	// The release is the bucket's own delete: a reader finds no lease.
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.h.Locks.Get(ctx, "src"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("lease read after its release: %v, want not found", err)
	}
	b := NewLeases(h.h.Locks, "b", h.leaseTTL)
	if _, err := b.TryAcquire(ctx, "src"); err != nil {
		t.Errorf("another replica cannot take the lease let go: %v", err)
	}
}
