package natscli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

const testRegistry = `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[
 {"name":"io.example/alpha","description":"Alpha","version":"1.0.0"},
 {"name":"io.example/beta","description":"Beta","version":"1.0.0"}]}}`

// goBuild builds pkg in the module at dir into a temporary binary.
func goBuild(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build %s: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", bin, pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// service is a running `regsync serve` process on a temporary configuration.
type service struct {
	natsURL, cfgPath string
}

// startServe runs the regsync binary's serve, with one source "local" on a
// file, until the test ends. Both listeners take a free port, and the
// embedded server's address is read from serve's log.
func startServe(t *testing.T, regsyncBin string) *service {
	t.Helper()
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`dataDir: %s
nats:
  embedded: {listen: "127.0.0.1:0"}
http: {addr: "127.0.0.1:0"}
sources:
  - name: local
    file: {path: %s}
    syncPolicy: {interval: 30m}
    filter:
      names: {exclude: ["*/beta"]}
`, filepath.Join(dir, "data"), regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	var log testsupport.Buffer
	serve := exec.Command(regsyncBin, "serve", "--config", cfgPath, "--log-format", "json")
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- serve.Wait() }()
	t.Cleanup(func() {
		if err := serve.Process.Signal(os.Interrupt); err != nil {
			t.Errorf("stop serve: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testsupport.Patience):
			_ = serve.Process.Kill()
			<-served
			t.Error("serve did not stop on interrupt")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", log.String())
		}
	})

	var addr string
	testsupport.Eventually(t, "the embedded nats-server's address in serve's log", func() bool {
		addr = clientURL(log.String())
		return addr != ""
	})
	password, err := os.ReadFile(filepath.Join(dir, "data", "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	return &service{
		natsURL: "nats://regsync:" + strings.TrimSpace(string(password)) + "@" + strings.TrimPrefix(addr, "nats://"),
		cfgPath: cfgPath,
	}
}

// clientURL finds the client_url of serve's "embedded nats-server started"
// record in its JSON log, or "" while there is none.
func clientURL(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec struct {
			Msg       string `json:"msg"`
			ClientURL string `json:"client_url"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "embedded nats-server started" {
			return rec.ClientURL
		}
	}
	return ""
}

// TestDownstreamNeedsNothingButNATS drives a running service with the nats
// CLI alone: results, status, snapshot, and a trigger published as a
// structured CloudEvent.
func TestDownstreamNeedsNothingButNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds regsync and the nats CLI; skipped with -short")
	}
	natsBin := goBuild(t, ".", "github.com/nats-io/natscli/nats", "nats")
	svc := startServe(t, goBuild(t, "../../..", "./cmd/regsync", "regsync"))
	home := t.TempDir()
	nats := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, natsBin, append([]string{"--server", svc.natsURL}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The startup trigger syncs the source without anyone asking.
	testsupport.Eventually(t, "the startup sync of local", func() bool {
		out, err := nats(ctx, "kv", "get", "regsync_status", "local", "--raw").Output()
		return err == nil && strings.Contains(string(out), `"phase":"Complete"`)
	})

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
