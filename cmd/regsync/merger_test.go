package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/testsupport"
)

// serve writes each change of a registry's view as one registry.changed
// of the next generation, and the view itself to regsync_registries.
func TestServeAnnouncesEachRegistryGenerationOnce(t *testing.T) {
	svc := startServe(t)
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.AllRegistryChanges, events.ResultSubject("local", events.OutcomeCompleted)}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []events.RegistryChanged
	completed := map[string]string{} // revision → id of its completed
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		if ev.Type() == events.TypeSyncCompleted {
			var d events.SyncCompleted
			if err := json.Unmarshal(ev.Data(), &d); err != nil {
				t.Errorf("decode %s: %v", ev.ID(), err)
			}
			mu.Lock()
			completed[d.Revision] = ev.ID()
			mu.Unlock()
			return
		}
		var d events.RegistryChanged
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			t.Errorf("decode %s: %v", ev.ID(), err)
		}
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	last := func() events.RegistryChanged {
		mu.Lock()
		defer mu.Unlock()
		for i, d := range got {
			if d.Generation != uint64(i+1) {
				t.Fatalf("event %d is of generation %d: one event per generation, in order", i, d.Generation)
			}
		}
		if len(got) == 0 {
			return events.RegistryChanged{}
		}
		return got[len(got)-1]
	}
	testsupport.Eventually(t, "a generation with the source's server", func() bool { return last().ServerCount == 1 })
	first := last()

	edited := strings.Replace(testRegistry, `"description":"Alpha"`, `"description":"Alpha, edited"`, 1)
	if err := os.WriteFile(svc.regPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the next generation", func() bool { return last().Generation > first.Generation })
	next := last()
	if next.Generation != first.Generation+1 || next.Diff.UpdatedCount != 1 || next.Diff.Updated[0] != "io.example/alpha" {
		t.Fatalf("after the edit: %+v, want generation %d with io.example/alpha updated", next, first.Generation+1)
	}
	// The generation names the sync that made it: its completed result.
	if len(next.Causes) != 1 || next.CauseCount != 1 || next.Causes[0].Source != "local" || next.Causes[0].Revision == "" {
		t.Fatalf("causes %+v (count %d), want the sync of local", next.Causes, next.CauseCount)
	}
	// The result may be published after the registry changed.
	var id string
	testsupport.Eventually(t, "the completed result of the edit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		id = completed[next.Causes[0].Revision]
		return id != ""
	})
	if next.Causes[0].ResultID != id {
		t.Fatalf("cause %+v, want the id of the completed result of revision %s (%q)", next.Causes[0], next.Causes[0].Revision, id)
	}
	info, err := js.ObjectStore(ctx, events.ObjectStoreRegistries)
	if err != nil {
		t.Fatal(err)
	}
	body, err := info.GetBytes(ctx, next.Registry)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "Alpha, edited") {
		t.Fatalf("stored registry %s: %s", next.Registry, body)
	}
}
