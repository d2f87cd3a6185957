package main

import (
	"context"
	"testing"
	"time"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	cejetstream "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/testsupport"
)

// TestSDKConsumersReadResults subscribes to a running service with the
// CloudEvents Go SDK's NATS and JetStream bindings, as a consumer written
// from the docs would, and finds the answer to a request in each.
func TestSDKConsumersReadResults(t *testing.T) {
	svc := startServe(t)
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	natsConsumer, err := cenats.NewConsumerFromConn(nc, events.SourceResults("local"))
	if err != nil {
		t.Fatal(err)
	}
	jsConsumer, err := cejetstream.NewConsumerFromConn(nc, events.StreamResults, events.SourceResults("local"), nil, []nats.SubOpt{nats.DeliverAll()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type received struct {
		binding string
		ev      event.Event
	}
	got := make(chan received, 100)
	for name, p := range map[string]any{"nats": natsConsumer, "nats_jetstream": jsConsumer} {
		client, err := cloudevents.NewClient(p)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = client.StartReceiver(ctx, func(ev event.Event) { got <- received{name, ev} })
		}()
	}
	// The NATS binding sees only what is published while it listens: give
	// its subscription time to reach the server, then ask.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testsupport.Patience)
	answered := map[string]bool{}
	for tick := time.NewTicker(200 * time.Millisecond); len(answered) < 2; {
		select {
		case r := <-got:
			d, err := events.DataOf(r.ev)
			if err != nil {
				t.Fatalf("%s binding: events.DataOf(SDK event) = %v", r.binding, err)
			}
			if s, ok := d.(events.SyncSkipped); ok && s.Answers("sdk-1") {
				answered[r.binding] = true
				if r.ev.DataSchema() != events.DataSchema(events.TypeSyncSkipped) {
					t.Errorf("%s binding: dataschema %q", r.binding, r.ev.DataSchema())
				}
			}
		case <-tick.C:
			if len(answered) == 0 {
				// Until a binding sees it, ask again: the same request id
				// is answered once.
				if _, errOut, err := cli(t, "sync", "local", "--request-id", "sdk-1", "--nats-url", svc.natsURL); err != nil {
					t.Fatalf("sync: %v\n%s", err, errOut)
				}
			}
		case <-deadline:
			t.Fatalf("answered in %v, want both bindings", answered)
		}
	}
}
