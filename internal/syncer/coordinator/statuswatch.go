package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer/state"
)

// StatusWatch follows regsync_status on one watch per replica and hands
// every record, decoded once and only in the fields they read
// (watchedStatus), to the parts that keep something of it: the status
// metrics, the interval's retries of failed sources and the merger.
type StatusWatch struct {
	bucket    statusBucket
	followers []statusFollower
	logger    *slog.Logger
	// wait pauses before a stopped watch starts again (retry.Wait, or a
	// test's).
	wait func(ctx context.Context, d time.Duration) error
}

// statusBucket opens regsync_status, creating it when it is missing
// (bus.Handles).
type statusBucket interface {
	EnsureStatus(ctx context.Context) (jetstream.KeyValue, error)
}

// statusFollower keeps something of the status records.
type statusFollower interface {
	// restartStatus says the watch starts again: every record follows.
	restartStatus()
	// noteStatus is one source's record; st is nil when the record was
	// deleted or does not decode.
	noteStatus(source string, st *state.Status)
}

// NewStatusWatch returns a StatusWatch that feeds followers (StatusMetrics,
// Interval).
func NewStatusWatch(bucket statusBucket, logger *slog.Logger, followers ...statusFollower) *StatusWatch {
	return &StatusWatch{bucket: bucket, followers: followers, logger: logger, wait: retry.Wait}
}

// Run follows regsync_status until ctx is done. When its watch stops
// (the bucket was deleted, or its stream lost), or the bucket cannot be
// opened (NATS does not answer), it opens the bucket again, creating it if
// it is missing, and watches it from the start: the records replay, so
// nothing is missed. The pause before it does grows with the watches in a
// row that stopped before they replayed the records (rewatch).
func (w *StatusWatch) Run(ctx context.Context) error {
	failures := 0
	for {
		caughtUp, err := w.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if caughtUp {
			failures = 0
		}
		failures++
		wait := rewatch.Delay(failures)
		if err == nil {
			err = errWatchStopped
		}
		w.logger.Warn("status watch stopped; watching again, creating the bucket if it was deleted", "bucket", events.BucketStatus, "retry_in", wait, "err", err)
		if w.wait(ctx, wait) != nil {
			return nil
		}
	}
}

// rewatch is the pause before a stopped status watch starts again: a
// second, doubling while watches keep stopping before they replay the
// records, up to half a minute.
var rewatch = retry.Backoff{First: time.Second, Limit: 30 * time.Second}

var errWatchStopped = errors.New("watch stopped")

// follow watches regsync_status until ctx is done or the watch stops, and
// reports whether the watch replayed every record before it stopped. Its
// error is one opening the bucket or its watch.
func (w *StatusWatch) follow(ctx context.Context) (caughtUp bool, err error) {
	kv, err := w.bucket.EnsureStatus(ctx)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	kw, err := kv.WatchAll(ctx)
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", events.BucketStatus, err)
	}
	defer func() { _ = kw.Stop() }()
	for _, f := range w.followers {
		f.restartStatus()
	}
	for {
		select {
		case <-ctx.Done():
			return caughtUp, nil
		case entry, ok := <-kw.Updates():
			if !ok {
				return caughtUp, nil
			}
			if entry == nil { // the records are replayed
				caughtUp = true
			} else {
				w.note(entry)
			}
		}
	}
}

func (w *StatusWatch) note(entry jetstream.KeyValueEntry) {
	var st *state.Status
	var r watchedStatus
	if entry.Operation() == jetstream.KeyValuePut && json.Unmarshal(entry.Value(), &r) == nil {
		st = r.status()
	}
	for _, f := range w.followers {
		f.noteStatus(entry.Key(), st)
	}
}

// watchedStatus is what the followers read of a status record: the watch
// sees every write of every source, so it decodes these fields and skips
// the rest (messages, conditions, the pending result). The tags are
// state.Status's.
type watchedStatus struct {
	Phase           state.Phase `json:"phase"`
	LastSyncTime    *time.Time  `json:"lastSyncTime"`
	LastSuccessTime *time.Time  `json:"lastSuccessTime"`
	AttemptCount    int         `json:"attemptCount"`
	ServerCount     int         `json:"serverCount"`
	SkillCount      int         `json:"skillCount"`
	PluginCount     int         `json:"pluginCount"`
	NextSyncTime    *time.Time  `json:"nextSyncTime"`
}

// status is the record with the watched fields set and no others.
func (r *watchedStatus) status() *state.Status {
	return &state.Status{Phase: r.Phase, LastSyncTime: r.LastSyncTime, LastSuccessTime: r.LastSuccessTime,
		AttemptCount: r.AttemptCount, ServerCount: r.ServerCount, SkillCount: r.SkillCount,
		PluginCount: r.PluginCount, NextSyncTime: r.NextSyncTime}
}
