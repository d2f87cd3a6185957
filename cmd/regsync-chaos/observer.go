package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// observer watches a regsync deployment from the outside, through NATS
// alone, as a downstream consumer would: every result event on the wire,
// every status record and every snapshot written.
type observer struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// rewatch tells the watchers to start again, after a reconnection.
	rewatch [2]chan struct{}

	mu sync.Mutex
	// wire is the content of every result id seen on the wire. A core
	// subscription sees each publish, also those JetStream drops as
	// duplicates, so a result id published twice with different contents
	// shows here.
	wire      map[string]string
	conflicts []string
	undecoded int
	// statusHashes are the lastSyncHash values each source's status held.
	statusHashes map[string]map[string]bool
	// digests are the digests of every snapshot each source had.
	digests map[string]map[string]bool
	// generations is the content (view digest and diff) of every
	// registry generation seen on the wire, by registry and generation;
	// genConflicts are the generations seen with two contents.
	generations  map[string]string
	genConflicts []string
}

// connect opens a NATS connection that reconnects forever and calls
// reconnected after each reconnection.
func connect(urls, user, password string, reconnected func()) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("regsync-chaos"),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected() }),
		// Connection errors while nodes are killed are the point of the
		// exercise; the connection reconnects on its own.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, password))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", urls, err)
	}
	return nc, nil
}

// observe starts watching. regsync must have created its resources.
func observe(ctx context.Context, urls, user, password string) (*observer, error) {
	o := &observer{wire: make(map[string]string), rewatch: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)},
		statusHashes: make(map[string]map[string]bool), digests: make(map[string]map[string]bool),
		generations: make(map[string]string)}
	nc, err := connect(urls, user, password, func() {
		for _, c := range o.rewatch {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	o.nc, o.js = nc, js
	if _, err := nc.Subscribe(events.AllResults, o.onResult); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to results: %w", err)
	}
	if _, err := nc.Subscribe(events.AllRegistryChanges, o.onChange); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to registry changes: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(octx, events.BucketStatus)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	obs, err := js.ObjectStore(octx, events.ObjectStoreData)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open %s: %w", events.ObjectStoreData, err)
	}
	wctx, stop := context.WithCancel(context.Background())
	o.cancel = stop
	o.wg.Go(func() { o.watchStatus(wctx, kv) })
	o.wg.Go(func() { o.watchSnapshots(wctx, obs) })
	return o, nil
}

// close stops watching and closes the connection.
func (o *observer) close() {
	o.cancel()
	o.wg.Wait()
	o.nc.Close()
}

func (o *observer) onResult(msg *nats.Msg) {
	ev, err := events.Decode(msg.Header, msg.Data)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.undecoded++
		return
	}
	content := ev.Type() + " " + string(ev.Data())
	if first, ok := o.wire[ev.ID()]; ok && first != content {
		o.conflicts = append(o.conflicts, fmt.Sprintf("%s: first %s, then %s", ev.ID(), shorten(first), shorten(content)))
		return
	}
	o.wire[ev.ID()] = content
}

// onChange records the content of every registry generation published,
// also those JetStream drops as duplicates.
func (o *observer) onChange(msg *nats.Msg) {
	c, ok := decodeChange(msg.Header, msg.Data)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !ok {
		o.undecoded++
		return
	}
	key := fmt.Sprintf("%s generation %d", c.data.Registry, c.data.Generation)
	content := c.content()
	if first, seen := o.generations[key]; seen && first != content {
		o.genConflicts = append(o.genConflicts, fmt.Sprintf("%s (event %s): first %s, then %s", key, c.id, shorten(first), shorten(content)))
		return
	}
	o.generations[key] = content
}

