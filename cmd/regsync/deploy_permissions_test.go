package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cejetstream "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/testsupport"
)

// TestDeployedPermissions runs the service on a nats-server configured
// with the accounts and permissions shipped in deploy/nats/auth.conf (also
// in the Helm values and the compose cluster): the regsync user can do
// everything the service and its CLI do, and the reader user can follow
// results, read status and snapshots and request syncs, but not change
// streams, buckets or data.
func TestDeployedPermissions(t *testing.T) {
	for k, v := range map[string]string{"REGSYNC_PASSWORD": "svc-pw", "READER_PASSWORD": "reader-pw", "SYS_PASSWORD": "sys-pw"} {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("../../deploy/nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	url := testsupport.NATS(t, *opts).ClientURL()

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nhttp: {addr: %q}\nsources:\n  - name: perm\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var log testsupport.Buffer
	go func() {
		served <- run(ctx, []string{"serve", "--config", cfgPath, "--nats-url", url, "--nats-user", "regsync", "--nats-password", "svc-pw"}, &bytes.Buffer{}, &log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", log.String())
		}
	})
	as := func(user, password string, args ...string) (string, string, error) {
		return cli(t, append(args, "--nats-url", url, "--nats-user", user, "--nats-password", password)...)
	}

	t.Run("the service user syncs and reads", func(t *testing.T) {
		out, errOut, err := as("regsync", "svc-pw", "sync", "perm", "--wait")
		if err != nil || !strings.Contains(out, "io.regsync.sync.") {
			t.Fatalf("sync: %v\n%s%s", err, out, errOut)
		}
	})
	t.Run("the reader requests a sync and reads its answer and the status", func(t *testing.T) {
		out, errOut, err := as("reader", "reader-pw", "sync", "perm", "--wait")
		if err != nil || !strings.Contains(out, "io.regsync.sync.") {
			t.Fatalf("sync as reader: %v\n%s%s", err, out, errOut)
		}
		out, errOut, err = as("reader", "reader-pw", "status", "perm", "-o", "json")
		if err != nil || !strings.Contains(out, `"phase": "Complete"`) {
			t.Fatalf("status as reader: %v\n%s%s", err, out, errOut)
		}
	})

	t.Run("the reader cannot listen to the service's replies", func(t *testing.T) {
		nc, err := nats.Connect(url, nats.UserInfo("reader", "reader-pw"), nats.PermissionErrOnSubscribe(true),
			nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// Every inbox of the service, under the prefix it uses and under
		// NATS's default one.
		for _, inboxes := range []string{bus.InboxPrefix("regsync") + ".>", nats.InboxPrefix + ">"} {
			sub, err := nc.SubscribeSync(inboxes)
			if err != nil {
				t.Fatal(err)
			}
			// The service answers a sync: requests with replies.
			if out, errOut, err := as("regsync", "svc-pw", "sync", "perm", "--wait"); err != nil {
				t.Fatalf("sync: %v\n%s%s", err, out, errOut)
			}
			msg, err := sub.NextMsg(testsupport.Patience)
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("the reader subscribed to %s: got %v (%v), want a permissions violation", inboxes, msg, err)
			}
		}
	})
	t.Run("the reader consumes with the CloudEvents SDK's JetStream binding", func(t *testing.T) {
		consumer, err := cejetstream.NewConsumer(url, events.StreamResults, events.SourceResults("perm"),
			[]nats.Option{nats.UserInfo("reader", "reader-pw"), nats.CustomInboxPrefix(bus.InboxPrefix("reader"))},
			nil, []nats.SubOpt{nats.DeliverAll()})
		if err != nil {
			t.Fatal(err)
		}
		defer consumer.Close(context.Background())
		client, err := cloudevents.NewClient(consumer)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testsupport.Patience)
		defer cancel()
		got := make(chan event.Event, 1)
		go func() {
			_ = client.StartReceiver(ctx, func(ev event.Event) {
				select {
				case got <- ev:
				default:
				}
			})
		}()
		select {
		case ev := <-got:
			if ev.Subject() != "perm" {
				t.Errorf("result for %q, want perm", ev.Subject())
			}
		case <-ctx.Done():
			t.Fatal("no result reached the reader's SDK consumer")
		}
	})

	// Denied publishes are expected below: no need to print them.
	nc, err := nats.Connect(url, nats.UserInfo("reader", "reader-pw"), nats.CustomInboxPrefix(bus.InboxPrefix("reader")),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()

	t.Run("the reader gets the snapshot", func(t *testing.T) {
		obs, err := js.ObjectStore(rctx, events.ObjectStoreData)
		if err != nil {
			t.Fatal(err)
		}
		b, err := obs.GetBytes(rctx, "perm")
		if err != nil || !bytes.Contains(b, []byte("io.example/alpha")) {
			t.Fatalf("snapshot %q: %v", b, err)
		}
	})
	t.Run("the reader opens the registry buckets and follows registry changes", func(t *testing.T) {
		if _, err := js.KeyValue(rctx, events.BucketRegistryStatus); err != nil {
			t.Errorf("open %s: %v", events.BucketRegistryStatus, err)
		}
		if _, err := js.ObjectStore(rctx, events.ObjectStoreRegistries); err != nil {
			t.Errorf("open %s: %v", events.ObjectStoreRegistries, err)
		}
		sub, err := nc.SubscribeSync(events.AllRegistryChanges)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		svc, err := nats.Connect(url, nats.UserInfo("regsync", "svc-pw"), nats.CustomInboxPrefix(bus.InboxPrefix("regsync")))
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		svcJS, err := jetstream.New(svc)
		if err != nil {
			t.Fatal(err)
		}
		// The service writes the registry buckets (the merger does).
		kv, err := svcJS.KeyValue(rctx, events.BucketRegistryStatus)
		if err == nil {
			_, err = kv.Put(rctx, "default", []byte(`{}`))
		}
		if err != nil {
			t.Errorf("the service writes %s: %v", events.BucketRegistryStatus, err)
		}
		obs, err := svcJS.ObjectStore(rctx, events.ObjectStoreRegistries)
		if err == nil {
			_, err = obs.PutBytes(rctx, "default", []byte(`{}`))
		}
		if err != nil {
			t.Errorf("the service writes %s: %v", events.ObjectStoreRegistries, err)
		}
		if err := svc.Publish(events.RegistrySubject("default"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(testsupport.Patience); err != nil {
			t.Errorf("the reader does not see a registry change: %v", err)
		}
	})
	t.Run("the reader follows the per-entry records", func(t *testing.T) {
		kv, err := js.KeyValue(rctx, events.BucketEntries)
		if err != nil {
			t.Fatalf("open %s: %v", events.BucketEntries, err)
		}
		if e, err := kv.Get(rctx, "perm._commit"); err != nil || !bytes.Contains(e.Value(), []byte(`"generation"`)) {
			t.Fatalf("commit marker of perm: %v", err)
		}
		w, err := kv.Watch(rctx, "perm.>")
		if err != nil {
			t.Fatalf("watch %s: %v", events.BucketEntries, err)
		}
		defer w.Stop()
		var records int
		for e := range w.Updates() {
			if e == nil { // the initial values are all delivered
				break
			}
			records++
		}
		if records < 2 { // a record and the commit marker at least
			t.Fatalf("the reader's watch of perm.> delivered %d records", records)
		}
	})
	t.Run("the reader watches registry changes and their status", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		out, errOut := &testsupport.Buffer{}, &testsupport.Buffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"watch", "--registries", "--all", "--nats-url", url, "--nats-user", "reader", "--nats-password", "reader-pw"}, out, errOut)
		}()
		testsupport.Eventually(t, "the registry perm's change", func() bool { return out.Contains(" registry ") || errOut.Contains("rror") })
		cancel()
		if err := <-done; err != nil || !out.Contains("causes=perm") {
			t.Fatalf("watch --registries as reader: %v\n%s%s", err, out.String(), errOut.String())
		}
		status, errText, err := as("reader", "reader-pw", "status")
		if err != nil || !strings.Contains(status, "REGISTRY") {
			t.Fatalf("status as reader: %v\n%s%s", err, status, errText)
		}
	})
	t.Run("the reader cannot change streams or data", func(t *testing.T) {
		denied := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s succeeded", what)
			}
		}
		short := func() context.Context {
			c, cancel := context.WithTimeout(rctx, 300*time.Millisecond)
			t.Cleanup(cancel)
			return c
		}
		denied("delete REGSYNC_RESULTS", js.DeleteStream(short(), events.StreamResults))
		_, err := js.Publish(short(), "$KV."+events.BucketStatus+".perm", []byte(`{}`))
		denied("write the status", err)
		_, err = js.Publish(short(), "regsync.result.perm.completed", []byte(`{}`))
		denied("publish a result", err)
		_, err = js.Publish(short(), "$KV."+events.BucketEntries+".perm._commit", []byte(`{}`))
		denied("write a commit marker", err)
		_, err = js.Publish(short(), "$KV."+events.BucketRegistryStatus+".default", []byte(`{}`))
		denied("write a registry status", err)
		_, err = js.Publish(short(), events.RegistrySubject("default"), []byte(`{}`))
		denied("publish a registry change", err)
		if _, err := js.Stream(rctx, events.StreamResults); err != nil {
			t.Errorf("REGSYNC_RESULTS is gone: %v", err)
		}
	})
}
