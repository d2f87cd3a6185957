package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// ConsumerName is the durable consumer all replicas share.
const ConsumerName = "regsync-sync"

// Producer is the CloudEvents source attribute of result events.
const Producer = "regsync/coordinator"

// DefaultAckWait is how long a delivered trigger may go unanswered before
// the server redelivers it to another replica; triggers a replica holds are
// kept alive well within it.
const DefaultAckWait = 30 * time.Second

// Options configure a Coordinator.
type Options struct {
	// Workers is how many sources this replica syncs at once.
	Workers int
	// LeaseTTL is the lease time of regsync_locks.
	LeaseTTL time.Duration
	// SyncTimeout bounds one sync.
	SyncTimeout time.Duration
	// AckWait is how long a trigger held by a replica that stopped
	// answering waits before it is redelivered (DefaultAckWait).
	AckWait time.Duration
	// Holder names this replica in leases.
	Holder  string
	Logger  *slog.Logger
	Metrics *Metrics
}

// Coordinator consumes triggers and runs syncs.
type Coordinator struct {
	h       *bus.Handles
	mgr     *syncer.Manager
	status  *state.Store
	leases  *Leases
	opts    Options
	logger  *slog.Logger
	sources atomic.Pointer[map[string]config.Source]
	queues  *queues
}

// New returns a Coordinator for the given sources.
func New(h *bus.Handles, mgr *syncer.Manager, status *state.Store, srcs []config.Source, opts Options) *Coordinator {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 15 * time.Second
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 2 * time.Minute
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{
		h:      h,
		mgr:    mgr,
		status: status,
		leases: NewLeases(h.Locks, opts.Holder, opts.LeaseTTL),
		opts:   opts,
		logger: opts.Logger,
		queues: newQueues(),
	}
	c.SetSources(srcs)
	return c
}

// SetSources replaces the configured sources; batches already running keep
// the configuration they started with.
func (c *Coordinator) SetSources(srcs []config.Source) {
	m := make(map[string]config.Source, len(srcs))
	for _, s := range srcs {
		m[s.Name] = s
	}
	c.sources.Store(&m)
}

func (c *Coordinator) source(name string) (config.Source, bool) {
	s, ok := (*c.sources.Load())[name]
	return s, ok
}

// Run consumes triggers until ctx is done, then stops taking new ones,
// finishes the syncs in flight and hands untaken triggers back.
func (c *Coordinator) Run(ctx context.Context) error {
	cons, err := c.h.JS.CreateOrUpdateConsumer(ctx, events.StreamTriggers, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "regsync sync workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 10_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("ensure consumer %s: %w", ConsumerName, err)
	}
	cc, err := cons.Consume(c.receive, jetstream.PullMaxMessages(256),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.logger.Warn("trigger consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", events.StreamTriggers, err)
	}

	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() { c.work(ctx) })
	}
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	var hb sync.WaitGroup
	hb.Go(func() { c.heartbeat(hbCtx) })

	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	for _, t := range c.queues.close() {
		_ = t.msg.Nak()
	}
	wg.Wait()
	stopHeartbeat()
	hb.Wait()
	return nil
}

// heartbeat tells the server that held triggers are being worked on.
func (c *Coordinator) heartbeat(ctx context.Context) {
	ticker := time.NewTicker(c.opts.AckWait / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			for _, t := range c.queues.held() {
				_ = t.msg.InProgress()
			}
		}
	}
}

// receive decodes a trigger and queues it for its source. Anything that
// cannot be a trigger is terminated with the reason, never retried.
func (c *Coordinator) receive(msg jetstream.Msg) {
	t, source, err := decodeTrigger(msg)
	if err != nil {
		c.logger.Warn("rejecting malformed trigger", "subject", msg.Subject(), "err", err)
		c.opts.Metrics.rejected()
		_ = msg.TermWithReason(err.Error())
		return
	}
	c.opts.Metrics.received(t.kind)
	if !c.queues.add(source, t) {
		_ = msg.Nak()
	}
}

