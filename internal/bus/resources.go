package bus

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/jserr"
)

// Resources configures the JetStream resources of the contract.
type Resources struct {
	// Replicas of every stream, bucket and object store created (1 on the
	// embedded server, 3 on a production cluster).
	Replicas int
	// LeaseTTL is how long a per-source lease lives without renewal
	// (sync.leaseTTL); it must be greater than zero.
	LeaseTTL time.Duration
	// Results is the configured retention of REGSYNC_RESULTS.
	Results Retention
	// ContentMode is how events are written (events.Structured when empty).
	ContentMode events.ContentMode
	// Logger receives what Ensure changed or found wrong; nil discards it.
	Logger *slog.Logger
}

// Retention bounds the result history in REGSYNC_RESULTS. A zero field
// is no limit.
type Retention struct {
	// MaxAge is how long a result is kept.
	MaxAge time.Duration
	// MaxBytes bounds the whole stream, results of unknown sources
	// included; the oldest results go first.
	MaxBytes int64
	// MaxMsgsPerSubject bounds the results kept per source and outcome.
	MaxMsgsPerSubject int64
}

// Metadata keys of REGSYNC_RESULTS.
const (
	// DeploymentKey holds the deployment id: created with the stream, kept
	// for its lifetime.
	DeploymentKey = "regsync.deployment"
	// appliedKey holds the retention regsync last applied from its
	// configuration, so that a start changes the stream only when the
	// configuration changed, never undoing an operator's `nats stream edit`.
	appliedKey = "regsync.results.applied"
)

// Handles are the JetStream resources the pipeline works with.
type Handles struct {
	JS     jetstream.JetStream
	Status jetstream.KeyValue
	Locks  jetstream.KeyValue
	Data   jetstream.ObjectStore
	// RegistryStatus is regsync_registry_status, one record per registry.
	RegistryStatus jetstream.KeyValue
	// Registries is regsync_registries, the merged view of each registry.
	Registries jetstream.ObjectStore
	// Entries holds the per-entry records of every source (see
	// events.BucketEntries).
	Entries jetstream.KeyValue
	// Publisher publishes events in the configured content mode and names
	// their producers in this deployment.
	Publisher Publisher
	// Deployment is the id of this deployment (see DeploymentKey).
	Deployment string
	// Replicas is how many replicas the resources are created with.
	Replicas int
}

// EnsureStatus returns regsync_status, creating it again if it was
// deleted while regsync runs.
func (h *Handles) EnsureStatus(ctx context.Context) (jetstream.KeyValue, error) {
	return EnsureStatus(ctx, h.JS, h.Replicas)
}

// entriesMarkerTTL is how long regsync_entries keeps the marker left by
// an expired tombstone: long enough for every follower to see it.
const entriesMarkerTTL = time.Hour

// Limits of the trigger stream. A trigger is small; the stream is a work
// queue, so it only holds triggers not yet answered.
const (
	triggerDupWindow   = 5 * time.Minute
	maxPendingTriggers = 1_000_000
)

// Ensure creates every stream, bucket and object store that is missing, so
// that any number of replicas can call it at start without stepping on each
// other. What exists is left as the operator tuned it, with four
// exceptions that are logged: a results retention the configuration names,
// the subject of registry changes, added to a results stream that predates
// it, the lease TTL of regsync_locks, which the sync leases depend on, and
// the replicas of every stream, bucket and object store, which follow
// Replicas (see keepReplicas). Settings that
// break regsync (a trigger stream that is not a work queue, a duplicate
// window too short to collapse retried requests, missing subjects) are
// logged as warnings and left to the operator.
//
// A server without JetStream, which no other server answers for, is
// jserr.ErrNoJetStream: no retry makes it appear.
func Ensure(ctx context.Context, js jetstream.JetStream, r Resources) (*Handles, error) {
	h, err := ensureAll(ctx, js, r)
	if err != nil && errors.Is(err, nats.ErrNoResponders) {
		if enabled, _ := js.Conn().ConnectedServerJetStream(); !enabled {
			return nil, fmt.Errorf("%w (%s; start nats-server with --jetstream or a jetstream {} block in its configuration): %w",
				jserr.ErrNoJetStream, js.Conn().ConnectedUrlRedacted(), err)
		}
	}
	return h, err
}

