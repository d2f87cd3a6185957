package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// natsCLI builds the real nats CLI (natscli, a tool dependency in go.mod).
func natsCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the nats CLI; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the nats CLI: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nats")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/nats-io/natscli/nats").CombinedOutput()
	if err != nil {
		t.Fatalf("build nats CLI: %v\n%s", err, out)
	}
	return bin
}

// TestDownstreamNeedsNothingButNATS drives a running service with the nats
// CLI alone: results, status, snapshot, and a trigger published as a
// structured CloudEvent.
func TestDownstreamNeedsNothingButNATS(t *testing.T) {
	natsBin := natsCLI(t)
	svc := startServe(t)
	nats := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, natsBin, append([]string{"--server", svc.natsURL}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("a saved context with the generated password, as in the README", func(t *testing.T) {
		home := t.TempDir()
		password, err := os.ReadFile(filepath.Join(filepath.Dir(svc.cfgPath), "data", "nats-password"))
		if err != nil {
			t.Fatal(err)
		}
		addr := svc.natsURL[strings.LastIndex(svc.natsURL, "@")+1:]
		ctxNats := func(args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, natsBin, args...)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
			return cmd
		}
		if out, err := ctxNats("context", "save", "regsync", "--select", "--server", "nats://"+addr,
			"--user", "regsync", "--password", strings.TrimSpace(string(password))).CombinedOutput(); err != nil {
			t.Fatalf("context save: %v\n%s", err, out)
		}
		out, err := ctxNats("kv", "get", "regsync_status", "local", "--raw").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"phase":"Complete"`) {
			t.Errorf("kv get with the context: %v\n%s", err, out)
		}
		if out, err := nats(ctx, "--server", "nats://"+addr, "kv", "get", "regsync_status", "local").CombinedOutput(); err == nil {
			t.Errorf("read without the password:\n%s", out)
		}
	})

	t.Run("kv get regsync_status", func(t *testing.T) {
		out, err := nats(ctx, "kv", "get", "regsync_status", "local", "--raw").CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var st map[string]any
		if err := json.Unmarshal(out, &st); err != nil || st["phase"] != "Complete" || st["serverCount"] != float64(1) {
			t.Errorf("status %s (%v)", out, err)
		}
	})

	t.Run("object get regsync_data", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "snapshot.json")
		if out, err := nats(ctx, "object", "get", "regsync_data", "local", "-O", file, "--force").CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "io.example/alpha") || strings.Contains(string(data), "io.example/beta") {
			t.Errorf("snapshot is not the filtered registry: %s", data)
		}
	})

	t.Run("sub regsync.result.> sees the answer to a structured nats pub", func(t *testing.T) {
		subCtx, stopSub := context.WithCancel(ctx)
		defer stopSub()
		sub := nats(subCtx, "sub", "regsync.result.>")
		var subOut testsupport.Buffer
		sub.Stdout, sub.Stderr = &subOut, &subOut
		if err := sub.Start(); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, "nats sub to subscribe", func() bool { return subOut.Contains("Subscribing") })
		body := `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-cli-1","data":{"source":"local","trigger":"manual"}}`
		if out, err := nats(ctx, "pub", "regsync.trigger.local", body).CombinedOutput(); err != nil {
			t.Fatalf("pub: %v\n%s", err, out)
		}
		// Other results (the file watcher's first look) may come first.
		testsupport.Eventually(t, "the answer to the request", func() bool { return subOut.Contains("manual-sync-no-data-changes") })
		stopSub()
		_ = sub.Wait()
		got := subOut.String()
		for _, want := range []string{"regsync.result.local.skipped", "Content-Type: application/cloudevents+json", `"type":"io.regsync.sync.skipped.v1"`, `"req-cli-1"`, "manual-sync-no-data-changes"} {
			if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
				t.Errorf("sub output lacks %q:\n%s", want, got)
			}
		}
	})
}
