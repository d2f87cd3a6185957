package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/testsupport"
)

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {"--log-level", "debug", c.name, "--help"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errOut, err := cli(t, args...)
				if err != nil {
					t.Fatalf("err %v, want exit 0 (stderr %q)", err, errOut)
				}
				for _, want := range []string{"Usage: regsync " + c.name, c.about[:20], "Example:\n  " + c.example, "-nats-url", "-log-format"} {
					if !strings.Contains(out, want) {
						t.Errorf("help lacks %q:\n%s", want, out)
					}
				}
				if strings.Contains(c.args, "SOURCE") && !strings.Contains(out, "Arguments:\n  SOURCE") {
					t.Errorf("help does not explain SOURCE:\n%s", out)
				}
			})
		}
	}
	t.Run("regsync --help lists every command", func(t *testing.T) {
		out, _, err := cli(t, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commands {
			if !strings.Contains(out, "regsync "+c.name) {
				t.Errorf("usage lacks %s:\n%s", c.name, out)
			}
		}
	})
}

func TestGlobalFlagsBeforeOrAfterTheCommand(t *testing.T) {
	svc := startServe(t)
	for _, args := range [][]string{
		{"status", "local", "--nats-url", svc.natsURL},
		{"--nats-url", svc.natsURL, "status", "local"},
		{"--nats-url=" + svc.natsURL, "--log-level", "warn", "status", "local", "-o", "json"},
		{"--log-format", "json", "status", "--nats-url", svc.natsURL, "local"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, err := cli(t, args...)
			if err != nil || !strings.Contains(out, "local") {
				t.Errorf("err %v, out %q, stderr %q", err, out, errOut)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wait", "sync", "local"}, "--wait before the command is not a global flag"},
		{[]string{"--nats-url"}, "flag --nats-url needs a value"},
		{[]string{"status", "--bogus"}, "flag provided but not defined: -bogus (run regsync status --help)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := cli(t, tc.args...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

func TestValidateReadsWebhookSecrets(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(webhooks string) string {
		path := filepath.Join(t.TempDir(), "config.yaml")
		cfg := "sources:\n  - name: local\n    file: {path: " + regPath + "}\n    syncPolicy: {interval: 30m}\nwebhooks:\n" + webhooks
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("REGSYNC_TEST_WEBHOOK_SECRET", "s3cret")
	t.Run("readable secrets pass", func(t *testing.T) {
		cfg := write("  github: {secretFile: " + secret + "}\n  gitlab: {tokenEnv: REGSYNC_TEST_WEBHOOK_SECRET}\n")
		if _, _, err := cli(t, "validate", "--config", cfg); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct{ name, webhooks, want string }{
		{"missing file", "  github: {secretFile: " + filepath.Join(dir, "nope") + "}\n", "webhooks.github.secretFile " + filepath.Join(dir, "nope")},
		{"unset variable", "  generic: {secretEnv: REGSYNC_TEST_UNSET_SECRET}\n", "environment variable REGSYNC_TEST_UNSET_SECRET is not set"},
	} {
		t.Run(tc.name+" fails validate and serve", func(t *testing.T) {
			cfg := write(tc.webhooks)
			for _, cmd := range []string{"validate", "serve"} {
				_, _, err := cli(t, cmd, "--config", cfg)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err %v, want one with %q", cmd, err, tc.want)
				}
			}
		})
	}
}

func TestWatchReplaysHistory(t *testing.T) {
	svc := startServe(t)
	for range 2 {
		if _, errOut, err := cli(t, "sync", "local", "--wait", "--nats-url", svc.natsURL); err != nil {
			t.Fatalf("sync: %v\n%s", err, errOut)
		}
	}
	// The startup sync and the two requests are in REGSYNC_RESULTS.
	watch := func(t *testing.T, args ...string) []map[string]any {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		out, errOut := &testsupport.Buffer{}, &testsupport.Buffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append([]string{"watch", "local", "-o", "json", "--nats-url", svc.natsURL}, args...), out, errOut)
		}()
		testsupport.Eventually(t, "both requests replayed", func() bool { return out.Count("manual-sync-no-data-changes") >= 2 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("watch: %v\n%s", err, errOut)
		}
		var evs []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	for _, args := range [][]string{{"--all"}, {"--since", "1h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			evs := watch(t, args...)
			if len(evs) < 3 {
				t.Fatalf("%d results replayed, want the startup sync and both requests", len(evs))
			}
			if evs[0]["type"] != "io.regsync.sync.completed.v1" {
				t.Errorf("first result %v, want the startup sync's completed", evs[0]["type"])
			}
		})
	}
	t.Run("--since leaves older results out", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		out, errOut := &testsupport.Buffer{}, &testsupport.Buffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"watch", "local", "--since", "1ms", "-o", "json", "--nats-url", svc.natsURL}, out, errOut)
		}()
		testsupport.Eventually(t, "watch to start", func() bool { return errOut.Contains("watching") })
		if _, _, err := cli(t, "sync", "local", "--wait", "--nats-url", svc.natsURL); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, "the new request's result", func() bool { return out.Contains("manual-sync-no-data-changes") })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.TrimSpace(out.String()), "\n") + 1; n != 1 || strings.Contains(out.String(), "completed.v1") {
			t.Errorf("watch --since 1ms printed %d results:\n%s", n, out)
		}
	})
	t.Run("--since and --all together", func(t *testing.T) {
		if _, _, err := cli(t, "watch", "--since", "1h", "--all"); !errors.Is(err, errUsage) {
			t.Errorf("err %v, want a usage error", err)
		}
	})
}