func ensureAll(ctx context.Context, js jetstream.JetStream, r Resources) (*Handles, error) {
	if r.Replicas < 1 {
		r.Replicas = 1
	}
	if r.LeaseTTL <= 0 {
		return nil, fmt.Errorf("ensure resources: the lease TTL must be greater than zero, got %s", r.LeaseTTL)
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	triggers, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        events.StreamTriggers,
		Description: "regsync: every reason to look at a source",
		Subjects:    []string{events.AllTriggers},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
		Duplicates:  triggerDupWindow,
		MaxMsgSize:  events.MaxEventSize,
		MaxMsgs:     maxPendingTriggers,
		Discard:     jetstream.DiscardNew,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range triggerProblems(triggers) {
		log.Warn("stream setting breaks regsync, fix it with `nats stream edit`", "stream", events.StreamTriggers, "problem", p)
	}
	deployment, err := ensureResults(ctx, js, r, log)
	if err != nil {
		return nil, err
	}
	status, err := EnsureStatus(ctx, js, r.Replicas)
	if err != nil {
		return nil, err
	}
	locks, err := ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      events.BucketLocks,
		Description: "regsync: per-source sync leases",
		History:     1,
		TTL:         r.LeaseTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, err
	}
	if err := keepLeaseTTL(ctx, js, locks, r.LeaseTTL, log); err != nil {
		return nil, err
	}
	entries, err := ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      events.BucketEntries,
		Description: "regsync: per-entry records of every source, with a commit marker per sync",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
		// Tombstones carry their own TTL (nats.results.maxAge); the
		// marker left when one expires tells followers it is gone.
		LimitMarkerTTL: entriesMarkerTTL,
	})
	if err != nil {
		return nil, err
	}
	data, err := ensureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      events.ObjectStoreData,
		Description: "regsync: last good filtered registry per source",
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, err
	}
	registryStatus, err := ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      events.BucketRegistryStatus,
		Description: "regsync: status per registry",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, err
	}
	registries, err := ensureObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      events.ObjectStoreRegistries,
		Description: "regsync: merged view per registry",
		Storage:     jetstream.FileStorage,
		Replicas:    r.Replicas,
	})
	if err != nil {
		return nil, err
	}
	// Buckets and object stores are streams too.
	for _, name := range []string{events.StreamTriggers, events.StreamResults,
		"KV_" + events.BucketStatus, "KV_" + events.BucketLocks, "OBJ_" + events.ObjectStoreData, "KV_" + events.BucketEntries,
		"KV_" + events.BucketRegistryStatus, "OBJ_" + events.ObjectStoreRegistries} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("ensure replicas of stream %s: %w", name, err)
		}
		if err := keepReplicas(ctx, js, s.CachedInfo(), r.Replicas, log); err != nil {
			return nil, err
		}
	}
	return &Handles{
		JS: js, Status: status, Locks: locks, Data: data,
		RegistryStatus: registryStatus, Registries: registries, Entries: entries,
		Publisher:  Publisher{JS: js, Mode: r.ContentMode, Deployment: deployment},
		Deployment: deployment,
		Replicas:   r.Replicas,
	}, nil
}

// ensureStream returns the stream named by cfg, creating it with cfg when
// it does not exist. A stream that exists is returned as it is.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another replica created it first.
			s, err = js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return s.CachedInfo(), nil
}

// triggerProblems names the settings of REGSYNC_TRIGGERS that break
// regsync.
func triggerProblems(info *jetstream.StreamInfo) []string {
	c := info.Config
	var problems []string
	if !slices.Contains(c.Subjects, events.AllTriggers) {
		problems = append(problems, fmt.Sprintf("subjects %v do not include %s: triggers are not stored", c.Subjects, events.AllTriggers))
	}
	if c.Retention != jetstream.WorkQueuePolicy {
		problems = append(problems, fmt.Sprintf("retention is %s, not workqueue: answered triggers are not removed", c.Retention))
	}
	if c.Duplicates < triggerDupWindow {
		problems = append(problems, fmt.Sprintf("duplicate window is %s, less than %s: retried requests and webhook redeliveries sync twice", c.Duplicates, triggerDupWindow))
	}
	if c.MaxMsgSize > 0 && c.MaxMsgSize < events.MaxEventSize {
		problems = append(problems, fmt.Sprintf("max message size is %d bytes, less than %d: large triggers are refused", c.MaxMsgSize, events.MaxEventSize))
	}
	return problems
}

