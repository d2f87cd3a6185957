package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/tracing"
)

func syncCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	fs := g.flagSet("sync")
	all := fs.Bool("all", false, "request a sync of every source that has a status record")
	wait := fs.Bool("wait", false, "wait for each result, print it, and exit non-zero on failure")
	timeout := fs.Duration("timeout", 60*time.Second, "how long --wait waits")
	requestID := fs.String("request-id", "", "request id (default: random); reuse one to retry a request without a second sync")
	names, err := g.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if *all == (len(names) > 0) {
		return fmt.Errorf("%w: name sources or give --all (not both)", errUsage)
	}
	for _, n := range names {
		if !events.ValidSourceName(n) {
			return fmt.Errorf("%w: %q is not a valid source name (a DNS label)", errUsage, n)
		}
	}
	// With OTEL_* set, a manual request starts the trace that the sync and
	// its result continue.
	stopTracing, err := tracing.Setup(ctx, version, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.WithoutCancel(ctx)) }()
	nc, js, err := g.connectClient()
	if err != nil {
		return err
	}
	defer nc.Close()
	if *all {
		if names, err = syncedSources(ctx, js); err != nil {
			return err
		}
		if len(names) == 0 {
			return errors.New("no sources known: regsync_status is empty (has `regsync serve` started?)")
		}
	}
	rid := *requestID
	if rid == "" {
		rid = newRequestID()
	}
	pub := clientPublisher(ctx, js, stderr)

	type pending struct {
		source string
		id     string
		seq    uint64
		sub    *nats.Subscription
		// answered is the result already in REGSYNC_RESULTS that answers
		// a retried request, if any.
		answered *event.Event
	}
	var waits []pending
	for _, name := range names {
		p := pending{source: name, id: rid + "-" + name}
		if *wait {
			// Subscribe before publishing so the answer cannot slip by.
			if p.sub, err = nc.SubscribeSync(events.SourceResults(name)); err != nil {
				return fmt.Errorf("subscribe to results of %s: %w", name, err)
			}
			defer p.sub.Unsubscribe()
		}
		ev, err := events.New(p.id, pub.Source(events.ProducerCLI), &events.SyncRequested{Source: name, Trigger: events.TriggerManual, RequestID: rid})
		if err != nil {
			return err
		}
		ack, err := pub.PublishAck(ctx, events.TriggerSubject(name), ev)
		if err != nil {
			return err
		}
		p.seq = ack.Sequence
		fmt.Fprintf(stderr, "requested sync of %s (request %s, trigger %s)\n", name, rid, p.id)
		if *wait && (*requestID != "" || ack.Duplicate) {
			// A retried request may have been answered already: its
			// trigger collapsed with the first one (ack.Duplicate), or
			// the first one left JetStream's duplicate window.
			matches := func(c events.Covered) bool { return c.Answers(rid) || (ack.Duplicate && c.Covers(p.id, p.seq)) }
			if p.answered, err = findResult(ctx, js, name, matches); err != nil {
				return err
			}
		}
		waits = append(waits, p)
	}
	if !*wait {
		return nil
	}

	deadline, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	failed := 0
	for _, p := range waits {
		ev := p.answered
		if ev == nil {
			if ev, err = awaitResult(deadline, p.sub, p.id, p.seq); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("waiting for the result of %s: %w", p.source, err)}
			}
		}
		out, _ := json.MarshalIndent(ev, "", "  ")
		fmt.Fprintln(stdout, string(out))
		if ev.Type() == events.TypeSyncFailed {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d syncs failed", failed, len(waits))}
	}
	return nil
}

// awaitResult returns the first result that covers the trigger.
func awaitResult(ctx context.Context, sub *nats.Subscription, id string, seq uint64) (*event.Event, error) {
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, errors.New("timed out (raise --timeout, or check `regsync status`)")
			}
			return nil, err
		}
		ev, err := events.Decode(msg.Header, msg.Data)
		if err != nil {
			continue
		}
		if c, ok := coveredOf(ev); ok && c.Covers(id, seq) {
			return &ev, nil
		}
	}
}

// findResult returns the first result of source in REGSYNC_RESULTS whose
// covered triggers match, or nil when there is none.
func findResult(ctx context.Context, js jetstream.JetStream, source string, match func(events.Covered) bool) (*event.Event, error) {
	var found *event.Event
	err := replay(ctx, js, events.SourceResults(source), func(ev event.Event) bool {
		if c, ok := coveredOf(ev); ok && match(c) {
			found = &ev
			return false
		}
		return true
	})
	return found, err
}

// coveredOf returns which triggers a result event answers.
func coveredOf(ev event.Event) (events.Covered, bool) {
	d, err := events.DataOf(ev)
	if err != nil {
		return events.Covered{}, false
	}
	switch r := d.(type) {
	case events.SyncCompleted:
		return r.Covered, true
	case events.SyncFailed:
		return r.Covered, true
	case events.SyncSkipped:
		return r.Covered, true
	}
	return events.Covered{}, false
}

// syncedSources lists the sources in regsync_status, less those removed
// from the configuration.
func syncedSources(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	kv, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	all, err := state.NewStore(kv).List(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, st := range all {
		if !syncer.Removed(st) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "req-" + hex.EncodeToString(b)
}
