package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
	"github.com/regsync/regsync/internal/testsupport"
)

// harness is one embedded nats-server with the regsync resources.
type harness struct {
	t         testing.TB
	emb       *bus.Embedded
	nc        *nats.Conn
	js        jetstream.JetStream
	h         *bus.Handles
	status    *state.Store
	snapshots *writer.Snapshots
	leaseTTL  time.Duration
	dir       string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessTTL(t, 2*time.Second)
}

// newHarnessTTL starts a server whose leases live leaseTTL.
func newHarnessTTL(t testing.TB, leaseTTL time.Duration) *harness {
	t.Helper()
	srv := bustest.Start(t, leaseTTL)
	return &harness{t: t, emb: srv.Embedded, nc: srv.Conn, js: srv.JS, h: srv.Handles,
		status: state.NewStore(srv.Handles.Status, testsupport.Logger(t)), snapshots: writer.New(srv.Handles.Data),
		leaseTTL: leaseTTL, dir: t.TempDir()}
}

// start runs a coordinator (a replica) until the test ends.
func (h *harness) start(srcs []config.Source, maxSize int64) *Coordinator {
	h.t.Helper()
	return h.run(srcs, &sources.Fetcher{MaxSize: maxSize}, Options{})
}

// startWith runs a coordinator with the given options.
func (h *harness) startWith(srcs []config.Source, opts Options) *Coordinator {
	h.t.Helper()
	return h.run(srcs, &sources.Fetcher{}, opts)
}

func (h *harness) run(srcs []config.Source, f syncer.Fetcher, opts Options) *Coordinator {
	h.t.Helper()
	return h.runPrepared(srcs, f, h.snapshots, opts, nil)
}

// runPrepared runs a coordinator on the given fetcher and snapshots;
// prepare, if set, sees it before it runs.
func (h *harness) runPrepared(srcs []config.Source, f syncer.Fetcher, snaps syncer.Snapshots, opts Options, prepare func(*Coordinator)) *Coordinator {
	h.t.Helper()
	logger := testsupport.Logger(h.t)
	mgr := syncer.NewManager(f, snaps, logger)
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	opts.LeaseTTL = h.leaseTTL
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = 30 * time.Second
	}
	if opts.Holder == "" {
		opts.Holder = fmt.Sprintf("%s-%p", h.t.Name(), mgr)
	}
	if opts.Logger == nil {
		opts.Logger = logger
	}
	c := New(h.h, mgr, h.status, srcs, opts)
	if prepare != nil {
		prepare(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("coordinator: %v", err)
		}
	})
	return c
}

// results subscribes to the results of a source (or all with "").
func (h *harness) results(source string) *resultSub {
	h.t.Helper()
	subject := events.AllResults
	if source != "" {
		subject = events.SourceResults(source)
	}
	sub, err := h.nc.SubscribeSync(subject)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &resultSub{t: h.t, sub: sub}
}

type resultSub struct {
	t   testing.TB
	sub *nats.Subscription
}

// next returns the next result event and its data.
func (r *resultSub) next() (event.Event, events.Data) {
	r.t.Helper()
	msg, err := r.sub.NextMsg(testsupport.Patience)
	if err != nil {
		r.t.Fatalf("no result event: %v", err)
	}
	ev, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		r.t.Fatalf("result does not decode: %v", err)
	}
	d, err := events.DataOf(ev)
	if err != nil {
		r.t.Fatalf("result data: %v", err)
	}
	if want := events.ResultSubject(ev.Subject(), events.OutcomeOf(ev.Type())); msg.Subject != want {
		r.t.Fatalf("result on subject %s, want %s", msg.Subject, want)
	}
	return ev, d
}

func (r *resultSub) completed() events.SyncCompleted {
	r.t.Helper()
	_, d := r.next()
	c, ok := d.(events.SyncCompleted)
	if !ok {
		r.t.Fatalf("got %T %+v, want a completed result", d, d)
	}
	return c
}

func (r *resultSub) failed() events.SyncFailed {
	r.t.Helper()
	_, d := r.next()
	c, ok := d.(events.SyncFailed)
	if !ok {
		r.t.Fatalf("got %T %+v, want a failed result", d, d)
	}
	return c
}

func (r *resultSub) skipped() events.SyncSkipped {
	r.t.Helper()
	_, d := r.next()
	c, ok := d.(events.SyncSkipped)
	if !ok {
		r.t.Fatalf("got %T %+v, want a skipped result", d, d)
	}
	return c
}

// none checks that no result arrives within a short while.
func (r *resultSub) none(within time.Duration) {
	r.t.Helper()
	if msg, err := r.sub.NextMsg(within); err == nil {
		r.t.Fatalf("unexpected result on %s: %s", msg.Subject, msg.Data)
	}
}

var idSeq struct {
	sync.Mutex
	n int
}

func nextID(prefix string) string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("%s-%d", prefix, idSeq.n)
}

// request publishes a manual sync request and returns its event id.
func (h *harness) request(source string) string {
	h.t.Helper()
	id := nextID("req")
	h.publish(id, &events.SyncRequested{Source: source, Trigger: events.TriggerManual, RequestID: id})
	return id
}

// changed publishes a source.changed trigger.
func (h *harness) changed(source, revision string) string {
	h.t.Helper()
	id := nextID("chg")
	h.publish(id, &events.SourceChanged{Source: source, Trigger: events.TriggerFile, Revision: revision})
	return id
}