// resultSubjects are the subjects of REGSYNC_RESULTS: every source's
// results and every registry's changes.
var resultSubjects = []string{events.AllResults, events.AllRegistryChanges}

// ensureResults creates REGSYNC_RESULTS with a new deployment id and the
// configured retention when it is missing. When it exists it keeps its
// settings, except that it applies the configured retention if that is not
// what regsync applied last (the configuration changed, or the stream
// predates the record), adds the subject of registry changes if it lacks
// it (a stream from before registries existed), and gives the stream a
// deployment id if it has none (a stream from before ids existed). It
// returns the deployment id.
func ensureResults(ctx context.Context, js jetstream.JetStream, r Resources, log *slog.Logger) (string, error) {
	want := r.Results
	applied := want.String()
	info, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:              events.StreamResults,
		Description:       "regsync: the outcome of every sync decision and every registry change",
		Subjects:          resultSubjects,
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          r.Replicas,
		MaxAge:            want.MaxAge,
		MaxBytes:          limit(want.MaxBytes),
		MaxMsgsPerSubject: limit(want.MaxMsgsPerSubject),
		Duplicates:        triggerDupWindow,
		Discard:           jetstream.DiscardOld,
		Metadata:          map[string]string{DeploymentKey: newDeploymentID(), appliedKey: applied},
	})
	if err != nil {
		return "", err
	}
	cfg := info.Config
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	current := Retention{cfg.MaxAge, cfg.MaxBytes, cfg.MaxMsgsPerSubject}.String()
	var changes []any
	switch {
	case cfg.Metadata[appliedKey] != applied:
		changes = append(changes, "retention_from", current, "retention_to", applied)
		cfg.MaxAge, cfg.MaxBytes, cfg.MaxMsgsPerSubject = want.MaxAge, limit(want.MaxBytes), limit(want.MaxMsgsPerSubject)
		cfg.Metadata[appliedKey] = applied
	case current != applied:
		log.Info("keeping the retention set on the stream; change nats.results to override it",
			"stream", events.StreamResults, "retention", current, "configured", applied)
	}
	if !slices.Contains(cfg.Subjects, events.AllRegistryChanges) {
		// A stream created before registries existed.
		cfg.Subjects = append(slices.Clone(cfg.Subjects), events.AllRegistryChanges)
		changes = append(changes, "subject_added", events.AllRegistryChanges)
	}
	if cfg.Metadata[DeploymentKey] == "" {
		cfg.Metadata[DeploymentKey] = legacyDeploymentID(info)
		changes = append(changes, "deployment", cfg.Metadata[DeploymentKey])
	}
	if len(changes) > 0 {
		s, err := js.UpdateStream(ctx, cfg)
		if err != nil {
			return "", fmt.Errorf("update stream %s: %w", events.StreamResults, err)
		}
		info = s.CachedInfo()
		log.Info("stream updated from the configuration", append([]any{"stream", events.StreamResults}, changes...)...)
	}
	if !slices.Contains(info.Config.Subjects, events.AllResults) {
		log.Warn("stream setting breaks regsync, fix it with `nats stream edit`", "stream", events.StreamResults,
			"problem", fmt.Sprintf("subjects %v do not include %s: results are not stored", info.Config.Subjects, events.AllResults))
	}
	return info.Config.Metadata[DeploymentKey], nil
}

// String is the retention as recorded in the stream metadata, with -1 for
// no limit as JetStream reports it.
func (r Retention) String() string {
	return fmt.Sprintf("maxAge=%s maxBytes=%d maxMsgsPerSubject=%d", r.MaxAge, limit(r.MaxBytes), limit(r.MaxMsgsPerSubject))
}

// limit returns n, or -1 (no limit, as JetStream spells it) for zero.
func limit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// newDeploymentID returns a random id of 26 lower-case letters and digits
// (128 bits).
func newDeploymentID() string {
	return strings.ToLower(rand.Text())
}

// legacyDeploymentID returns the id of a deployment whose REGSYNC_RESULTS
// was created before ids existed. It is derived from the stream's creation
// time, so that replicas upgrading at once all store the same id, and
// streams of different deployments (created at different times) differ.
func legacyDeploymentID(info *jetstream.StreamInfo) string {
	sum := sha256.Sum256([]byte(events.StreamResults + "@" + info.Created.UTC().Format(time.RFC3339Nano)))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// EnsureStatus returns the bucket regsync_status, creating it with the
// given replicas when it is missing: at start, and when it was deleted
// while regsync runs (a new record then starts a new epoch, so no id
// repeats; see events.Status.Epoch).
func EnsureStatus(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      events.BucketStatus,
		Description: "regsync: sync status per source",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    max(1, replicas),
	})
}

