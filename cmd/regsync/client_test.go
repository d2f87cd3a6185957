package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
)

// The embedded server requires the configured user and password, else
// the generated one; clients read what serve wrote, never create it.
func TestEmbeddedAuth(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-a-file-of-22-chars\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortFile, []byte("   \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgWith := func(mod func(*config.Config)) *config.Config {
		cfg := config.Default()
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
		mod(cfg)
		return cfg
	}
	cases := []struct {
		name               string
		cfg                *config.Config
		create             bool
		wantUser, wantPass string // wantPass "*": generated
		wantErr            string
	}{
		{"generated on first start", cfgWith(func(*config.Config) {}), true, "regsync", "*", ""},
		{"a client before the first start", cfgWith(func(*config.Config) {}), false, "", "", "has `regsync serve` run with this configuration?"},
		{"configured user and password", cfgWith(func(c *config.Config) { c.NATS.User, c.NATS.Password = "ops", "pw" }), true, "ops", "pw", ""},
		{"configured password file", cfgWith(func(c *config.Config) { c.NATS.User, c.NATS.PasswordFile = "ops", pwFile }), false, "ops", "from-a-file-of-22-chars", ""},
		{"a password file of three spaces", cfgWith(func(c *config.Config) { c.NATS.User, c.NATS.PasswordFile = "ops", shortFile }), true, "", "", "requires at least 16 characters"},
		{"auth off", cfgWith(func(c *config.Config) { c.NATS.Embedded.Auth = false }), true, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, pass, err := embeddedAuth(tc.cfg, tc.create)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if user != tc.wantUser || (tc.wantPass == "*" && len(pass) < 20) || (tc.wantPass != "*" && pass != tc.wantPass) {
				t.Errorf("got %q/%q, want %q/%q", user, pass, tc.wantUser, tc.wantPass)
			}
			if tc.wantPass == "*" {
				again, _, _ := embeddedAuth(tc.cfg, false)
				if _, pass2, _ := embeddedAuth(tc.cfg, false); again != user || pass2 != pass {
					t.Error("a client reads another password than serve wrote")
				}
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:4222": "127.0.0.1:4222",
		"0.0.0.0:4222":   "127.0.0.1:4222",
		":4222":          "127.0.0.1:4222",
		"[::]:4222":      "127.0.0.1:4222",
		"10.0.0.5:4222":  "10.0.0.5:4222",
	} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}

// electingJS is a JetStream whose first ordered consumers cannot be made,
// as while the results stream elects a leader.
type electingJS struct {
	jetstream.JetStream
	fails int
}

func (e *electingJS) OrderedConsumer(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	if e.fails > 0 {
		e.fails--
		return nil, &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	}
	return e.JetStream.OrderedConsumer(ctx, stream, cfg)
}

func TestAwaitResultOutlastsAnElection(t *testing.T) {
	srv := bustest.Start(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	skipped := func(id, trigger string, seq uint64) {
		t.Helper()
		d := &events.SyncSkipped{Source: "a", Reason: "up-to-date-no-policy",
			Covered: events.Covered{TriggerIDs: []string{trigger}, TriggerCount: 1, TriggerSeq: seq, StartedAt: time.Now()}}
		ev, err := events.New(id, "urn:regsync:test:coordinator", d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Handles.Publisher.Publish(ctx, bus.SubjectOf(d), ev); err != nil {
			t.Fatal(err)
		}
	}
	skipped("r-a-1", "other", 3)
	skipped("r-a-2", "mine", 7)
	js := &electingJS{JetStream: srv.JS, fails: 3}
	ev, err := awaitResult(ctx, js, "a", 1, func(c events.Covered) bool { return c.Covers("mine", 5) })
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID() != "r-a-2" || js.fails != 0 {
		t.Errorf("got %s with %d failures left; want r-a-2 after every failure", ev.ID(), js.fails)
	}
}

func TestReadResultsBeforeServeStarted(t *testing.T) {
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := bus.Connect(bus.ConnectOptions{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = readResults(context.Background(), js)
	if !errors.Is(err, jetstream.ErrStreamNotFound) || !strings.Contains(err.Error(), "has `regsync serve` started?") {
		t.Errorf("readResults() = %v, want stream not found with a hint", err)
	}
}

// With --config naming the embedded server, --nats-url replaces its
// address only: the client still authenticates with the generated
// password.
func TestNATSURLKeepsTheEmbeddedServersCredentials(t *testing.T) {
	svc := startServe(t)
	u, err := url.Parse(svc.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, "status", "local", "--config", svc.cfgPath, "--nats-url", "nats://"+u.Host)
	if err != nil || !strings.Contains(out, "local") {
		t.Errorf("err %v, out %q, stderr %q", err, out, errOut)
	}
}

// A relative dataDir is where serve ran; a client run from elsewhere
// finds the generated password beside the configuration file, or says
// where it looked.
func TestClientFindsThePasswordFromAnotherDirectory(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("dataDir: ./state\nsources:\n  - name: local\n    file: {path: registry.json}\n    syncPolicy: {interval: 30m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &globals{config: cfgPath}
	_, err := g.clientOptions()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "state", "nats-password")) {
		t.Errorf("err %v, want one naming the path beside the configuration", err)
	}
	pw, err := bus.EnsurePassword(filepath.Join(dir, "state", "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := g.clientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.User != bus.EmbeddedUser || o.Password != pw {
		t.Errorf("credentials %q/%q, want the generated ones", o.User, o.Password)
	}
}
