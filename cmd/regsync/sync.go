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
	"unicode"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/tracing"
)

func syncCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	fs := g.flagSet("sync")
	all := fs.Bool("all", false, "request a sync of every source that has a status record")
	wait := fs.Bool("wait", false, "wait for each result, print it, and exit non-zero on failure")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to keep trying to store the requests and, with --wait, to wait for their results")
	requestID := fs.String("request-id", "", "request id (default: random); reuse one to retry a request without a second sync")
	names, err := g.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout %s: want a positive duration, such as 60s", errUsage, *timeout)
	}
	if *all == (len(names) > 0) {
		return fmt.Errorf("%w: name sources or give --all (not both)", errUsage)
	}
	for _, n := range names {
		if !events.ValidSourceName(n) {
			return fmt.Errorf("%w: %q is not a valid source name (a DNS label)", errUsage, n)
		}
	}
	if err := checkRequestID(*requestID); err != nil {
		return fmt.Errorf("%w: --request-id: %v", errUsage, err)
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
		logger, err := g.logger(stderr)
		if err != nil {
			return err
		}
		if names, err = syncedSources(ctx, js, logger); err != nil {
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
	// A cluster that cannot store a request (a leader election) is waited
	// out for as long as --timeout allows.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// A result for a new request is stored after it: reading from the
	// current end of REGSYNC_RESULTS cannot miss it. A retried request
	// (--request-id) may have been answered long ago: read all of it.
	// A serve that is starting may not have made REGSYNC_RESULTS yet:
	// its first result will have sequence 1.
	results, err := readResults(ctx, js)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	var from uint64 = 1
	if results != nil && *requestID == "" {
		from = results.State.LastSeq + 1
	}
	pending, err := request(ctx, clientPublisher(js, results, stderr), names, rid, stderr)
	if err != nil || !*wait {
		return err
	}
	failed := 0
	for _, p := range pending {
		ev, err := awaitResult(ctx, js, p.source, from, func(c events.Covered) bool { return c.Answers(rid) || c.Covers(p.id, p.seq) })
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("waiting for the result of %s: %w", p.source, err)}
		}
		out, _ := json.MarshalIndent(ev, "", "  ")
		fmt.Fprintln(stdout, string(out))
		if ev.Type() == events.TypeSyncFailed {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d syncs failed", failed, len(pending))}
	}
	return nil
}

// requested is a stored request for one source: its trigger's event id
// and stream sequence.
type requested struct {
	source string
	id     string
	seq    uint64
}

// request stores request rid for each source.
func request(ctx context.Context, pub bus.Publisher, names []string, rid string, stderr io.Writer) ([]requested, error) {
	var out []requested
	for _, name := range names {
		r := requested{source: name, id: rid + "-" + name}
		prod := bus.Producer{Name: pub.Source(events.ProducerCLI), Sender: pub, Retry: bus.DefaultRetry}
		stored, err := prod.Publish(ctx, r.id, &events.SyncRequested{Source: name, Trigger: events.TriggerManual, RequestID: rid})
		if err != nil {
			return nil, err
		}
		// A duplicate collapsed with an earlier try or an earlier run of
		// this request: its sequence is the stored trigger's.
		r.seq = stored.Sequence
		fmt.Fprintf(stderr, "requested sync of %s (request %s, trigger %s)\n", name, rid, r.id)
		out = append(out, r)
	}
	return out, nil
}

// awaitResult returns the first result of source, from stream sequence
// from on, whose covered triggers match.
func awaitResult(ctx context.Context, js jetstream.JetStream, source string, from uint64, match func(events.Covered) bool) (*event.Event, error) {
	var found *event.Event
	err := follow(ctx, js, fromSequence([]string{events.SourceResults(source)}, from), func(msg jetstream.Msg) bool {
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			return true
		}
		if c, ok := coveredOf(ev); ok && match(c) {
			found = &ev
			return false
		}
		return true
	})
	if found != nil {
		return found, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, errors.New("timed out (raise --timeout, or check `regsync status`)")
	}
	return nil, err
}

// coveredOf returns which triggers a result event answers.
func coveredOf(ev event.Event) (events.Covered, bool) {
	d, err := events.DataOf(ev)
	if err != nil {
		return events.Covered{}, false
	}
	c, _, ok := events.ResultOf(d)
	return c, ok
}

// syncedSources lists the sources in regsync_status, less those removed
// from the configuration; logger hears of records that do not decode.
func syncedSources(ctx context.Context, js jetstream.JetStream, logger *slog.Logger) ([]string, error) {
	kv, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	all, err := state.NewStore(kv, logger).List(ctx)
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

// maxRequestIDLen is the longest request id `regsync sync` takes: the
// trigger id "<request-id>-<source>" of the longest source name (63
// bytes) must stay within events.MaxIDLen.
const maxRequestIDLen = events.MaxIDLen - 1 - 63

// checkRequestID refuses a request id that is too long or not printable:
// it is repeated in the trigger id, in every result that answers it and
// in the status record, and printed by `regsync status`.
func checkRequestID(rid string) error {
	if len(rid) > maxRequestIDLen {
		return fmt.Errorf("%d bytes, at most %d allowed", len(rid), maxRequestIDLen)
	}
	if !utf8.ValidString(rid) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range rid {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("character %U is not printable", r)
		}
	}
	return nil
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "req-" + hex.EncodeToString(b)
}
