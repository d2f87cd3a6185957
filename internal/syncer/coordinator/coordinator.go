package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/ratelog"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/tracing"
)

// ConsumerName is the durable consumer all replicas share.
const ConsumerName = "regsync-sync"

// DefaultAckWait is how long a delivered trigger may go unanswered before
// the server redelivers it. A replica keeps every trigger it holds alive
// three times within it (one InProgress each, however long the sync), so
// it only has to cover a replica that died: a kill -9'd replica restarted
// on the same data directory, whose file watcher's triggers collapse into
// the ones its dead run held, gets them back within a second. The price
// is three small acks a second per held trigger (at most MaxAckPending).
const DefaultAckWait = time.Second

// DefaultDrainTimeout is how long shutdown waits for syncs in flight before
// it cuts them off and hands their triggers back.
const DefaultDrainTimeout = 5 * time.Second

// Options configure a Coordinator.
type Options struct {
	// Workers is how many sources this replica syncs at once.
	Workers int
	// LeaseTTL is the lease time of regsync_locks (sync.leaseTTL; its
	// default when zero).
	LeaseTTL time.Duration
	// SyncTimeout bounds one sync (sync.timeout; its default when zero).
	SyncTimeout time.Duration
	// AckWait is how long a trigger held by a replica that stopped
	// answering waits before it is redelivered (DefaultAckWait).
	AckWait time.Duration
	// DrainTimeout bounds how long shutdown waits for syncs in flight
	// (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Holder names this replica in leases; it should stay the same across
	// restarts of the replica (see ReplicaID).
	Holder string
	// Source is the CloudEvents source attribute of result events; empty
	// means the deployment's coordinator URI (h.Publisher.Source of
	// events.ProducerCoordinator).
	Source  string
	Logger  *slog.Logger
	Metrics *Metrics
}

// Coordinator consumes triggers and runs syncs.
type Coordinator struct {
	h      *bus.Handles
	mgr    *syncer.Manager
	status *state.Store
	leases *Leases
	opts   Options
	logger *slog.Logger
	// rejectLog bounds the lines about malformed triggers and about
	// repeated triggers for sources regsync does not sync.
	rejectLog *slog.Logger
	// unknown remembers the unknown source names answered lately.
	unknown *answeredNames
	sources atomic.Pointer[map[string]config.Source]
	// inbox holds deliveries until they are decoded into queues.
	inbox  *inbox
	queues *queues
	// idle, when set, is told of a source none of whose deliveries this
	// replica holds any more (OnIdle).
	idle func(source string)
	// callTimeout bounds every JetStream request made while syncing.
	callTimeout time.Duration
	// current is the consumer being consumed, nil before the first.
	current atomic.Pointer[consumption]
	// notReady says why the replica consumes no triggers; nil while it does.
	notReady atomic.Pointer[error]
	// ledger records outcomes in the status bucket and announces them;
	// Run sets its record limit before any sync.
	ledger *ledger[*state.Status]
}

// New returns a Coordinator for the given sources. Every JetStream request
// the Manager makes for it is bounded by the call timeout of its leases.
func New(h *bus.Handles, mgr *syncer.Manager, status *state.Store, srcs []config.Source, opts Options) *Coordinator {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = time.Duration(config.Default().Sync.LeaseTTL)
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = time.Duration(config.Default().Sync.Timeout)
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Source == "" {
		opts.Source = h.Publisher.Source(events.ProducerCoordinator)
	}
	leases := NewLeases(h.Locks, opts.Holder, opts.LeaseTTL)
	leases.logger, leases.js = opts.Logger, h.JS
	c := &Coordinator{
		h:      h,
		mgr:    mgr,
		status: status,
		leases: leases,
		opts:   opts,
		logger: opts.Logger,
		inbox:  newInbox(),
		queues: newQueues(),
		// A flood of bad messages must not flood the log (metrics count
		// every one).
		rejectLog:   ratelog.New(opts.Logger, 0, 0),
		unknown:     newAnsweredNames(unknownNames, unknownPeriod),
		callTimeout: CallTimeout(opts.LeaseTTL),
	}
	mgr.CallTimeout = c.callTimeout
	notStarted := fmt.Errorf("trigger consumer %s on %s not started yet", ConsumerName, events.StreamTriggers)
	c.notReady.Store(&notStarted)
	c.ledger = statusLedger(status)
	c.ledger.mode, c.ledger.source, c.ledger.callTimeout = h.Publisher.Mode, opts.Source, c.callTimeout
	c.ledger.publish = func(ctx context.Context, subject string, ev event.Event) error {
		_, err := h.Publisher.Publish(ctx, subject, ev)
		return err
	}
	c.SetSources(srcs)
	return c
}

