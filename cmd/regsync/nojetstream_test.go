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

// serve on a NATS server without JetStream stops with an error that says
// so, instead of retrying for ever without its HTTP endpoints.
func TestServeOnAServerWithoutJetStream(t *testing.T) {
	ns := testsupport.NATS(t, server.Options{})

	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats: {url: %q}\nhttp: {addr: %q}\nsources:\n  - name: nojs\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), ns.ClientURL(), anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testsupport.Patience)
	defer cancel()
	var log testsupport.Buffer
	err := run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &log)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "JetStream is not enabled on this server") {
		t.Fatalf("serve = %v, want it to stop saying that JetStream is not enabled\n%s", err, log.String())
	}
	if log.Contains("retrying") {
		t.Errorf("serve retried a server without JetStream:\n%s", log.String())
	}
}
