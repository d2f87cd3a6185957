package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/retry"
)

// Leases hands out per-source leases stored in a key-value bucket whose
// TTL is the lease time: a lease that is not renewed disappears on the
// server, whoever held it.
//
// The holder is the replica's stable identity (see ReplicaID): a lease found
// under this replica's own name is taken over at once, instead of waiting
// for it to expire, when it is surely nobody's: this process wrote it (a
// release that never reached the server), or it was last written before
// this process started (left by an earlier run, a kill -9). One written
// since by another process under the same name (two replicas on copies of
// one data directory) is held as any other replica's, and logged as an
// error: each would otherwise take the other's leases in turn.
type Leases struct {
	kv     jetstream.KeyValue
	holder string
	// instance tells this process's leases from those of any other
	// process under the same holder name; started is when it started.
	instance string
	started  time.Time
	twin     atomic.Bool // another process under holder was logged
	ttl      time.Duration
	// call bounds each key-value request, so that a server that does not
	// answer (a leader election) costs seconds, not the sync timeout.
	call   time.Duration
	logger *slog.Logger

	// freed holds, for each key whose last change seen on the bucket's
	// watch was a release (a delete, or a purge), the revision of that
	// release: the lease is taken by an update over it, one request,
	// where a create finds the release's marker and needs three (the
	// create, a read, an update).
	mu    sync.Mutex
	freed map[string]uint64
	// js, when set, writes the releases (see release), so that this
	// replica knows the revision of its own without waiting for the watch.
	js jetstream.JetStream
}

// NewLeases returns Leases for holder on a bucket created with TTL ttl.
func NewLeases(kv jetstream.KeyValue, holder string, ttl time.Duration) *Leases {
	return &Leases{
		kv: kv, holder: holder, instance: newToken(), started: time.Now(),
		ttl: ttl, call: CallTimeout(ttl), logger: slog.New(slog.DiscardHandler),
		freed: make(map[string]uint64),
	}
}

// Saw notes a change of the bucket seen on its watch: a release is
// remembered until the key is written again.
func (l *Leases) Saw(e jetstream.KeyValueEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		delete(l.freed, e.Key())
		return
	}
	l.freed[e.Key()] = e.Revision()
}

// released returns the revision of the key's last release seen, and
// forgets it: whatever a try over it finds, the release is past.
func (l *Leases) released(key string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rev, ok := l.freed[key]
	delete(l.freed, key)
	return rev, ok
}

// CallTimeout is how long one JetStream request may take when leases live
// ttl: well under the lease time, so a request that gets no answer gives up
// while the lease still protects the work.
func CallTimeout(ttl time.Duration) time.Duration {
	return min(max(ttl/3, 100*time.Millisecond), 5*time.Second)
}

// Lease is a held lease.
type Lease struct {
	leases *Leases
	source string
	token  string
	rev    uint64
	// renewed is when the server last confirmed the lease.
	renewed time.Time
}

type leaseRecord struct {
	Holder string `json:"holder"`
	// Acquired is when the holder last wrote the record: acquired or
	// renewed the lease.
	Acquired time.Time `json:"acquired"`
	// Token tells this acquisition from any other of the same holder, so an
	// answer lost in flight can be recognised as ours; it starts with the
	// instance of the process that wrote it.
	Token string `json:"token,omitempty"`
}

// HeldError says that another replica holds a source's lease.
type HeldError struct {
	Source, Holder string
	// Until is when the lease expires unless its holder renews it.
	Until time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease on %s is held by %q until %s", e.Source, e.Holder, e.Until.Format(time.RFC3339Nano))
}

// TryAcquire takes the source's lease if nobody else holds it; it never
// waits for another holder. A lease held by another replica gives a
// *HeldError; any other error means the bucket did not answer.
//
// The request is not cut short by ctx: a create cancelled in flight may
// still be stored, and a lease stored without its holder knowing would
// wedge the source for a whole TTL. Each request is bounded by the call
// timeout instead, and a request whose outcome is unknown is resolved by
// reading the key back.
func (l *Leases) TryAcquire(ctx context.Context, source string) (*Lease, error) {
	call, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.call)
	defer cancel()
	rec := leaseRecord{Holder: l.holder, Acquired: time.Now().UTC(), Token: l.instance + "-" + newToken()}
	value, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	// A lease seen let go is taken over its release. When that fails (it
	// was taken since, or the answer was lost), the create below decides,
	// with the same token, so an update stored unanswered is known as ours.
	if rev, ok := l.released(source); ok {
		if rev, err := l.kv.Update(call, source, value, rev); err == nil {
			return l.held(source, rec.Token, rev), nil
		}
	}
	rev, err := l.kv.Create(call, source, value)
	if err == nil {
		return l.held(source, rec.Token, rev), nil
	}
	entry, gerr := l.kv.Get(call, source)
	if errors.Is(gerr, jetstream.ErrKeyNotFound) || errors.Is(gerr, jetstream.ErrKeyDeleted) {
		if jserr.IsConflict(err) {
			// Released or expired between the two requests: free now.
			return nil, &HeldError{Source: source, Until: time.Now()}
		}
		return nil, fmt.Errorf("acquire lease on %s: %w", source, err)
	}
	if gerr != nil {
		return nil, fmt.Errorf("acquire lease on %s: %w", source, errors.Join(err, gerr))
	}
	var found leaseRecord
	_ = json.Unmarshal(entry.Value(), &found)
	switch {
	case found.Holder == l.holder && found.Token == rec.Token:
		// Our create was stored; only its answer was lost.
		return l.held(source, rec.Token, entry.Revision()), nil
	case found.Holder == l.holder && !l.leftBehind(found):
		// Written since this process started by another one under the
		// same name.
		if !l.twin.Swap(true) {
			l.logger.Error("another process uses replica id "+l.holder+" and holds a lease: replicas must not share a data directory; give each its own (or remove replica-id from the copy)",
				"source", source, "acquired", found.Acquired)
		}
		return nil, &HeldError{Source: source, Holder: found.Holder, Until: entry.Created().Add(l.ttl)}
	case found.Holder == l.holder:
		// Left by this process or an earlier run of this replica: nobody
		// works under it.
		rev, err := l.kv.Update(call, source, value, entry.Revision())
		if err != nil {
			if jserr.IsConflict(err) {
				return nil, &HeldError{Source: source, Holder: found.Holder, Until: time.Now()}
			}
			return nil, fmt.Errorf("take over own lease on %s: %w", source, err)
		}
		l.logger.Info("took over a lease this replica left behind", "source", source, "acquired", found.Acquired)
		return l.held(source, rec.Token, rev), nil
	case jserr.IsConflict(err):
		return nil, &HeldError{Source: source, Holder: found.Holder, Until: entry.Created().Add(l.ttl)}
	default:
		return nil, fmt.Errorf("acquire lease on %s: %w", source, err)
	}
}