// SetSources replaces the configured sources; batches already running keep
// the configuration they started with. What the Manager keeps for a
// removed source is dropped.
func (c *Coordinator) SetSources(srcs []config.Source) {
	c.mgr.SetSources(srcs)
	c.opts.Metrics.SetSources(srcs)
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

// call bounds one JetStream request. It is not cut short by shutdown: a
// request that is under way is better finished than left in doubt.
func (c *Coordinator) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout)
}

// Run consumes triggers until ctx is done, then stops taking new ones,
// hands untaken triggers back and gives the syncs in flight DrainTimeout
// to finish; syncs still running then are cut off, their triggers handed
// back and their leases released. A consumer that is lost (deleted, or gone
// with its stream) is made again under backoff; meanwhile Ready says why
// the replica consumes nothing.
func (c *Coordinator) Run(ctx context.Context) error {
	limit, err := bus.ValueLimit(ctx, c.h.Status, c.h.JS.Conn())
	if err != nil {
		c.logger.Warn("status records are fitted to the server's message limit alone", "err", err)
	}
	c.ledger.recordLimit = limit

	// stopping ends the syncs that outlive the drain.
	stopping, cutOff := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cutOff(nil)
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() { c.work(stopping) })
	}
	var decoder sync.WaitGroup
	decoder.Go(c.decode)
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	var hb sync.WaitGroup
	hb.Go(func() { c.keepAlive(hbCtx) })
	hb.Go(func() { c.probe(hbCtx) })
	// The lease watch is opened before the first trigger is taken, so a
	// lease released while that trigger's batch waits is never missed; a
	// first try that fails goes on under backoff beside the consumer.
	leases, err := c.openLeaseWatch(hbCtx)
	if err != nil {
		c.logger.Warn("cannot watch leases, a freed lease is noticed at its next look", "err", err)
	}
	hb.Go(func() { c.watchLeases(hbCtx, leases) })

	for {
		cur, cc, err := c.consume(ctx)
		if err != nil {
			break // ctx is done
		}
		select {
		case <-ctx.Done():
		case <-cc.Closed():
		case <-cur.lost:
		}
		cc.Stop()
		<-cc.Closed()
		if ctx.Err() != nil {
			break
		}
		lost := fmt.Errorf("trigger consumer %s on %s lost, making it again", ConsumerName, events.StreamTriggers)
		c.notReady.Store(&lost)
		c.logger.Warn("trigger consumer lost, making it again", "consumer", ConsumerName, "stream", events.StreamTriggers)
	}
	c.notReady.Store(&errShutdown)
	for _, msg := range c.inbox.close() {
		_ = msg.Nak()
	}
	decoder.Wait()
	nak(c.queues.close())
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(c.opts.DrainTimeout):
		c.logger.Warn("syncs still running after the drain timeout, cutting them off", "drain_timeout", c.opts.DrainTimeout)
		cutOff(errShutdown)
		<-drained
	}
	stopHeartbeat()
	hb.Wait()
	return nil
}

// Ready returns nil while the replica consumes triggers, else why not.
func (c *Coordinator) Ready() error {
	if err := c.notReady.Load(); err != nil {
		return *err
	}
	return nil
}