// ensureKV returns the key-value bucket named by cfg, creating it with cfg
// when it does not exist.
func ensureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure kv %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// ensureObjectStore returns the object store named by cfg, creating it
// with cfg when it does not exist.
func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = js.ObjectStore(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}

// streamUpdater changes a stream's configuration: jetstream.JetStream,
// or a fake that records what it is asked.
type streamUpdater interface {
	UpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error)
}

// keepReplicas sets the stream described by info to want replicas
// (nats.replicas) when it has another number, leaving every other setting
// as it is. A change the cluster refuses (not enough servers, a single
// server) is logged with what differs and how to change it, and regsync
// carries on with the replicas there are; a failure the cluster may get
// over is returned, so that the start is retried.
func keepReplicas(ctx context.Context, js streamUpdater, info *jetstream.StreamInfo, want int, log *slog.Logger) error {
	cfg := info.Config
	if cfg.Replicas == want {
		return nil
	}
	from := cfg.Replicas
	cfg.Replicas = want
	_, err := js.UpdateStream(ctx, cfg)
	switch {
	case err == nil:
		log.Info("replicas changed to nats.replicas", "stream", cfg.Name, "from", from, "to", want)
		return nil
	case jserr.Temporary(err):
		return fmt.Errorf("set replicas of stream %s to %d: %w", cfg.Name, want, err)
	}
	log.Warn(fmt.Sprintf("stream replicas differ from nats.replicas and the cluster refused the change: fix the cluster, or set nats.replicas to what it can hold, or run `nats stream edit %s --replicas %d`", cfg.Name, want),
		"stream", cfg.Name, "replicas", from, "configured", want, "err", err)
	return nil
}

// keepLeaseTTL sets the TTL of regsync_locks to the configured lease TTL:
// a lease lives exactly as long as the bucket keeps its key.
func keepLeaseTTL(ctx context.Context, js jetstream.JetStream, locks jetstream.KeyValue, ttl time.Duration, log *slog.Logger) error {
	st, err := locks.Status(ctx)
	if err != nil {
		return fmt.Errorf("ensure kv %s: %w", events.BucketLocks, err)
	}
	if st.TTL() == ttl {
		return nil
	}
	s, err := js.Stream(ctx, "KV_"+events.BucketLocks)
	if err != nil {
		return fmt.Errorf("ensure kv %s: %w", events.BucketLocks, err)
	}
	cfg := s.CachedInfo().Config
	// As jetstream.CreateKeyValue sets them: the duplicate window may not
	// exceed the TTL.
	cfg.MaxAge, cfg.Duplicates = ttl, min(2*time.Minute, ttl)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("set lease TTL of kv %s: %w", events.BucketLocks, err)
	}
	log.Info("lease TTL changed to sync.leaseTTL", "bucket", events.BucketLocks, "from", st.TTL().String(), "to", ttl.String())
	return nil
}

// DeploymentOf returns the deployment id that the REGSYNC_RESULTS stream
// described by info holds (see DeploymentKey).
func DeploymentOf(info *jetstream.StreamInfo) (string, error) {
	id := info.Config.Metadata[DeploymentKey]
	if id == "" {
		return "", fmt.Errorf("stream %s has no deployment id yet (has `regsync serve` started?)", events.StreamResults)
	}
	return id, nil
}

// ObjectChunkSize is the size of the chunks regsync stores objects in
// (regsync_data, regsync_registries), in place of the object store's
// default of 128 KiB. nats-server reads a connection's input in buffers of
// at most 64 KiB, and a message that does not end in the buffer it begins
// in is copied whole into one of its own before it is stored, which it
// copies again: every 128 KiB chunk is one, so a 35 MB object cost the
// server 70 MB of garbage on top of what it writes, the bulk of what a
// sync of a large registry allocates while its document is held. A chunk
// of 32 KiB ends in the buffer it begins in about half the time. Readers
// take the chunk size from the object's description, so objects stored
// with either size read the same.
const ObjectChunkSize = 32 << 10
