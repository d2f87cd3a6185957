package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// Resources configures the JetStream resources of the contract.
type Resources struct {
	// Replicas of every stream, bucket and object store (1 on the embedded
	// server, 3 on a production cluster).
	Replicas int
	// LeaseTTL is how long a per-source lease lives without renewal.
	LeaseTTL time.Duration
}

// Handles are the JetStream resources the pipeline works with.
type Handles struct {
	JS     jetstream.JetStream
	Status jetstream.KeyValue
	Locks  jetstream.KeyValue
	Data   jetstream.ObjectStore
}

// Limits of the trigger stream. A trigger is small; the stream is a work
// queue, so it only holds triggers not yet answered.
const (
	maxEventBytes      = 1 << 20
	triggerDupWindow   = 5 * time.Minute
	maxPendingTriggers = 1_000_000
	resultsMaxAge      = 7 * 24 * time.Hour
	resultsPerSubject  = 10_000
)

// Ensure creates or updates every stream, bucket and object store so that
// any number of replicas can call it at start without stepping on each other.
func Ensure(ctx context.Context, js jetstream.JetStream, r Resources) (*Handles, error) {
	if r.Replicas < 1 {
		r.Replicas = 1
	}
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = 15 * time.Second
	}
	streams := []jetstream.StreamConfig{
		{
			Name:        events.StreamTriggers,
			Description: "regsync: every reason to look at a source",
			Subjects:    []string{events.AllTriggers},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r.Replicas,
			Duplicates:  triggerDupWindow,
			MaxMsgSize:  maxEventBytes,
			MaxMsgs:     maxPendingTriggers,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:              events.StreamResults,
			Description:       "regsync: the outcome of every sync decision",
			Subjects:          []string{events.AllResults},
			Retention:         jetstream.LimitsPolicy,
			Storage:           jetstream.FileStorage,
			Replicas:          r.Replicas,
			MaxAge:            resultsMaxAge,
			MaxMsgsPerSubject: resultsPerSubject,
			Duplicates:        triggerDupWindow,
		},
	}
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	status, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      events.BucketStatus,
		Description: "regsync: sync status per source",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure kv %s: %w", events.BucketStatus, err)
	}
	locks, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      events.BucketLocks,
		Description: "regsync: per-source sync leases",
		History:     1,
		TTL:         r.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure kv %s: %w", events.BucketLocks, err)
	}
	data, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      events.ObjectStoreData,
		Description: "regsync: last good filtered registry per source",
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", events.ObjectStoreData, err)
	}
	return &Handles{JS: js, Status: status, Locks: locks, Data: data}, nil
}
