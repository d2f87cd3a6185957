package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/entries"
)

// A sync of serve records each entry its snapshot keeps, and commits.
func TestServeRecordsEachSyncedEntry(t *testing.T) {
	svc := startServe(t)
	nc, err := nats.Connect(svc.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, events.BucketEntries)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, entries.CommitKey("local"))
	if err != nil {
		t.Fatalf("commit of local: %v", err)
	}
	var c entries.Commit
	if err := json.Unmarshal(e.Value(), &c); err != nil || c.Generation != 1 || c.Changed != 1 || c.LastSyncHash == "" {
		t.Errorf("commit %+v (%v)", c, err)
	}
	e, err = kv.Get(ctx, entries.Key("local", entries.KindServer, "io.example/alpha", "1.0.0"))
	if err != nil {
		t.Fatalf("record of alpha: %v", err)
	}
	var r entries.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.Name != "io.example/alpha" || r.Deleted || r.Generation != 1 {
		t.Errorf("record %+v (%v)", r, err)
	}
	// beta is filtered out: not recorded.
	if _, err := kv.Get(ctx, entries.Key("local", entries.KindServer, "io.example/beta", "1.0.0")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("record of the filtered-out beta: %v", err)
	}
}