// pollInterval is how often a lease held elsewhere is tried again; a
// release seen on the bucket's watch (watchLeases) ends the wait sooner, so
// this is the wait for a holder that died.
func (l *Leases) pollInterval() time.Duration {
	return min(max(l.ttl/20, 50*time.Millisecond), time.Second)
}

// leftBehind reports whether a lease record under this replica's name is
// surely nobody's: written by this process, or before it started.
func (l *Leases) leftBehind(found leaseRecord) bool {
	return strings.HasPrefix(found.Token, l.instance+"-") || found.Acquired.Before(l.started)
}

func (l *Leases) held(source, token string, rev uint64) *Lease {
	return &Lease{leases: l, source: source, token: token, rev: rev, renewed: time.Now()}
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Renew extends the lease; an error means it was not renewed (lost, or
// the bucket did not answer in time).
func (l *Lease) Renew(ctx context.Context) error {
	value, err := json.Marshal(leaseRecord{Holder: l.leases.holder, Acquired: time.Now().UTC(), Token: l.token})
	if err != nil {
		return err
	}
	call, cancel := context.WithTimeout(ctx, l.leases.call)
	defer cancel()
	rev, err := l.leases.kv.Update(call, l.source, value, l.rev)
	if err != nil {
		return fmt.Errorf("renew lease on %s: %w", l.source, err)
	}
	l.rev = rev
	l.renewed = time.Now()
	return nil
}

// KeepAlive renews the lease every third of its TTL until ctx is done. A
// renewal that fails is retried, every tenth of the TTL, while the lease is
// surely still ours on the server (until a sixth of the TTL before it
// expires); then, or at once when another holder took it, it calls lost
// and returns. The work under the lease must stop when lost is called.
func (l *Lease) KeepAlive(ctx context.Context, lost func(error)) {
	ttl := l.leases.ttl
	renewal := retry.Backoff{First: ttl / 10, Limit: ttl / 10, Retryable: func(err error) bool { return !jserr.IsConflict(err) }}
	for retry.Wait(ctx, ttl/3) == nil {
		safe, cancel := context.WithDeadline(ctx, l.renewed.Add(ttl-ttl/6))
		err := renewal.Do(safe, l.Renew)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				lost(err)
			}
			return
		}
	}
}

// Release gives the lease up, if it is still ours. It is bounded by the
// call timeout and not by ctx, so a replica shutting down still lets go.
// A renewal cut off in flight may have been stored without us learning its
// revision, so on a revision mismatch the current holder is checked before
// deleting.
func (l *Lease) Release(ctx context.Context) error {
	call, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.leases.call)
	defer cancel()
	err := l.leases.release(call, l.source, l.rev)
	if jserr.IsConflict(err) {
		entry, gerr := l.leases.kv.Get(call, l.source)
		if errors.Is(gerr, jetstream.ErrKeyNotFound) || errors.Is(gerr, jetstream.ErrKeyDeleted) {
			return nil // expired meanwhile
		}
		if gerr != nil {
			return fmt.Errorf("release lease on %s: %w", l.source, gerr)
		}
		var rec leaseRecord
		if json.Unmarshal(entry.Value(), &rec) != nil || rec.Holder != l.leases.holder {
			return fmt.Errorf("release lease on %s: it was taken over by %q", l.source, rec.Holder)
		}
		err = l.leases.release(call, l.source, entry.Revision())
	}
	if err != nil {
		return fmt.Errorf("release lease on %s: %w", l.source, err)
	}
	return nil
}

// release deletes a key's lease, held at revision rev, only over that
// revision. With js set it writes the bucket's delete marker itself (the
// message of the key's subject with KV-Operation DEL that the bucket's
// Delete writes), whose acknowledgement gives the release's revision:
// this replica then takes the lease again in one request (TryAcquire)
// without waiting for the watch to tell it of its own release.
func (l *Leases) release(ctx context.Context, key string, rev uint64) error {
	if l.js == nil {
		return l.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	}
	msg := nats.NewMsg("$KV." + l.kv.Bucket() + "." + key)
	msg.Header.Set(kvOperation, kvDelete)
	var opts []jetstream.PublishOpt
	if rev != 0 { // as the bucket's Delete: revision 0 expects nothing
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(rev))
	}
	ack, err := l.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.freed[key] = ack.Sequence
	return nil
}

// The header by which a key-value bucket's message says it deletes its
// key (nats.go's jetstream.KeyValue writes and reads it).
const (
	kvOperation = "KV-Operation"
	kvDelete    = "DEL"
)