func shorten(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// statusRecord is the part of a status record the suite reads.
type statusRecord struct {
	Phase        string `json:"phase"`
	LastSyncHash string `json:"lastSyncHash"`
	LastReason   string `json:"lastReason"`
}

func (o *observer) noteStatus(source string, value []byte) {
	var st statusRecord
	if json.Unmarshal(value, &st) != nil || st.LastSyncHash == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.statusHashes[source] == nil {
		o.statusHashes[source] = make(map[string]bool)
	}
	o.statusHashes[source][st.LastSyncHash] = true
}

// watchStatus records every status record written, until ctx is done.
// Each watch starts with the history the bucket keeps, so starting again
// after a reconnection (or every rewatchEvery, in case a watch stalled
// without one) misses nothing that the history still holds.
func (o *observer) watchStatus(ctx context.Context, kv jetstream.KeyValue) {
	o.rewatchLoop(ctx, o.rewatch[0], func(wctx context.Context) (func(), error) {
		w, err := kv.WatchAll(wctx, jetstream.IncludeHistory())
		if err != nil {
			return nil, err
		}
		return func() {
			defer w.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case e, ok := <-w.Updates():
					if !ok {
						return
					}
					if e != nil && e.Operation() == jetstream.KeyValuePut {
						o.noteStatus(e.Key(), e.Value())
					}
				}
			}
		}, nil
	})
}

// watchSnapshots records the digest of every snapshot written.
func (o *observer) watchSnapshots(ctx context.Context, obs jetstream.ObjectStore) {
	o.rewatchLoop(ctx, o.rewatch[1], func(wctx context.Context) (func(), error) {
		w, err := obs.Watch(wctx, jetstream.IncludeHistory())
		if err != nil {
			return nil, err
		}
		return func() {
			defer w.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case info, ok := <-w.Updates():
					if !ok {
						return
					}
					if info != nil && !info.Deleted {
						o.noteDigest(info.Name, info.Digest)
					}
				}
			}
		}, nil
	})
}

func (o *observer) noteDigest(name, digest string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.digests[name] == nil {
		o.digests[name] = make(map[string]bool)
	}
	o.digests[name][digest] = true
}

// rewatchEvery is how often a watch is started again without a
// reconnection.
const rewatchEvery = 10 * time.Second

// rewatchLoop runs a watch until ctx is done, starting it again after a
// reconnection and every rewatchEvery. watch returns the loop that reads
// the watch's updates until its context ends.
func (o *observer) rewatchLoop(ctx context.Context, again <-chan struct{}, watch func(context.Context) (func(), error)) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		read, err := watch(wctx)
		var done chan struct{}
		if err == nil {
			done = make(chan struct{})
			go func() { defer close(done); read() }()
		}
		t := time.NewTimer(rewatchEvery)
		select {
		case <-ctx.Done():
		case <-again:
		case <-t.C:
		}
		t.Stop()
		cancel()
		if done != nil {
			<-done
		}
	}
}

// result is one result event stored in REGSYNC_RESULTS.
type result struct {
	id, typ, source string
	stored          time.Time // when JetStream stored it
	content         string
	covered         events.Covered
	completed       *events.SyncCompleted
	failed          *events.SyncFailed
}

// stored is what REGSYNC_RESULTS holds, in stream order: the sources'
// results and the registries' changes.
type stored struct {
	results []result
	changes []change
}

// readResults reads every result and registry change stored in REGSYNC_RESULTS.
func (o *observer) readResults(ctx context.Context) (stored, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := o.js.Stream(ctx, events.StreamResults)
	if err != nil {
		return stored{}, fmt.Errorf("stream %s: %w", events.StreamResults, err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 {
		return stored{}, nil
	}
	cons, err := o.js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return stored{}, fmt.Errorf("read %s: %w", events.StreamResults, err)
	}
	var out stored
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return stored{}, fmt.Errorf("read %s: %w", events.StreamResults, err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return stored{}, err
			}
			ok := false
			if _, registry := events.RegistryFromSubject(msg.Subject()); registry {
				var c change
				if c, ok = decodeChange(msg.Headers(), msg.Data()); ok {
					c.stored = meta.Timestamp
					out.changes = append(out.changes, c)
				}
			} else {
				var r result
				if r, ok = decodeResult(msg, meta); ok {
					out.results = append(out.results, r)
				}
			}
			if !ok {
				o.mu.Lock()
				o.undecoded++
				o.mu.Unlock()
			}
			if meta.Sequence.Stream >= last {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return stored{}, fmt.Errorf("read %s: %w", events.StreamResults, err)
		}
		if ctx.Err() != nil {
			return stored{}, fmt.Errorf("read %s: %w", events.StreamResults, ctx.Err())
		}
	}
}