// consumption is one life of the trigger consumer: lost is closed when the
// server says it is gone.
type consumption struct {
	cons jetstream.Consumer
	lost chan struct{}
	once sync.Once
}

func (s *consumption) fail() { s.once.Do(func() { close(s.lost) }) }

// gone reports whether err says the consumer no longer exists.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

// consume makes the durable consumer and starts consuming it, trying again
// under backoff until it succeeds or ctx is done (the only error).
func (c *Coordinator) consume(ctx context.Context) (*consumption, jetstream.ConsumeContext, error) {
	var (
		cur *consumption
		cc  jetstream.ConsumeContext
	)
	b := retry.Backoff{First: 250 * time.Millisecond, Limit: 10 * time.Second, Timeout: c.callTimeout,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			c.logger.Warn("cannot consume triggers, trying again", "attempt", attempt, "retry_in", wait, "err", err)
		}}
	err := b.Do(ctx, func(call context.Context) error {
		cons, err := c.h.JS.CreateOrUpdateConsumer(call, events.StreamTriggers, jetstream.ConsumerConfig{
			Durable:       ConsumerName,
			Description:   "regsync sync workers",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.opts.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: 10_000,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			err = fmt.Errorf("ensure consumer %s on %s: %w", ConsumerName, events.StreamTriggers, err)
			c.notReady.Store(&err)
			return err
		}
		// The stream's creation time is read after the consumer is made:
		// a stream made again in between takes the consumer with it, so
		// no trigger is delivered under the earlier stream's time.
		stream, err := c.h.JS.Stream(call, events.StreamTriggers)
		if err != nil {
			err = fmt.Errorf("read stream %s: %w", events.StreamTriggers, err)
			c.notReady.Store(&err)
			return err
		}
		created := stream.CachedInfo().Created.UnixNano()
		next := &consumption{cons: cons, lost: make(chan struct{})}
		cc, err = cons.Consume(func(msg jetstream.Msg) {
			if !c.inbox.add(arrival{msg: msg, streamCreated: created}) {
				_ = msg.Nak()
			}
		}, jetstream.PullMaxMessages(256),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if gone(err) {
					next.fail()
				}
				c.logger.Warn("trigger consumer", "err", err)
			}))
		if err != nil {
			err = fmt.Errorf("consume %s: %w", events.StreamTriggers, err)
			c.notReady.Store(&err)
			return err
		}
		cur = next
		c.current.Store(cur)
		c.notReady.Store(nil)
		return nil
	})
	return cur, cc, err
}

// errShutdown and errLeaseLost say why a sync was cut off; its triggers
// are handed back unanswered.
var (
	errShutdown  = errors.New("shutting down")
	errLeaseLost = errors.New("lease lost")
)

// keepAlive tells the server, three times per AckWait, that every held
// trigger is being worked on. It makes no request: nothing it waits for
// can make a live replica's triggers come back.
func (c *Coordinator) keepAlive(ctx context.Context) {
	ticker := time.NewTicker(c.opts.AckWait / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			for _, msg := range c.inbox.held() {
				_ = msg.InProgress()
			}
			for _, d := range c.queues.held() {
				_ = d.msg.InProgress()
			}
		}
	}
}

// watchLeases ends the pause of a batch that waits for a lease held by
// another replica the moment that replica lets the lease go (its delete in
// regsync_locks), so a trigger that arrived meanwhile is synced at once
// instead of after the pause, and tells the leases of every release, so
// that the next sync takes a lease let go in one request (Leases.Saw). The
// lease's own look every pollInterval stays for a holder that died: its
// lease expires without a word.
func (c *Coordinator) watchLeases(ctx context.Context, w jetstream.KeyWatcher) {
	if w == nil {
		b := retry.Backoff{First: 250 * time.Millisecond, Limit: 10 * time.Second, Timeout: c.callTimeout,
			OnRetry: func(attempt int, err error, wait time.Duration) {
				c.logger.Warn("cannot watch leases, a freed lease is noticed at its next look", "attempt", attempt, "retry_in", wait, "err", err)
			}}
		if err := b.Do(ctx, func(context.Context) error {
			var err error
			w, err = c.openLeaseWatch(ctx)
			return err
		}); err != nil {
			return // ctx is done
		}
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			c.leases.Saw(e)
			if e.Operation() != jetstream.KeyValuePut {
				c.queues.leaseFreed(e.Key())
			}
		}
	}
}