func TestSyncNamesTheDeployment(t *testing.T) {
	svc := startServe(t)
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(events.TriggerSubject("local"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := cli(t, "sync", "local", "--nats-url", svc.natsURL); err != nil {
		t.Fatalf("sync: %v\n%s", err, errOut)
	}
	msg, err := sub.NextMsg(testsupport.Patience)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	results, err := js.Stream(context.Background(), events.StreamResults)
	if err != nil {
		t.Fatal(err)
	}
	deployment, err := bus.DeploymentOf(results.CachedInfo())
	if err != nil {
		t.Fatal(err)
	}
	if want := events.ProducerSource(deployment, events.ProducerCLI); ev.Source() != want {
		t.Errorf("request source %q, want %q", ev.Source(), want)
	}
	if msg.Header.Get("Content-Type") != events.ContentTypeStructured {
		t.Errorf("request Content-Type %q, want structured mode", msg.Header.Get("Content-Type"))
	}
}

// validate --fetch shows what each source's filter keeps of it, and fails
// on a filter that keeps nothing of a source that has entries.
func TestValidateFetchCountsBeforeAndAfterTheFilter(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(include string) string {
		path := filepath.Join(t.TempDir(), "config.yaml")
		cfg := "sources:\n  - name: local\n    file: {path: " + regPath + "}\n    syncPolicy: {interval: 30m}\n    filter:\n      names: {include: [\"" + include + "\"]}\n"
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("a filter that keeps some", func(t *testing.T) {
		out, _, err := cli(t, "validate", "--config", write("io.example/a*"), "--fetch")
		if err != nil {
			t.Fatal(err)
		}
		if want := "local: ok, 2 servers, 0 skills, 0 plugins in the source, 1 servers, 0 skills, 0 plugins after filtering"; !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	})
	t.Run("a filter that keeps nothing", func(t *testing.T) {
		out, _, err := cli(t, "validate", "--config", write("io.exmaple/*"), "--fetch")
		if err == nil || !strings.Contains(err.Error(), "1 of 1 sources failed") {
			t.Errorf("err %v, want the source to fail", err)
		}
		if want := "local: the filter removed every entry: the source has 2 servers, 0 skills, 0 plugins and none passes the filter"; !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	})
}

// Help lists each command's own flags, then the global ones in groups
// with their environment variables, never Go's raw flag dump (which would
// also print the value of REGSYNC_NATS_PASSWORD as a default).
func TestHelpGroupsFlagsWithTheirEnvironment(t *testing.T) {
	t.Setenv("REGSYNC_NATS_PASSWORD", "not-for-help")
	usage, _, err := cli(t, "help")
	if err != nil {
		t.Fatal(err)
	}
	syncHelp, _, err := cli(t, "sync", "-h")
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"regsync help": usage, "regsync sync -h": syncHelp} {
		for _, want := range []string{"Configuration:", "NATS:", "Logging:", "--nats-url URL", "REGSYNC_NATS_URL", "--log-format FORMAT", "REGSYNC_LOG_FORMAT"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
		for _, raw := range []string{"-nats-url string", "not-for-help", "\t"} {
			if strings.Contains(out, raw) {
				t.Errorf("%s shows %q:\n%s", name, raw, out)
			}
		}
	}
	for _, want := range []string{"Flags:\n  --all ", "--timeout DURATION", "(default 1m0s)", "--request-id ID"} {
		if !strings.Contains(syncHelp, want) {
			t.Errorf("regsync sync -h lacks %q:\n%s", want, syncHelp)
		}
	}
}

func TestExtraArgumentsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "extra"}, `unexpected argument "extra" (run regsync serve --help)`},
		{[]string{"validate", "--config", "x.yaml", "a", "b"}, `unexpected arguments "a" "b" (run regsync validate --help)`},
		{[]string{"version", "now"}, `unexpected argument "now" (run regsync version --help)`},
		{[]string{"status", "a", "b"}, `unexpected argument "b" (run regsync status --help)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := cli(t, tc.args...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

func TestSyncRefusesATimeoutThatIsNotPositive(t *testing.T) {
	for _, timeout := range []string{"0", "0s", "-5s"} {
		t.Run(timeout, func(t *testing.T) {
			// No server runs: the timeout is refused before any connection.
			_, _, err := cli(t, "sync", "local", "--wait", "--timeout", timeout, "--nats-url", "nats://127.0.0.1:1")
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--timeout") || !strings.Contains(err.Error(), "positive") {
				t.Errorf("err %v, want a usage error about --timeout", err)
			}
		})
	}
}

// A request id is repeated in the trigger id, every result that answers it
// and the status record: `regsync sync` refuses one that is too long or not
// printable before it connects, so nothing is sent and nothing retried.
func TestSyncRefusesABadRequestID(t *testing.T) {
	for name, rid := range map[string]string{
		"too long":          strings.Repeat("r", 193),
		"a terminal escape": "req-\x1b[2J",
		"invalid UTF-8":     "req-\xff",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := cli(t, "sync", "local", "--request-id", rid, "--nats-url", "nats://127.0.0.1:1")
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--request-id") {
				t.Errorf("err %v, want a usage error about --request-id", err)
			}
		})
	}
}