func (h *harness) publish(id string, d events.Data) bus.Stored {
	h.t.Helper()
	ev, err := events.New(id, "/test", d)
	if err != nil {
		h.t.Fatal(err)
	}
	ack, err := h.h.Publisher.Publish(context.Background(), events.TriggerSubject(d.SourceName()), ev)
	if err != nil {
		h.t.Fatal(err)
	}
	return ack
}

func (h *harness) getStatus(source string) *state.Status {
	h.t.Helper()
	st, _, err := h.status.Get(context.Background(), source)
	if err != nil {
		h.t.Fatal(err)
	}
	if st == nil {
		h.t.Fatalf("no status for %s", source)
	}
	return st
}

func (h *harness) snapshot(source string) []byte {
	h.t.Helper()
	data, err := h.snapshots.Load(context.Background(), source)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// server is one entry of a fixture registry.
type server struct {
	name, description string
	tags              []string
}

// writeRegistry writes a registry in the upstream format with the given
// servers.
func writeRegistry(t testing.TB, path string, servers ...server) {
	t.Helper()
	list := make([]map[string]any, 0, len(servers))
	for _, s := range servers {
		entry := map[string]any{
			"name":        s.name,
			"description": s.description,
			"version":     "1.0.0",
			"packages": []any{map[string]any{
				"registryType": "oci",
				"identifier":   "ghcr.io/example/" + filepath.Base(s.name) + ":1.0.0",
				"transport":    map[string]any{"type": "stdio"},
			}},
		}
		if s.tags != nil {
			entry["_meta"] = map[string]any{
				"io.modelcontextprotocol.registry/publisher-provided": map[string]any{
					"io.github.stacklok": map[string]any{
						"ghcr.io/example/" + filepath.Base(s.name) + ":1.0.0": map[string]any{
							"status": "active", "tags": s.tags,
						},
					},
				},
			}
		}
		list = append(list, entry)
	}
	doc := map[string]any{
		"version": "1.0.0",
		"meta":    map[string]any{"last_updated": "2026-01-01T00:00:00Z"},
		"data":    map[string]any{"servers": list},
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, raw)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSource(name, path string, filter *registry.Filter) config.Source {
	return config.Source{
		Name:       name,
		File:       &config.File{Path: path},
		SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)},
		Filter:     filter,
	}
}

// resultReason is the reason of any result data.
func dataReason(d events.Data) string {
	switch r := d.(type) {
	case events.SyncCompleted:
		return r.Reason
	case events.SyncFailed:
		return r.Reason
	case events.SyncSkipped:
		return r.Reason
	}
	return ""
}

// coveredOf returns which triggers a result answers.
func coveredOf(t testing.TB, d events.Data) events.Covered {
	t.Helper()
	switch r := d.(type) {
	case events.SyncCompleted:
		return r.Covered
	case events.SyncFailed:
		return r.Covered
	case events.SyncSkipped:
		return r.Covered
	}
	t.Fatalf("not a result: %T %+v", d, d)
	return events.Covered{}
}

// recreateTriggerStream deletes REGSYNC_TRIGGERS and creates it again with
// the same configuration, as an operator restoring it would.
func (h *harness) recreateTriggerStream(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if err := h.js.DeleteStream(ctx, events.StreamTriggers); err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// replicaConn opens a connection of a replica of its own, named name, to
// the harness's server, and the streams and buckets it works with.
func (h *harness) replicaConn(t *testing.T, name string) (*nats.Conn, jetstream.JetStream, *bus.Handles) {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{Embedded: h.emb, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	hh, err := bus.Ensure(context.Background(), js, bus.Resources{Replicas: 1, LeaseTTL: h.leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, hh
}

// startHungReplica starts a replica of its own, on a connection named
// name, whose every fetch hangs; it requests a sync of srcs[0] and returns
// once that replica is inside the fetch, holding the trigger and the
// lease. Closing the returned connection is the replica's kill -9. The
// results subscription was opened before the request, id is the request's.
func (h *harness) startHungReplica(t *testing.T, name string, srcs []config.Source, opts Options) (nc *nats.Conn, res *resultSub, id string) {
	t.Helper()
	nc, _, hh := h.replicaConn(t, name)
	started := make(chan struct{}, 1)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	opts.LeaseTTL, opts.Logger = h.leaseTTL, logger
	c := New(hh, syncer.NewManager(blockingFetcher{started}, writer.New(hh.Data), logger), state.NewStore(hh.Status, logger), srcs, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	res = h.results(srcs[0].Name)
	id = h.request(srcs[0].Name)
	select {
	case <-started:
	case <-time.After(testsupport.Patience):
		t.Fatalf("%s never started the sync", name)
	}
	return nc, res, id
}

// requests records, from now on, the subjects of the requests (messages
// that ask for a reply, but for a consumer's deliveries, whose reply is
// their ack) that match, sent by any connection to the harness's server.
// What it returns covers every request answered before it is called: the
// server hands a request to this subscription before it answers it, and
// the flush waits for what it handed over.
func (h *harness) requests(t *testing.T, match func(subject string) bool) func() []string {
	t.Helper()
	sub, err := h.nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	return func() []string {
		t.Helper()
		if err := h.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			n, _, err := sub.Pending()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return slices.Clone(seen)
			}
			m, err := sub.NextMsg(testsupport.Patience)
			if err != nil {
				t.Fatal(err)
			}
			if m.Reply != "" && !strings.HasPrefix(m.Reply, "$JS.ACK.") && match(m.Subject) {
				seen = append(seen, m.Subject)
			}
		}
	}
}