func decodeTrigger(msg jetstream.Msg) (trigger, string, error) {
	source, ok := events.SourceFromSubject(msg.Subject())
	if !ok {
		return trigger{}, "", fmt.Errorf("subject %q is not regsync.trigger.<source>", msg.Subject())
	}
	meta, err := msg.Metadata()
	if err != nil {
		return trigger{}, "", fmt.Errorf("trigger metadata: %w", err)
	}
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		return trigger{}, "", err
	}
	t := trigger{msg: msg, id: ev.ID(), seq: meta.Sequence.Stream}
	var named string
	switch ev.Type() {
	case events.TypeSourceChanged:
		d, err := events.DecodeData[events.SourceChanged](ev)
		if err != nil {
			return trigger{}, "", err
		}
		named, t.kind, t.changed, t.revision = d.Source, d.Trigger, true, d.Revision
	case events.TypeSyncRequested:
		d, err := events.DecodeData[events.SyncRequested](ev)
		if err != nil {
			return trigger{}, "", err
		}
		named, t.kind, t.requestID = d.Source, d.Trigger, d.RequestID
	default:
		return trigger{}, "", fmt.Errorf("event type %q is not a trigger (want %s or %s)", ev.Type(), events.TypeSourceChanged, events.TypeSyncRequested)
	}
	if named != source {
		return trigger{}, "", fmt.Errorf("event names source %q but was published on the subject of %q", named, source)
	}
	return t, source, nil
}

func (c *Coordinator) work(ctx context.Context) {
	for {
		source, batch, ok := c.queues.next()
		if !ok {
			return
		}
		c.handle(ctx, source, batch)
		c.queues.done(source)
	}
}

// batch is what a set of coalesced triggers asks for.
type batch struct {
	triggers []trigger
	covered  events.Covered
	manual   bool
	changed  bool
	revision string
	// lastID is the newest trigger's id, lastRequestID the newest manual
	// request's.
	lastID, lastRequestID string
}

func newBatch(ts []trigger, started time.Time) batch {
	b := batch{triggers: ts}
	b.covered.StartedAt = started
	for _, t := range ts {
		b.covered.Cover(t.id, t.seq)
		b.lastID = t.id
		switch {
		case t.kind == events.TriggerManual:
			b.manual = true
			b.lastRequestID = t.requestID
			if b.lastRequestID == "" {
				b.lastRequestID = t.id
			}
		case t.changed:
			b.changed = true
			if t.revision != "" {
				b.revision = t.revision
			}
		case t.kind == events.TriggerStartup:
			// A start or a reload: the source may have changed while
			// nobody watched, so look at its data.
			b.changed = true
		}
	}
	return b
}

// handle answers one batch of a source's triggers with one result.
func (c *Coordinator) handle(ctx context.Context, name string, ts []trigger) {
	log := c.logger.With("source", name, "triggers", len(ts))
	src, known := c.source(name)
	if !known || !src.Synced() {
		b := newBatch(ts, time.Now().UTC())
		msg := fmt.Sprintf("unknown source %q: it is not in regsync's configuration", name)
		if known {
			msg = fmt.Sprintf("source %q (%s) is not synced by regsync", name, src.Type())
		}
		c.answer(ctx, log, b, c.failedEvent(name, b, &syncer.Error{
			Message: msg, ConditionType: syncer.ConditionSourceAvailable, ConditionReason: syncer.ConditionReasonUnknownSource,
		}, "unknown-source", nil, 0, 0))
		return
	}

	lease, err := c.leases.Acquire(ctx, name)
	if err != nil {
		// Shutting down: hand the triggers back for another replica.
		log.Info("handing triggers back", "err", err)
		for _, t := range ts {
			_ = t.msg.Nak()
		}
		return
	}
	// From here on the work finishes even when ctx is cancelled: shutdown
	// drains what is in flight.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.SyncTimeout)
	defer cancel()
	keep, stopKeep := context.WithCancel(work)
	var kwg sync.WaitGroup
	kwg.Go(func() {
		lease.KeepAlive(keep, func(err error) {
			log.Error("lost lease during sync, abandoning it", "err", err)
			cancel()
		})
	})
	defer func() {
		stopKeep()
		kwg.Wait()
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn("lease not released, it will expire", "err", err)
		}
	}()

	c.sync(work, log, src, newBatch(ts, time.Now().UTC()))
}