// openLeaseWatch watches regsync_locks for leases let go until ctx is done
// (the watch lives as long as the context it is opened with).
func (c *Coordinator) openLeaseWatch(ctx context.Context) (jetstream.KeyWatcher, error) {
	w, err := c.h.Locks.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", events.BucketLocks, err)
	}
	return w, nil
}

// probeInterval is how often the trigger consumer is asked for its state.
const probeInterval = 2 * time.Second

// probe notes how many triggers wait for an answer and notices a consumer
// that is gone without a word to the subscription.
func (c *Coordinator) probe(ctx context.Context) {
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			cur := c.current.Load()
			if cur == nil {
				continue
			}
			call, cancel := c.call(ctx)
			info, err := cur.cons.Info(call)
			cancel()
			switch {
			case err == nil:
				c.opts.Metrics.setPending(info.NumPending + uint64(max(info.NumAckPending, 0)))
			case gone(err):
				cur.fail()
			}
		}
	}
}

// decode moves deliveries from the inbox to the queues, oldest first,
// until the inbox is closed.
func (c *Coordinator) decode() {
	for {
		a, ok := c.inbox.next()
		if !ok {
			return
		}
		c.receive(a.msg, a.streamCreated)
		c.inbox.done()
	}
}

// receive decodes a trigger of the stream created at streamCreated (unix
// nanoseconds) and queues it for its source. Anything that cannot be a
// trigger is terminated with the reason, never retried.
func (c *Coordinator) receive(msg jetstream.Msg, streamCreated int64) {
	d, source, err := decodeTrigger(msg, streamCreated)
	if err != nil {
		c.rejectLog.Warn("rejecting malformed trigger", "subject", msg.Subject(), "err", err)
		c.opts.Metrics.rejected()
		_ = msg.TermWithReason(err.Error())
		return
	}
	if d.malformed != nil {
		c.rejectLog.Warn("malformed trigger, answering it as failed", "subject", msg.Subject(), "trigger", d.id, "err", d.malformed)
		c.opts.Metrics.rejected()
	} else {
		c.opts.Metrics.received(d.kind)
	}
	if c.logger.Enabled(context.Background(), slog.LevelDebug) {
		delivered := uint64(0)
		if meta, err := msg.Metadata(); err == nil {
			delivered = meta.NumDelivered
		}
		c.logger.Debug("trigger received", "source", source, "trigger", d.id, "seq", d.seq, "delivered", delivered, "since_stored", time.Since(d.published))
	}
	if !c.queues.add(source, d) {
		_ = msg.Nak()
	}
}

// decodeTrigger reads a trigger. What cannot name its source and its id
// (a subject that is not a trigger subject, a body that is not an event) is
// an error: nothing can be answered. Anything else wrong with it (an event
// type that is not a trigger, data that does not validate, a source other
// than its subject's) is set as the delivery's malformed: it is answered
// with a failed result that says so.
func decodeTrigger(msg jetstream.Msg, streamCreated int64) (triggerMsg, string, error) {
	source, ok := events.SourceFromSubject(msg.Subject())
	if !ok {
		return triggerMsg{}, "", fmt.Errorf("subject %q is not regsync.trigger.<source>", msg.Subject())
	}
	meta, err := msg.Metadata()
	if err != nil {
		return triggerMsg{}, "", fmt.Errorf("trigger metadata: %w", err)
	}
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		return triggerMsg{}, "", err
	}
	d := triggerMsg{msg: msg, id: ev.ID(), seq: meta.Sequence.Stream, streamCreated: streamCreated, published: meta.Timestamp,
		trace: trace.SpanContextFromContext(tracing.Extract(context.Background(), msg.Headers(), ev))}
	d.malformed = readTrigger(&d, source, ev)
	return d, source, nil
}

