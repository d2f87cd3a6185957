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

	"github.com/regsync/regsync/internal/testsupport"
)

// TestServeOnExternalNATS runs the service against an existing server
// that requires a password, as on a secured cluster.
func TestServeOnExternalNATS(t *testing.T) {
	ns := testsupport.NATS(t, server.Options{
		JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{{Username: "regsync", Password: "s3cret"}},
	})
	url := ns.ClientURL()

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nhttp: {addr: %q}\nsources:\n  - name: ext\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong password is a clear error", func(t *testing.T) {
		_, _, err := cli(t, "status", "--nats-url", url, "--nats-user", "regsync", "--nats-password", "wrong")
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("err %v", err)
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var log testsupport.Buffer
	t.Setenv("REGSYNC_NATS_PASSWORD", "s3cret")
	go func() {
		served <- run(ctx, []string{"serve", "--config", cfgPath, "--nats-url", url, "--nats-user", "regsync"}, &bytes.Buffer{}, &log)
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
	out, errOut, err := cli(t, "sync", "ext", "--wait", "--nats-url", url, "--nats-user", "regsync", "--nats-password", "s3cret")
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "io.regsync.sync.") {
		t.Errorf("sync output %s", out)
	}
	if strings.Contains(log.String(), "s3cret") {
		t.Error("the password appears in the log")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "jetstream")); err == nil {
		t.Error("an embedded JetStream store was created although --nats-url was given")
	}
}