func decodeResult(msg jetstream.Msg, meta *jetstream.MsgMetadata) (result, bool) {
	ev, err := events.Decode(msg.Headers(), msg.Data())
	if err != nil {
		return result{}, false
	}
	d, err := events.DataOf(ev)
	if err != nil {
		return result{}, false
	}
	r := result{id: ev.ID(), typ: ev.Type(), source: d.SourceName(), stored: meta.Timestamp,
		content: ev.Type() + " " + string(ev.Data())}
	var ok bool
	if r.covered, _, ok = events.ResultOf(d); !ok {
		return result{}, false
	}
	switch v := d.(type) {
	case events.SyncCompleted:
		r.completed = &v
	case events.SyncFailed:
		r.failed = &v
	}
	return r, true
}

// final is a source's state at the end of a scenario.
type final struct {
	status   statusRecord
	snapshot []byte
	err      error
}

// finalState reads a source's status (and the history the bucket keeps)
// and its snapshot.
func (o *observer) finalState(ctx context.Context, source string) final {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := o.js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return final{err: err}
	}
	hist, err := kv.History(ctx, source)
	if err != nil {
		return final{err: fmt.Errorf("status of %s: %w", source, err)}
	}
	for _, e := range hist {
		if e.Operation() == jetstream.KeyValuePut {
			o.noteStatus(source, e.Value())
		}
	}
	var st statusRecord
	if err := json.Unmarshal(hist[len(hist)-1].Value(), &st); err != nil {
		return final{err: fmt.Errorf("status of %s: %w", source, err)}
	}
	obs, err := o.js.ObjectStore(ctx, events.ObjectStoreData)
	if err != nil {
		return final{err: err}
	}
	data, err := obs.GetBytes(ctx, source)
	if err != nil {
		return final{status: st, err: fmt.Errorf("snapshot of %s: %w", source, err)}
	}
	return final{status: st, snapshot: data}
}

// syncedHash returns a source's current lastSyncHash, "" if unknown.
func (o *observer) syncedHash(ctx context.Context, source string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	kv, err := o.js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return ""
	}
	e, err := kv.Get(ctx, source)
	if err != nil {
		return ""
	}
	var st statusRecord
	_ = json.Unmarshal(e.Value(), &st)
	return st.LastSyncHash
}

// leases returns the holder of every lease in regsync_locks, by source.
func (o *observer) leases(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := o.js.KeyValue(ctx, events.BucketLocks)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string)
	keys, err := kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var rec struct {
			Holder string `json:"holder"`
		}
		_ = json.Unmarshal(e.Value(), &rec)
		out[k] = rec.Holder
	}
	return out, nil
}

// wireState returns the conflicting result ids seen on the wire and how
// many messages did not decode.
func (o *observer) wireState() (conflicts []string, undecoded int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.conflicts...), o.undecoded
}

// wireGenerations returns the registry generations seen on the wire with
// two contents.
func (o *observer) wireGenerations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.genConflicts...)
}

func (o *observer) seenStatusHashes() map[string]map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return cloneSets(o.statusHashes)
}

func (o *observer) seenDigests() map[string]map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return cloneSets(o.digests)
}

func cloneSets(in map[string]map[string]bool) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(in))
	for k, set := range in {
		out[k] = make(map[string]bool, len(set))
		for v := range set {
			out[k][v] = true
		}
	}
	return out
}