// readTrigger fills d from the data of ev, a trigger published on the
// subject of source, or says what keeps ev from being one.
func readTrigger(d *triggerMsg, source string, ev event.Event) error {
	var named string
	switch ev.Type() {
	case events.TypeSourceChanged:
		data, err := events.DecodeData[events.SourceChanged](ev)
		if err != nil {
			return err
		}
		named, d.kind, d.changed, d.revision = data.Source, data.Trigger, true, data.Revision
	case events.TypeSyncRequested:
		data, err := events.DecodeData[events.SyncRequested](ev)
		if err != nil {
			return err
		}
		named, d.kind, d.requestID = data.Source, data.Trigger, data.RequestID
	default:
		return fmt.Errorf("event type %q is not a trigger (want %s or %s)", ev.Type(), events.TypeSourceChanged, events.TypeSyncRequested)
	}
	if named != source {
		return fmt.Errorf("event names source %q but was published on the subject of %q", named, source)
	}
	return nil
}

func (c *Coordinator) work(stopping context.Context) {
	for {
		source, ds, ok := c.queues.next()
		if !ok {
			return
		}
		c.handle(stopping, source, ds)
		if c.queues.done(source) && c.idle != nil {
			c.idle(source)
		}
	}
}

// Busy reports whether this replica holds a trigger of the source that is
// not answered yet: pending, waiting for a retry, or syncing.
func (c *Coordinator) Busy(source string) bool { return c.queues.busy(source) }

// OnIdle sets fn to be told when this replica has answered every trigger
// of a source it held (Busy turns false); set it before Run.
func (c *Coordinator) OnIdle(fn func(source string)) { c.idle = fn }

// handle answers one batch of a source's deliveries with one result, or
// puts the batch back for a later try when the source cannot be worked on
// now: another replica holds its lease, or NATS does not answer. A worker
// never waits for another holder; it moves on to other sources.
func (c *Coordinator) handle(stopping context.Context, name string, ds []triggerMsg) {
	log := c.logger.With("source", name, "triggers", len(ds))
	log.Debug("batch taken", "since_stored", time.Since(ds[0].published))
	src, known := c.source(name)
	if !known || !src.Synced() {
		c.answerUnknown(stopping, log, name, src, known, ds)
		return
	}
	if ds = c.answerMalformed(stopping, log, name, ds); len(ds) == 0 {
		return
	}

	lease, err := c.leases.TryAcquire(stopping, name)
	if err != nil {
		var held *HeldError
		if !errors.As(err, &held) {
			c.retry(log, name, ds, fmt.Errorf("take lease: %w", err))
			return
		}
		// Holders let go as soon as they are done, usually long before
		// the lease would expire: look again soon.
		delay := min(max(time.Until(held.Until), 50*time.Millisecond), c.leases.pollInterval())
		log.Debug("lease held elsewhere, trying again later", "holder", held.Holder, "retry_in", delay)
		c.opts.Metrics.leaseHeld()
		if !c.queues.wait(name, ds, delay) {
			nak(ds)
		}
		return
	}

	// The sync finishes even when shutdown starts (the drain), unless it
	// outlives DrainTimeout or the lease is lost.
	work, cancel := context.WithCancelCause(stopping)
	defer cancel(nil)
	work, cancelTimeout := context.WithTimeout(work, c.opts.SyncTimeout)
	defer cancelTimeout()
	keep, stopKeep := context.WithCancel(work)
	var kwg sync.WaitGroup
	kwg.Go(func() {
		lease.KeepAlive(keep, func(err error) {
			log.Error("lost lease during sync, abandoning it", "err", err)
			cancel(errLeaseLost)
		})
	})

	rest, err := c.syncLeased(work, log, src, ds)

	stopKeep()
	kwg.Wait()
	if rerr := lease.Release(work); rerr != nil {
		log.Warn("lease not released, it will expire", "err", rerr)
	}
	if err != nil {
		c.retry(log, name, rest, fmt.Errorf("answer batch: %w", err))
	}
}