// sync decides and, if needed, performs the sync of one batch while the
// lease is held, then records and publishes the outcome.
func (c *Coordinator) sync(ctx context.Context, log *slog.Logger, src config.Source, b batch) {
	st, _, err := c.status.Get(ctx, src.Name)
	if err != nil {
		log.Error("cannot read status, triggers will be redelivered", "err", err)
		c.nakAll(b, 5*time.Second)
		return
	}
	if b.changed {
		if serr := c.mgr.AwaitRevision(ctx, src, st, b.revision); serr != nil {
			o := outcome{src: src, b: b, reason: syncer.ReasonErrorCheckingChanges, log: log, start: time.Now()}
			c.fail(ctx, o, serr)
			return
		}
	}
	var reason syncer.Reason
	var prefetched *sources.Fetched
	switch {
	case b.manual:
		reason, prefetched = c.mgr.ShouldSync(ctx, src, st, true)
	case b.changed:
		reason, prefetched = c.mgr.ShouldSyncChange(ctx, src, st, b.revision)
	default:
		reason, prefetched = c.mgr.ShouldSync(ctx, src, st, false)
	}
	log = log.With("reason", reason.String())
	o := outcome{src: src, b: b, reason: reason, log: log, start: time.Now()}
	if st != nil {
		o.previousHash = st.LastSyncHash
	}
	switch {
	case reason.IsError():
		c.fail(ctx, o, &syncer.Error{
			Message:         fmt.Sprintf("cannot decide whether to sync %s: %s (sync schedule %q)", src.Name, reason, syncer.ScheduleOf(src)),
			ConditionType:   syncer.ConditionSyncSuccessful,
			ConditionReason: syncer.ConditionReasonConfigInvalid,
		})
	case !reason.ShouldSync():
		c.skip(ctx, o)
	default:
		c.perform(ctx, o, prefetched)
	}
}

// outcome carries one batch's decision to the step that records it.
type outcome struct {
	src          config.Source
	b            batch
	reason       syncer.Reason
	log          *slog.Logger
	start        time.Time
	previousHash string
}

func (o outcome) initial() *state.Status { return state.Initial(syncer.ScheduleOf(o.src)) }

// record writes the status; on failure the batch is handed back.
func (c *Coordinator) record(ctx context.Context, o outcome, mutate func(*state.Status)) (*state.Status, bool) {
	st, err := c.status.Update(ctx, o.src.Name, o.initial, func(s *state.Status) {
		s.SyncSchedule = syncer.ScheduleOf(o.src)
		c.noteTriggers(s, o.b)
		mutate(s)
	})
	if err != nil {
		o.log.Error("cannot record status, triggers will be redelivered", "err", err)
		c.nakAll(o.b, 5*time.Second)
		return nil, false
	}
	return st, true
}

// skip answers a batch that needs no sync.
func (c *Coordinator) skip(ctx context.Context, o outcome) {
	st, ok := c.record(ctx, o, func(s *state.Status) {
		s.LastReason = o.reason.String()
		s.NextSyncTime = nextSlot(o.src, time.Now())
	})
	if ok {
		c.answer(ctx, o.log, o.b, c.skippedEvent(o.src.Name, o.b, o.reason, st))
	}
}

// nextSlot is when the interval fallback next looks at a source, or nil.
func nextSlot(src config.Source, after time.Time) *time.Time {
	if _, at := Slot(src.Name, src.Interval(), after); !at.IsZero() {
		return &at
	}
	return nil
}

