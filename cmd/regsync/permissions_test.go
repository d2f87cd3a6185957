package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/testsupport"
)

// regsyncPermissions are the NATS permissions the README's security
// section documents for regsync's user on an external cluster.
var regsyncPermissions = &server.Permissions{
	Publish: &server.SubjectPermission{Allow: []string{
		"regsync.>", "$JS.API.>", "$JS.ACK.REGSYNC_TRIGGERS.>",
		"$KV.regsync_status.>", "$KV.regsync_locks.>", "$KV.regsync_entries.>", "$O.regsync_data.>",
		"$KV.regsync_registry_status.>", "$O.regsync_registries.>",
	}},
	Subscribe: &server.SubjectPermission{Allow: []string{"regsync.result.>", "_INBOX_regsync.>"}},
}

// readerPermissions are those the README documents for a downstream
// consumer that only reads.
var readerPermissions = &server.Permissions{
	Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>"}},
	Subscribe: &server.SubjectPermission{Allow: []string{"regsync.result.>", "regsync.registry.*.changed", "_INBOX_reader.>"}},
}

// The service and its client commands work with no more NATS permissions
// than the README documents.
func TestServeWithDocumentedPermissions(t *testing.T) {
	ns := testsupport.NATS(t, server.Options{
		JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{
			{Username: "regsync", Password: "perm-s3cret", Permissions: regsyncPermissions},
			{Username: "reader", Password: "reader-s3cret", Permissions: readerPermissions},
		},
	})

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(pwFile, []byte("perm-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`dataDir: %s
nats: {url: %q, user: regsync, passwordFile: %s}
http: {addr: %q}
sources:
  - name: perm
    file: {path: %s}
    syncPolicy: {interval: 1h}
`, filepath.Join(dir, "data"), ns.ClientURL(), pwFile, anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var log testsupport.Buffer
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", log.String())
		}
	})
	testsupport.Eventually(t, "the startup sync", func() bool {
		out, _, err := cli(t, "status", "perm", "-o", "json", "--config", cfgPath)
		return err == nil && strings.Contains(out, `"phase": "Complete"`)
	})
	out, errOut, err := cli(t, "sync", "perm", "--wait", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "io.regsync.sync.skipped.v1") {
		t.Errorf("sync --wait: %v\n%s%s", err, out, errOut)
	}
	// A downstream consumer with the reader's permissions reads the
	// snapshot and the status.
	nc, err := bus.Connect(bus.ConnectOptions{URL: ns.ClientURL(), User: "reader", Password: "reader-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	store, err := js.ObjectStore(ctx, events.ObjectStoreData)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, err := store.GetBytes(ctx, "perm")
	if err != nil || !strings.Contains(string(snapshot), "io.example/alpha") {
		t.Errorf("snapshot %.80s: %v", snapshot, err)
	}
	kv, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		t.Fatal(err)
	}
	if entry, err := kv.Get(ctx, "perm"); err != nil || !strings.Contains(string(entry.Value()), "Complete") {
		t.Errorf("status: %v", err)
	}
	// It follows the per-entry records and the registries: their status
	// with `regsync status`, their changes with `regsync watch`.
	entries, err := js.KeyValue(ctx, events.BucketEntries)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := entries.Get(ctx, "perm._commit"); err != nil {
		t.Errorf("commit marker of perm: %v", err)
	}
	reader := []string{"--nats-url", ns.ClientURL(), "--nats-user", "reader", "--nats-password", "reader-s3cret"}
	testsupport.Eventually(t, "the registry perm in the status", func() bool {
		out, _, err := cli(t, append([]string{"status", "-o", "json"}, reader...)...)
		return err == nil && strings.Contains(out, `"name": "perm"`)
	})
	wctx, wcancel := context.WithCancel(ctx)
	wout, werr := &testsupport.Buffer{}, &testsupport.Buffer{}
	watched := make(chan error, 1)
	go func() {
		watched <- run(wctx, append([]string{"watch", "--registries", "--all"}, reader...), wout, werr)
	}()
	testsupport.Eventually(t, "the reader's watch of registry changes", func() bool {
		return wout.Contains(" registry ") || werr.Contains("rror")
	})
	wcancel()
	if err := <-watched; err != nil || !wout.Contains("causes=perm") {
		t.Errorf("watch --registries as reader: %v\n%s%s", err, wout.String(), werr.String())
	}
	if strings.Contains(strings.ToLower(log.String()), "permissions violation") {
		t.Errorf("permission violations in the log:\n%s", log.String())
	}
}