// retry puts back deliveries that could not be answered because of err,
// for another try after the pause of the source's consecutive failures
// (queueRetry), or hands them back to the stream when the coordinator is
// shutting down.
func (c *Coordinator) retry(log *slog.Logger, name string, ds []triggerMsg, err error) {
	delay, ok := c.queues.retry(name, ds)
	if !ok {
		log.Debug("triggers handed back: shutting down", "err", err)
		nak(ds)
		return
	}
	log.Warn("triggers not answered, trying again later", "err", err, "retry_in", delay)
}

// nak hands deliveries back to the stream for redelivery.
func nak(ds []triggerMsg) {
	for _, d := range ds {
		_ = d.msg.Nak()
	}
}

// syncLeased decides and, if needed, performs the sync of a batch while
// the lease is held, then records and publishes the outcome. It returns
// the deliveries still unanswered and why, if any are.
func (c *Coordinator) syncLeased(ctx context.Context, log *slog.Logger, src config.Source, ds []triggerMsg) ([]triggerMsg, error) {
	// The stored snapshot's description, which the decision checks, is
	// read while the status is: both are the lease holder's to write.
	var described *syncer.Described
	var wg sync.WaitGroup
	wg.Go(func() { described = c.mgr.Describe(ctx, src.Name) })
	st, err := c.readStatus(ctx, src)
	wg.Wait()
	if err != nil {
		return ds, err
	}
	// An outcome recorded before but not yet announced goes first, with
	// the id and content it was recorded with.
	if st.PendingResult != nil {
		if st, ds, err = c.flushPending(ctx, log, src, st, ds); err != nil || len(ds) == 0 {
			return ds, err
		}
	}
	// Read before the sync starts, so that whatever it covers was stored
	// before the source is read, and after the status, so that triggers
	// stored while the status was read share this sync's answer.
	at := c.triggerMark(ctx, log)
	b := newBatch(ds, time.Now().UTC())
	ctx, span := startSyncSpan(ctx, src, b)
	defer span.End()
	// The decision may fetch the source: the sync's time starts here.
	start := time.Now()
	t := b.trigger()
	t.Described = described
	d := c.mgr.ShouldSync(ctx, src, st, t)
	o := outcome{src: src, b: &b, reason: d.Reason, log: log.With("reason", d.Reason.String()), start: start, previousHash: st.LastSyncHash}
	if d.Read {
		o.readAt = at
	}
	switch {
	case d.Err != nil:
		err = c.fail(ctx, o, d.Err)
	case !d.Reason.ShouldSync():
		err = c.skip(ctx, o)
	default:
		err = c.perform(ctx, o, &d)
	}
	c.mgr.Release(&d)
	if err != nil {
		return b.deliveries, err
	}
	return nil, nil
}

// triggerMark returns where REGSYNC_TRIGGERS stands now. When it cannot
// be read, it is the zero mark: the sync answers its own batch alone.
func (c *Coordinator) triggerMark(ctx context.Context, log *slog.Logger) mark {
	call, cancel := c.call(ctx)
	defer cancel()
	stream, err := c.h.JS.Stream(call, events.StreamTriggers)
	if err != nil {
		log.Debug("trigger stream not read: the sync answers its own triggers only", "err", err)
		return mark{}
	}
	info := stream.CachedInfo()
	return mark{streamCreated: info.Created.UnixNano(), seq: info.State.LastSeq}
}

// readStatus returns the source's status, creating its initial record if
// it has none, so that every outcome is written over an existing revision.
func (c *Coordinator) readStatus(ctx context.Context, src config.Source) (*state.Status, error) {
	call, cancel := c.call(ctx)
	defer cancel()
	st, _, err := c.status.Get(call, src.Name)
	if err == nil && st == nil {
		st, err = c.status.Update(call, src.Name, syncer.Initial(src), func(*state.Status, uint64) error { return nil })
	}
	return st, err
}
