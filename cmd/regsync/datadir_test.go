package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/dirlock"
	"github.com/regsync/regsync/internal/testsupport"
)

// A second serve on the data directory of a running one stops at once,
// naming the process that holds it: side by side they would overwrite
// each other's clones, identity and store.
func TestSecondServeOnOneDataDirIsRefused(t *testing.T) {
	first := startServe(t)
	dataDir := filepath.Join(filepath.Dir(first.cfgPath), "data")

	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats:\n  embedded: {listen: %q}\nhttp: {addr: %q}\nsources:\n  - name: local\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n",
		dataDir, anyPort, anyPort, first.regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testsupport.Patience)
	defer cancel()
	var log testsupport.Buffer
	err := run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &log)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("second serve on one data dir: %v, want it refused at start\n%s", err, log.String())
	}
	for _, want := range []string{"in use by another process", "pid " + strconv.Itoa(os.Getpid()), filepath.Join(dataDir, dirlock.FileName)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q does not name %q", err, want)
		}
	}
}