// fail records a failed sync and answers the batch with it. The last good
// snapshot and hash stay.
func (c *Coordinator) fail(ctx context.Context, o outcome, serr *syncer.Error) {
	took := time.Since(o.start)
	end := time.Now().UTC()
	hasSnapshot := c.mgr.HasSnapshot(ctx, o.src.Name)
	st, ok := c.record(ctx, o, func(s *state.Status) {
		syncer.RecordFailure(s, serr, o.reason, end, hasSnapshot)
		// The interval fallback retries at this time (see Interval).
		next := end.Add(syncer.RetryBackoff(s.AttemptCount))
		if slot := nextSlot(o.src, end); slot != nil && slot.Before(next) {
			next = *slot
		}
		s.NextSyncTime = &next
	})
	if !ok {
		return
	}
	o.log.Warn("sync failed", "condition", serr.ConditionType, "condition_reason", serr.ConditionReason,
		"attempt", st.AttemptCount, "err", serr.Message)
	c.answer(ctx, o.log, o.b, c.failedEvent(o.src.Name, o.b, serr, o.reason.String(), st.NextSyncTime, st.AttemptCount, took))
}

// perform runs a sync and answers the batch with its outcome.
func (c *Coordinator) perform(ctx context.Context, o outcome, prefetched *sources.Fetched) {
	startedAt := time.Now().UTC()
	if _, ok := c.record(ctx, o, func(s *state.Status) { syncer.RecordStart(s, o.reason, startedAt) }); !ok {
		return
	}
	res, serr := c.mgr.PerformSync(ctx, o.src, prefetched)
	took := time.Since(o.start)
	c.opts.Metrics.observe(o.src.Name, serr == nil, took)
	if serr != nil {
		c.fail(ctx, o, serr)
		return
	}
	end := time.Now().UTC()
	if _, ok := c.record(ctx, o, func(s *state.Status) {
		syncer.RecordSuccess(s, res, o.reason, end)
		s.NextSyncTime = nextSlot(o.src, end)
	}); !ok {
		return
	}
	o.log.Info("sync completed", "servers", res.ServerCount, "added", len(res.Diff.Added),
		"updated", len(res.Diff.Updated), "removed", len(res.Diff.Removed), "took", took)
	c.answer(ctx, o.log, o.b, c.completedEvent(o.src.Name, o.b, o.reason, o.previousHash, res, took))
}

func (c *Coordinator) noteTriggers(s *state.Status, b batch) {
	s.LastTriggerID = b.lastID
	if b.lastRequestID != "" {
		s.LastManualRequestID = b.lastRequestID
	}
}

// nakAll hands a batch back to the stream for a later try.
func (c *Coordinator) nakAll(b batch, delay time.Duration) {
	for _, t := range b.triggers {
		_ = t.msg.NakWithDelay(delay)
	}
}

// answer publishes a batch's result and then acknowledges its triggers.
// If the result cannot be published the triggers are handed back.
func (c *Coordinator) answer(ctx context.Context, log *slog.Logger, b batch, data events.Data) {
	ctx = context.WithoutCancel(ctx)
	id := "r-" + data.SourceName() + "-" + strconv.FormatUint(b.covered.TriggerSeq, 10)
	ev, err := events.New(id, Producer, data)
	if err == nil {
		_, err = bus.Publish(ctx, c.h.JS, events.ResultSubject(data.SourceName(), events.OutcomeOf(ev.Type())), ev)
	}
	if err != nil {
		log.Error("cannot publish result, triggers will be redelivered", "err", err)
		c.nakAll(b, 2*time.Second)
		return
	}
	c.opts.Metrics.answered(data.SourceName(), events.OutcomeOf(ev.Type()))
	for _, t := range b.triggers {
		if err := t.msg.DoubleAck(ctx); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			log.Warn("trigger ack not confirmed, it may be redelivered and answered again", "trigger", t.id, "err", err)
		}
	}
}
